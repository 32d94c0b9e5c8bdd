/**
 * gRPC front end (DESIGN.md section 2): the switchyard.v1.Broker service over native gRPC (h2c)
 * on its own port, and as gRPC-Web and Connect on the shared HTTP listener; beside it the
 * standard health and reflection services. docs/grpc.md is the user's guide.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Http2Session } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { listenOn } from '../util/listen.js';
import type { AnonymousPolicy, Broker } from '../core/index.js';
import { authenticate, listenerValues } from './call.js';
import { file_grpc_health_v1_health, Health as HealthService } from '../gen/grpc/health/v1/health_pb.js';
import * as reflectionV1 from '../gen/grpc/reflection/v1/reflection_pb.js';
import * as reflectionV1alpha from '../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { Broker as BrokerService, file_switchyard_v1_broker } from '../gen/switchyard/v1/broker_pb.js';
import * as admin from './handlers/admin.js';
import { publish, publishStream } from './handlers/publish.js';
import { session } from './handlers/session.js';
import { ack, nack, SubscriptionRegistry, subscribe } from './handlers/subscribe.js';
import { Health } from './health.js';
import { ReflectionIndex, reflectionInfo } from './reflection.js';
import { encodeGrpcMessage } from './native/call.js';
import { NativeCalls } from './native/serve.js';

export interface GrpcSettings {
  /** Who may call the native port without credentials. */
  readonly anonymous: AnonymousPolicy;
  /** Who may call over gRPC-Web/Connect on the HTTP listener without credentials. */
  readonly webAnonymous: AnonymousPolicy;
  readonly maxMessageSize: number;
}

export interface GrpcListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const SERVICES: readonly DescService[] = [
  BrokerService,
  HealthService,
  reflectionV1.ServerReflection,
  reflectionV1alpha.ServerReflection,
];

/**
 * HTTP/2 receive windows. The protocol's default, 64 KiB for the stream and for the whole
 * connection, lets a publisher send 64 one-KiB messages per round trip; a broker's publishers
 * need to stream, so each stream may have 1 MiB in flight and a connection 16 MiB.
 */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

