/**
 * Which calls on the native gRPC port skip connect: Session and Subscribe, the calls that move
 * messages in bulk, when they are plain gRPC with protobuf and no message compression. Anything
 * else (gRPC-Web, Connect, JSON, compressed requests, every other method) goes to connect.
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { type AnonymousPolicy, asSwitchyardError, type Broker } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { certificateUser, identifyCaller, openConnection, VHOST_KEY } from '../call.js';
import type { UserExists } from '../../util/peer-name.js';
import { Broker as BrokerService } from '../../gen/switchyard/v1/broker_pb.js';
import { grpcTimeoutMs } from '../../util/grpc-timeout.js';
import { Status } from '../codec/status.js';
import { ERROR_CODE_KEY } from '../map.js';
import type { PublishGate } from '../publish-gate.js';
import type { SubscriptionRegistry } from '../subscription-registry.js';
import { NativeCall, refuse } from './call.js';
import { NativeSession } from './session.js';
import { NativeSubscribe } from './subscribe.js';

const SESSION_PATH = `/${BrokerService.typeName}/${BrokerService.method.session.name}`;
const SUBSCRIBE_PATH = `/${BrokerService.typeName}/${BrokerService.method.subscribe.name}`;

interface Live {
  end(status: number, message: string): void;
  /** Bytes its call has waiting to be written. */
  readonly outboundBytes: number;
}

export class NativeCalls {
  private readonly live = new Set<Live>();
  private closing = false;

  constructor(
    private readonly broker: Broker,
    private readonly registry: SubscriptionRegistry,
    private readonly gate: PublishGate,
    private readonly anonymous: AnonymousPolicy,
    private readonly maxMessageSize: number,
    private readonly userExists?: UserExists,
    /** limits.maxOutboundBytes (issue 15). */
    private readonly maxOutboundBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Serves the request if it is one of ours (returns true), else leaves it (false). */
  serve(req: Http2ServerRequest, res: Http2ServerResponse): boolean {
    const path = req.url;
    if ((path !== SESSION_PATH && path !== SUBSCRIBE_PATH) || req.method !== 'POST') return false;
    const h = req.headers;
    const ct = h['content-type'];
    if (ct !== 'application/grpc' && ct !== 'application/grpc+proto') return false;
    const enc = h['grpc-encoding'];
    if (enc !== undefined && enc !== 'identity') return false;
    // Errors of a reset stream arrive through 'close'; the process never sees them.
    req.on('error', () => {});
    if (this.closing) {
      refuse(res, Status.UNAVAILABLE, 'the broker is shutting down');
      return true;
    }
    void this.start(req, res, path);
    return true;
  }

  /** Authenticates (asynchronously: a wrong password is answered late) and starts the call. */
  private async start(req: Http2ServerRequest, res: Http2ServerResponse, path: string): Promise<void> {
    const h = req.headers;
    try {
      const vhost = h[VHOST_KEY];
      const caller = await identifyCaller(
        this.broker,
        h.authorization,
        typeof vhost === 'string' ? vhost : undefined,
        {
          remoteAddress: req.socket?.remoteAddress ?? '',
          anonymous: this.anonymous,
          certUser: certificateUser(req),
          userExists: this.userExists,
        },
      );
      if (this.closing) throw new SwitchyardError('CONNECTION_FORCED', 'the broker is shutting down');
      if (req.stream.closed) return; // the client gave up while it was authenticated
      const t = h['grpc-timeout'];
      const timeoutMs = typeof t === 'string' ? grpcTimeoutMs(t) : undefined;
      if (Number.isNaN(timeoutMs))
        throw new SwitchyardError('SYNTAX_ERROR', `invalid grpc-timeout '${String(t)}'`);
      const conn = openConnection(this.broker, caller, 'grpc', h['user-agent']);
      const call = new NativeCall(req, res, this.maxMessageSize, this.broker.clock, this.maxOutboundBytes);
      const done = (x: Live) => this.live.delete(x);
      const header = (k: string) => (typeof h[k] === 'string' ? (h[k] as string) : null);
      const c =
        path === SESSION_PATH
          ? new NativeSession(
              call,
              conn,
              this.gate,
              done,
              { traceparent: header('traceparent'), tracestate: header('tracestate') },
              this.maxMessageSize,
            )
          : new NativeSubscribe(call, conn, caller, this.registry, done, this.maxMessageSize);
      this.live.add(c);
      c.start(timeoutMs);
    } catch (e) {
      const err = asSwitchyardError(e);
      refuse(res, err.spec.grpc, err.message, { [ERROR_CODE_KEY]: err.code });
      req.resume();
    }
  }

  /** Bytes the native calls have waiting to be written (FrontEndStats.outboundBytes). */
  get outboundBytes(): number {
    let n = 0;
    for (const c of this.live) n += c.outboundBytes;
    return n;
  }

  /** Ends every call with UNAVAILABLE and refuses new ones (shutdown). */
  close(): void {
    this.closing = true;
    for (const c of [...this.live]) c.end(Status.UNAVAILABLE, 'the broker is shutting down');
  }
}
