/**
 * What every Broker call shares: who the caller is (Basic credentials in the `authorization`
 * metadata, checked by a request gate before the body is read; without them, the CN of a verified
 * TLS client certificate, when it names a user), which vhost it acts in
 * (`switchyard-vhost`, default "/"), its CoreConnection (one per call, closed when the call
 * ends), the trace context of its metadata, and deadlines.
 */
import type { Http2ServerRequest } from 'node:http2';
import type { IncomingMessage } from 'node:http';
import {
  type ContextValues,
  ConnectError,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from '@connectrpc/connect';
import { type AnonymousPolicy, type Broker, type CoreConnection, identify } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { parseBasicAuth } from '../util/basic-auth.js';
import { peerCommonName, type UserExists } from '../util/peer-name.js';
import { type TraceMetadata, toConnectError } from './map.js';

/** Metadata naming the virtual host a call acts in. */
export const VHOST_KEY = 'switchyard-vhost';

/** The authenticated caller of a Broker call. */
export interface Caller {
  readonly user: string;
  readonly vhost: string;
  readonly remoteAddress: string;
}

/** Where a call came in: the peer's address and the listener's anonymous policy. */
export interface Listener {
  readonly remoteAddress: string;
  readonly anonymous: AnonymousPolicy;
  /** The subject CN of the client's verified TLS certificate (certificateUser), if any. */
  readonly certUser?: string | undefined;
  /** Whether a certificate's user may log in; absent, certificate logins are refused. */
  readonly userExists?: UserExists | undefined;
}

/**
 * The user a call without an authorization header may act as: the subject CN of the TLS
 * certificate the listener verified (tls.verifyClients), on the native TLS port or over HTTPS.
 */
export function certificateUser(req: IncomingMessage | Http2ServerRequest): string | undefined {
  return peerCommonName(req.socket);
}

const listenerKey = createContextKey<Listener>({ remoteAddress: '', anonymous: 'never' });
const callerKey = createContextKey<Caller | undefined>(undefined);

/** Context values for requests of one listener: the peer's address and the anonymous policy. */
export function listenerValues(
  anonymous: AnonymousPolicy,
  userExists?: UserExists,
): (req: IncomingMessage | Http2ServerRequest) => ContextValues {
  return (req) => {
    const v = createContextValues();
    v.set(listenerKey, {
      remoteAddress: req.socket?.remoteAddress ?? '',
      anonymous,
      certUser: certificateUser(req),
      userExists,
    });
    return v;
  };
}

/**
 * The request gate of the Broker service: authenticates before the body is read, so a caller
 * without valid credentials costs no parsing.
 */
export function authenticate(broker: Broker): (ctx: HandlerContext) => Promise<void> {
  return async (ctx) => {
    const l = ctx.values.get(listenerKey);
    try {
      const h = ctx.requestHeader;
      ctx.values.set(callerKey, await identifyCaller(broker, h.get('authorization'), h.get(VHOST_KEY), l));
    } catch (e) {
      throw toConnectError(e);
    }
  };
}

/** The caller from its metadata; throws AUTHENTICATION_FAILED. */
export async function identifyCaller(
  broker: Broker,
  authorization: string | null | undefined,
  vhost: string | null | undefined,
  l: Listener,
): Promise<Caller> {
  const creds = parseBasicAuth(authorization ?? undefined);
  if (creds === null) {
    throw new SwitchyardError(
      'AUTHENTICATION_FAILED',
      'malformed authorization metadata: expected "Basic <base64 of user:password>"',
    );
  }
  if (creds === undefined && l.certUser !== undefined) {
    if (l.userExists?.(l.certUser, l.remoteAddress) !== true) {
      throw new SwitchyardError(
        'AUTHENTICATION_FAILED',
        `certificate user '${l.certUser}' refused: not a broker user`,
      );
    }
    return { user: l.certUser, vhost: vhost ?? '/', remoteAddress: l.remoteAddress };
  }
  const user = await identify(broker, creds, l.remoteAddress, l.anonymous);
  return { user, vhost: vhost ?? '/', remoteAddress: l.remoteAddress };
}

export function callerOf(ctx: HandlerContext): Caller {
  const c = ctx.values.get(callerKey);
  if (c === undefined) throw new SwitchyardError('INTERNAL_ERROR', 'call was not authenticated');
  return c;
}

/** Opens the call's CoreConnection (NOT_ALLOWED → PERMISSION_DENIED for an unknown vhost). */
export function connect(broker: Broker, ctx: HandlerContext): CoreConnection {
  return openConnection(broker, callerOf(ctx), ctx.protocolName, ctx.requestHeader.get('user-agent'));
}

/** A CoreConnection for a caller; the protocol name ("grpc", "grpc-web", "connect") is for listings. */
export function openConnection(
  broker: Broker,
  c: Caller,
  protocol: string,
  agent: string | null | undefined,
): CoreConnection {
  return broker.connect({
    protocol,
    remoteAddress: c.remoteAddress,
    user: c.user,
    vhost: c.vhost,
    ...(agent === null || agent === undefined ? {} : { clientName: agent }),
  });
}

/** Runs a unary call on its own CoreConnection; broker errors become gRPC statuses. */
export async function withConnection<T>(
  broker: Broker,
  ctx: HandlerContext,
  fn: (conn: CoreConnection) => T | Promise<T>,
): Promise<T> {
  let conn: CoreConnection | undefined;
  try {
    conn = connect(broker, ctx);
    return await fn(conn);
  } catch (e) {
    throw toConnectError(e);
  } finally {
    conn?.close();
  }
}

/** The W3C trace context in the call's metadata. */
export function traceOf(ctx: HandlerContext): TraceMetadata {
  return {
    traceparent: ctx.requestHeader.get('traceparent'),
    tracestate: ctx.requestHeader.get('tracestate'),
  };
}

/**
 * Settles with `p`, or rejects when the call is aborted first: DEADLINE_EXCEEDED when its deadline
 * passed, CANCELLED when the client went away.
 */
export function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(ConnectError.from(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(ConnectError.from(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * A failure nobody is left to answer (the call it belonged to is over, e.g. closing the request
 * stream of an ended call): reported as a process warning rather than lost.
 */
export function warnAfterCall(e: unknown): void {
  process.emitWarning(`gRPC: after the end of a call: ${e instanceof Error ? e.message : String(e)}`);
}
