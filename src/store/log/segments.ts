/**
 * The raw segment log: a directory of append-only files `00000000000000000001.seg`, … holding
 * CRC-framed records (framing in scan.ts). DESIGN.md section 4: "FileHandle.writev, CRC32 per
 * record, datasync with group commit: many publishes share one flush".
 *
 * - `append` is synchronous and cheap: it frames the record into the pending batch and returns
 *   where the payload will be and the batch's epoch. Small parts are copied into a slab (so a run
 *   of small records becomes one iovec); large parts are kept by reference and handed to writev
 *   as they are, so the caller must not modify a Buffer larger than COPY_LIMIT after appending it.
 * - Group commit: at most one flush is in flight. The first append of a batch schedules a flush
 *   with setImmediate, so every publish parsed in one event-loop turn shares one datasync; records
 *   appended while a flush runs go to the next one. Only fs.promises is used after open, so the
 *   event loop never waits on the disk.
 * - Epochs number batches: `whenDurable(epoch, cb)` calls back once that batch is on disk.
 * - A flush that fails (EIO, ENOSPC) fails the log for good: after a failed fsync the page cache
 *   can no longer be trusted to match the disk, so nothing is retried and every waiter gets the
 *   error (the "fsyncgate" lesson PostgreSQL learnt).
 */
