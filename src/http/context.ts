/**
 * What every handler gets: the broker, the settings, the shared state (manual-get leases, SSE
 * streams), and the two steps every request takes before its handler runs: who is asking
 * (HTTP Basic or the anonymous policy) and a core connection in the vhost the path names.
 */
import type { IncomingMessage } from 'node:http';
import { type AnonymousPolicy, type Broker, type CoreConnection, identify } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { parseBasicAuth } from '../util/basic-auth.js';
import type { PendingGets } from './pending-gets.js';
import type { SseHub } from './sse/hub.js';

export interface HttpSettings {
  readonly anonymous: AnonymousPolicy;
  readonly maxBodySize: number;
  /** Events an SSE connection may have unwritten before it stops receiving. */
  readonly sseBuffer: number;
  readonly sseHeartbeat: number;
  /** Bytes an SSE stream may have unwritten (limits.maxOutboundBytes, issue 15); 1 MiB when absent. */
  readonly maxOutboundBytes?: number;
}

export interface HttpContext {
  readonly broker: Broker;
  readonly settings: HttpSettings;
  readonly leases: PendingGets;
  readonly sse: SseHub;
}

/** The user a request acts as; throws AUTHENTICATION_FAILED (401). */
export function authenticate(ctx: HttpContext, req: IncomingMessage): string {
  const creds = parseBasicAuth(req.headers.authorization);
  if (creds === null) {
    throw new SwitchyardError(
      'AUTHENTICATION_FAILED',
      'malformed Authorization header: expected Basic with base64 of user:password',
    );
  }
  return identify(ctx.broker, creds, remoteAddress(req), ctx.settings.anonymous);
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
