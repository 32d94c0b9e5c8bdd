/**
 * The durable message log the broker calls (DESIGN.md section 4): persistent messages routed to
 * durable queues, their settlement, delivery watermarks and transactions, on top of the segment
 * log (segments.ts), with recovery (recovery.ts) and reclamation (reclaim.ts).
 *
 * Ordering and coalescing. Publishes, purges, queue deletions and transactions are appended when
 * called. Settles and delivery watermarks are coalesced: they change the in-memory state at once
 * and are written as one SETTLE and one DELIVERED record per flush, just before the batch is
 * taken. That reordering is safe because a settle commutes with every other record that can
 * follow its message's publish: settles are idempotent, a purge or delete only settles more, a
 * compaction copy names the queues still holding the message, and ids are never reused.
 */
import { SwitchyardError } from '../../errors/index.js';
import type { Entry, LogIndex } from './log-index.js';
import { Reclaimer } from './reclaim.js';
import {
  encodeMeta,
  encodeQueue,
  encodeSettle,
  encodeWatermarks,
  type LogMessage,
  messageLength,
  RecordType,
  type SettleGroups,
  viewMessage,
  txnParts,
} from './records.js';
import { bodyLocation, type Recovered, Replayer } from './recovery.js';
import { readBodySpans } from './spans.js';
import {
  type CorruptInfo,
  type DurableCallback,
  RECORD_HEADER,
  type RecordLocation,
  SegmentLog,
  type SegmentLogOptions,
  type SegmentLogStats,
  type TruncateInfo,
} from './segments.js';

export interface MessageLogOptions {
  /** Segment size limit in bytes. Default 64 MiB. */
  segmentSize?: number;
  /** At recovery, read bodies into memory ('all', within bodyBudget) or leave them on disk ('none'). Default 'none'. */
  loadBodies?: 'all' | 'none';
  /** With loadBodies 'all': the most body bytes loaded; later messages' bodies stay on disk. Default unlimited. */
  bodyBudget?: number;
  /** Delete settled segments and compact sparse ones. Default true. */
  reclaim?: boolean;
  /** Compact the oldest segment when its live bytes fall below this fraction of its size; 0 never. Default 0.1. */
  compactRatio?: number;
  /** Flush by itself after each event-loop turn with appends. Default true (tests may drive flushes). */
  autoFlush?: boolean;
  /**
   * A batch with only settles and watermarks is flushed within this many ms (a publish's flush
   * takes them along sooner). They need not be durable at once: a lost settle means a
   * redelivery, never a lost message. Default 100; 0 flushes them like publishes.
   */
  settleFlushDelay?: number;
  scanChunkSize?: number;
  maxOpenFiles?: number;
  /** A damaged record skipped at recovery. */
  onCorrupt?: (info: CorruptInfo) => void;
  /** A torn tail cut at recovery. */
  onTruncate?: (info: TruncateInfo) => void;
  /** A background failure (reclaim); the default emits a process warning. */
  onError?: (err: Error) => void;
  /** For tests: how files are opened. */
  openFile?: SegmentLogOptions['openFile'];
}

/** Where a message went: its batch (for confirms) and its body's location. */
export interface Appended {
  readonly epoch: number;
  readonly location: RecordLocation;
}

/** A transaction's effects, written as one TXN record: applied whole or not at all. */
export interface LogTxn {
  readonly publishes?: readonly LogMessage[];
  /** queue id → ids of messages that leave it. */
  readonly settles?: SettleGroups;
}

export interface MessageLogStats {
  readonly messages: number;
  readonly segments: number;
  readonly segmentsDeleted: number;
  readonly compactions: number;
  readonly moved: number;
  readonly io: SegmentLogStats;
}

export type { Recovered, RecoveredMessage, RecoveredQueue } from './recovery.js';

/** Largest hole between two messages that one read still spans (record headers, settles). */
const READ_GAP = 64 * 1024;
/** Largest single read when paging messages back in. */
const READ_SPAN = 4 * 1024 * 1024;

