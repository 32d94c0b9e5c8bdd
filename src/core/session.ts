/**
 * A session is where deliveries and their settlement live: one per AMQP channel, MQTT session,
 * gRPC Session stream or WebSocket. It numbers deliveries (delivery tags), keeps the unacked
 * ones, and applies credit: a per-consumer prefetch and a per-session one, as AMQP's basic.qos
 * (global=false / global=true) describes, plus a pause switch the front end uses for flow control.
 */
import { preconditionFailed, SwitchyardError } from '../errors/index.js';
import type { HeaderTable } from '../model/index.js';
import type { Message } from './message.js';
import type { Queue, QueueConsumer, QueueEntry } from './queue.js';
import type { CoreTracer } from './tracer.js';

/** How a front end receives deliveries. Called synchronously from the queue's dispatch. */
export interface DeliverySink {
  deliver(consumerTag: string, deliveryTag: number, redelivered: boolean, msg: Message, queue: Queue): void;
  /**
   * The broker cancelled the consumer: its queue was deleted, or (with a reason) a message could
   * not be sent to it and went back to the queue.
   */
  cancelled(consumerTag: string, reason?: SwitchyardError): void;
}

export interface ConsumeOptions {
  /** Consumer tag; unique within the session. */
  tag: string;
  /** Deliveries count as settled when sent (no ack expected). */
  noAck: boolean;
  /**
   * With noAck: whether deliveries are dropped (true) or wait in the queue (false) while the
   * connection's outbound bytes are over their bound (Pause.OVERFLOW). Dropping suits a queue that
   * is the subscriber's alone (its messages have nowhere else to go) and a client that grants no
   * credit; a shared queue keeps them for other consumers. Default: whether the queue is
   * exclusive (AMQP's private queues).
   */
  dropWhenFull?: boolean;
  /** No other consumer may consume from the queue while this one does. */
  exclusive: boolean;
  args: HeaderTable;
}

export class Consumer implements QueueConsumer {
  /** Unacked deliveries of this consumer that count against its prefetch. */
  unacked = 0;
  /**
   * At most once, on a queue of its own, without credit (AMQP no-ack on an exclusive queue, MQTT
   * QoS 0, WebSocket, gRPC and SSE exchange subscriptions without credit): delivered while the
   * socket is merely slow (Pause.BACKPRESSURE), dropped and counted while the
   * connection's outbound bytes are over their bound (Pause.OVERFLOW), never left to pile up in
   * the queue. Everything else waits in the queue while the session is paused.
   */
  readonly droppable: boolean;
  constructor(
    readonly session: Session,
    readonly queue: Queue,
    readonly tag: string,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** Per-consumer prefetch, 0 = unlimited. */
    readonly prefetch: number,
    readonly args: HeaderTable,
    readonly sink: DeliverySink,
    dropWhenFull = false,
  ) {
    this.droppable = noAck && dropWhenFull;
  }

  take(entry: QueueEntry): void {
    this.session.deliver(this, entry);
  }

  cancel(): void {
    this.session.removeConsumer(this.tag);
    this.sink.cancelled(this.tag);
  }

  canTake(): boolean {
    const s = this.session;
    const p = s.paused;
    if (p !== 0 && (!this.droppable || (p & ~OUTBOUND) !== 0)) return false;
    if (this.noAck) return true;
    return (
      (this.prefetch === 0 || this.unacked < this.prefetch) &&
      (s.prefetch === 0 || s.unackedCount < s.prefetch)
    );
  }
}

interface Unacked {
  readonly entry: QueueEntry;
  readonly queue: Queue;
  /** Undefined for basic.get deliveries: they count against no credit. */
  readonly consumer: Consumer | undefined;
}

/** Reasons a session's deliveries are paused; a bit each, so they nest. */
export const Pause = {
  /** The client asked (AMQP channel.flow). */
  FLOW: 1,
  /** The connection's outgoing buffer is full. */
  BACKPRESSURE: 2,
  /** A consumer is being set up: its confirmation must reach the client before any delivery. */
  SETUP: 4,
  /**
   * The connection's outbound bytes are over their bound (limits.maxOutboundBytes): at-most-once
   * deliveries without credit are dropped and counted, everything else waits in its queue.
   */
  OVERFLOW: 8,
} as const;

