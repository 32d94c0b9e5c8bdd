/**
 * A MessageStore in memory: the log's contract without a disk, for a broker that should page and
 * confirm exactly as a durable one does but keep nothing across a restart (tests, benchmarks of
 * the core). Like the log's group commit, records belong to the open epoch, which a "flush" on
 * the next turn of the event loop closes and declares durable, so confirms keep their
 * asynchronous order.
 */
import { SwitchyardError } from '../../errors/index.js';
import type { MessageRecord, MessageStore } from '../types.js';

interface Kept {
  readonly record: MessageRecord;
  /** Durable queues still holding the message. */
  readonly queues: Set<number>;
}

export class MemoryMessageStore implements MessageStore {
  private readonly messages = new Map<number, Kept>();
  /** Message ids by queue, for purge and delete. */
  private readonly byQueue = new Map<number, Set<number>>();
  private epoch = 1;
  private durable = 0;
  private txn: { appends: MessageRecord[]; settles: [number, number][] } | undefined;
  private readonly waiting: { epoch: number; cb: (err?: Error) => void }[] = [];
  private flushing = false;

  get currentEpoch(): number {
    return this.epoch;
  }

  appendMessage(r: MessageRecord): number {
    if (this.txn !== undefined) {
      this.txn.appends.push(r);
      return 0; // the commit's epoch covers it
    }
    this.keep(r);
    return this.openEpoch();
  }

  readMessages(
    ids: readonly number[],
    cb: (err: Error | undefined, records: readonly MessageRecord[]) => void,
  ): void {
    const out: MessageRecord[] = [];
    for (const id of ids) {
      const m = this.messages.get(id);
      if (m === undefined) {
        const err = new SwitchyardError('NOT_FOUND', `message ${id} is not in the store`);
        queueMicrotask(() => cb(err, []));
        return;
      }
      out.push(m.record);
    }
    queueMicrotask(() => cb(undefined, out));
  }

  settle(queueId: number, msgId: number): void {
    if (this.txn !== undefined) {
      this.txn.settles.push([queueId, msgId]);
      return;
    }
    this.drop(queueId, msgId);
  }

  delivered(): void {
    // Nothing survives a restart here, so nothing needs marking as redelivered.
  }

  purgeQueue(queueId: number): void {
    for (const id of [...(this.byQueue.get(queueId) ?? [])]) this.drop(queueId, id);
  }

  deleteQueue(queueId: number): void {
    this.purgeQueue(queueId);
    this.byQueue.delete(queueId);
  }

  beginTxn(): void {
    this.txn = { appends: [], settles: [] };
  }

  commitTxn(): number {
    const t = this.txn;
    this.txn = undefined;
    if (t === undefined) return this.epoch;
    for (const r of t.appends) this.keep(r);
    for (const [q, id] of t.settles) this.drop(q, id);
    return this.openEpoch();
  }

  whenDurable(epoch: number, cb: (err?: Error) => void): void {
    this.waiting.push({ epoch, cb });
    this.scheduleFlush();
  }

  private keep(r: MessageRecord): void {
    this.messages.set(r.id, { record: r, queues: new Set(r.queues) });
    for (const q of r.queues) {
      let ids = this.byQueue.get(q);
      if (ids === undefined) this.byQueue.set(q, (ids = new Set()));
      ids.add(r.id);
    }
  }

  private drop(queueId: number, msgId: number): void {
    this.byQueue.get(queueId)?.delete(msgId);
    const m = this.messages.get(msgId);
    if (m === undefined) return;
    m.queues.delete(queueId);
    if (m.queues.size === 0) this.messages.delete(msgId);
  }

  /** The epoch new records belong to; a flush is on its way to close it. */
  private openEpoch(): number {
    this.scheduleFlush();
    return this.epoch;
  }

  /**
   * On the next turn: closes the open epoch (everything written so far is now "durable") and calls
   * back, in epoch order, whoever waits for an epoch up to it.
   */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      this.durable = this.epoch++;
      const ready = this.waiting.filter((w) => w.epoch <= this.durable).sort((a, b) => a.epoch - b.epoch);
      if (ready.length === 0) return;
      this.waiting.splice(0, this.waiting.length, ...this.waiting.filter((w) => w.epoch > this.durable));
      for (const w of ready) w.cb();
    });
  }
}
