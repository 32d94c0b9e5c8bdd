/**
 * One Server-Sent Events response fed by one Subscription (docs/http.md, "Server-Sent Events").
 *
 * Flow control: deliveries are encoded into a batch written once per turn of the event loop. The
 * subscription is paused while the batch holds `buffer` events or the socket refuses more
 * (write() returned false) until 'drain': a client that stops reading leaves messages in the
 * queue, for other consumers, and never makes the broker buffer more than that.
 *
 * Resume (durable queues only): deliveries are acknowledged late. The last events written stay
 * unsettled in a window of at most `buffer` events and about two heartbeat intervals, the oldest
 * settled first; when the stream closes they go back to the queue and are recorded
 * (ResumeRecords) so that a client reconnecting with Last-Event-ID gets again exactly the ones it
 * had not read.
 */
import type { ServerResponse } from 'node:http';
import type { CoreConnection, Delivery, Subscription, SubscriptionHandlers } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { Deque } from '../../util/deque.js';
import { deliveryJsonText } from '../map.js';
import type { MessageKey, WrittenEvent } from './resume.js';

/** Reconnection delay EventSource clients are told (the `retry:` field), ms. */
export const RETRY_MS = 2000;

/** The stream's hub: registration, resume records, the shared heartbeat. */
export interface StreamOwner {
  readonly buffer: number;
  /** Bytes unwritten (ours and the response's) beyond which auto-ack events are dropped. */
  readonly maxOutboundBytes: number;
  removed(s: SseStream): void;
  recordUnsettled(owner: string, events: readonly WrittenEvent[]): void;
}

/** Why deliveries are paused; a bit each. */
const BATCH_FULL = 1;
const SOCKET_FULL = 2;

const HEARTBEAT = ': hb\n\n';

export class SseStream implements SubscriptionHandlers {
  private sub: Subscription | undefined;
  private readonly out: string[] = [];
  /** UTF-8 bytes in `out`. */
  private outBytes = 0;
  /** Over the hub's maxOutboundBytes: auto-ack events are dropped until the response drains. */
  private over = false;
  private flushQueued = false;
  private paused = 0;
  private closed = false;
  private nextNumber = 1;
  /** Written, unsettled events (resumable streams only), oldest first. */
  private readonly window: Deque<WrittenEvent> | undefined;
  /** Events pushed into and shifted out of the window so far, and `pushed` at the last heartbeat. */
  private pushed = 0;
  private shifted = 0;
  private pushedAtLastBeat = 0;

  constructor(
    private readonly hub: StreamOwner,
    private readonly res: ServerResponse,
    private readonly conn: CoreConnection,
    /** user NUL vhost NUL queue: whose resume records this stream reads and writes. */
    readonly owner: string,
    /** Unique among the broker's streams: prefix of the ids of unstored messages. */
    private readonly streamNo: number,
    readonly resumable: boolean,
    /** Messages the client already has (Last-Event-ID): acknowledged when they come back, not sent. */
    private skip: Set<MessageKey> | undefined,
  ) {
    if (resumable) this.window = new Deque(64);
    res.on('drain', this.onDrain);
    res.on('close', this.cleanup);
  }

