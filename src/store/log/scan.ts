/**
 * Reading a segment file back: the record framing and the scanner used at open (DESIGN.md section 4:
 * "a torn tail write is detected by CRC and truncated, never fatal").
 *
 * Record framing, little-endian:
 *
 *   offset 0  u32  magic  0x4c595753 (the bytes "SWYL"), so a reader can resynchronise after damage
 *   offset 4  u32  payload length
 *   offset 8  u32  CRC32 (zlib.crc32) over bytes 12 .. 13+length, i.e. type and payload
 *   offset 12 u8   record type
 *   offset 13      payload
 *
 * The length is not covered by the CRC; a damaged length makes the CRC check fail over the wrong
 * range, which has the same effect. The scanner reads a segment in large chunks into one reused
 * buffer and hands out payload views of it, as ws's receiver and nats.js's parser do (STYLE.md):
 * a payload is valid only during the callback, and a callee that keeps bytes copies them.
 */
import { crc32 } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';

export const RECORD_MAGIC = 0x4c595753;
export const RECORD_HEADER = 13;
const MAGIC_BYTES = Buffer.from([0x53, 0x57, 0x59, 0x4c]);

/** Writes a record header into `buf` at `off`; `crc` covers the type byte and the payload. */
export function writeHeader(buf: Buffer, off: number, type: number, length: number, crc: number): void {
  buf.writeUInt32LE(RECORD_MAGIC, off);
  buf.writeUInt32LE(length, off + 4);
  buf.writeUInt32LE(crc, off + 8);
  buf[off + 12] = type;
}

/** CRC32 of a single type byte: the seed every record's CRC starts from (computed once per type). */
const TYPE_CRC: number[] = Array.from({ length: 256 }, (_, t) => crc32(Buffer.of(t)));
export function typeCrc(type: number): number {
  return TYPE_CRC[type & 0xff]!;
}

/** A stretch of a segment that did not hold a valid record and was skipped. */
export interface CorruptInfo {
  readonly segment: number;
  /** File offset of the first skipped byte. */
  readonly offset: number;
  /** Bytes skipped. */
  readonly length: number;
  readonly reason: string;
}

/** Called for each valid record; `payload` is a view valid only during the call. */
export type RecordVisitor = (type: number, payload: Buffer, segment: number, offset: number) => void;

/** The result of scanning one segment. */
export interface ScanResult {
  /** End of the last valid record: where a torn tail starts, or the file size. */
  readonly validEnd: number;
  /** True when the bytes after `validEnd` held no valid record (a torn tail or trailing garbage). */
  readonly tail: boolean;
  readonly records: number;
}

/** A read window over the file: buf[0] is file offset `start`, bytes up to `end` are filled. */
class Window {
  start = 0;
  end = 0;
  constructor(
    public buf: Buffer,
    private readonly fh: FileHandle,
    private readonly fileSize: number,
  ) {}

  /** Makes file bytes [pos, pos+need) available in buf; reads as much more as the buffer holds. */
  async fill(pos: number, need: number): Promise<void> {
    if (pos >= this.start && pos + need <= this.end) return;
    let keep = 0;
    if (pos >= this.start && pos < this.end) keep = this.end - pos;
    if (need > this.buf.length) {
      // A record larger than the chunk: grow once to fit it (rounded to 1 MiB).
      const next = Buffer.allocUnsafe(Math.ceil(need / 1048576) * 1048576);
      if (keep > 0) this.buf.copy(next, 0, pos - this.start, pos - this.start + keep);
      this.buf = next;
    } else if (keep > 0 && pos > this.start) {
      this.buf.copy(this.buf, 0, pos - this.start, this.end - this.start);
    }
    this.start = pos;
    this.end = pos + keep;
    while (this.end < pos + need) {
      const room = Math.min(this.buf.length - (this.end - this.start), this.fileSize - this.end);
      const { bytesRead } = await this.fh.read(this.buf, this.end - this.start, room, this.end);
      if (bytesRead === 0) throw new Error(`segment shrank while being scanned at ${this.end}`);
      this.end += bytesRead;
    }
  }
}

