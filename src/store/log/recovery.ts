/**
 * Recovery: replays every valid record, in log order, into a LogIndex, and builds what the broker
 * needs to bring its durable queues back (DESIGN.md section 4, "every confirmed message is there
 * after restart"). Replaying the same operations the running log applied gives the state of the
 * last durable record; a record that does not decode is reported and skipped, never fatal.
 */
import { type Entry, LogIndex } from './log-index.js';
import {
  DecodeError,
  type MessageView,
  RecordType,
  readQueue,
  readSettleGroups,
  readTxn,
  readU64,
  readWatermarks,
  viewMessage,
} from './records.js';
import { type CorruptInfo, RECORD_HEADER, type RecordLocation, type SegmentLog } from './segments.js';
import { loadBodiesIntoArenas } from './spans.js';

/** A live message found at recovery. The same object appears in each queue that holds it. */
export class RecoveredMessage {
  /** The body if it was loaded (`loadBodies: 'all'` within the budget); otherwise page it in with readBody(id). */
  body: Buffer | undefined = undefined;
  /** @internal where the body was at recovery (see `location`). */
  segment = 0;
  /** @internal */
  offset = 0;

  constructor(
    readonly id: number,
    readonly exchange: string,
    readonly routingKey: string,
    readonly propsFormat: number,
    readonly props: Buffer,
    /** Body length in bytes (also when the body was not loaded). */
    readonly bodyLength: number,
  ) {}

  /**
   * Where the body was at recovery; compaction may move it later, so page in by id. A getter, so
   * that a million recovered messages do not cost a million location objects.
   */
  get location(): RecordLocation {
    return { segment: this.segment, offset: this.offset, length: this.bodyLength };
  }
}

export interface RecoveredQueue {
  readonly queueId: number;
  /** Live messages in publish (id) order. */
  readonly messages: RecoveredMessage[];
  /**
   * The delivered watermark: a message with id ≤ this was delivered before the restart and comes
   * back with redelivered=true.
   */
  readonly deliveredUpTo: number;
}

export interface Recovered {
  /** Queues that hold at least one live message. */
  readonly queues: Map<number, RecoveredQueue>;
  /** Highest message id the log has seen: number new messages after it. */
  readonly maxId: number;
  /** Valid records replayed. */
  readonly records: number;
  /** Damaged or undecodable records skipped (also reported through onCorrupt). */
  readonly corrupt: CorruptInfo[];
  /** Bytes of torn tail cut from the last segment (0 if none). */
  readonly truncatedBytes: number;
  readonly durationMs: number;
}

export interface ReplayOptions {
  /** With loadBodies 'all': bodies are loaded while their total stays within this many bytes. */
  bodyBudget: number;
  onCorrupt: (info: CorruptInfo) => void;
}

const EMPTY = Buffer.alloc(0);

/** Decodes utf8 strings, reusing the last result when the bytes repeat (exchanges nearly always do). */
class StringCache {
  private bytes = Buffer.allocUnsafe(256);
  private len = -1;
  private str = '';
  get(buf: Buffer, start: number, end: number): string {
    const n = end - start;
    if (n === this.len && buf.compare(this.bytes, 0, n, start, end) === 0) return this.str;
    this.str = buf.toString('utf8', start, end);
    if (n <= this.bytes.length) {
      buf.copy(this.bytes, 0, start, end);
      this.len = n;
    } else this.len = -1;
    return this.str;
  }
}

export class Replayer {
  readonly index = new LogIndex();
  readonly corrupt: CorruptInfo[] = [];
  records = 0;
  private readonly exchanges = new StringCache();
  private readonly keys = new StringCache();

  constructor(private readonly opts: ReplayOptions) {
    this.index.onDead = (_id, e) => {
      e.rec = undefined;
    };
  }

  /** The SegmentLog's onRecord: applies one record. */
  readonly visit = (type: number, payload: Buffer, segment: number, offset: number): void => {
    this.records++;
    try {
      this.apply(type, payload, segment, offset);
    } catch (err) {
      if (!(err instanceof DecodeError || err instanceof RangeError)) throw err;
      const info = {
        segment,
        offset: offset - RECORD_HEADER,
        length: RECORD_HEADER + payload.length,
        reason: `undecodable record: ${err.message}`,
      };
      this.corrupt.push(info);
      this.opts.onCorrupt(info);
    }
  };