/** The message encoded in buf[start, end), with views for its props and body. */
function messageAt(buf: Buffer, start: number, end: number): LogMessage {
  const v = viewMessage(buf, start, end);
  return {
    id: v.id,
    queues: v.queues,
    exchange: buf.toString('utf8', v.exStart, v.exEnd),
    routingKey: buf.toString('utf8', v.rkStart, v.rkEnd),
    propsFormat: v.propsFormat,
    props: buf.subarray(v.propsStart, v.propsEnd),
    body: buf.subarray(v.bodyStart, v.end),
  };
}

export class MessageLog {
  private pendingSettles = new Map<number, number[]>();
  private readonly dirtyMarks = new Set<number>();
  private readonly reclaimer: Reclaimer;
  private readonly settleDelay: number;
  private closing = false;

  private constructor(
    private readonly segs: SegmentLog,
    private readonly index: LogIndex,
    opts: MessageLogOptions,
  ) {
    this.settleDelay = opts.settleFlushDelay ?? 100;
    segs.onRoll = () => this.appendCheckpoint();
    segs.beforeFlush = () => this.writeCoalesced();
    this.reclaimer = new Reclaimer(segs, index, {
      enabled: opts.reclaim ?? true,
      compactRatio: opts.compactRatio ?? 0.1,
      onError: opts.onError ?? ((err) => process.emitWarning(err)),
    });
    segs.afterFlush = () => this.reclaimer.maybeRun();
  }

  /**
   * Opens the log in `dir` (created if missing), recovers it, and returns the log with what it
   * held. Torn tails are truncated, damaged records skipped and reported; neither throws.
   */
  static async open(
    dir: string,
    opts: MessageLogOptions = {},
  ): Promise<{ log: MessageLog; recovered: Recovered }> {
    const t0 = performance.now();
    const onCorrupt = opts.onCorrupt ?? (() => {});
    const replay = new Replayer({
      bodyBudget: opts.bodyBudget ?? Number.POSITIVE_INFINITY,
      onCorrupt,
    });
    let truncated = 0;
    const segOpts: SegmentLogOptions = {
      onRecord: replay.visit,
      onCorrupt: (info) => {
        replay.corrupt.push(info);
        onCorrupt(info);
      },
      onTruncate: (info) => {
        truncated += info.removed;
        opts.onTruncate?.(info);
      },
    };
    if (opts.segmentSize !== undefined) segOpts.segmentSize = opts.segmentSize;
    if (opts.scanChunkSize !== undefined) segOpts.scanChunkSize = opts.scanChunkSize;
    if (opts.autoFlush !== undefined) segOpts.autoFlush = opts.autoFlush;
    if (opts.maxOpenFiles !== undefined) segOpts.maxOpenFiles = opts.maxOpenFiles;
    if (opts.openFile !== undefined) segOpts.openFile = opts.openFile;
    const segs = await SegmentLog.open(dir, segOpts);
    if (opts.loadBodies === 'all') await replay.loadBodies(segs);
    const recovered = replay.result(truncated, performance.now() - t0);
    const log = new MessageLog(segs, replay.index, opts);
    // Every segment starts with a checkpoint (records.ts) so that older segments can be deleted
    // without losing the id high-water mark or the watermarks; a reopened log starts a new one,
    // and makes it durable before anything older may go.
    if (segs.currentSize > 0) segs.roll();
    else log.appendCheckpoint();
    await segs.sync();
    return { log, recovered };
  }

  /** Every batch up to this epoch is on disk. */
  /** Called once, when a failed flush fails the log for good (issue 15: the broker reports it). */
  set onFailed(fn: ((err: Error) => void) | undefined) {
    this.segs.onFailed = fn;
  }

  /** The error that failed the log, if a flush failed. */
  get failed(): Error | undefined {
    return this.segs.failed;
  }

  get durableEpoch(): number {
    return this.segs.durableEpoch;
  }

  /** The epoch of the batch being filled now. */
  get epoch(): number {
    return this.segs.epoch;
  }

