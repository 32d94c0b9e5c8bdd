/**
 * The outgoing byte batch of one connection. Frames are written straight into large chunks and
 * handed to the socket once per event-loop turn (DESIGN.md section 5a: one write per turn, never one
 * per frame). Growing never copies what was written: a full chunk is closed and a new one started.
 * Large message bodies are not copied at all: they become chunks of their own.
 *
 * Memory only moves forward: bytes handed out by take() are never written again, so the socket may
 * keep them until its write completes while this buffer goes on filling the rest of the chunk.
 */

import { Decimal, type HeaderTable, type HeaderValue } from '../../core/index.js';
import { FieldTag, FRAME_END, FRAME_HEADER_SIZE, MAX_TABLE_DEPTH } from './constants.js';
import { unencodable } from './reader.js';

/** Bodies below this size are copied into the current chunk; larger ones are passed by reference. */
export const BODY_COPY_THRESHOLD = 8192;

/** Default chunk size: large enough that a busy connection writes in 64 KiB pieces. */
export const DEFAULT_CHUNK_SIZE = 65536;

const TWO_32 = 4294967296;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const EMPTY = Buffer.alloc(0);

export class OutBuffer {
  /** The chunk being filled; may be the unused tail of an earlier chunk. */
  private cur: Buffer = EMPTY;
  private pos = 0;
  /** Closed chunks waiting for take(). */
  private chunks: Buffer[] = [];
  /** Bytes in `chunks`. */
  private closedBytes = 0;

  // The open frame, if any: where its header is (to patch the size) and how to undo it.
  private frameOpen = false;
  private frameBuf: Buffer = EMPTY;
  private framePos = 0;
  private frameStartLength = 0;
  private frameChunkCount = 0;

  constructor(readonly chunkSize = DEFAULT_CHUNK_SIZE) {
    if (!Number.isInteger(chunkSize) || chunkSize < 64) throw new RangeError(`chunkSize ${chunkSize} < 64`);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.closedBytes + this.pos;
  }

  /** Makes `n` contiguous bytes available at `this.pos` in `this.cur`. */
  private ensure(n: number): void {
    if (this.cur.length - this.pos >= n) return;
    this.closeChunk();
    // The tail of the old chunk is dropped; a new chunk is allocated, never copied into.
    this.cur = Buffer.allocUnsafe(Math.max(n, this.chunkSize));
  }

  /** Moves the written part of `cur` to `chunks`; `cur` becomes the unwritten tail. */
  private closeChunk(): void {
    const pos = this.pos;
    if (pos > 0) {
      this.chunks.push(this.cur.subarray(0, pos));
      this.closedBytes += pos;
      this.cur = this.cur.subarray(pos);
      this.pos = 0;
    }
  }