/** How long a closing HTTP/2 session may take to finish its streams before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

export class GrpcFrontEnd {
  private readonly shutdown = new AbortController();
  private readonly health = new Health();
  private readonly subscriptions = new SubscriptionRegistry();
  private readonly reflection = new ReflectionIndex(
    [
      file_switchyard_v1_broker,
      file_grpc_health_v1_health,
      reflectionV1.file_grpc_reflection_v1_reflection,
      reflectionV1alpha.file_grpc_reflection_v1alpha_reflection,
    ],
    SERVICES.map((s) => s.typeName),
  );
  private readonly webHandler: NodeHandler;
  /** Session and Subscribe calls on the native port that skip connect (native/serve.ts). */
  private readonly native: NativeCalls;
  /** Path prefixes of the services, which the HTTP listener hands to us. */
  private readonly prefixes = SERVICES.map((s) => `/${s.typeName}/`);

  constructor(
    readonly broker: Broker,
    readonly settings: GrpcSettings,
  ) {
    this.webHandler = this.adapter(settings.webAnonymous);
    this.native = new NativeCalls(broker, this.subscriptions, settings.anonymous, settings.maxMessageSize);
  }

  /** Serves native gRPC (h2c) on host:port. */
  async listen(host: string, port: number): Promise<GrpcListener> {
    const connectHandler = this.adapter(this.settings.anonymous);
    const server = createServer(
      {
        settings: { initialWindowSize: STREAM_WINDOW },
        // Node refuses new streams (ENHANCE_YOUR_CALM) while a session has more than this many
        // MB queued to send; a few of the largest messages in flight must not trip it.
        maxSessionMemory: Math.max(10, Math.ceil((4 * this.settings.maxMessageSize) / (1 << 20)) + 16),
      },
      (req, res) => {
        if (!this.native.serve(req, res)) connectHandler(req, res);
      },
    );
    const sessions = new Set<Http2Session>();
    const sockets = new Set<Socket>();
    server.on('connection', (sock: Socket) => {
      sockets.add(sock);
      sock.once('close', () => sockets.delete(sock));
    });
    server.on('session', (s: Http2Session) => {
      sessions.add(s);
      s.once('localSettings', () => s.setLocalWindowSize(SESSION_WINDOW));
      // A broken peer ends its own session only; the process never sees the error.
      s.on('error', () => s.destroy());
      s.once('close', () => sessions.delete(s));
    });
    server.on('sessionError', () => {});
    await listenOn(server, host, port, 1024);
    return {
      address: server.address() as AddressInfo,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const s of sessions) s.close();
          // A session whose peer does not read can wait forever for its last frames to go out,
          // even after destroy(): past the grace period the connections are cut.
          const t = setTimeout(() => {
            for (const sock of sockets) sock.destroy();
          }, CLOSE_GRACE_MS);
          server.once('close', () => clearTimeout(t));
        }),
    };
  }

  /** gRPC-Web and Connect requests on the shared HTTP listener; false = not ours. */
  readonly httpHandler = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    const ct = req.headers['content-type'] ?? '';
    // Any gRPC content type is ours (an unknown service gets UNIMPLEMENTED in gRPC's own form);
    // Connect's JSON and proto bodies are told apart from REST by the service path.
    if (!ct.startsWith('application/grpc') && !this.prefixes.some((p) => url.startsWith(p))) return false;
    this.webHandler(req, res);
    return true;
  };

  /** Ends every call (shutdown): streams end with UNAVAILABLE, health turns NOT_SERVING. */
  close(): void {
    this.health.shutdown();
    this.native.close();
    if (!this.shutdown.signal.aborted) {
      this.shutdown.abort(new ConnectError('the broker is shutting down', Code.Unavailable));
    }
  }

  private adapter(anonymous: AnonymousPolicy): NodeHandler {
    return connectNodeAdapter({
      routes: (router) => this.routes(router),
      // Requests may come compressed, but responses never are: bodies are relayed as they came
      // (often compressed already), and gzip per delivery costs more CPU than the whole hot path.
      compressMinBytes: Number.MAX_SAFE_INTEGER,
      readMaxBytes: this.settings.maxMessageSize,
      writeMaxBytes: this.settings.maxMessageSize,
      shutdownSignal: this.shutdown.signal,
      contextValues: listenerValues(anonymous),
      fallback: unknownMethod,
    });
  }

  private routes(router: ConnectRouter): void {
    const b = this.broker;
    const subs = this.subscriptions;
    router.service(
      BrokerService,
      {
        publish: (r, ctx) => publish(b, r, ctx),
        publishStream: (rs, ctx) => publishStream(b, rs, ctx),
        subscribe: (r, ctx) => subscribe(b, subs, r, ctx),
        ack: (r, ctx) => ack(subs, r, ctx),
        nack: (r, ctx) => nack(subs, r, ctx),
        session: (rs, ctx) => session(b, rs, ctx),
        declareExchange: (r, ctx) => admin.declareExchange(b, r, ctx),
        deleteExchange: (r, ctx) => admin.deleteExchange(b, r, ctx),
        declareQueue: (r, ctx) => admin.declareQueue(b, r, ctx),
        deleteQueue: (r, ctx) => admin.deleteQueue(b, r, ctx),
        purgeQueue: (r, ctx) => admin.purgeQueue(b, r, ctx),
        bind: (r, ctx) => admin.bind(b, r, ctx),
        unbind: (r, ctx) => admin.unbind(b, r, ctx),
        inspectQueue: (r, ctx) => admin.inspectQueue(b, r, ctx),
        inspectExchange: (r, ctx) => admin.inspectExchange(b, r, ctx),
      },
      { requestGate: authenticate(b) },
    );
    // Health and reflection answer without credentials: probes and tools call them before
    // anything else, and they tell nothing that is not in the published .proto files.
    const health = this.health;
    router.service(HealthService, {
      check: (r) => health.check(r),
      list: () => health.list(),
      watch: (r, ctx) => health.watch(r, ctx),
    });
    router.service(reflectionV1.ServerReflection, {
      serverReflectionInfo: reflectionInfo(this.reflection, reflectionV1.ServerReflectionResponseSchema),
    });
    router.service(reflectionV1alpha.ServerReflection, {
      serverReflectionInfo: reflectionInfo(
        this.reflection,
        // The same fields and numbers under another package: one implementation serves both.
        reflectionV1alpha.ServerReflectionResponseSchema as unknown as typeof reflectionV1.ServerReflectionResponseSchema,
      ) as never,
    });
  }
}

/**
 * A path none of the services has. gRPC and gRPC-Web clients get UNIMPLEMENTED as a
 * Trailers-Only response (status in the headers), as the gRPC over HTTP/2 spec asks; Connect
 * clients get its 404 with the JSON error body.
 */
function unknownMethod(req: NodeRequest, res: NodeResponse): void {
  const path = (req.url ?? '').split('?', 1)[0]!;
  const message = `unknown method ${path}`;
  const ct = req.headers['content-type'] ?? '';
  if (ct.startsWith('application/grpc')) {
    res.writeHead(200, {
      'content-type': ct.startsWith('application/grpc-web') ? ct : 'application/grpc',
      'grpc-status': String(Code.Unimplemented),
      'grpc-message': encodeGrpcMessage(message),
    });
  } else {
    res.writeHead(404, { 'content-type': 'application/json' });
  }
  // Any request body is read and dropped, so the connection stays usable.
  req.resume();
  if (ct.startsWith('application/grpc')) res.end();
  else res.end(JSON.stringify({ code: 'unimplemented', message }));
}
