/**
 * Every open SSE stream, the one heartbeat timer they share (one timer rather than one per
 * stream: ten thousand idle subscribers cost ten thousand writes a tick, not ten thousand
 * timers), and the resume records of durable-queue streams that closed.
 */
import type { Clock, Timer } from '../../util/clock.js';
import { type MessageKey, ResumeRecords, type WrittenEvent } from './resume.js';
import type { SseStream, StreamOwner } from './stream.js';

export class SseHub implements StreamOwner {
  readonly records: ResumeRecords;
  private readonly streams = new Set<SseStream>();
  /** Resumable streams by owner (user NUL vhost NUL queue). */
  private readonly resumable = new Map<string, Set<SseStream>>();
  private timer: Timer | undefined;
  private lastStreamNo = 0;

  constructor(
    /** Events a stream may have unwritten, and unsettled in its resume window. */
    readonly buffer: number,
    private readonly heartbeatMs: number,
    private readonly clock: Clock,
    /** Bytes a stream may have unwritten before auto-ack events are dropped (limits.maxOutboundBytes). */
    readonly maxOutboundBytes = 1024 * 1024,
  ) {
    this.records = new ResumeRecords(clock);
  }

  nextStreamNo(): number {
    return ++this.lastStreamNo;
  }

  /** Bytes the streams have waiting to be written. */
  get outboundBytes(): number {
    let n = 0;
    for (const s of this.streams) n += s.outboundBytes;
    return n;
  }

  get size(): number {
    return this.streams.size;
  }

  add(s: SseStream): void {
    this.streams.add(s);
    if (s.resumable) {
      let set = this.resumable.get(s.owner);
      if (set === undefined) this.resumable.set(s.owner, (set = new Set()));
      set.add(s);
    }
    this.timer ??= this.clock.every(this.heartbeatMs, this.tick);
  }

  removed(s: SseStream): void {
    this.streams.delete(s);
    const set = this.resumable.get(s.owner);
    if (set?.delete(s) && set.size === 0) this.resumable.delete(s.owner);
    if (this.streams.size === 0 && this.records.size === 0) this.stopTimer();
  }

  recordUnsettled(owner: string, events: readonly WrittenEvent[]): void {
    this.records.record(owner, events);
  }

  /**
   * What a client resuming after event `lastId` already has. A stream of the same owner that is
   * still open and wrote that event is the same client, back before its old connection was seen
   * to close: it is ended first, so its unsettled events go back to the queue and are recorded.
   */
  resume(owner: string, lastId: string): Set<MessageKey> | undefined {
    const live = this.resumable.get(owner);
    if (live !== undefined) {
      for (const s of live) {
        if (s.holds(lastId)) {
          s.end();
          break;
        }
      }
    }
    return this.records.take(owner, lastId);
  }

  /** Ends every stream (shutdown). */
  close(): void {
    for (const s of [...this.streams]) s.end();
    this.stopTimer();
  }

  private readonly tick = (): void => {
    for (const s of this.streams) s.heartbeat();
    this.records.sweep();
    if (this.streams.size === 0 && this.records.size === 0) this.stopTimer();
  };

  private stopTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}
