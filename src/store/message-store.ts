/**
 * The core's MessageStore on the segment log: names the properties' wire forms by number for
 * the log, turns the core's per-delivery calls into the log's coalesced watermarks, and reads
 * paged messages back whole.
 */
import type { LogMessage, MessageLog } from './log/index.js';
import type { MessageRecord, MessageStore } from './types.js';

/** Wire forms of stored properties, as numbered on disk. Never renumber: the log keeps them. */
const FORMATS = ['', 'amqp091', 'switchyard-json'] as const;

function formatNumber(name: string): number {
  const n = FORMATS.indexOf(name as (typeof FORMATS)[number]);
  if (n <= 0) throw new Error(`no stored form for properties '${name}'`);
  return n;
}

export function formatName(n: number): string {
  const name = FORMATS[n];
  if (name === undefined || name === '') throw new Error(`unknown stored properties form ${n}`);
  return name;
}

export class LogMessageStore implements MessageStore {
  /** The transaction being collected (see beginTxn). */
  private txn: { publishes: LogMessage[]; settles: Map<number, number[]> } | undefined;

  constructor(readonly log: MessageLog) {}

  appendMessage(r: MessageRecord): number {
    const m: LogMessage = {
      id: r.id,
      queues: r.queues,
      exchange: r.exchange,
      routingKey: r.routingKey,
      propsFormat: formatNumber(r.propsFormat),
      props: r.props,
      body: r.body,
    };
    if (this.txn !== undefined) {
      this.txn.publishes.push(m);
      return 0; // the commit's epoch covers it
    }
    return this.log.appendMessage(m).epoch;
  }

  beginTxn(): void {
    this.txn = { publishes: [], settles: new Map() };
  }

  commitTxn(): number {
    const t = this.txn;
    this.txn = undefined;
    if (t === undefined) return this.log.epoch;
    return this.log.txn({ publishes: t.publishes, settles: t.settles }).epoch;
  }

  readMessages(
    ids: readonly number[],
    cb: (err: Error | undefined, records: readonly MessageRecord[]) => void,
  ): void {
    this.log.readMessages(ids).then(
      (msgs) =>
        cb(
          undefined,
          msgs.map((m) => ({ ...m, propsFormat: formatName(m.propsFormat) })),
        ),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err)), []),
    );
  }

  settle(queueId: number, msgId: number): void {
    if (this.txn !== undefined) {
      const list = this.txn.settles.get(queueId);
      if (list === undefined) this.txn.settles.set(queueId, [msgId]);
      else list.push(msgId);
      return;
    }
    this.log.settle(queueId, msgId);
  }

  delivered(queueId: number, msgId: number): void {
    this.log.deliveredUpTo(queueId, msgId);
  }

  purgeQueue(queueId: number): void {
    this.log.purgeQueue(queueId);
  }

  deleteQueue(queueId: number): void {
    this.log.deleteQueue(queueId);
  }

  get currentEpoch(): number {
    return this.log.epoch;
  }

  whenDurable(epoch: number, cb: (err?: Error) => void): void {
    this.log.whenDurable(epoch, cb);
  }
}