  u8(v: number): void {
    this.ensure(1);
    this.cur[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    const b = this.cur;
    const p = this.pos;
    b[p] = v >>> 8;
    b[p + 1] = v;
    this.pos = p + 2;
  }

  u32(v: number): void {
    this.ensure(4);
    const b = this.cur;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = v >>> 16;
    b[p + 2] = v >>> 8;
    b[p + 3] = v;
    this.pos = p + 4;
  }

  /** An unsigned 64-bit integer from a non-negative safe integer (delivery tags, body sizes). */
  u64(v: number): void {
    this.ensure(8);
    const lo = v >>> 0;
    const hi = (v - lo) / TWO_32;
    const b = this.cur;
    const p = this.pos;
    b[p] = hi >>> 24;
    b[p + 1] = hi >>> 16;
    b[p + 2] = hi >>> 8;
    b[p + 3] = hi;
    b[p + 4] = lo >>> 24;
    b[p + 5] = lo >>> 16;
    b[p + 6] = lo >>> 8;
    b[p + 7] = lo;
    this.pos = p + 8;
  }

  i8(v: number): void {
    this.ensure(1);
    this.cur.writeInt8(v, this.pos);
    this.pos += 1;
  }

  i16(v: number): void {
    this.ensure(2);
    this.cur.writeInt16BE(v, this.pos);
    this.pos += 2;
  }

  i32(v: number): void {
    this.ensure(4);
    this.cur.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  /** A signed 64-bit integer from a safe integer or a bigint in range. */
  i64(v: number | bigint): void {
    this.ensure(8);
    if (typeof v === 'bigint') {
      if (v < INT64_MIN || v > INT64_MAX) throw unencodable(`${v} does not fit a signed 64-bit integer`);
      this.cur.writeBigInt64BE(v, this.pos);
    } else {
      // Two's complement by halves: floor division keeps the low word non-negative.
      const hi = Math.floor(v / TWO_32);
      this.cur.writeInt32BE(hi, this.pos);
      this.cur.writeUInt32BE(v - hi * TWO_32, this.pos + 4);
    }
    this.pos += 8;
  }

  f32(v: number): void {
    this.ensure(4);
    this.cur.writeFloatBE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.cur.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Copies raw bytes. */
  bytes(buf: Uint8Array): void {
    const n = buf.length;
    this.ensure(n);
    this.cur.set(buf, this.pos);
    this.pos += n;
  }

  /**
   * shortstr: length octet and UTF-8, at most 255 bytes (spec 4.2.5.3). ASCII is written by a plain
   * loop (names and routing keys are short and ASCII); anything else goes through Buffer#write.
   */
  shortStr(s: string): void {
    const n = s.length;
    // Every UTF-16 unit takes at least one UTF-8 byte, so more than 255 units cannot fit.
    if (n > 255) throw unencodable(`short string of ${n} characters exceeds 255 bytes`);
    this.ensure(1 + n * 3);
    const b = this.cur;
    const start = this.pos + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[start + i] = c;
    }
    let len = n;
    if (i < n) {
      // 3 bytes per UTF-16 unit is the worst case, and that much room was ensured above.
      len = b.write(s, start, 'utf8');
      if (len > 255) throw unencodable(`short string of ${len} bytes exceeds 255 bytes`);
    }
    b[start - 1] = len;
    this.pos = start + len;
  }

  /** longstr: uint32 length and the bytes (a string is written as UTF-8). */
  longStr(s: string | Uint8Array): void {
    if (typeof s === 'string') {
      const len = Buffer.byteLength(s, 'utf8');
      this.ensure(4 + len);
      this.u32(len);
      this.pos += this.cur.write(s, this.pos, 'utf8');
    } else {
      this.ensure(4 + s.length);
      this.u32(s.length);
      this.bytes(s);
    }
  }

  /** A field table: uint32 size, then name/value pairs (spec 4.2.5.5). */
  table(t: HeaderTable, depth = 0): void {
    if (depth > MAX_TABLE_DEPTH) throw unencodable(`field table nested deeper than ${MAX_TABLE_DEPTH}`);
    this.ensure(4);
    // The size is patched when the entries are written; the 4 bytes are contiguous (ensure above),
    // and chunks never move, so the reference stays valid even if the entries spill into new chunks.
    const sizeBuf = this.cur;
    const sizePos = this.pos;
    this.pos += 4;
    const before = this.length;
    for (const key of Object.keys(t)) {
      this.shortStr(key);
      this.fieldValue(t[key], depth + 1);
    }
    sizeBuf.writeUInt32BE(this.length - before, sizePos);
  }

  /** A field array: uint32 size, then tagged values. */
  array(a: readonly (HeaderValue | undefined)[], depth = 0): void {
    if (depth > MAX_TABLE_DEPTH) throw unencodable(`field array nested deeper than ${MAX_TABLE_DEPTH}`);
    this.ensure(4);
    const sizeBuf = this.cur;
    const sizePos = this.pos;
    this.pos += 4;
    const before = this.length;
    for (const v of a) this.fieldValue(v, depth + 1);
    sizeBuf.writeUInt32BE(this.length - before, sizePos);
  }

  /**
   * One tagged field value. The JS → AMQP mapping (the only one we write, chosen so RabbitMQ and
   * every client library read the values back as the same JS types):
   * boolean → t; integer in int32 → I; other safe integer → l; bigint → l; other number → d;
   * string → S; Buffer/Uint8Array → x; Date → T (whole seconds); Decimal → D; null/undefined → V;
   * array → A; plain object → F.
   */
  fieldValue(v: HeaderValue | undefined, depth = 0): void {
    switch (typeof v) {
      case 'string':
        this.u8(FieldTag.LONG_STRING);
        this.longStr(v);
        return;
      case 'number':
        if (Number.isInteger(v)) {
          if (v >= -0x80000000 && v <= 0x7fffffff) {
            this.u8(FieldTag.INT32);
            this.i32(v);
            return;
          }
          if (Number.isSafeInteger(v)) {
            this.u8(FieldTag.INT64);
            this.i64(v);
            return;
          }
        }
        this.u8(FieldTag.DOUBLE);
        this.f64(v);
        return;
      case 'boolean':
        this.u8(FieldTag.BOOLEAN);
        this.u8(v ? 1 : 0);
        return;
      case 'bigint':
        this.u8(FieldTag.INT64);
        this.i64(v);
        return;
      case 'undefined':
        this.u8(FieldTag.VOID);
        return;
      case 'object':
        if (v === null) {
          this.u8(FieldTag.VOID);
        } else if (Array.isArray(v)) {
          this.u8(FieldTag.ARRAY);
          this.array(v, depth);
        } else if (v instanceof Uint8Array) {
          this.u8(FieldTag.BYTE_ARRAY);
          this.longStr(v);
        } else if (v instanceof Date) {
          this.u8(FieldTag.TIMESTAMP);
          this.timestamp(v);
        } else if (v instanceof Decimal) {
          this.u8(FieldTag.DECIMAL);
          this.decimal(v);
        } else {
          const proto: unknown = Object.getPrototypeOf(v);
          if (proto !== Object.prototype && proto !== null) {
            throw unencodable(`cannot encode ${Object.prototype.toString.call(v)} as a field value`);
          }
          this.u8(FieldTag.TABLE);
          this.table(v, depth);
        }
        return;
      default:
        throw unencodable(`cannot encode a ${typeof v} as a field value`);
    }
  }

  private timestamp(d: Date): void {
    const ms = d.getTime();
    // T is unsigned seconds (spec 4.2.5.4); sub-second precision is dropped by the format.
    if (!(ms >= 0)) throw unencodable(`timestamp ${d.toString()} is before 1970 or invalid`);
    this.u64(Math.floor(ms / 1000));
  }

  private decimal(d: Decimal): void {
    const { scale, value } = d;
    // RabbitMQ reads D as scale:8/unsigned, value:32/unsigned.
    if (!Number.isInteger(scale) || scale < 0 || scale > 255)
      throw unencodable(`decimal scale ${scale} out of range`);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw unencodable(`decimal value ${value} out of range`);
    }
    this.ensure(5);
    this.cur[this.pos] = scale;
    this.cur.writeUInt32BE(value, this.pos + 1);
    this.pos += 5;
  }

  /** Starts a frame: reserves the 7-byte header (type, channel, size patched by endFrame). */
  beginFrame(type: number, channel: number): void {
    if (this.frameOpen) throw new Error('OutBuffer: a frame is already open');
    this.ensure(FRAME_HEADER_SIZE);
    this.frameOpen = true;
    this.frameBuf = this.cur;
    this.framePos = this.pos;
    this.frameStartLength = this.length;
    this.frameChunkCount = this.chunks.length;
    const b = this.cur;
    const p = this.pos;
    b[p] = type;
    b[p + 1] = channel >>> 8;
    b[p + 2] = channel;
    this.pos = p + FRAME_HEADER_SIZE;
  }

  /** Ends the open frame: patches its payload size and appends the frame-end octet. */
  endFrame(): void {
    if (!this.frameOpen) throw new Error('OutBuffer: endFrame() without beginFrame()');
    const size = this.length - this.frameStartLength - FRAME_HEADER_SIZE;
    this.frameBuf.writeUInt32BE(size, this.framePos + 3);
    this.frameOpen = false;
    this.frameBuf = EMPTY;
    this.u8(FRAME_END);
  }

  /**
   * Undoes everything written since beginFrame (a value that could not be encoded), so a failed
   * encode never leaves half a frame in the stream.
   */
  abortFrame(): void {
    if (!this.frameOpen) return;
    this.chunks.length = this.frameChunkCount;
    let closed = 0;
    for (const c of this.chunks) closed += c.length;
    this.closedBytes = closed;
    this.cur = this.frameBuf;
    this.pos = this.framePos;
    this.frameOpen = false;
    this.frameBuf = EMPTY;
  }

  /**
   * Appends message body bytes to the open frame. Small bodies are copied (one write beats many
   * small buffers); large ones are not copied: the current chunk is closed and the body Buffer
   * itself becomes the next chunk, so it goes from the publisher's socket chunk to the consumer's
   * socket untouched (DESIGN.md section 5a).
   */
  appendBody(body: Buffer): void {
    if (body.length < BODY_COPY_THRESHOLD) {
      this.bytes(body);
      return;
    }
    this.closeChunk();
    this.chunks.push(body);
    this.closedBytes += body.length;
  }

  /**
   * Hands over everything written, in order, as Buffers for socket.cork()/write()/uncork() or
   * writev, and starts a new batch. The returned Buffers are never written to again.
   */
  take(): Buffer[] {
    if (this.frameOpen) throw new Error('OutBuffer: take() with a frame open');
    this.closeChunk();
    const out = this.chunks;
    this.chunks = [];
    this.closedBytes = 0;
    return out;
  }

  /** Drops the unused tail of the current chunk (an idle connection need not hold 64 KiB). */
  release(): void {
    if (this.pos === 0 && !this.frameOpen) this.cur = EMPTY;
  }
}