import { open as openFileDefault, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { mkdirPrivate, openPrivate } from '../private-files.js';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { SwitchyardError } from '../../errors/index.js';
import { RECORD_HEADER, type RecordVisitor, scanSegment, typeCrc, writeHeader } from './scan.js';

export type { CorruptInfo, RecordVisitor } from './scan.js';
export { RECORD_HEADER, RECORD_MAGIC } from './scan.js';

import type {
  AppendResult,
  DurableCallback,
  RecordLocation,
  SegmentLogOptions,
  SegmentLogStats,
  TruncateInfo,
} from './segment-types.js';

export type {
  AppendResult,
  DurableCallback,
  RecordLocation,
  SegmentLogOptions,
  SegmentLogStats,
  TruncateInfo,
};

/** Parts up to this size are copied into the batch slab; larger ones are written from the caller's Buffer. */
export const COPY_LIMIT = 4096;
/** Linux IOV_MAX: writev takes at most this many buffers per call. */
const IOV_MAX = 1024;
const SLAB_SIZE = 1 << 20;
const NAME = /^(\d{20})\.seg$/;

interface Segment {
  readonly n: number;
  /** Bytes appended, including those still in the pending batch. */
  size: number;
  /** Bytes written and synced. */
  flushed: number;
  fh: FileHandle | undefined;
  opening: Promise<FileHandle> | undefined;
  /** The file exists on disk (a rolled segment is created by the flush that first writes to it). */
  exists: boolean;
}

/** The pending bytes of one segment within a batch. */
interface Run {
  readonly seg: Segment;
  /** File offset of the run's first byte. */
  readonly pos: number;
  readonly bufs: Buffer[];
  bytes: number;
}

export function segmentFileName(n: number): string {
  return `${String(n).padStart(20, '0')}.seg`;
}

export class SegmentLog {
  /** Called synchronously inside `append` (or `roll`) when a new segment starts; may append (never rolls). */
  onRoll: ((segment: number) => void) | undefined;
  /** Called synchronously before each batch is taken for a flush; may append (coalesced records). */
  beforeFlush: (() => void) | undefined;
  /** Called after a batch is durable. */
  afterFlush: ((epoch: number) => void) | undefined;
  /** Called once, when a failed flush fails the log for good (the owner reports it: issue 15). */
  onFailed: ((err: Error) => void) | undefined;

  readonly stats: SegmentLogStats = { records: 0, flushes: 0, datasyncs: 0, writevCalls: 0, bytesWritten: 0 };

  private readonly segmentSize: number;
  private readonly autoFlush: boolean;
  private readonly maxOpen: number;
  private readonly openFile: (path: string, flags: string) => Promise<FileHandle>;
  private readonly segs = new Map<number, Segment>();
  /** Sealed segments with an open handle, least recently used first. */
  private readonly lru = new Map<number, Segment>();
  private cur: Segment;

  private runs: Run[] = [];
  private run: Run | undefined;
  private slab = Buffer.allocUnsafe(SLAB_SIZE);
  private slabPos = 0;
  /** Start of the slab bytes not yet handed to the current run. */
  private slabMark = 0;

  private openEpoch = 1;
  private durable = 0;
  private durableSeg = 0;
  private flushingEpoch = 0;
  private openWaiters: DurableCallback[] = [];
  private flushingWaiters: DurableCallback[] = [];
  private flushing = false;
  private scheduled = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  private inRoll = false;
  private closed = false;
  private failure: Error | undefined;

  private constructor(
    readonly dir: string,
    opts: SegmentLogOptions,
  ) {
    this.segmentSize = opts.segmentSize ?? 64 * 1048576;
    this.autoFlush = opts.autoFlush ?? true;
    this.maxOpen = opts.maxOpenFiles ?? 64;
    this.openFile = opts.openFile ?? openPrivate;
    this.cur = { n: 1, size: 0, flushed: 0, fh: undefined, opening: undefined, exists: false };
  }

  /**
   * Opens (creating if needed) the log in `dir` and scans every segment in order, calling
   * `opts.onRecord` for each valid record. A torn tail of the last segment is truncated and
   * reported; damage anywhere else is skipped and reported through `opts.onCorrupt`, never thrown.
   */
  static async open(dir: string, opts: SegmentLogOptions = {}): Promise<SegmentLog> {
    const log = new SegmentLog(dir, opts);
    await mkdirPrivate(dir);
    const names = (await readdir(dir)).filter((f) => NAME.test(f)).sort();
    const chunk = opts.scanChunkSize ?? 8 * 1048576;
    const visit: RecordVisitor = opts.onRecord ?? (() => {});
    const onCorrupt = opts.onCorrupt ?? (() => {});
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const n = Number(name.slice(0, 20));
      const last = i === names.length - 1;
      const fh = await log.openFile(join(dir, name), last ? 'r+' : 'r');
      let size = 0;
      let r: Awaited<ReturnType<typeof scanSegment>>;
      try {
        size = (await fh.stat()).size;
        r = await scanSegment(fh, n, size, chunk, visit, onCorrupt);
      } catch (err) {
        await fh.close();
        await log.close();
        throw err;
      }
      if (r.tail && last) {
        // A torn write: the crash hit before the batch that held these bytes was confirmed.
        await fh.truncate(r.validEnd);
        await fh.datasync();
        opts.onTruncate?.({ segment: n, offset: r.validEnd, removed: size - r.validEnd });
        size = r.validEnd;
      } else if (r.tail) {
        onCorrupt({
          segment: n,
          offset: r.validEnd,
          length: size - r.validEnd,
          reason: 'damaged segment end',
        });
      }
      const seg: Segment = { n, size, flushed: size, fh: undefined, opening: undefined, exists: true };
      log.segs.set(n, seg);
      if (last) {
        seg.fh = fh;
        log.cur = seg;
      } else {
        await fh.close();
      }
    }
    if (log.segs.size === 0) log.segs.set(log.cur.n, log.cur);
    log.durableSeg = log.cur.n;
    return log;
  }

  /** The epoch of the batch now being filled. */
  get epoch(): number {
    return this.openEpoch;
  }

  /** Every batch up to this epoch is on disk. */
  get durableEpoch(): number {
    return this.durable;
  }

  /** The segment holding the last byte made durable; every older segment is fully durable and sealed. */
  get durableSegment(): number {
    return this.durableSeg;
  }

  get currentSegment(): number {
    return this.cur.n;
  }

  /** Bytes appended to the current segment so far. */
  get currentSize(): number {
    return this.cur.size;
  }

  /** The error that failed the log, if a flush failed. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** The oldest segment's number. */
  get oldestSegment(): number | undefined {
    return this.segs.keys().next().value;
  }

  /** Segment numbers, oldest first. */
  segments(): number[] {
    return [...this.segs.keys()];
  }

  sizeOf(segment: number): number {
    return this.segs.get(segment)?.size ?? 0;
  }

  /**
   * Frames a record into the pending batch. Parts larger than COPY_LIMIT are written from the
   * given Buffers, which must not change afterwards; smaller ones are copied.
   */
  append(type: number, parts: readonly Buffer[]): AppendResult {
    if (this.failure !== undefined)
      throw new SwitchyardError('INTERNAL_ERROR', `message log failed: ${this.failure.message}`);
    if (this.closed) throw new SwitchyardError('INTERNAL_ERROR', 'message log is closed');
    let len = 0;
    for (let i = 0; i < parts.length; i++) len += parts[i]!.length;
    if (len > 0xffffffff - RECORD_HEADER)
      throw new SwitchyardError('CONTENT_TOO_LARGE', `record of ${len} bytes`);
    const total = RECORD_HEADER + len;
    // A record that would overflow the segment starts a new one; one larger than a whole segment
    // gets a segment of its own. Records appended by onRoll never roll again.
    if (this.cur.size > 0 && this.cur.size + total > this.segmentSize && !this.inRoll) this.roll();
    const seg = this.cur;
    let run = this.run;
    if (run === undefined || run.seg !== seg) run = this.startRun(seg);

    let crc = typeCrc(type);
    for (let i = 0; i < parts.length; i++) crc = crc32(parts[i]!, crc);
    const h = this.reserve(RECORD_HEADER);
    writeHeader(this.slab, h, type, len, crc);
    this.slabPos += RECORD_HEADER;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (p.length > COPY_LIMIT) {
        this.closeRegion();
        run.bufs.push(p);
      } else if (p.length > 0) {
        const at = this.reserve(p.length);
        p.copy(this.slab, at);
        this.slabPos += p.length;
      }
    }
    const offset = seg.size + RECORD_HEADER;
    seg.size += total;
    run.bytes += total;
    this.stats.records++;
    if (this.autoFlush && !this.flushing && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.kick);
    }
    return { segment: seg.n, offset, length: len, epoch: this.openEpoch };
  }

  /** Starts a new segment now (the next record goes there); calls `onRoll`. */
  roll(): void {
    const next: Segment = {
      n: this.cur.n + 1,
      size: 0,
      flushed: 0,
      fh: undefined,
      opening: undefined,
      exists: false,
    };
    this.segs.set(next.n, next);
    this.cur = next;
    if (this.onRoll !== undefined) {
      this.inRoll = true;
      try {
        this.onRoll(next.n);
      } finally {
        this.inRoll = false;
      }
    }
  }

  /** Asks for a flush soon (autoFlush) even if nothing was appended: `beforeFlush` may have records. */
  requestFlush(): void {
    if (this.autoFlush && !this.flushing && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.kick);
    }
  }

  /**
   * Asks for a flush within `delayMs`: for records that need not be durable at once (settles,
   * watermarks), so a consumer acking with no publisher around does not keep fsyncs running back
   * to back. Any earlier flush takes them along.
   */
  requestLazyFlush(delayMs: number): void {
    if (delayMs <= 0) return this.requestFlush();
    if (!this.autoFlush || this.lazyTimer !== undefined) return;
    this.lazyTimer = setTimeout(this.lazyKick, delayMs);
    this.lazyTimer.unref();
  }

  /** Starts a flush now unless one is running (a running one picks up what is pending when done). */
  flush(): void {
    if (this.flushing || this.failure !== undefined) return;
    this.flushing = true;
    void this.flushLoop();
  }

  /**
   * Calls `cb` once batch `epoch` is durable (synchronously if it already is), or with the error
   * that failed the log. A callback, not a promise: this is called once per confirmed publish.
   */
  whenDurable(epoch: number, cb: DurableCallback): void {
    if (epoch <= this.durable) cb(undefined);
    else if (this.failure !== undefined) cb(this.failure);
    else if (this.flushing && epoch === this.flushingEpoch) this.flushingWaiters.push(cb);
    else if (epoch === this.openEpoch) {
      this.openWaiters.push(cb);
      this.requestFlush();
    } else throw new RangeError(`epoch ${epoch} is in the future (open epoch ${this.openEpoch})`);
  }

  /** Resolves when everything appended so far is durable (for tests and shutdown). */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.whenDurable(this.openEpoch, (err) => (err === undefined ? resolve() : reject(err)));
      this.flush();
    });
  }

  /** Reads bytes back (message bodies paged out); waits for the flush if they are still pending. */
  async read(loc: RecordLocation): Promise<Buffer> {
    const out = Buffer.allocUnsafe(loc.length);
    await this.readInto(loc, out, 0);
    return out;
  }

  /** As read, into `target` at `at`. */
  async readInto(loc: RecordLocation, target: Buffer, at: number): Promise<void> {
    const seg = this.segs.get(loc.segment);
    if (seg === undefined) throw new SwitchyardError('INTERNAL_ERROR', `segment ${loc.segment} is gone`);
    if (loc.offset + loc.length > seg.flushed) await this.sync();
    for (let attempt = 0; ; attempt++) {
      const fh = await this.handle(seg);
      try {
        let got = 0;
        while (got < loc.length) {
          const { bytesRead } = await fh.read(target, at + got, loc.length - got, loc.offset + got);
          if (bytesRead === 0)
            throw new SwitchyardError('INTERNAL_ERROR', `short read in segment ${loc.segment}`);
          got += bytesRead;
        }
        return;
      } catch (err) {
        // The handle was closed under us (evicted from the LRU): once more with a fresh one.
        if (attempt === 0 && seg.fh !== fh && this.segs.get(seg.n) === seg) continue;
        throw err;
      }
    }
  }

  /** Deletes a sealed segment (never the current one); waits for reads in flight on its handle. */
  async deleteSegment(n: number): Promise<void> {
    if (n === this.cur.n) throw new SwitchyardError('INTERNAL_ERROR', 'cannot delete the current segment');
    const seg = this.segs.get(n);
    if (seg === undefined) return;
    this.segs.delete(n);
    this.lru.delete(n);
    const fh = seg.fh ?? (seg.opening !== undefined ? await seg.opening.catch(() => undefined) : undefined);
    seg.fh = undefined;
    await fh?.close();
    await unlink(join(this.dir, segmentFileName(n)));
    // Deletions must reach the disk in order (oldest first): a segment that outlived a younger
    // deleted one could hold messages whose settles were in the deleted one.
    await this.syncDir();
  }

  /** Flushes what is pending and closes every file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failure === undefined) await this.sync();
    clearTimeout(this.lazyTimer);
    this.closed = true;
    for (const seg of this.segs.values()) {
      const fh = seg.fh;
      seg.fh = undefined;
      await fh?.close();
    }
    this.lru.clear();
  }

  private readonly lazyKick = (): void => {
    this.lazyTimer = undefined;
    this.flush();
  };

  private readonly kick = (): void => {
    this.scheduled = false;
    this.flush();
  };

  private async flushLoop(): Promise<void> {
    try {
      for (;;) {
        this.beforeFlush?.();
        if (this.runs.length === 0 && this.openWaiters.length === 0) {
          // Cleared in the same synchronous step as the emptiness check, so no append can slip
          // between them unscheduled.
          this.flushing = false;
          return;
        }
        this.closeRegion();
        const runs = this.runs;
        this.runs = [];
        this.run = undefined;
        const epoch = this.openEpoch++;
        this.flushingEpoch = epoch;
        this.flushingWaiters = this.openWaiters;
        this.openWaiters = [];
        if (runs.length > 0) await this.writeBatch(runs);
        this.durable = epoch;
        const waiters = this.flushingWaiters;
        this.flushingWaiters = [];
        for (let i = 0; i < waiters.length; i++) waiters[i]!(undefined);
        this.afterFlush?.(epoch);
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.failure = err;
      this.flushing = false;
      const waiters = [...this.flushingWaiters, ...this.openWaiters];
      this.flushingWaiters = [];
      this.openWaiters = [];
      for (const w of waiters) w(err);
      this.onFailed?.(err);
    }
  }

  private async writeBatch(runs: Run[]): Promise<void> {
    this.stats.flushes++;
    let created = false;
    for (const run of runs) {
      const seg = run.seg;
      if (seg.fh === undefined) {
        const path = join(this.dir, segmentFileName(seg.n));
        seg.fh = await this.openFile(path, seg.exists ? 'r+' : 'wx+');
        if (!seg.exists) created = true;
        seg.exists = true;
      }
      await this.writeAll(seg.fh, run.bufs, run.pos);
      // One datasync per segment touched, in order: a rolled-from segment is on disk before any
      // byte of the next one, so a crash can only tear the last segment.
      await seg.fh.datasync();
      this.stats.datasyncs++;
      seg.flushed = run.pos + run.bytes;
      if (seg !== this.cur) this.touch(seg);
    }
    // A new file's directory entry must be durable too, or the file may vanish in a crash.
    if (created) await this.syncDir();
    this.durableSeg = runs[runs.length - 1]!.seg.n;
  }

  /** writev in slices of at most IOV_MAX buffers, continuing after partial writes. */
  private async writeAll(fh: FileHandle, bufs: Buffer[], pos: number): Promise<void> {
    let i = 0;
    while (i < bufs.length) {
      const slice = bufs.length - i <= IOV_MAX && i === 0 ? bufs : bufs.slice(i, i + IOV_MAX);
      const { bytesWritten } = await fh.writev(slice, pos);
      this.stats.writevCalls++;
      this.stats.bytesWritten += bytesWritten;
      pos += bytesWritten;
      let rem = bytesWritten;
      while (i < bufs.length && rem >= bufs[i]!.length) {
        rem -= bufs[i]!.length;
        i++;
      }
      if (rem > 0) bufs[i] = bufs[i]!.subarray(rem);
    }
  }

  private async syncDir(): Promise<void> {
    const dh = await openFileDefault(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /** An open handle for reading a segment (sealed segments share a small LRU of handles). */
  private async handle(seg: Segment): Promise<FileHandle> {
    if (seg.fh !== undefined) {
      if (seg !== this.cur) this.touch(seg);
      return seg.fh;
    }
    if (seg.opening === undefined) {
      seg.opening = this.openFile(join(this.dir, segmentFileName(seg.n)), 'r');
      try {
        seg.fh = await seg.opening;
      } finally {
        seg.opening = undefined;
      }
      if (!this.segs.has(seg.n)) {
        // Deleted while opening.
        await seg.fh.close();
        seg.fh = undefined;
        throw new SwitchyardError('INTERNAL_ERROR', `segment ${seg.n} is gone`);
      }
      this.touch(seg);
      return seg.fh;
    }
    return seg.opening;
  }

  /** Marks a sealed segment's handle as recently used and closes the least recently used beyond the cap. */
  private touch(seg: Segment): void {
    this.lru.delete(seg.n);
    this.lru.set(seg.n, seg);
    if (this.lru.size <= this.maxOpen) return;
    for (const old of this.lru.values()) {
      if (this.lru.size <= this.maxOpen) break;
      // Never a segment with bytes still to be written (its handle is the writer's).
      if (old === this.cur || old.flushed < old.size || old.fh === undefined) continue;
      this.lru.delete(old.n);
      const fh = old.fh;
      old.fh = undefined;
      // close() waits for reads in flight on the handle; a failure loses nothing (read-only here).
      fh.close().catch((e: unknown) =>
        process.emitWarning(`message log: closing segment ${old.n}: ${(e as Error).message}`),
      );
    }
  }

  private startRun(seg: Segment): Run {
    this.closeRegion();
    const run: Run = { seg, pos: seg.size, bufs: [], bytes: 0 };
    this.runs.push(run);
    this.run = run;
    return run;
  }

  /** Room for n bytes in the slab; returns the offset (the caller advances slabPos). */
  private reserve(n: number): number {
    if (this.slabPos + n > this.slab.length) {
      this.closeRegion();
      this.slab = Buffer.allocUnsafe(Math.max(SLAB_SIZE, n));
      this.slabPos = 0;
      this.slabMark = 0;
    }
    return this.slabPos;
  }

  /** Hands the slab bytes copied since the last mark to the current run as one iovec. */
  private closeRegion(): void {
    if (this.slabPos > this.slabMark) {
      this.run!.bufs.push(this.slab.subarray(this.slabMark, this.slabPos));
      this.slabMark = this.slabPos;
    }
  }
}
