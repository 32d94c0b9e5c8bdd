/**
 * The request route of the gRPC front end: which services it serves through connect (gRPC,
 * gRPC-Web and Connect; the native fast path is native/serve.ts), each method's handler, and the
 * answer to a method none of them has.
 */
import type { DescService } from '@bufbuild/protobuf';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { AnonymousPolicy, Broker, BrokerStatusReport } from '../core/index.js';
import { Health as HealthService } from '../gen/grpc/health/v1/health_pb.js';
import * as reflectionV1 from '../gen/grpc/reflection/v1/reflection_pb.js';
import * as reflectionV1alpha from '../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { Broker as BrokerService } from '../gen/switchyard/v1/broker_pb.js';
import { authenticate, listenerValues } from './call.js';
import { encodeGrpcMessage } from './codec/status.js';
import { brokerStatus } from './handlers/broker-status.js';
import * as definitions from './handlers/definitions.js';
import type { Health } from './handlers/health.js';
import { publish } from './handlers/publish.js';
import { publishStream } from './handlers/publish-stream.js';
import { type ReflectionIndex, reflectionInfo } from './handlers/reflection.js';
import { session } from './handlers/session.js';
import { ack, nack } from './handlers/settle.js';
import { subscribe } from './handlers/subscribe.js';
import type { PublishGate } from './publish-gate.js';
import type { SubscriptionRegistry } from './subscription-registry.js';
import type { UserExists } from '../util/peer-name.js';

export const SERVICES: readonly DescService[] = [
  BrokerService,
  HealthService,
  reflectionV1.ServerReflection,
  reflectionV1alpha.ServerReflection,
];

/** What the handlers share: the front end's state. */
export interface Services {
  readonly broker: Broker;
  readonly gate: PublishGate;
  readonly subscriptions: SubscriptionRegistry;
  readonly health: Health;
  readonly reflection: ReflectionIndex;
  /** Whether a TLS certificate's user may log in (calls without credentials); absent: never. */
  readonly userExists?: UserExists | undefined;
  /** Bytes a connect-served stream may buffer (limits.maxOutboundBytes). */
  readonly maxOutboundBytes: number;
  /** The broker's health and alarms (BrokerStatus). */
  readonly status: () => BrokerStatusReport;
}

export type NodeHandler = ReturnType<typeof connectNodeAdapter>;
type NodeRequest = Parameters<NodeHandler>[0];
type NodeResponse = Parameters<NodeHandler>[1];

/** A connect handler for one listener (its anonymous policy) serving every service. */
export function createHandler(
  s: Services,
  anonymous: AnonymousPolicy,
  maxMessageSize: number,
  shutdownSignal: AbortSignal,
): NodeHandler {
  return connectNodeAdapter({
    routes: (router) => routes(router, s),
    // Requests may come compressed, but responses never are: bodies are relayed as they came
    // (often compressed already), and gzip per delivery costs more CPU than the whole hot path.
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: maxMessageSize,
    writeMaxBytes: maxMessageSize,
    shutdownSignal,
    contextValues: listenerValues(anonymous, s.userExists),
    fallback: unknownMethod,
  });
}

function routes(router: ConnectRouter, s: Services): void {
  const { broker: b, gate, subscriptions: subs } = s;
  router.service(
    BrokerService,
    {
      publish: (r, ctx) => publish(b, r, ctx),
      publishStream: (rs, ctx) => publishStream(b, gate, rs, ctx),
      subscribe: (r, ctx) => subscribe(b, subs, r, ctx, s.maxOutboundBytes),
      ack: (r, ctx) => ack(subs, r, ctx),
      nack: (r, ctx) => nack(subs, r, ctx),
      session: (rs, ctx) => session(b, gate, rs, ctx, s.maxOutboundBytes),
      declareExchange: (r, ctx) => definitions.declareExchange(b, r, ctx),
      deleteExchange: (r, ctx) => definitions.deleteExchange(b, r, ctx),
      declareQueue: (r, ctx) => definitions.declareQueue(b, r, ctx),
      deleteQueue: (r, ctx) => definitions.deleteQueue(b, r, ctx),
      purgeQueue: (r, ctx) => definitions.purgeQueue(b, r, ctx),
      bind: (r, ctx) => definitions.bind(b, r, ctx),
      unbind: (r, ctx) => definitions.unbind(b, r, ctx),
      inspectQueue: (r, ctx) => definitions.inspectQueue(b, r, ctx),
      inspectExchange: (r, ctx) => definitions.inspectExchange(b, r, ctx),
      brokerStatus: () => brokerStatus(s.status),
    },
    { requestGate: authenticate(b) },
  );
  // Health and reflection answer without credentials: probes and tools call them before
  // anything else, and they tell nothing that is not in the published .proto files.
  const health = s.health;
  router.service(HealthService, {
    check: (r) => health.check(r),
    list: () => health.list(),
    watch: (r, ctx) => health.watch(r, ctx),
  });
  router.service(reflectionV1.ServerReflection, {
    serverReflectionInfo: reflectionInfo(s.reflection, reflectionV1.ServerReflectionResponseSchema),
  });
  router.service(reflectionV1alpha.ServerReflection, {
    serverReflectionInfo: reflectionInfo(
      s.reflection,
      // The same fields and numbers under another package: one implementation serves both.
      reflectionV1alpha.ServerReflectionResponseSchema as unknown as typeof reflectionV1.ServerReflectionResponseSchema,
    ) as never,
  });
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
