/**
 * HTTP REST and Server-Sent Events data plane under /api/v1 (docs/http.md): publish with
 * confirm, get with auto or manual (leased) acknowledgement, ack, and SSE subscriptions to a
 * queue or an exchange. Each request (or stream) is one core connection, closed when it ends.
 *
 * Rooms: routes.ts (which requests are ours, and their route), codec/ (request bodies),
 * context.ts (what a handler gets: the per-request steps and shared state), handlers/ (one file
 * per route kind), map.ts (HTTP ⇄ message container), errors.ts (error replies), sse/ (event
 * streams and their resume records), pending-gets.ts (manual-get leases).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker, FrontEnd, FrontEndStats, RequestHandler } from '../core/index.js';
import { authenticate, checkOrigin, type HttpContext, type HttpSettings } from './context.js';
import { replyError } from './errors.js';
import { ack } from './handlers/ack.js';
import { events } from './handlers/events.js';
import { get } from './handlers/get.js';
import { publish } from './handlers/publish.js';
import { PendingGets } from './pending-gets.js';
import { isApiTarget, parseRoute } from './routes.js';
import { SseHub } from './sse/hub.js';

export type { HttpSettings } from './context.js';

export class HttpFrontEnd implements FrontEnd {
  readonly protocol = 'http';
  /** Requests under /api/v1 on the shared HTTP listener. */
  readonly http: { readonly handle: RequestHandler };
  private readonly ctx: HttpContext;

  constructor(broker: Broker, settings: HttpSettings) {
    this.ctx = {
      broker,
      settings,
      leases: new PendingGets(broker.clock),
      sse: new SseHub(settings.sseBuffer, settings.sseHeartbeat, broker.clock, settings.maxOutboundBytes),
    };
    this.http = { handle: this.handle };
  }

  /** Ends every SSE stream and manual-get lease (shutdown): what they hold goes back to its queue. */
  close(): Promise<void> {
    this.ctx.sse.close();
    this.ctx.leases.close();
    return Promise.resolve();
  }

  /** Open SSE streams (plain requests are too short-lived to count). */
  stats(): FrontEndStats {
    return {
      connections: this.ctx.sse.size,
      dropped: this.ctx.broker.dropsFor('http'),
      outboundBytes: this.ctx.sse.outboundBytes,
    };
  }

  /** Takes requests under /api/v1; false = not ours. */
  private readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const target = req.url ?? '';
    if (!isApiTarget(target)) return false;
    serve(this.ctx, req, res, target).catch((e: unknown) => replyError(res, e));
    return true;
  };
}

async function serve(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
): Promise<void> {
  const route = parseRoute(req.method ?? '', target);
  checkOrigin(ctx, req);
  const user = await authenticate(ctx, req);
  switch (route.kind) {
    case 'publish':
      return publish(ctx, req, res, route, user);
    case 'get':
      return get(ctx, req, res, route, user);
    case 'ack':
      return ack(ctx, req, res, route, user);
    case 'queue-events':
    case 'exchange-events':
      return events(ctx, req, res, route, user);
  }
}