  private apply(type: number, p: Buffer, segment: number, offset: number): void {
    const ix = this.index;
    switch (type) {
      case RecordType.MSG:
        this.addMessage(p, viewMessage(p, 0, p.length), segment, offset, RECORD_HEADER + p.length);
        return;
      case RecordType.MOVE: {
        const v = viewMessage(p, 0, p.length);
        const e = ix.entries.get(v.id);
        if (e === undefined) {
          // The original's segment is gone: the copy is the message, held by the queues it names.
          this.addMessage(p, v, segment, offset, RECORD_HEADER + p.length);
          return;
        }
        // The original is still here (the crash came before its segment was deleted).
        ix.restrict(v.id, v.queues);
        if (ix.entries.get(v.id) === e)
          ix.relocate(v.id, e, segment, offset, p.length, RECORD_HEADER + p.length);
        return;
      }
      case RecordType.TXN:
        // readTxn decodes the whole record before calling back: all or nothing.
        readTxn(
          p,
          (v) => this.addMessage(p, v, segment, offset + v.start, 4 + v.end - v.start),
          (q, id) => ix.settle(q, id),
        );
        return;
      case RecordType.SETTLE:
        readSettleGroups(p, 0, p.length, (q, id) => ix.settle(q, id));
        return;
      case RecordType.DELIVERED:
        readWatermarks(p, 0, (q, upTo) => ix.mark(q, upTo));
        return;
      case RecordType.PURGE:
        ix.purge(readQueue(p));
        return;
      case RecordType.DELETE_QUEUE:
        ix.deleteQueue(readQueue(p));
        return;
      case RecordType.CHECKPOINT: {
        if (p.length < 8) throw new DecodeError('checkpoint too short');
        const maxId = readU64(p, 0);
        readWatermarks(p, 8, (q, upTo) => ix.mark(q, upTo));
        if (maxId > ix.maxId) ix.maxId = maxId;
        return;
      }
      default:
        throw new DecodeError(`unknown record type ${type}`);
    }
  }

  /** `off` is the file offset of the message encoding, which is p[v.start, v.end). */
  private addMessage(p: Buffer, v: MessageView, segment: number, off: number, size: number): void {
    const e = this.index.add(v.id, v.queues, segment, off, v.end - v.start, v.end - v.bodyStart, size);
    if (e === undefined) return;
    // Bodies are not kept here: most records of a long log belong to messages settled later, and
    // copying each one costs an allocation. loadBodies reads the survivors afterwards.
    e.rec = new RecoveredMessage(
      v.id,
      this.exchanges.get(p, v.exStart, v.exEnd),
      this.keys.get(p, v.rkStart, v.rkEnd),
      v.propsFormat,
      // Copied: the payload is a view of the scanner's reused chunk.
      v.propsEnd > v.propsStart ? Buffer.from(p.subarray(v.propsStart, v.propsEnd)) : EMPTY,
      v.end - v.bodyStart,
    );
  }

  /**
   * loadBodies 'all': reads the bodies of the live messages in log order (the head of every queue
   * first) while their total stays within the budget, into a few arenas (spans.ts).
   */
  async loadBodies(segs: SegmentLog): Promise<void> {
    const chosen: Entry[] = [];
    let used = 0;
    for (const e of this.index.entries.values()) {
      if (used + e.bodyLen > this.opts.bodyBudget) break;
      used += e.bodyLen;
      chosen.push(e);
    }
    await loadBodiesIntoArenas(segs, chosen, (e, body) => {
      (e.rec as RecoveredMessage).body = body;
    });
  }

  /** The per-queue result; detaches the recovery data from the index (the log keeps only positions). */
  result(truncatedBytes: number, durationMs: number): Recovered {
    const ix = this.index;
    const queues = new Map<number, RecoveredQueue>();
    for (const [q, set] of ix.queues) {
      if (set.size === 0) continue;
      const messages: RecoveredMessage[] = new Array(set.size);
      let i = 0;
      let sorted = true;
      let prev = -1;
      for (const id of set) {
        const rec = ix.entries.get(id)!.rec as RecoveredMessage;
        messages[i++] = rec;
        if (id < prev) sorted = false;
        prev = id;
      }
      // Log order is id order except for messages a compaction copied forward.
      if (!sorted) messages.sort((a, b) => a.id - b.id);
      queues.set(q, { queueId: q, messages, deliveredUpTo: ix.watermarks.get(q) ?? 0 });
    }
    for (const e of ix.entries.values()) {
      const rec = e.rec as RecoveredMessage;
      rec.segment = e.seg;
      rec.offset = e.off + e.len - e.bodyLen;
      e.rec = undefined;
    }
    ix.onDead = undefined;
    return {
      queues,
      maxId: ix.maxId,
      records: this.records,
      corrupt: this.corrupt,
      truncatedBytes,
      durationMs,
    };
  }
}

export function bodyLocation(e: Entry): RecordLocation {
  return { segment: e.seg, offset: e.off + e.len - e.bodyLen, length: e.bodyLen };
}
