/**
 * gRPC front end (DESIGN.md section 2): the switchyard.v1.Broker service over native gRPC (h2c)
 * on its own port, and as gRPC-Web and Connect on the shared HTTP listener; beside it the
 * standard health and reflection services. docs/grpc.md is the user's guide.
 *
 * Rooms: listener.ts (the native h2c listener), router.ts (the request route: services and their
 * handlers), codec/ (gRPC framing, the hot responses' protobuf encoding, status text), call.ts and
 * native/ (a call's state: caller, core connection, deadline, the HTTP/2 stream), handlers/ (one
 * file per method or group of definition methods), session-call.ts (the Session's state machine),
 * map.ts (switchyard.v1 ⇄ message container, errors → statuses).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Code, ConnectError } from '@connectrpc/connect';
import type {
  AnonymousPolicy,
  Broker,
  BrokerStatusReport,
  FrontEnd,
  FrontEndStats,
  Listening,
  ListenTls,
  RequestHandler,
} from '../core/index.js';
import { file_grpc_health_v1_health } from '../gen/grpc/health/v1/health_pb.js';
import { file_grpc_reflection_v1_reflection } from '../gen/grpc/reflection/v1/reflection_pb.js';
import { file_grpc_reflection_v1alpha_reflection } from '../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { file_switchyard_v1_broker } from '../gen/switchyard/v1/broker_pb.js';
import { NO_STATUS } from './handlers/broker-status.js';
import { Health } from './handlers/health.js';
import { ReflectionIndex } from './handlers/reflection.js';
import { listenNative, type NativeListening } from './listener.js';
import { NativeCalls } from './native/serve.js';
import { PublishGate } from './publish-gate.js';
import { createHandler, type NodeHandler, SERVICES, type Services } from './router.js';
import { SubscriptionRegistry } from './subscription-registry.js';
import type { UserExists } from '../util/peer-name.js';

export interface GrpcSettings {
  /** Who may call the native port without credentials. */
  readonly anonymous: AnonymousPolicy;
  /** Who may call over gRPC-Web/Connect on the HTTP listener without credentials. */
  readonly webAnonymous: AnonymousPolicy;
  readonly maxMessageSize: number;
  /** Whether a TLS certificate's user may log in (calls without credentials); absent: never. */
  readonly userExists?: UserExists;
  /** Bytes a stream may have unwritten (limits.maxOutboundBytes, issue 15); 1 MiB when absent. */
  readonly maxOutboundBytes?: number;
  /** The broker's health and alarms for BrokerStatus (issue 15); all well when absent. */
  readonly status?: () => BrokerStatusReport;
}

/** limits.maxOutboundBytes's default. */
const DEFAULT_MAX_OUTBOUND_BYTES = 1024 * 1024;

export class GrpcFrontEnd implements FrontEnd {
  readonly protocol = 'grpc';
  /** gRPC-Web and Connect requests on the shared HTTP listener. */
  readonly http: { readonly handle: RequestHandler };
  private readonly shutdown = new AbortController();
  private readonly services: Services;
  private readonly webHandler: NodeHandler;
  /** Session and Subscribe calls on the native port that skip connect (native/serve.ts). */
  private readonly native: NativeCalls;
  /** Path prefixes of the services, which the HTTP listener hands to us. */
  private readonly prefixes = SERVICES.map((s) => `/${s.typeName}/`);
  private readonly listeners: NativeListening[] = [];

  constructor(
    readonly broker: Broker,
    readonly settings: GrpcSettings,
  ) {
    this.services = {
      broker,
      gate: new PublishGate(broker),
      subscriptions: new SubscriptionRegistry(),
      health: new Health(),
      userExists: settings.userExists,
      status: settings.status ?? NO_STATUS,
      maxOutboundBytes: settings.maxOutboundBytes ?? DEFAULT_MAX_OUTBOUND_BYTES,
      reflection: new ReflectionIndex(
        [
          file_switchyard_v1_broker,
          file_grpc_health_v1_health,
          file_grpc_reflection_v1_reflection,
          file_grpc_reflection_v1alpha_reflection,
        ],
        SERVICES.map((s) => s.typeName),
      ),
    };
    this.webHandler = this.handler(settings.webAnonymous);
    this.native = new NativeCalls(
      broker,
      this.services.subscriptions,
      this.services.gate,
      settings.anonymous,
      settings.maxMessageSize,
      settings.userExists,
      settings.maxOutboundBytes ?? DEFAULT_MAX_OUTBOUND_BYTES,
    );
    this.http = { handle: this.handleWeb };
  }

  /** Serves native gRPC on host:port: h2c, or with `tls` HTTP/2 over TLS (ALPN h2). */
  async listen(host: string, port: number, tls?: ListenTls): Promise<Listening> {
    const connectHandler = this.handler(this.settings.anonymous);
    const l = await listenNative(
      host,
      port,
      this.settings.maxMessageSize,
      this.broker.clock,
      (req, res) => {
        if (!this.native.serve(req, res)) connectHandler(req, res);
      },
      tls,
    );
    this.listeners.push(l);
    return l;
  }

  /** Ends every call (shutdown): streams end with UNAVAILABLE, health turns NOT_SERVING. */
  close(): Promise<void> {
    this.services.health.shutdown();
    this.services.gate.close();
    this.native.close();
    if (!this.shutdown.signal.aborted) {
      this.shutdown.abort(new ConnectError('the broker is shutting down', Code.Unavailable));
    }
    return Promise.resolve();
  }

  /** The broker cannot keep what it is given (a store failed): health says NOT_SERVING from now on. */
  unhealthy(): void {
    this.services.health.notServing();
  }

  /** Client connections on the native port (HTTP/2 sessions). */
  stats(): FrontEndStats {
    let connections = 0;
    for (const l of this.listeners) connections += l.sessions;
    // Native Session and Subscribe calls; connect-served streams buffer in their Outbox.
    return { connections, dropped: this.broker.dropsFor('grpc'), outboundBytes: this.native.outboundBytes };
  }

  /** gRPC-Web and Connect requests on the shared HTTP listener; false = not ours. */
  private readonly handleWeb = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    const ct = req.headers['content-type'] ?? '';
    // Any gRPC content type is ours (an unknown service gets UNIMPLEMENTED in gRPC's own form);
    // Connect's JSON and proto bodies are told apart from REST by the service path.
    if (!ct.startsWith('application/grpc') && !this.prefixes.some((p) => url.startsWith(p))) return false;
    this.webHandler(req, res);
    return true;
  };

  private handler(anonymous: AnonymousPolicy): NodeHandler {
    return createHandler(this.services, anonymous, this.settings.maxMessageSize, this.shutdown.signal);
  }
}
