/**
 * Reclamation: disk use follows the backlog, not the history (DESIGN.md section 4: "segments are
 * deleted or compacted when every message in them is settled").
 *
 * Deletion goes from the oldest end only. A segment's records do not only describe its own
 * messages: its SETTLE, PURGE and TXN records refer to messages in older segments. Deleting a
 * middle segment whose messages are all settled could drop the settle of a message that still
 * sits, live on disk, in an older segment, and a restart would bring that message back. Deleting
 * the oldest segment loses nothing: every message its records mention is in it (or already gone)
 * and is settled. What an old segment knew beyond its own messages (the id high-water mark and
 * the delivered watermarks) is repeated by the CHECKPOINT every segment starts with, and a
 * segment goes only when a younger one is durable.
 *
 * Compaction: a few long-lived messages can pin the oldest segment and with it every younger
 * one. When the oldest segment's live bytes fall below `compactRatio` of its size, its live
 * messages are copied forward as MOVE records naming the queues that still hold them; once those
 * are durable the segment holds nothing live and is deleted. Recovery treats a MOVE of a message
 * it still knows as a relocation, so a crash between the copy and the deletion recovers the
 * message once.
 */
import type { LogIndex } from './log-index.js';
import { encodeMeta, type LogMessage, RecordType, viewMessage } from './records.js';
import { RECORD_HEADER, type SegmentLog } from './segments.js';

export interface ReclaimOptions {
  enabled: boolean;
  compactRatio: number;
  onError: (err: Error) => void;
}

/** Reads of one compaction pass in flight at once. */
const READ_BATCH = 64;

export class Reclaimer {
  segmentsDeleted = 0;
  compactions = 0;
  moved = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly segs: SegmentLog,
    private readonly index: LogIndex,
    private readonly opts: ReclaimOptions,
  ) {}

  /** Called after each flush: starts a pass if the oldest segment can go or should be compacted. */
  maybeRun(): void {
    if (!this.opts.enabled || this.stopped || this.running !== undefined || this.next() === undefined) return;
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** A pass is running. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Resolves when the pass in flight (if any) is done. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Waits for a pass in flight and starts no more. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** What to do with the oldest segment, if anything. */
  private next(): { seg: number; action: 'delete' | 'compact' } | undefined {
    const seg = this.segs.oldestSegment;
    // Only segments older than the last durable byte: sealed, fully on disk, and followed by a
    // durable checkpoint.
    if (seg === undefined || seg >= this.segs.durableSegment) return undefined;
    const st = this.index.segStats.get(seg);
    if (st === undefined || st.live === 0) return { seg, action: 'delete' };
    const ratio = this.opts.compactRatio;
    if (ratio > 0 && st.liveBytes < ratio * this.segs.sizeOf(seg)) return { seg, action: 'compact' };
    return undefined;
  }

  private async run(): Promise<void> {
    try {
      for (let step = this.next(); step !== undefined && !this.stopped; step = this.next()) {
        if (step.action === 'delete') {
          this.index.segStats.delete(step.seg);
          await this.segs.deleteSegment(step.seg);
          this.segmentsDeleted++;
        } else {
          await this.compact(step.seg);
          this.compactions++;
          // Everything should have moved; if not (a bug), leave the segment rather than loop.
          if ((this.index.segStats.get(step.seg)?.live ?? 0) > 0) return;
        }
      }
    } catch (e) {
      this.opts.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Copies the live messages of `seg` forward and waits until the copies are durable. */
  private async compact(seg: number): Promise<void> {
    // Entries are in the log order of their records, so the oldest segment's are at the front.
    const ids: number[] = [];
    for (const [id, e] of this.index.entries) {
      if (e.seg === seg) ids.push(id);
      else if (e.seg > seg) break;
    }
    for (let i = 0; i < ids.length; i += READ_BATCH) {
      const batch = ids.slice(i, i + READ_BATCH);
      const reads = batch.map((id) => {
        const e = this.index.entries.get(id);
        return e === undefined || e.seg !== seg
          ? Promise.resolve(undefined)
          : this.segs.read({ segment: seg, offset: e.off, length: e.len });
      });
      const bytes = await Promise.all(reads);
      for (let k = 0; k < batch.length; k++) {
        const id = batch[k]!;
        const b = bytes[k];
        const e = this.index.entries.get(id);
        // Settled (or already moved) while we read: nothing to copy.
        if (b === undefined || e === undefined || e.seg !== seg) continue;
        const v = viewMessage(b, 0, b.length);
        const queues = v.queues.filter((q) => this.index.holds(q, id));
        const m: LogMessage = {
          id,
          queues,
          exchange: b.toString('utf8', v.exStart, v.exEnd),
          routingKey: b.toString('utf8', v.rkStart, v.rkEnd),
          propsFormat: v.propsFormat,
          props: b.subarray(v.propsStart, v.propsEnd),
          body: b.subarray(v.bodyStart, v.end),
        };
        const r = this.segs.append(RecordType.MOVE, [encodeMeta(m, queues, false), m.props, m.body]);
        this.index.relocate(id, e, r.segment, r.offset, r.length, RECORD_HEADER + r.length);
        this.moved++;
      }
    }
    await this.segs.sync();
  }
}