  /** Sends the response head and lets deliveries flow. */
  start(sub: Subscription): void {
    this.sub = sub;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // Reverse proxies (nginx) would otherwise buffer the stream.
      'x-accel-buffering': 'no',
    });
    this.res.write(`retry: ${RETRY_MS}\n\n`);
    sub.start();
  }

  deliver(d: Delivery): void {
    const sub = this.sub!;
    try {
      const msg = d.message;
      let id: string;
      if (this.window !== undefined) {
        const key: MessageKey = msg.storeId !== 0 ? msg.storeId : msg;
        if (this.skip !== undefined && d.redelivered && this.skip.delete(key)) {
          if (this.skip.size === 0) this.skip = undefined;
          sub.ack(d.id);
          return;
        }
        id = msg.storeId !== 0 ? String(msg.storeId) : `${this.streamNo}.${this.nextNumber++}`;
        this.window.push({ id, tag: d.id, key });
        this.pushed++;
        if (this.window.length > this.hub.buffer) this.settleOldest(1);
      } else id = String(this.nextNumber++);
      const event = `event: message\nid: ${id}\ndata: ${deliveryJsonText(msg, id, d.redelivered, d.queue)}\n\n`;
      this.out.push(event);
      this.outBytes += Buffer.byteLength(event);
    } catch (e) {
      // Never let one bad message break the queue's dispatch loop for other consumers.
      this.fail(e as Error);
      return;
    }
    if (this.out.length >= this.hub.buffer) this.pause(BATCH_FULL);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  cancelled(reason: SwitchyardError): void {
    this.sendError(reason.code, reason.message);
    this.end();
  }

  /** Bytes waiting to be written: this turn's events and the response's (FrontEndStats.outboundBytes). */
  get outboundBytes(): number {
    return this.outBytes + this.res.writableLength;
  }

  /** Called on every heartbeat tick: a comment keeps proxies from timing the stream out. */
  heartbeat(): void {
    if (this.closed) return;
    if ((this.paused & SOCKET_FULL) === 0) this.res.write(HEARTBEAT);
    if (this.window === undefined) return;
    // Settle what was written before the last tick: between one and two intervals ago.
    if (this.pushedAtLastBeat > this.shifted) this.settleOldest(this.pushedAtLastBeat - this.shifted);
    this.pushedAtLastBeat = this.pushed;
  }

  /** Whether this stream wrote event `id` and still holds it unsettled. */
  holds(id: string): boolean {
    if (this.window === undefined) return false;
    for (const e of this.window) if (e.id === id) return true;
    return false;
  }

  /** Ends the response; the subscription closes and its unsettled messages go back to the queue. */
  end(): void {
    if (!this.res.writableEnded) {
      this.flush();
      this.res.end();
    }
    this.cleanup();
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.closed || this.out.length === 0) return;
    const chunk = this.out.length === 1 ? this.out[0]! : this.out.join('');
    this.out.length = 0;
    this.outBytes = 0;
    if (!this.res.write(chunk)) this.pause(SOCKET_FULL);
    this.checkOverflow();
    this.unpause(BATCH_FULL);
  };

  private readonly onDrain = (): void => {
    this.checkOverflow();
    this.unpause(SOCKET_FULL);
  };

  /**
   * Slow consumers (issue 15): past maxOutboundBytes the response could not send, an auto-ack
   * stream's events are dropped and counted by the core (a resumable, manual-ack one waits in
   * its queue). Checked after each write and drain: a turn's batch to a client that reads goes
   * out whole.
   */
  private checkOverflow(): void {
    const over = this.res.writableLength >= this.hub.maxOutboundBytes;
    if (over === this.over) return;
    this.over = over;
    this.sub?.overflow(over);
  }

  private pause(reason: number): void {
    if (this.paused === 0) this.sub?.pause();
    this.paused |= reason;
  }

  private unpause(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    if (this.paused === 0 && !this.closed) this.sub?.resume();
  }

  /** Acknowledges the `n` oldest events of the window. */
  private settleOldest(n: number): void {
    let last = -1;
    for (let i = 0; i < n; i++) {
      const e = this.window!.shift();
      if (e === undefined) break;
      this.shifted++;
      last = e.tag;
    }
    // Deliveries are numbered in write order, and those not in the window were settled when
    // they came (skipped, expired): one multiple ack covers exactly the events shifted out.
    if (last < 0) return;
    try {
      this.sub!.ack(last, true);
    } catch (e) {
      // A tag the session no longer holds (it was closed under the stream): nothing to settle.
      if (!(e instanceof SwitchyardError && e.code === 'PRECONDITION_FAILED')) this.fail(e as Error);
    }
  }

  private fail(e: Error): void {
    this.sendError('INTERNAL_ERROR', `could not send a message: ${e.message}`);
    this.end();
  }

  private sendError(code: string, message: string): void {
    if (this.closed || this.res.writableEnded) return;
    this.out.push(`event: error\ndata: ${JSON.stringify({ code, message })}\n\n`);
  }

  private readonly cleanup = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.res.off('drain', this.onDrain);
    if (this.window !== undefined && this.window.length > 0) {
      this.hub.recordUnsettled(this.owner, [...this.window]);
    }
    this.sub?.close();
    this.conn.close();
    this.hub.removed(this);
  };
}