  /** Highest message id seen; new ids must be above it. */
  get maxId(): number {
    return this.index.maxId;
  }

  /**
   * Writes a message once, however many durable queues hold it. The body Buffer is written as it
   * is and must not change afterwards. Confirm the publish from `whenDurable(result.epoch, …)`.
   */
  appendMessage(m: LogMessage): Appended {
    const queues = this.checkMessage(m);
    const meta = encodeMeta(m, queues, false);
    const r = this.segs.append(RecordType.MSG, [meta, m.props, m.body]);
    this.index.add(m.id, queues, r.segment, r.offset, r.length, m.body.length, RECORD_HEADER + r.length);
    return {
      epoch: r.epoch,
      location: { segment: r.segment, offset: r.offset + r.length - m.body.length, length: m.body.length },
    };
  }

  /** The message left the queue for good (ack, reject, drop, expiry). Returns the epoch that records it. */
  settle(queueId: number, msgId: number): number {
    if (this.index.settle(queueId, msgId)) this.queueSettle(queueId, msgId);
    return this.segs.epoch;
  }

  settleMany(queueId: number, msgIds: Iterable<number>): number {
    for (const id of msgIds) if (this.index.settle(queueId, id)) this.queueSettle(queueId, id);
    return this.segs.epoch;
  }

  /**
   * Every message of the queue with id ≤ msgId has been delivered at least once. Coalesced: at most
   * one record per queue per flush, so delivery costs no record per message.
   */
  deliveredUpTo(queueId: number, msgId: number): void {
    if (this.index.mark(queueId, msgId)) {
      this.dirtyMarks.add(queueId);
      this.segs.requestLazyFlush(this.settleDelay);
    }
  }

  /** Every message now in the queue leaves it. Returns the epoch that records it. */
  purgeQueue(queueId: number): number {
    if (this.index.purge(queueId) === 0) return this.segs.epoch;
    // The PURGE record settles whatever the queue still held in the log, so its pending settles
    // need not be written (they would follow it and do nothing).
    this.pendingSettles.delete(queueId);
    return this.segs.append(RecordType.PURGE, [encodeQueue(queueId)]).epoch;
  }

  /** The queue is gone: its messages leave it and its watermark is forgotten, so the id may be reused. */
  deleteQueue(queueId: number): number {
    const known = this.index.queues.has(queueId) || this.index.watermarks.has(queueId);
    if (!known) return this.segs.epoch;
    this.index.deleteQueue(queueId);
    this.pendingSettles.delete(queueId);
    this.dirtyMarks.delete(queueId);
    return this.segs.append(RecordType.DELETE_QUEUE, [encodeQueue(queueId)]).epoch;
  }

  /**
   * A committed transaction: its publishes and settles in one TXN record, so recovery applies all
   * of it or, if the record is torn, none. Returns the epoch and each publish's body location.
   */
  txn(t: LogTxn): { epoch: number; locations: RecordLocation[] } {
    const publishes = t.publishes ?? [];
    const queueLists = publishes.map((m, i) =>
      this.checkMessage(m, i === 0 ? undefined : publishes[i - 1]!.id),
    );
    const msgs = publishes.map((m, i) => (queueLists[i] === m.queues ? m : { ...m, queues: queueLists[i]! }));
    // Only settles that change something are written: of a message a queue holds now, or that
    // this transaction publishes to it.
    const settles = new Map<number, number[]>();
    for (const [q, ids] of t.settles ?? []) {
      const eff = ids.filter(
        (id) => this.index.holds(q, id) || msgs.some((m) => m.id === id && m.queues.includes(q)),
      );
      if (eff.length > 0) settles.set(q, eff);
    }
    if (msgs.length === 0 && settles.size === 0) return { epoch: this.segs.epoch, locations: [] };
    const r = this.segs.append(RecordType.TXN, txnParts(msgs, settles));
    const locations: RecordLocation[] = [];
    let pos = r.offset + 4;
    for (const m of msgs) {
      const len = messageLength(m, m.queues);
      this.index.add(m.id, m.queues, r.segment, pos + 4, len, m.body.length, 4 + len);
      locations.push({ segment: r.segment, offset: pos + 4 + len - m.body.length, length: m.body.length });
      pos += 4 + len;
    }
    for (const [q, ids] of settles) for (const id of ids) this.index.settle(q, id);
    return { epoch: r.epoch, locations };
  }

