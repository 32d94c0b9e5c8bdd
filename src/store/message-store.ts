/**
 * The core's MessageStore on the segment log: names the properties' wire forms by number for
 * the log, turns the core's per-delivery calls into the log's coalesced watermarks, and reads
 * paged messages back whole.
 */
import type { MessageLog } from './log/index.js';
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
  constructor(readonly log: MessageLog) {}

  appendMessage(r: MessageRecord): number {
    return this.log.appendMessage({
      id: r.id,
      queues: r.queues,
      exchange: r.exchange,
      routingKey: r.routingKey,
      propsFormat: formatNumber(r.propsFormat),
      props: r.props,
      body: r.body,
    }).epoch;
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
