/**
 * A queue: ready messages in publish order, consumers served round-robin as their credit allows.
 * Requeued messages go back to their original place (ordered by the sequence number they got on
 * enqueue), as RabbitMQ does, so a nack'ed batch is redelivered in the order it was published.
 */
import type { MessageRecord, MessageStore } from '../store/types.js';
import { Deque } from '../util/deque.js';
import type { HeaderTable } from '../model/index.js';
import type { Message } from './message.js';
import { messageFromRecord } from './stored.js';

export interface QueueEntry {
  readonly msg: Message;
  /** Position in the queue's publish order. */
  readonly seq: number;
  redelivered: boolean;
}

/**
 * A stored message whose body and properties are not in memory: only where to read it back.
 * A long backlog is mostly these, so memory follows what is in flight, not the backlog.
 */
interface PagedEntry {
  readonly msg: undefined;
  readonly seq: number;
  readonly storeId: number;
  redelivered: boolean;
}

/**
 * Ready messages a durable queue keeps in memory, by count and by body bytes; past either, stored
 * messages wait on disk only. Large enough that a queue a consumer keeps up with never pages
 * (paging costs a read per message), small enough that a backlog of millions costs little.
 */
export const PAGE_WINDOW = 16384;
export const PAGE_BYTES = 64 * 1024 * 1024;
/** How many paged messages one read-back brings in. */
export const REFILL_BATCH = 1024;
/** Delay before retrying a failed read-back. */
const REFILL_RETRY_MS = 1000;

export interface QueueOptions {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  args: HeaderTable;
}

/** What a queue needs of a consumer (session.ts's Consumer). */
export interface QueueConsumer {
  readonly exclusive: boolean;
  /** Whether it may take a message now (credit, pauses). */
  canTake(): boolean;
  /** Hands it a message taken off the queue. */
  take(entry: QueueEntry): void;
  /** The queue is gone: the consumer ends, and its client is told. */
  cancel(): void;
}

/** Something that owns exclusive queues (a client connection). */
export interface QueueOwner {
  readonly id: number;
}

export class Queue {
  readonly kind = 'queue' as const;
  readonly consumers: QueueConsumer[] = [];
  /** Set when the queue is deleted: late acks and requeues for it are dropped. */
  deleted = false;
  /** Called when the last consumer goes away from an auto-delete queue that had one. */
  onUnused: ((q: Queue) => void) | undefined;
  /** Where this queue's persistent messages are recorded: set for durable queues of a broker with a store. */
  store: MessageStore | undefined;
  /** The queue's id in the store (0 = not stored). */
  storeId = 0;

  private readonly ready = new Deque<QueueEntry>(64);
  /** Body bytes of the entries in `ready`. */
  private readyBytes = 0;
  /**
   * Messages behind the in-memory window, in publish order, all newer than `ready`'s. Stored ones
   * are paged out; transient ones (a durable queue also takes those) stay whole to keep the order.
   */
  private tail: Deque<QueueEntry | PagedEntry> | undefined;
  /** A read-back is in flight. */
  private refilling = false;
  /** The read-back in flight: out of the tail, not yet in `ready`. */
  private inflight: readonly (QueueEntry | PagedEntry)[] | undefined;
  private get readingBack(): number {
    return this.inflight?.length ?? 0;
  }
  /** Bumped by purge and delete, so a read-back that finishes afterwards is dropped. */
  private generation = 0;
  /** Messages of this queue that are on disk only (paged out or recovered, not yet read back). */
  pagedCount = 0;
  /** Callers waiting for paged messages to be back in memory (basic.get on an all-paged queue). */
  private refillWaiters: (() => void)[] | undefined;
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
    return this.ready.length + this.requeued.length + (this.tail?.length ?? 0) + this.readingBack;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  get hasExclusiveConsumer(): boolean {
    return this.exclusiveConsumer;
  }

  enqueue(msg: Message): void {
    const seq = this.nextSeq++;
    const tail = this.tail;
    if (
      (tail !== undefined && tail.length > 0) ||
      (this.storeId !== 0 && (this.ready.length >= PAGE_WINDOW || this.readyBytes >= PAGE_BYTES))
    ) {
      this.pageOut(msg, seq, false);
      return;
    }
    this.ready.push({ msg, seq, redelivered: false });
    this.readyBytes += msg.body.length;
    if (this.consumers.length > 0) this.dispatch();
  }