/** The pauses a droppable (at-most-once, no credit) consumer is not stopped by. */
const OUTBOUND = Pause.BACKPRESSURE | Pause.OVERFLOW;

/** At-most-once deliveries dropped because a connection's outbound buffer was full (per protocol). */
export interface DropCount {
  messages: number;
  /** Body bytes. */
  bytes: number;
}

/** Whoever opened the session (a connection), told when it closes. */
export interface SessionOwner {
  sessionClosed(s: Session): void;
}

const NO_CONSUMERS: ReadonlyMap<string, Consumer> = new Map();

export type SettleOutcome = 'ack' | 'requeue' | 'discard';

export class Session {
  /** Session-wide prefetch (AMQP basic.qos global=true), 0 = unlimited. */
  prefetch = 0;
  /** Prefetch given to consumers created from now on (basic.qos global=false). */
  consumerPrefetch = 0;
  /** Unsettled consumer deliveries: what `prefetch` limits (basic.get deliveries are not counted). */
  unackedCount = 0;
  /** Bitmask of Pause reasons; deliveries flow only at 0. */
  paused = 0;
  /** Created on first use: an idle connection's session should cost next to nothing. */
  private consumerMap: Map<string, Consumer> | undefined;
  closed = false;

  private nextTag = 1;
  /** Unacked deliveries by tag; a Map keeps insertion (= tag) order for `multiple`. */
  private unacked: Map<number, Unacked> | undefined;

  /** This session's consumers by tag. */
  get consumers(): ReadonlyMap<string, Consumer> {
    return this.consumerMap ?? NO_CONSUMERS;
  }

  constructor(
    private readonly owner: SessionOwner,
    private readonly tracer?: CoreTracer,
    private readonly protocol = '',
    /** Where this session's drops are counted (the broker's count for its protocol). */
    private readonly drops: DropCount = { messages: 0, bytes: 0 },
  ) {}

  /** Called by a queue's dispatch: numbers the delivery, records it, hands it to the sink. */
  deliver(c: Consumer, entry: QueueEntry): void {
    if ((this.paused & Pause.OVERFLOW) !== 0 && c.droppable) {
      // The connection is over its outbound bound: an at-most-once delivery is dropped, as
      // Mosquitto drops QoS 0 beyond max_queued_bytes, and counted.
      this.drops.messages++;
      this.drops.bytes += entry.msg.body.length;
      c.queue.settled(entry.msg);
      return;
    }
    const tag = this.nextTag++;
    if (!c.noAck) {
      (this.unacked ??= new Map()).set(tag, { entry, queue: c.queue, consumer: c });
      c.unacked++;
      this.unackedCount++;
      c.queue.delivered(entry.msg);
    }
    if (this.tracer !== undefined) this.tracer.delivered(entry.msg, c.queue.name, this.protocol);
    try {
      c.sink.deliver(c.tag, tag, entry.redelivered, entry.msg, c.queue);
    } catch (e) {
      this.undeliverable(c, tag, entry, e);
      return;
    }
    if (c.noAck) c.queue.settled(entry.msg);
  }

