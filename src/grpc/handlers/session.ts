/**
 * Session (bidirectional) over connect: requests from an async iterable, each handled by the
 * call's SessionCall (session-call.ts); responses through a bounded Outbox, whose fullness pauses
 * the subscriptions and stops the reading of requests. While a resource alarm blocks publishers, a
 * session that publishes stops reading too (PublishGate).
 */
import { ConnectError, type HandlerContext } from '@connectrpc/connect';
import type { Broker, CoreConnection } from '../../core/index.js';
import type { SessionRequest, SessionResponse } from '../../gen/switchyard/v1/broker_pb.js';
import { connect, traceOf, unlessAborted, warnAfterCall } from '../call.js';
import { toConnectError } from '../map.js';
import { Outbox } from '../outbox.js';
import type { PublishGate } from '../publish-gate.js';
import { MessageOutput, SessionCall } from '../session-call.js';

/** Responses (count, body bytes) a Session buffers beyond the HTTP/2 stream's before it pushes back. */
const SESSION_BUFFER = 1024;
const SESSION_BUFFER_BYTES = 1 << 20;

export async function* session(
  broker: Broker,
  gate: PublishGate,
  requests: AsyncIterable<SessionRequest>,
  ctx: HandlerContext,
  maxOutboundBytes = SESSION_BUFFER_BYTES,
): AsyncGenerator<SessionResponse> {
  let conn: CoreConnection | undefined;
  let call: SessionCall | undefined;
  // Full (a count, or limits.maxOutboundBytes of bodies): deliveries pause, and auto-ack ones
  // without credit are dropped meanwhile (issue 15) rather than piling up here.
  const out = new Outbox<SessionResponse>(SESSION_BUFFER, maxOutboundBytes, {
    full: () => {
      call?.pause();
      call?.overflow(true);
    },
    drained: () => {
      call?.overflow(false);
      call?.resume();
    },
  });
  // The deadline, shutdown or the client: the call ends with that status (DEADLINE_EXCEEDED...).
  const onAbort = () => out.abort(ConnectError.from(ctx.signal.reason));
  const it = requests[Symbol.asyncIterator]();
  try {
    conn = connect(broker, ctx);
    const c = (call = new SessionCall(conn, traceOf(ctx), new MessageOutput(out)));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
    void readRequests(it, c, out, gate, ctx.signal).then(
      () => out.end(),
      (e: unknown) => out.fail(toConnectError(e)),
    );
    yield* out;
  } catch (e) {
    throw toConnectError(e);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    call?.close();
    conn?.close();
    void it.return?.().catch(warnAfterCall);
  }
}

async function readRequests(
  it: AsyncIterator<SessionRequest>,
  call: SessionCall,
  out: Outbox<SessionResponse>,
  gate: PublishGate,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    const r = await it.next();
    if (r.done === true || out.closed) break;
    // A publishing session is not read while a resource alarm blocks publishers: a request that
    // was already on its way waits here, before the broker acts on it, as if still unread.
    if (call.publisher) {
      const open = gate.whenOpen();
      if (open !== undefined) await unlessAborted(open, signal);
    }
    call.handle(r.value);
    // Stop reading while the client does not read what we send: HTTP/2 flow control then
    // pushes back on its requests, and the confirms it causes cannot pile up here.
    const room = out.whenNotFull();
    if (room !== undefined) await room;
  }
  const settled = call.whenSettled();
  if (settled !== undefined) await settled;
}
