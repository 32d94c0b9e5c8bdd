/**
 * GET /api/v1/vhosts/{vhost}/queues/{queue}/events and
 * GET /api/v1/vhosts/{vhost}/exchanges/{exchange}/events?key=K: a Server-Sent Events stream of
 * deliveries (SseStream). A durable queue's stream can be resumed with Last-Event-ID; a
 * non-durable queue's stream and an exchange's stream (a server-named exclusive queue bound with
 * K, gone with the stream) are at most once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CoreConnection, Subscription } from '../../core/index.js';
import { connect, type HttpContext } from '../context.js';
import type { MessageKey } from '../sse/resume.js';
import type { Route } from '../routes.js';
import { SseStream } from '../sse/stream.js';

export function events(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  user: string,
): void {
  const conn = connect(ctx, req, user, route.vhost);
  try {
    const onQueue = route.kind === 'queue-events';
    const resumable = onQueue && isStored(conn, route.name);
    const owner = `${user}\0${route.vhost}\0${route.name}`;
    let skip: Set<MessageKey> | undefined;
    const last = req.headers['last-event-id'];
    if (resumable && typeof last === 'string' && last !== '') skip = ctx.sse.resume(owner, last);
    const stream = new SseStream(ctx.sse, res, conn, owner, ctx.sse.nextStreamNo(), resumable, skip);
    const sub = new Subscription(
      conn,
      onQueue
        ? { queue: route.name, manualAck: resumable }
        : { exchange: route.name, bindingKey: route.query.get('key') ?? '', manualAck: false },
      stream,
    );
    ctx.sse.add(stream);
    stream.start(sub);
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** Whether the queue keeps persistent messages on disk: only then can its stream be resumed. */
function isStored(conn: CoreConnection, queue: string): boolean {
  return (conn.vhost.queues.get(queue)?.storeId ?? 0) !== 0;
}
