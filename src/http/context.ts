/**
 * What every handler gets: the broker, the settings, the shared state (manual-get leases, SSE
 * streams), and the two steps every request takes before its handler runs: who is asking
 * (HTTP Basic or the anonymous policy) and a core connection in the vhost the path names.
 */
import type { IncomingMessage } from 'node:http';
import { type AnonymousPolicy, type Broker, type CoreConnection, identify } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { parseBasicAuth } from '../util/basic-auth.js';
import type { WebOrigins } from '../util/web-origin.js';
import { peerCommonName, type UserExists } from '../util/peer-name.js';
import type { PendingGets } from './pending-gets.js';
import type { SseHub } from './sse/hub.js';

export interface HttpSettings {
  /** Which web pages may use the routes (every route here takes or publishes messages). */
  readonly origins?: WebOrigins;
  readonly anonymous: AnonymousPolicy;
  readonly maxBodySize: number;
  /** Largest answer of a get (bytes); the first message goes whatever its size. */
  readonly getMaxBytes: number;
  /** Events an SSE connection may have unwritten before it stops receiving. */
  readonly sseBuffer: number;
  readonly sseHeartbeat: number;
  /** Whether a TLS certificate's user may log in (requests without Authorization); absent: never. */
  readonly userExists?: UserExists;
  /** Bytes an SSE stream may have unwritten (limits.maxOutboundBytes, issue 15); 1 MiB when absent. */
  readonly maxOutboundBytes?: number;
}

export interface HttpContext {
  readonly broker: Broker;
  readonly settings: HttpSettings;
  readonly leases: PendingGets;
  readonly sse: SseHub;
}

/**
 * Refuses a request a browser made for a page of another site that is not allowed (403): every
 * route here changes state, a GET too (it takes messages, or leases them, or consumes a queue).
 */
export function checkOrigin(ctx: HttpContext, req: IncomingMessage): void {
  const refusal = ctx.settings.origins?.crossSiteRefusal(req);
  if (refusal !== undefined) throw new SwitchyardError('ACCESS_REFUSED', refusal);
}

/** The user a request acts as; throws AUTHENTICATION_FAILED (401). */
export async function authenticate(ctx: HttpContext, req: IncomingMessage): Promise<string> {
  const creds = parseBasicAuth(req.headers.authorization);
  if (creds === null) {
    throw new SwitchyardError(
      'AUTHENTICATION_FAILED',
      'malformed Authorization header: expected Basic with base64 of user:password',
    );
  }
  const certUser = creds === undefined ? certificateUser(req) : undefined;
  if (certUser !== undefined) {
    if (ctx.settings.userExists?.(certUser, remoteAddress(req)) !== true) {
      throw new SwitchyardError(
        'AUTHENTICATION_FAILED',
        `certificate user '${certUser}' refused: not a broker user`,
      );
    }
    return certUser;
  }
  return await identify(ctx.broker, creds, remoteAddress(req), ctx.settings.anonymous);
}

/**
 * The user an HTTPS request without an Authorization header acts as: the subject CN of the TLS
 * certificate the listener verified (tls.verifyClients).
 */
export function certificateUser(req: IncomingMessage): string | undefined {
  return peerCommonName(req.socket);
}

/** A core connection for one request or stream; the caller closes it. Unknown vhost: 404. */
export function connect(ctx: HttpContext, req: IncomingMessage, user: string, vhost: string): CoreConnection {
  if (!ctx.broker.vhosts.has(vhost)) throw new SwitchyardError('NOT_FOUND', `no vhost '${vhost}'`);
  const agent = req.headers['user-agent'];
  return ctx.broker.connect({
    protocol: 'http',
    remoteAddress: remoteAddress(req),
    user,
    vhost,
    ...(agent === undefined ? {} : { clientName: agent }),
  });
}

function remoteAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? '';
}