  /**
   * A sink could not send a message (its protocol cannot express it, or a front-end bug). The
   * failure must stay with that consumer: the message goes back to its queue for the others, the
   * consumer is cancelled (or it would be handed the same message again), and nothing reaches
   * the publisher whose publish is being routed.
   */
  private undeliverable(c: Consumer, tag: number, entry: QueueEntry, e: unknown): void {
    if (!c.noAck && this.unacked?.delete(tag)) {
      c.unacked--;
      this.unackedCount--;
    }
    this.removeConsumer(c.tag);
    c.queue.requeue(entry);
    const reason = new SwitchyardError(
      'INTERNAL_ERROR',
      `consumer '${c.tag}' cancelled: a message from queue '${c.queue.name}' could not be sent to it: ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
    try {
      c.sink.cancelled(c.tag, reason);
    } catch {
      // The sink is already failing; the consumer is gone either way.
    }
  }

  /** Records a basic.get delivery and returns its tag. */
  recordGet(queue: Queue, entry: QueueEntry, noAck: boolean): number {
    const tag = this.nextTag++;
    if (this.tracer !== undefined) this.tracer.delivered(entry.msg, queue.name, this.protocol);
    // Not counted in unackedCount: basic.get uses no credit (RabbitMQ's limiter counts
    // consumer deliveries only).
    if (noAck) queue.settled(entry.msg);
    else {
      (this.unacked ??= new Map()).set(tag, { entry, queue, consumer: undefined });
      queue.delivered(entry.msg);
    }
    return tag;
  }

  /**
   * Settles one delivery, or with `multiple` every one up to and including `tag` (0 = all).
   * Throws PRECONDITION_FAILED for a tag that is not outstanding, as RabbitMQ does.
   */
  settle(tag: number, multiple: boolean, outcome: SettleOutcome): void {
    const unacked = this.unacked;
    if (unacked === undefined) throw unknownTag(tag);
    // Allocated only when something is requeued: acks are the hot path.
    let requeuedTo: Set<Queue> | undefined;
    if (multiple) {
      if (tag !== 0 && !unacked.has(tag)) throw unknownTag(tag);
      for (const [t, u] of unacked) {
        if (tag !== 0 && t > tag) break;
        const q = this.settleOne(unacked, t, u, outcome);
        if (q !== undefined) (requeuedTo ??= new Set()).add(q);
      }
    } else {
      const u = unacked.get(tag);
      if (u === undefined) throw unknownTag(tag);
      const q = this.settleOne(unacked, tag, u, outcome);
      if (q !== undefined) requeuedTo = new Set([q]);
    }
    this.afterSettle(requeuedTo);
  }

  /** Requeues every unacked delivery (basic.recover with requeue, channel close). */
  recover(): void {
    const unacked = this.unacked;
    const requeuedTo = new Set<Queue>();
    if (unacked !== undefined)
      for (const [t, u] of unacked) requeuedTo.add(this.settleOne(unacked, t, u, 'requeue')!);
    this.afterSettle(requeuedTo);
  }

  get unackedTags(): number {
    return this.unacked?.size ?? 0;
  }

  addConsumer(queue: Queue, opts: ConsumeOptions, sink: DeliverySink): Consumer {
    const c = new Consumer(
      this,
      queue,
      opts.tag,
      opts.noAck,
      opts.exclusive,
      this.consumerPrefetch,
      opts.args,
      sink,
      opts.dropWhenFull ?? queue.options.exclusive,
    );
    (this.consumerMap ??= new Map()).set(opts.tag, c);
    queue.addConsumer(c);
    return c;
  }

  /** Removes a consumer; its unacked deliveries stay unacked (they may still be acked). */
  removeConsumer(tag: string): Consumer | undefined {
    const c = this.consumerMap?.get(tag);
    if (c === undefined) return undefined;
    this.consumerMap!.delete(tag);
    c.queue.removeConsumer(c);
    return c;
  }

  pause(reason: number): void {
    this.paused |= reason;
  }

  resume(reason: number): void {
    if ((this.paused & reason) === 0) return;
    this.paused &= ~reason;
    // Droppable consumers may take again once only outbound pauses are left.
    if (this.paused === 0 || (this.paused & ~OUTBOUND) === 0) this.kick();
  }

  /** Asks every queue this session consumes from to deliver what credit now allows. */
  kick(): void {
    for (const c of this.consumers.values()) if (c.queue.messageCount > 0) c.queue.dispatch();
  }

  /** Closes the session: consumers go, unacked deliveries are requeued in order. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const tag of [...this.consumers.keys()]) this.removeConsumer(tag);
    this.recover();
    this.owner.sessionClosed(this);
  }

  /** Settles one delivery; returns its queue when the message went back to it. */
  private settleOne(
    unacked: Map<number, Unacked>,
    tag: number,
    u: Unacked,
    outcome: SettleOutcome,
  ): Queue | undefined {
    unacked.delete(tag);
    if (u.consumer !== undefined) {
      u.consumer.unacked--;
      this.unackedCount--;
    }
    if (outcome !== 'requeue') {
      u.queue.settled(u.entry.msg);
      return undefined;
    }
    u.queue.requeue(u.entry);
    return u.queue;
  }

  private afterSettle(requeuedTo: Set<Queue> | undefined): void {
    if (requeuedTo !== undefined) for (const q of requeuedTo) q.dispatch();
    if (!this.closed) this.kick();
  }
}

function unknownTag(tag: number) {
  return preconditionFailed(`unknown delivery tag ${tag}`);
}
