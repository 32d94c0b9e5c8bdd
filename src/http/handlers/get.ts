/**
 * GET /api/v1/vhosts/{vhost}/queues/{queue}/messages?count=N&ack=auto|manual: up to N messages
 * that are ready now (`[]` when there are none; it never waits for a publish). `ack=auto` (the
 * default) takes them off the queue; `ack=manual` leases them to the caller (PendingGets) until
 * it settles them through …/ack by their ids.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreConnection, Message } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { connect, type HttpContext } from '../context.js';
import { replyJson } from '../errors.js';
import { deliveryJson } from '../map.js';
import type { Route } from '../routes.js';

export const MAX_GET_COUNT = 1000;
/** Longest wait for messages paged out to disk to be read back, per attempt. */
const REFILL_WAIT_MS = 5000;
/** Read-backs one request waits for: other consumers may take what was read back. */
const MAX_REFILLS = 3;

export async function get(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  user: string,
): Promise<void> {
  const count = parseCount(route.query.get('count'));
  const manual = parseAckMode(route.query.get('ack'));
  if (manual) ctx.leases.checkRoom(user, route.vhost);
  const conn = connect(ctx, req, user, route.vhost);
  let leased = false;
  try {
    const session = conn.openSession();
    const queue = route.name;
    const taken: { tag: number; redelivered: boolean; msg: Message }[] = [];
    let refills = 0;
    while (taken.length < count) {
      const r = conn.get(session, queue, !manual);
      if (r === undefined) {
        // The queue's next messages are on disk only: wait for them to be read back.
        if (!conn.hasPaged(queue) || refills++ >= MAX_REFILLS || !(await refilled(ctx, conn, queue))) break;
        continue;
      }
      if (r.msg.expiresAt !== 0 && r.msg.expiresAt <= ctx.broker.clock.now()) {
        if (manual) session.settle(r.tag, false, 'discard');
        continue;
      }
      taken.push({ tag: r.tag, redelivered: r.redelivered, msg: r.msg });
    }
    let token: string | undefined;
    if (manual && taken.length > 0 && !res.destroyed) {
      token = ctx.leases.add(
        user,
        route.vhost,
        queue,
        conn,
        session,
        taken.map((t) => t.tag),
      );
      leased = true;
    }
    replyJson(
      res,
      200,
      taken.map((t) =>
        deliveryJson(t.msg, token === undefined ? undefined : `${token}-${t.tag}`, t.redelivered, queue),
      ),
    );
  } finally {
    if (!leased) conn.close();
  }
}

function refilled(ctx: HttpContext, conn: CoreConnection, queue: string): Promise<boolean> {
  return new Promise((resolve) => {
    // A queue deleted meanwhile never calls back: the timer answers instead.
    const timer = ctx.broker.clock.after(REFILL_WAIT_MS, () => resolve(false));
    conn.whenRefilled(queue, () => {
      timer.cancel();
      resolve(true);
    });
  });
}

export function parseCount(v: string | null): number {
  if (v === null) return 1;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > MAX_GET_COUNT) {
    throw new SwitchyardError(
      'SYNTAX_ERROR',
      `count must be an integer from 1 to ${MAX_GET_COUNT}, not '${v.slice(0, 50)}'`,
    );
  }
  return n;
}

/** True for manual acknowledgement. */
export function parseAckMode(v: string | null): boolean {
  if (v === null || v === 'auto') return false;
  if (v === 'manual') return true;
  throw new SwitchyardError('SYNTAX_ERROR', `ack must be 'auto' or 'manual', not '${v.slice(0, 50)}'`);
}
