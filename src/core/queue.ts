/**
 * A queue: ready messages in publish order, consumers served round-robin as their credit allows.
 * Requeued messages go back to their original place (ordered by the sequence number they got on
 * enqueue), as RabbitMQ does, so a nack'ed batch is redelivered in the order it was published.
 */
import type { MessageStore } from '../store/types.js';
import { Deque } from '../util/deque.js';
import type { Binding } from './exchange.js';
import type { HeaderTable, Message } from './message.js';
import type { Consumer } from './session.js';

export interface QueueEntry {
  readonly msg: Message;
  /** Position in the queue's publish order. */
  readonly seq: number;
  redelivered: boolean;
}

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  args: HeaderTable;
}

/** Something that owns exclusive queues (a client connection). */
export interface QueueOwner {
  readonly id: number;
}

export class Queue {
  readonly kind = 'queue' as const;
  /** Bindings with this queue as destination. */
  readonly incoming = new Set<Binding>();
  readonly consumers: Consumer[] = [];
  /** Set when the queue is deleted: late acks and requeues for it are dropped. */
  deleted = false;
  /** Called when the last consumer goes away from an auto-delete queue that had one. */
  onUnused: ((q: Queue) => void) | undefined;
  /** Where this queue's persistent messages are recorded: set for durable queues of a broker with a store. */
  store: MessageStore | undefined;
  /** The queue's id in the store (0 = not stored). */
  storeId = 0;

  private readonly ready = new Deque<QueueEntry>(64);
  /** Requeued entries, ascending by seq; they come before `ready` (whose seqs are all larger). */
  private requeued = new Deque<QueueEntry>();
  private nextSeq = 0;
  private rr = 0;
  private dispatching = false;
  private redispatch = false;
  private hadConsumer = false;
  private exclusiveConsumer = false;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly options: QueueOptions,
    /** The connection that owns an exclusive queue. */
    readonly owner: QueueOwner | undefined,
  ) {}

  /** Messages ready for delivery (not counting delivered, unacknowledged ones). */
  get messageCount(): number {
    return this.ready.length + this.requeued.length;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  get hasExclusiveConsumer(): boolean {
    return this.exclusiveConsumer;
  }

  enqueue(msg: Message): void {
    this.ready.push({ msg, seq: this.nextSeq++, redelivered: false });
    if (this.consumers.length > 0) this.dispatch();
  }

  /** Takes the next ready entry (basic.get). */
  shift(): QueueEntry | undefined {
    return this.requeued.length > 0 ? this.requeued.shift() : this.ready.shift();
  }

  /** Puts entries back at their original positions, marked redelivered. Does not dispatch. */
  requeue(entry: QueueEntry): void {
    if (this.deleted) return;
    entry.redelivered = true;
    const rq = this.requeued;
    // A batch nack or a closed channel requeues in delivery order, so the entry nearly always
    // belongs at one end; the middle is the rare case and may cost a rebuild.
    const last = rq.at(rq.length - 1);
    if (last === undefined || last.seq < entry.seq) rq.push(entry);
    else if (rq.peek()!.seq > entry.seq) rq.unshift(entry);
    else {
      const all = [...rq, entry].sort((a, b) => a.seq - b.seq);
      rq.clear();
      for (const e of all) rq.push(e);
    }
  }

  purge(): number {
    const n = this.messageCount;
    if (this.storeId !== 0 && !this.deleted) {
      for (const e of this.requeued) this.settled(e.msg);
      for (const e of this.ready) this.settled(e.msg);
    }
    this.ready.clear();
    this.requeued.clear();
    return n;
  }

  /** A message left this queue for good: acked, rejected, delivered with no-ack, or purged. */
  settled(msg: Message): void {
    if (msg.storeId !== 0 && this.storeId !== 0 && !this.deleted)
      this.store!.settle(this.storeId, msg.storeId);
  }

  /** A message was handed to a consumer that will ack it: after a crash it comes back redelivered. */
  delivered(msg: Message): void {
    if (msg.storeId !== 0 && this.storeId !== 0) this.store!.delivered(this.storeId, msg.storeId);
  }

  addConsumer(c: Consumer): void {
    this.consumers.push(c);
    this.hadConsumer = true;
    if (c.exclusive) this.exclusiveConsumer = true;
    this.dispatch();
  }

  removeConsumer(c: Consumer): void {
    const i = this.consumers.indexOf(c);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (c.exclusive) this.exclusiveConsumer = false;
    if (this.rr > i) this.rr--;
    if (this.rr >= this.consumers.length) this.rr = 0;
    if (this.consumers.length === 0 && this.hadConsumer && this.options.autoDelete && !this.deleted) {
      this.onUnused?.(this);
    }
  }

  /** Delivers ready messages while some consumer has credit. Safe to call at any time. */
  dispatch(): void {
    if (this.dispatching) {
      this.redispatch = true;
      return;
    }
    this.dispatching = true;
    try {
      do {
        this.redispatch = false;
        while (this.ready.length + this.requeued.length > 0) {
          const c = this.pickConsumer();
          if (c === undefined) break;
          c.session.deliver(c, this.shift()!);
        }
      } while (this.redispatch);
    } finally {
      this.dispatching = false;
    }
  }

  private pickConsumer(): Consumer | undefined {
    const cs = this.consumers;
    const n = cs.length;
    if (n === 1) {
      const c = cs[0]!;
      return c.canTake() ? c : undefined;
    }
    for (let k = 0; k < n; k++) {
      const idx = (this.rr + k) % n;
      const c = cs[idx]!;
      if (c.canTake()) {
        this.rr = (idx + 1) % n;
        return c;
      }
    }
    return undefined;
  }
}
