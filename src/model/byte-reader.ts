/**
 * A bounds-checked cursor over one decoded unit (a method payload, a property list, a table).
 * Every read checks the remaining length first, so malformed input ends in a SwitchyardError
 * and never in Node's RangeError (DESIGN.md section 7: malformed input closes one connection).
 */

import { isUtf8 } from 'node:buffer';
import { SwitchyardError } from '../errors/index.js';

/** Field values that run past their container, or that the spec forbids (spec 1.2: syntax-error 502). */
export function syntaxError(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}

/** Frame-level damage: bad frame-end, unknown type, oversize (spec 1.2: frame-error 501). */
export function frameError(message: string): SwitchyardError {
  return new SwitchyardError('FRAME_ERROR', message);
}

/**
 * A value we were asked to write cannot be expressed on the AMQP wire (a short string over 255
 * bytes, a negative timestamp). The broker produced it, so it is ours: INTERNAL_ERROR, not the
 * peer's SYNTAX_ERROR. Callers delivering converted messages may catch it and drop or dead-letter.
 */
export function unencodable(message: string): SwitchyardError {
  return new SwitchyardError('INTERNAL_ERROR', message);
}

const TWO_32 = 4294967296;

/** Decodes UTF-8, replacing invalid sequences (tables and properties: RabbitMQ does not validate them). */
export function utf8Lossy(buf: Buffer, start: number, end: number): string {
  return start === end ? '' : buf.toString('utf8', start, end);
}

/**
 * Decodes a short string of a method, rejecting malformed UTF-8 as RabbitMQ does
 * (rabbit_binary_parser:assert_utf8 on every method shortstr). ASCII, the usual case for names and
 * routing keys, is checked by a plain loop and decoded as latin1, which is the fastest slice.
 */
export function utf8Strict(buf: Buffer, start: number, end: number): string {
  if (start === end) return '';
  for (let i = start; i < end; i++) {
    if (buf[i]! >= 0x80) {
      const view = buf.subarray(start, end);
      if (!isUtf8(view)) throw syntaxError('malformed UTF-8 in short string');
      return view.toString('utf8');
    }
  }
  return buf.toString('latin1', start, end);
}

export class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  /** Throws unless `n` more bytes are there. `what` names the field for the error text. */
  need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw syntaxError(`truncated ${what}: need ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Methods and property lists must be consumed exactly (RabbitMQ rejects trailing bytes too). */
  expectEnd(what: string): void {
    if (this.pos !== this.end)
      throw syntaxError(`${this.end - this.pos} unexpected trailing bytes in ${what}`);
  }

  u8(what = 'octet'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'short'): number {
    this.need(2, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(what = 'long'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  i8(what = 'int8'): number {
    this.need(1, what);
    return this.buf.readInt8(this.pos++);
  }

  i16(what = 'int16'): number {
    this.need(2, what);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  i32(what = 'int32'): number {
    this.need(4, what);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  f32(what = 'float'): number {
    this.need(4, what);
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(what = 'double'): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  /**
   * An unsigned 64-bit integer that must fit a JS number exactly (delivery tags: the broker never
   * issues one past 2^53, so a larger one is a client bug, not a precision question).
   */
  u64Safe(what = 'longlong'): number {
    this.need(8, what);
    const b = this.buf;
    const hi = b.readUInt32BE(this.pos);
    const lo = b.readUInt32BE(this.pos + 4);
    this.pos += 8;
    if (hi > 0x1fffff) throw syntaxError(`${what} exceeds 2^53`);
    return hi * TWO_32 + lo;
  }

  /** An unsigned 64-bit integer as the nearest number (timestamps: seconds past 2^53 are not real dates). */
  u64Approx(what = 'timestamp'): number {
    this.need(8, what);
    const hi = this.buf.readUInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    this.pos += 8;
    return hi * TWO_32 + lo;
  }

  /** A signed 64-bit integer: a number when it is a safe integer, else a bigint (HeaderValue's rule). */
  i64(what = 'int64'): number | bigint {
    this.need(8, what);
    const hi = this.buf.readInt32BE(this.pos);
    const lo = this.buf.readUInt32BE(this.pos + 4);
    const at = this.pos;
    this.pos += 8;
    if (hi >= -0x200000 && hi <= 0x1fffff) {
      // |hi * 2^32 + lo| <= 2^53 here, so the sum is exact and isSafeInteger is a true test.
      const v = hi * TWO_32 + lo;
      if (Number.isSafeInteger(v)) return v;
    }
    return this.buf.readBigInt64BE(at);
  }

  /** shortstr in a method: length octet, then UTF-8 that must be valid. */
  shortStr(what = 'shortstr'): string {
    const len = this.u8(what);
    this.need(len, what);
    const start = this.pos;
    this.pos = start + len;
    return utf8Strict(this.buf, start, start + len);
  }

  /** shortstr where RabbitMQ does not validate UTF-8 (table keys, content properties). */
  shortStrLossy(what = 'shortstr'): string {
    const len = this.u8(what);
    this.need(len, what);
    const start = this.pos;
    this.pos = start + len;
    return utf8Lossy(this.buf, start, start + len);
  }

  /** longstr as text (UTF-8, lossy like RabbitMQ, which treats longstr as bytes). */
  longStr(what = 'longstr'): string {
    const len = this.u32(what);
    this.need(len, what);
    const start = this.pos;
    this.pos = start + len;
    return utf8Lossy(this.buf, start, start + len);
  }

  /**
   * longstr as bytes, copied: the payload is usually a view of a socket chunk, and a value kept
   * beyond this frame must not pin that chunk in memory.
   */
  longBytes(what = 'longstr'): Buffer {
    const len = this.u32(what);
    this.need(len, what);
    const start = this.pos;
    this.pos = start + len;
    return Buffer.from(this.buf.subarray(start, start + len));
  }

  /** Skips a length-prefixed string (reserved fields). */
  skipShortStr(what = 'shortstr'): void {
    const len = this.u8(what);
    this.need(len, what);
    this.pos += len;
  }

  skipLongStr(what = 'longstr'): void {
    const len = this.u32(what);
    this.need(len, what);
    this.pos += len;
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
}
