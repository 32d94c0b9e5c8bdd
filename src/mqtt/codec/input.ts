/**
 * Reading the fields of one whole packet (MQTT 5 section 1.5 data representation). Every read
 * stops at the packet's end: a field that runs past it is a Malformed Packet, never a read of
 * the next packet's bytes. One Input is reused for every packet (decoding is synchronous).
 */
import { isUtf8 } from 'node:buffer';
import { SwitchyardError } from '../../errors/index.js';
import type { PayloadPool } from './payload-pool.js';
import { copyOut } from './slab.js';

const EMPTY = Buffer.alloc(0);

export function malformed(message: string): SwitchyardError {
  return new SwitchyardError('MALFORMED_PACKET', `malformed packet: ${message}`);
}

export function protocolError(message: string): SwitchyardError {
  return new SwitchyardError('PROTOCOL_ERROR', message);
}

export class Input {
  b: Buffer = EMPTY;
  /** Next byte to read. */
  p = 0;
  /** The packet's end. */
  end = 0;
  /** User Properties read so far in this packet (they are capped per packet). */
  userProperties = 0;
  /**
   * Whether `b` is the reader's own copy; otherwise it is a view of a read the producer may
   * reuse, and what outlives decoding (payloads, binary fields) is copied.
   */
  owned = false;
  pool: PayloadPool | undefined;

  /** Reads the packet `b[start, end)`. */
  reset(b: Buffer, start: number, end: number, owned: boolean, pool: PayloadPool): void {
    this.b = b;
    this.p = start;
    this.end = end;
    this.userProperties = 0;
    this.owned = owned;
    this.pool = pool;
  }

  /** `view` (a part of the packet), or a copy of it that outlives the read it came in. */
  keep(view: Buffer): Buffer {
    return this.owned ? view : copyOut(view, this.pool!);
  }

  get left(): number {
    return this.end - this.p;
  }

  byte(what: string): number {
    if (this.p >= this.end) throw malformed(`${what} missing`);
    return this.b[this.p++]!;
  }

  u16(what: string): number {
    if (this.p + 2 > this.end) throw malformed(`${what} cut short`);
    const v = (this.b[this.p]! << 8) | this.b[this.p + 1]!;
    this.p += 2;
    return v;
  }

  u32(what: string): number {
    if (this.p + 4 > this.end) throw malformed(`${what} cut short`);
    const v = this.b.readUInt32BE(this.p);
    this.p += 4;
    return v;
  }

  /** A Variable Byte Integer: at most four bytes (MQTT 5 section 1.5.5). */
  varint(what: string): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 4; i++) {
      if (this.p >= this.end) throw malformed(`${what} cut short`);
      const byte = this.b[this.p++]!;
      n += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return n;
      mul *= 128;
    }
    throw malformed(`${what} is a Variable Byte Integer of more than four bytes`);
  }

  /** Binary Data: a two-byte length, then that many bytes (a view, not a copy). */
  binary(what: string): Buffer {
    const n = this.u16(what);
    if (this.p + n > this.end) throw malformed(`${what} runs past the end of the packet`);
    const v = this.b.subarray(this.p, this.p + n);
    this.p += n;
    return this.keep(v);
  }

  /**
   * A UTF-8 Encoded String: well-formed UTF-8 [MQTT-1.5.4-1] (ill-formed is a Malformed Packet),
   * which toString() would otherwise repair silently.
   */
  string(what: string): string {
    const n = this.u16(what);
    const start = this.p;
    const end = start + n;
    if (end > this.end) throw malformed(`${what} runs past the end of the packet`);
    this.p = end;
    const b = this.b;
    // ASCII, the common case, needs no further check.
    for (let i = start; i < end; i++) {
      if (b[i]! >= 0x80) {
        if (!isUtf8(b.subarray(start, end))) throw malformed(`${what} is not valid UTF-8`);
        break;
      }
    }
    return b.toString('utf8', start, end);
  }
}
