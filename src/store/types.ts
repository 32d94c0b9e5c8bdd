/**
 * What the core asks of durable storage. The core calls these synchronously on its hot path; an
 * implementation queues the work and makes it durable in the background (group commit), telling
 * waiters through whenDurable. Queues and messages are named by small integer ids here, so the
 * store needs none of the core's types.
 */

import type { BindingDef, ExchangeDef, QueueDef } from './defs/state.js';

export type { BindingDef, ExchangeDef, QueueDef };

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

export interface MessageStore {
  /** Records a message; returns the flush epoch after which it is on disk. */
  appendMessage(r: MessageRecord): number;
  /**
   * Reads messages back by id (paged out of memory), even before their flush. Calls `cb` once,
   * with the records in the order of `ids`, or with an error.
   */
  readMessages(
    ids: readonly number[],
    cb: (err: Error | undefined, records: readonly MessageRecord[]) => void,
  ): void;
  /** The message left the queue for good (acked, rejected without requeue, delivered with no-ack). */
  settle(queueId: number, msgId: number): void;
  /** The message was delivered from the queue (recovery marks it redelivered). */
  delivered(queueId: number, msgId: number): void;
  /** Every message of the queue is settled (purge). */
  purgeQueue(queueId: number): void;
  /** The queue is gone with all its messages. */
  deleteQueue(queueId: number): void;
  /**
   * Starts a transaction: the appends and settles until commitTxn() are written as one record,
   * applied whole after a crash or not at all. Transactions do not nest.
   */
  beginTxn(): void;
  /** Writes the transaction begun by beginTxn(); returns the epoch that holds it. */
  commitTxn(): number;
  /** The epoch the next appended record will belong to (what a settle-only change waits for). */
  readonly currentEpoch: number;
  /**
   * Calls `cb` once everything appended up to and including `epoch` is on disk, or with an error
   * if the store failed (then nothing of that epoch may be confirmed).
   */
  whenDurable(epoch: number, cb: (err?: Error) => void): void;
}

/**
 * Where durable definitions go (exchanges, queues, bindings). Each change returns a promise that
 * resolves once it is on disk; the front end holds its -ok reply until then.
 */
export interface DefinitionsSink {
  putExchange(def: ExchangeDef): Promise<void>;
  deleteExchange(vhost: string, name: string): Promise<void>;
  /** Stores a queue; its id is available from queueId() at once. Deleting a queue deletes its bindings. */
  putQueue(def: QueueDef): Promise<number>;
  queueId(vhost: string, name: string): number | undefined;
  deleteQueue(vhost: string, name: string): Promise<void>;
  putBinding(def: BindingDef): Promise<void>;
  deleteBinding(def: BindingDef): Promise<void>;
}

/**
 * Durable keyed records a front end keeps beside the definitions: MQTT sessions and retained
 * messages. With a data directory it is the definitions store (same journal, same fsync);
 * without one it is memory (MemoryRecordStore).
 */
export interface RecordStore {
  /** Stores or replaces a record; resolves once it is durable. */
  putRecord(kind: string, key: string, value: Buffer): Promise<void>;
  /** Removes a record (absent is fine); resolves once that is durable. */
  deleteRecord(kind: string, key: string): Promise<void>;
  /** The records of one kind as they are now (changes show at once, before they are durable). */
  records(kind: string): ReadonlyMap<string, Buffer>;
}