  /** Reads a body back (paging): by message id (safe across compaction) or by a location. */
  async readBody(ref: number | RecordLocation): Promise<Buffer> {
    if (typeof ref !== 'number') return this.segs.read(ref);
    for (let attempt = 0; ; attempt++) {
      const e = this.index.entries.get(ref);
      if (e === undefined) throw new SwitchyardError('NOT_FOUND', `message ${ref} is not in the log`);
      if (e.bodyLen === 0) return Buffer.alloc(0);
      const loc = bodyLocation(e);
      try {
        return await this.segs.read(loc);
      } catch (err) {
        // Compaction moved it and deleted the old segment while we read: read the copy.
        const now = this.index.entries.get(ref);
        if (attempt < 3 && now !== undefined && now.seg !== loc.segment) continue;
        throw err;
      }
    }
  }

  /**
   * Reads whole messages back by id (paging: the broker keeps only ids of a long queue's tail).
   * The result is in the order of `msgIds`; its buffers are views of the read buffers.
   */
  async readMessages(msgIds: readonly number[]): Promise<LogMessage[]> {
    const out: LogMessage[] = new Array(msgIds.length);
    // Neighbours in a segment (a queue's backlog usually is) are read with one pread per run.
    let i = 0;
    while (i < msgIds.length) {
      const first = this.index.entries.get(msgIds[i]!);
      if (first === undefined)
        throw new SwitchyardError('NOT_FOUND', `message ${msgIds[i]} is not in the log`);
      let j = i + 1;
      let end = first.off + first.len;
      while (j < msgIds.length) {
        const e = this.index.entries.get(msgIds[j]!);
        if (e === undefined || e.seg !== first.seg || e.off < end || e.off - end > READ_GAP) break;
        if (e.off + e.len - first.off > READ_SPAN) break;
        end = e.off + e.len;
        j++;
      }
      try {
        const buf = await this.segs.read({ segment: first.seg, offset: first.off, length: end - first.off });
        for (let k = i; k < j; k++) {
          const e = this.index.entries.get(msgIds[k]!)!;
          out[k] = messageAt(buf, e.off - first.off, e.off - first.off + e.len);
        }
      } catch {
        // Compaction moved some and deleted their segment while we read: one read per message.
        for (let k = i; k < j; k++) out[k] = await this.readOneMessage(msgIds[k]!);
      }
      i = j;
    }
    return out;
  }

  private async readOneMessage(id: number): Promise<LogMessage> {
    for (let attempt = 0; ; attempt++) {
      const e = this.index.entries.get(id);
      if (e === undefined) throw new SwitchyardError('NOT_FOUND', `message ${id} is not in the log`);
      const seg = e.seg;
      try {
        const buf = await this.segs.read({ segment: seg, offset: e.off, length: e.len });
        return messageAt(buf, 0, buf.length);
      } catch (err) {
        const now = this.index.entries.get(id);
        if (attempt < 3 && now !== undefined && now.seg !== seg) continue;
        throw err;
      }
    }
  }

  /**
   * Reads many bodies (paging a run of a long queue back in): neighbours in a segment are read
   * with one pread. The result is in the order of `msgIds`. A body may be a view of a larger
   * read buffer; a message not in the log throws NOT_FOUND.
   */
  async readBodies(msgIds: readonly number[]): Promise<Buffer[]> {
    const entries = msgIds.map((id) => {
      const e = this.index.entries.get(id);
      if (e === undefined) throw new SwitchyardError('NOT_FOUND', `message ${id} is not in the log`);
      return e;
    });
    const at = new Map<Entry, number[]>();
    entries.forEach((e, i) => {
      const list = at.get(e);
      if (list === undefined) at.set(e, [i]);
      else list.push(i);
    });
    const out: Buffer[] = new Array(msgIds.length);
    try {
      await readBodySpans(this.segs, at.keys(), (e, body) => {
        for (const i of at.get(e)!) out[i] = body;
      });
    } catch {
      // A span's segment was compacted away while we read: fall back to one read per message.
      for (let i = 0; i < msgIds.length; i++) out[i] = await this.readBody(msgIds[i]!);
    }
    return out;
  }