  /** Appends a message behind the window: a stored one as a reference only. */
  private pageOut(msg: Message, seq: number, redelivered: boolean): void {
    const tail = (this.tail ??= new Deque());
    if (msg.storeId === 0) tail.push({ msg, seq, redelivered });
    else {
      this.pagedCount++;
      tail.push({ msg: undefined, seq, redelivered, storeId: msg.storeId });
    }
  }

  /**
   * Adds a message recovered from the store at start: it stays on disk until the queue's window
   * reaches it. Recovery adds messages in publish order.
   */
  recover(storeId: number, redelivered: boolean): void {
    (this.tail ??= new Deque()).push({ msg: undefined, seq: this.nextSeq++, storeId, redelivered });
    this.pagedCount++;
  }

  /** Calls `cb` once paged messages are back in memory, or at once if there are none to wait for. */
  whenRefilled(cb: () => void): void {
    const onDisk = (this.tail?.length ?? 0) + this.readingBack;
    if (onDisk === 0 || this.ready.length + this.requeued.length > 0) {
      cb();
      return;
    }
    (this.refillWaiters ??= []).push(cb);
    this.refill();
  }

  /** Brings the next paged messages back into the window when it runs low. */
  private refill(): void {
    const tail = this.tail;
    if (
      this.refilling ||
      tail === undefined ||
      tail.length === 0 ||
      this.ready.length >= PAGE_WINDOW / 2 ||
      this.readyBytes >= PAGE_BYTES / 2
    )
      return;
    const batch: (QueueEntry | PagedEntry)[] = [];
    const refs: number[] = [];
    while (batch.length < REFILL_BATCH && tail.length > 0) {
      const e = tail.shift()!;
      batch.push(e);
      if (e.msg === undefined) refs.push(e.storeId);
    }
    if (refs.length === 0) {
      this.acceptRefill(batch as QueueEntry[]);
      return;
    }
    this.refilling = true;
    this.inflight = batch;
    const generation = this.generation;
    this.store!.readMessages(refs, (err, records) => {
      if (generation !== this.generation) return;
      this.refilling = false;
      this.inflight = undefined;
      if (this.deleted) return;
      if (err !== undefined) {
        // Put the batch back in front and try again later: a confirmed message is never dropped.
        for (let i = batch.length - 1; i >= 0; i--) tail.unshift(batch[i]!);
        setTimeout(() => this.refill(), REFILL_RETRY_MS).unref();
        return;
      }
      this.pagedCount -= refs.length;
      let k = 0;
      const entries = batch.map((e): QueueEntry => {
        if (e.msg !== undefined) return e;
        const rec: MessageRecord = records[k++]!;
        return {
          msg: messageFromRecord(rec),
          seq: e.seq,
          redelivered: e.redelivered,
        };
      });
      this.acceptRefill(entries);
    });
  }

  private acceptRefill(entries: readonly QueueEntry[]): void {
    for (const e of entries) {
      this.ready.push(e);
      this.readyBytes += e.msg.body.length;
    }
    if (this.tail !== undefined && this.tail.length === 0) this.tail = undefined;
    const waiters = this.refillWaiters;
    this.refillWaiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w();
    if (this.consumers.length > 0) this.dispatch();
    this.refill();
  }

  /** Takes the next ready entry (basic.get). */
  shift(): QueueEntry | undefined {
    if (this.requeued.length > 0) return this.requeued.shift();
    const e = this.ready.shift();
    if (e !== undefined) this.readyBytes -= e.msg.body.length;
    if (this.tail !== undefined) this.refill();
    return e;
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
      for (const part of [this.tail, this.inflight]) {
        if (part === undefined) continue;
        for (const e of part) {
          if (e.msg !== undefined) this.settled(e.msg);
          else this.store!.settle(this.storeId, e.storeId);
        }
      }
    }
    this.ready.clear();
    this.readyBytes = 0;
    this.requeued.clear();
    this.tail = undefined;
    this.inflight = undefined;
    this.refilling = false;
    this.pagedCount = 0;
    this.generation++;
    const waiters = this.refillWaiters;
    this.refillWaiters = undefined;
    if (waiters !== undefined) for (const w of waiters) w();
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

  addConsumer(c: QueueConsumer): void {
    this.consumers.push(c);
    this.hadConsumer = true;
    if (c.exclusive) this.exclusiveConsumer = true;
    this.dispatch();
  }

  removeConsumer(c: QueueConsumer): void {
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
          c.take(this.shift()!);
        }
      } while (this.redispatch);
    } finally {
      this.dispatching = false;
    }
    if (this.tail !== undefined) this.refill();
  }

  private pickConsumer(): QueueConsumer | undefined {
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
