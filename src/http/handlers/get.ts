/**
 * POST /api/v1/vhosts/{vhost}/queues/{queue}/messages?count=N&ack=auto|manual: up to N messages
 * that are ready now (`[]` when there are none; it never waits for a publish), in an answer of at
 * most http.getMaxBytes (the first message always goes, whatever its size). `ack=auto` (the
 * default) takes them off the queue once the answer is written; `ack=manual` leases them to the
 * caller (PendingGets) until it settles them through …/ack by their ids. `GET` does the same for
 * `ack=manual` only: a GET that took messages off a queue could be sent by a prefetcher, a crawler
 * or an <img> tag (405 says to POST).
 *
 * Nothing is settled before the answer is written: the messages are taken unacknowledged, and
 * acknowledged when the response has been handed to the socket whole ('finish'). A client that
 * goes away first, or an answer that cannot be built, leaves them in the queue (requeued in
 * their place, marked redelivered).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreConnection, Message, Session } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { readBody } from '../../util/read-body.js';
import { BODY_ERRORS } from '../codec/body.js';
import { connect, type HttpContext } from '../context.js';
import { HttpStatusError } from '../errors.js';
import { deliveryJson } from '../map.js';
import type { Route } from '../routes.js';

export const MAX_GET_COUNT = 1000;
/** Longest wait for messages paged out to disk to be read back, per attempt. */
const REFILL_WAIT_MS = 5000;
/** Read-backs one request waits for: other consumers may take what was read back. */
const MAX_REFILLS = 3;
/** A get's request body, when it has one, is `{}` or nothing: its parameters are in the query. */
const MAX_GET_BODY = 1024;

interface Taken {
  readonly tag: number;
  readonly redelivered: boolean;
  readonly msg: Message;
}

export async function get(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  user: string,
): Promise<void> {
  const count = parseCount(route.query.get('count'));
  const manual = parseAckMode(route.query.get('ack'));
  if (req.method === 'GET' && !manual) {
    throw new HttpStatusError(
      'COMMAND_INVALID',
      'a get that takes messages off the queue (ack=auto, the default) is a POST; GET is for ack=manual only',
      405,
      { allow: 'POST' },
    );
  }
  if (req.method === 'POST') checkEmptyBody(await readBody(req, MAX_GET_BODY, BODY_ERRORS));
  if (manual) ctx.leases.checkRoom(user, route.vhost);
  const conn = connect(ctx, req, user, route.vhost);
  let handedOver = false;
  try {
    const session = conn.openSession();
    const queue = route.name;
    const taken = await take(ctx, conn, session, queue, count);
    // Built before anything is settled: a message that cannot be turned into JSON throws, and
    // `finally` puts every taken message back.
    const { body, fitted } = answerBody(taken, queue, ctx.settings.getMaxBytes, manual);
    // What did not fit goes back to the head of the queue, in order.
    for (let i = taken.length - 1; i >= fitted.length; i--) session.settle(taken[i]!.tag, false, 'requeue');
    if (res.destroyed) return;
    if (manual) {
      if (fitted.length === 0) return reply(res, '[]', noop, noop);
      const token = ctx.leases.add(
        user,
        route.vhost,
        queue,
        conn,
        session,
        fitted.map((t) => t.tag),
      );
      handedOver = true;
      // A lease whose ids never reached the client would hold its messages for the lease's time.
      reply(res, body(token), noop, () => ctx.leases.release(token));
      return;
    }
    const last = fitted.at(-1);
    handedOver = true;
    reply(
      res,
      body(undefined),
      () => {
        if (last !== undefined) session.settle(last.tag, true, 'ack');
        conn.close();
      },
      () => conn.close(),
    );
  } finally {
    if (!handedOver) conn.close();
  }
}

/** Takes up to `count` ready messages, unacknowledged; expired ones are dropped on the way. */
async function take(
  ctx: HttpContext,
  conn: CoreConnection,
  session: Session,
  queue: string,
  count: number,
): Promise<Taken[]> {
  const taken: Taken[] = [];
  let refills = 0;
  while (taken.length < count) {
    const r = conn.get(session, queue, false);
    if (r === undefined) {
      // The queue's next messages are on disk only: wait for them to be read back.
      if (!conn.hasPaged(queue) || refills++ >= MAX_REFILLS || !(await refilled(ctx, conn, queue))) break;
      continue;
    }
    if (r.msg.expiresAt !== 0 && r.msg.expiresAt <= ctx.broker.clock.now()) {
      session.settle(r.tag, false, 'discard');
      continue;
    }
    taken.push({ tag: r.tag, redelivered: r.redelivered, msg: r.msg });
  }
  return taken;
}

/**
 * The JSON array of the messages that fit in `maxBytes` (at least the first), and which those
 * are; `body(token)` gives manual deliveries their ids (the token is known once leased).
 */
function answerBody(
  taken: readonly Taken[],
  queue: string,
  maxBytes: number,
  manual: boolean,
): { body: (token: string | undefined) => string; fitted: readonly Taken[] } {
  // An element's size does not depend on the token beyond its fixed length (12 hex digits).
  const probe = manual ? '000000000000' : undefined;
  const parts: string[] = [];
  let bytes = 2;
  for (const t of taken) {
    const part = element(t, queue, probe);
    const size = Buffer.byteLength(part) + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && bytes + size > maxBytes) break;
    parts.push(part);
    bytes += size;
  }
  const fitted = taken.slice(0, parts.length);
  return {
    fitted,
    body: (token) =>
      token === undefined
        ? `[${parts.join(',')}]`
        : `[${fitted.map((t) => element(t, queue, token)).join(',')}]`,
  };
}

function element(t: Taken, queue: string, token: string | undefined): string {
  return JSON.stringify(
    deliveryJson(t.msg, token === undefined ? undefined : `${token}-${t.tag}`, t.redelivered, queue),
  );
}

/**
 * Writes the answer. `written` runs once the whole response has been handed to the socket;
 * `lost` when the client went away before that.
 *
 * Node emits 'finish' (and calls end's callback) even when the socket was reset under a pending
 * write: a destroyed stream completes its cancelled writes without an error. So 'finish' counts
 * only while the socket is still up; the socket is taken now, as the response lets go of it
 * before end's callback runs.
 */
function reply(res: ServerResponse, body: string, written: () => void, lost: () => void): void {
  const socket = res.socket;
  let settled = false;
  const outcome = (ok: boolean): void => {
    if (settled) return;
    settled = true;
    if (ok) written();
    else lost();
  };
  res.once('close', () => outcome(false));
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body, () => outcome(socket !== null && !socket.destroyed));
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

function noop(): void {}

function checkEmptyBody(body: Buffer): void {
  const text = body.toString('utf8').trim();
  if (text !== '' && text !== '{}') {
    throw new SwitchyardError(
      'SYNTAX_ERROR',
      'a get takes its parameters in the query (count, ack); its body must be empty or {}',
    );
  }
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