  /** True if the queue still holds the message in the log. */
  holds(queueId: number, msgId: number): boolean {
    return this.index.holds(queueId, msgId);
  }

  /** Calls back once batch `epoch` is on disk (or with the error that failed the log). */
  whenDurable(epoch: number, cb: DurableCallback): void {
    this.segs.whenDurable(epoch, cb);
  }

  /** Starts a flush now (when autoFlush is off, or to cut a wait short). */
  flush(): void {
    this.segs.flush();
  }

  /** Resolves once everything so far, settles and watermarks included, is on disk. */
  sync(): Promise<void> {
    return this.segs.sync();
  }

  /** Segment numbers on disk, oldest first. */
  segments(): number[] {
    return this.segs.segments();
  }

  stats(): MessageLogStats {
    return {
      messages: this.index.entries.size,
      segments: this.segs.segments().length,
      segmentsDeleted: this.reclaimer.segmentsDeleted,
      compactions: this.reclaimer.compactions,
      moved: this.reclaimer.moved,
      io: { ...this.segs.stats },
    };
  }

  /** A background deletion or compaction pass is running. */
  get reclaiming(): boolean {
    return this.reclaimer.busy;
  }

  /** Resolves when the running deletion or compaction pass (if any) is done. */
  reclaimed(): Promise<void> {
    return this.reclaimer.idle();
  }

  /** Waits for background reclamation, flushes everything, closes the files. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.reclaimer.stop();
    await this.segs.close();
  }

  /** Validates a message and returns its queue list without duplicates. */
  private checkMessage(m: LogMessage, prevInTxn?: number): readonly number[] {
    if (
      !Number.isSafeInteger(m.id) ||
      m.id <= this.index.maxId ||
      (prevInTxn !== undefined && m.id <= prevInTxn)
    ) {
      // Ids only grow: a settled id used again could be settled by a stale coalesced record.
      throw new SwitchyardError('INTERNAL_ERROR', `message id ${m.id} is not above ${this.index.maxId}`);
    }
    if (m.queues.length === 0) throw new SwitchyardError('INTERNAL_ERROR', `message ${m.id} has no queue`);
    if (m.queues.length === 1) return m.queues;
    const set = new Set(m.queues);
    return set.size === m.queues.length ? m.queues : [...set];
  }

  private queueSettle(q: number, id: number): void {
    let ids = this.pendingSettles.get(q);
    if (ids === undefined) this.pendingSettles.set(q, (ids = []));
    ids.push(id);
    this.segs.requestLazyFlush(this.settleDelay);
  }

  /** beforeFlush: the coalesced SETTLE and DELIVERED records of this batch. */
  private writeCoalesced(): void {
    if (this.pendingSettles.size > 0) {
      const groups = this.pendingSettles;
      this.pendingSettles = new Map();
      this.segs.append(RecordType.SETTLE, [encodeSettle(groups)]);
    }
    if (this.dirtyMarks.size > 0) {
      const pairs: [number, number][] = [];
      for (const q of this.dirtyMarks) {
        const upTo = this.index.watermarks.get(q);
        if (upTo !== undefined) pairs.push([q, upTo]);
      }
      this.dirtyMarks.clear();
      if (pairs.length > 0) this.segs.append(RecordType.DELIVERED, [encodeWatermarks(pairs)]);
    }
  }

  /** onRoll: a new segment begins with the id high-water mark and every watermark. */
  private appendCheckpoint(): void {
    this.segs.append(RecordType.CHECKPOINT, [encodeWatermarks(this.index.watermarks, this.index.maxId)]);
  }
}
