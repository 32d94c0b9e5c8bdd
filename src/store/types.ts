/**
 * What the core asks of durable storage. The core calls these synchronously on its hot path; an
 * implementation queues the work and makes it durable in the background (group commit), telling
 * waiters through whenDurable. Queues and messages are named by small integer ids here, so the
 * store needs none of the core's types.
 */

/** A persistent message routed to one or more durable queues. */
export interface MessageRecord {
  /** Broker-assigned, increasing. */
  readonly id: number;
  /** Store ids of the durable queues that took it. */
  readonly queues: readonly number[];
  readonly exchange: string;
  readonly routingKey: string;
  /** Names the wire form of `props` (e.g. 'amqp091'), so a recovered message keeps it. */
  readonly propsFormat: string;
  readonly props: Buffer;
  readonly body: Buffer;
}

/** Where a stored message's record is, to read it back (paging). */
export interface StoredRef {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

export interface MessageStore {
  /**
   * Records a message; returns the flush epoch after which it is on disk. Where the record went is
   * in lastSegment / lastOffset / lastLength until the next append (no object per publish).
   */
  appendMessage(r: MessageRecord): number;
  readonly lastSegment: number;
  readonly lastOffset: number;
  readonly lastLength: number;
  /**
   * Reads messages back (bodies paged out of memory), even before their flush. Calls `cb` once,
   * with the records in the order of `refs`, or with an error.
   */
  readMessages(refs: readonly StoredRef[], cb: (err: Error | undefined, records: readonly MessageRecord[]) => void): void;
  /** The message left the queue for good (acked, rejected without requeue, delivered with no-ack). */
  settle(queueId: number, msgId: number): void;
  /** The message was delivered from the queue (recovery marks it redelivered). */
  delivered(queueId: number, msgId: number): void;
  /** Every message of the queue is settled (purge). */
  purgeQueue(queueId: number): void;
  /** The queue is gone with all its messages. */
  deleteQueue(queueId: number): void;
  /** The epoch the next appended record will belong to (what a settle-only change waits for). */
  readonly currentEpoch: number;
  /** Calls `cb` once everything appended up to and including `epoch` is on disk. */
  whenDurable(epoch: number, cb: () => void): void;
}
