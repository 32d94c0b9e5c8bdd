/**
 * HTTP REST and Server-Sent Events data plane under /api/v1 (docs/http.md): publish with
 * confirm, get with auto or manual (leased) acknowledgement, ack, and SSE subscriptions to a
 * queue or an exchange. Each request (or stream) is one core connection, closed when it ends.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker } from '../core/index.js';
import { authenticate, type HttpContext, type HttpSettings } from './context.js';
import { replyError } from './errors.js';
import { ack } from './handlers/ack.js';
import { events } from './handlers/events.js';
import { get } from './handlers/get.js';
import { publish } from './handlers/publish.js';
import { PendingGets } from './pending-gets.js';
import { isApiTarget, parseRoute } from './routes.js';
import { SseHub } from './sse-hub.js';

export type { HttpSettings } from './context.js';

export class HttpFrontEnd implements HttpContext {
  readonly leases = new PendingGets();
  readonly sse: SseHub;

  constructor(
    readonly broker: Broker,
    readonly settings: HttpSettings,
  ) {
    this.sse = new SseHub(settings.sseBuffer, settings.sseHeartbeat);
  }

  /** Takes requests under /api/v1; false = not ours. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const target = req.url ?? '';
    if (!isApiTarget(target)) return false;
    this.serve(req, res, target).catch((e: unknown) => replyError(res, e));
    return true;
  };

  /** Ends every SSE stream (shutdown). */
  close(): void {
    this.sse.close();
    this.leases.close();
  }

  private async serve(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const route = parseRoute(req.method ?? '', target);
    const user = authenticate(this, req);
    switch (route.kind) {
      case 'publish':
        return publish(this, req, res, route, user);
      case 'get':
        return get(this, req, res, route, user);
      case 'ack':
        return ack(this, req, res, route, user);
      case 'queue-events':
      case 'exchange-events':
        return events(this, req, res, route, user);
    }
  }
}