/**
 * Scans one segment from offset 0 and calls `visit` for every valid record. A run of bytes that is
 * not a valid record is skipped by searching for the next magic whose record validates, and is
 * reported through `onCorrupt`; when nothing valid follows, the run is a tail (`tail: true`) and is
 * not reported: the caller decides (the last segment's tail is a torn write and is truncated).
 */
export async function scanSegment(
  fh: FileHandle,
  segment: number,
  fileSize: number,
  chunkSize: number,
  visit: RecordVisitor,
  onCorrupt: (info: CorruptInfo) => void,
): Promise<ScanResult> {
  const w = new Window(
    Buffer.allocUnsafe(Math.max(RECORD_HEADER, Math.min(chunkSize, fileSize))),
    fh,
    fileSize,
  );
  let pos = 0;
  let records = 0;

  /** Payload length of a valid record at `at`, or a negative reason code. */
  const check = async (at: number): Promise<number> => {
    if (fileSize - at < RECORD_HEADER) return -1;
    await w.fill(at, RECORD_HEADER);
    let b = at - w.start;
    if (w.buf.readUInt32LE(b) !== RECORD_MAGIC) return -2;
    const len = w.buf.readUInt32LE(b + 4);
    if (len > fileSize - at - RECORD_HEADER) return -1;
    await w.fill(at, RECORD_HEADER + len);
    b = at - w.start;
    return crc32(w.buf.subarray(b + 12, b + RECORD_HEADER + len)) === w.buf.readUInt32LE(b + 8) ? len : -3;
  };

  while (pos < fileSize) {
    // Fast path: parse every record that lies wholly inside the window without awaiting.
    let b = pos - w.start;
    const filled = w.end - w.start;
    while (pos >= w.start && b + RECORD_HEADER <= filled) {
      const buf = w.buf;
      if (buf.readUInt32LE(b) !== RECORD_MAGIC) break;
      const len = buf.readUInt32LE(b + 4);
      const recEnd = b + RECORD_HEADER + len;
      if (recEnd > filled) break;
      if (crc32(buf.subarray(b + 12, recEnd)) !== buf.readUInt32LE(b + 8)) break;
      visit(buf[b + 12]!, buf.subarray(b + RECORD_HEADER, recEnd), segment, pos + RECORD_HEADER);
      records++;
      pos += RECORD_HEADER + len;
      b = recEnd;
    }
    if (pos >= fileSize) break;
    // Slow path: the next record straddles the window, or is damaged.
    const len = await check(pos);
    if (len >= 0) {
      const at = pos - w.start;
      visit(
        w.buf[at + 12]!,
        w.buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len),
        segment,
        pos + RECORD_HEADER,
      );
      records++;
      pos += RECORD_HEADER + len;
      continue;
    }
    const next = await resync(w, pos + 1, fileSize, check);
    if (next < 0) return { validEnd: pos, tail: true, records };
    onCorrupt({ segment, offset: pos, length: next - pos, reason: REASONS[-len] ?? 'invalid record' });
    pos = next;
  }
  return { validEnd: pos, tail: false, records };
}

const REASONS: Record<number, string> = { 1: 'truncated record', 2: 'bad magic', 3: 'bad CRC' };

/** The offset of the next valid record at or after `from`, or -1 when none follows. */
async function resync(
  w: Window,
  from: number,
  fileSize: number,
  check: (at: number) => Promise<number>,
): Promise<number> {
  let p = from;
  while (fileSize - p >= RECORD_HEADER) {
    await w.fill(p, Math.min(fileSize - p, w.buf.length));
    const i = w.buf.indexOf(MAGIC_BYTES, p - w.start);
    // indexOf also searches stale bytes past the filled end; a hit there means "none in the window".
    if (i < 0 || w.start + i + 4 > w.end) {
      // Step back 3 bytes so a magic split by the window's end is found by the next fill.
      p = Math.max(p + 1, w.end - 3);
      continue;
    }
    const cand = w.start + i;
    if ((await check(cand)) >= 0) return cand;
    p = cand + 1;
  }
  return -1;
}
