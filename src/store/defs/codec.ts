/**
 * Byte formats of the definitions store: an exact JSON form of header values, and the framed
 * records that the journal and the snapshot are made of.
 *
 * Header values (queue, exchange and binding arguments) must come back exactly as they went in,
 * so every value JSON has no type for is tagged, and a tag can never be confused with a table:
 * a JSON object is always a table; tagged values and arrays are JSON arrays whose first element
 * names the type.
 *
 *   string, boolean, null, finite number (not -0)  → itself
 *   HeaderValue[]                                  → ["A", ...items]
 *   bigint                                         → ["n", "123"]
 *   Buffer                                         → ["b", base64]
 *   Date                                           → ["t", number]   (getTime, tagged if NaN)
 *   Decimal                                        → ["d", scale, value]
 *   NaN, Infinity, -Infinity, -0                   → ["f", "NaN" | "Infinity" | "-Infinity" | "-0"]
 *   HeaderTable                                    → { key: value, ... }
 *
 * Records are `u32le length, u32le crc32(payload), payload` (payload: UTF-8 JSON). A record whose
 * length runs past the end of the file or whose CRC does not match is where a torn write ends.
 */
import { crc32 } from 'node:zlib';
import { Decimal, type HeaderTable, type HeaderValue } from '../../model/index.js';

/** Bytes before each record's payload. */
export const RECORD_HEADER = 8;
/** No definition comes near this; a larger length field is garbage (a torn or corrupt header). */
export const MAX_RECORD = 64 * 1024 * 1024;

/** Thrown for bytes that passed the CRC check but do not decode: not a torn write, real damage. */
export class FormatError extends Error {
  override readonly name = 'FormatError';
}

/**
 * Encodes a header value as JSON text. With `sorted`, table keys are sorted, which makes the
 * text a canonical key (binding identity); without, key order is kept.
 */
export function encodeValue(v: HeaderValue, sorted = false): string {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      return encodeNumber(v);
    case 'bigint':
      return `["n","${v.toString()}"]`;
    case 'object':
      break;
    default:
      throw new TypeError(`not a header value: ${typeof v}`);
  }
  if (v === null) return 'null';
  if (Buffer.isBuffer(v)) return `["b","${v.toString('base64')}"]`;
  if (v instanceof Date) return `["t",${encodeNumber(v.getTime())}]`;
  if (v instanceof Decimal) return `["d",${encodeNumber(v.scale)},${encodeNumber(v.value)}]`;
  if (Array.isArray(v)) {
    let s = '["A"';
    for (const item of v) s += `,${encodeValue(item, sorted)}`;
    return `${s}]`;
  }
  return encodeTable(v, sorted);
}

export function encodeTable(t: HeaderTable, sorted = false): string {
  const proto: unknown = Object.getPrototypeOf(t);
  if (proto !== Object.prototype && proto !== null) throw new TypeError('not a header value: object');
  const keys = Object.keys(t);
  if (sorted) keys.sort();
  let s = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    s += `${i === 0 ? '' : ','}${JSON.stringify(k)}:${encodeValue(t[k]!, sorted)}`;
  }
  return `${s}}`;
}

function encodeNumber(n: number): string {
  if (Number.isFinite(n) && !Object.is(n, -0)) return JSON.stringify(n);
  return `["f","${Object.is(n, -0) ? '-0' : String(n)}"]`;
}

/** Decodes what JSON.parse made of encodeValue's text. */
export function decodeValue(j: unknown): HeaderValue {
  if (j === null || typeof j === 'string' || typeof j === 'boolean' || typeof j === 'number') return j;
  if (Array.isArray(j)) {
    const tag: unknown = j[0];
    switch (tag) {
      case 'A':
        return j.slice(1).map(decodeValue);
      case 'n':
        return BigInt(str(j[1]));
      case 'b':
        return Buffer.from(str(j[1]), 'base64');
      case 't':
        return new Date(decodeNumber(j[1]));
      case 'd':
        return new Decimal(decodeNumber(j[1]), decodeNumber(j[2]));
      case 'f':
        return decodeNumber(j);
      default:
        throw new FormatError(`unknown value tag ${JSON.stringify(tag)}`);
    }
  }
  if (typeof j === 'object') return decodeTable(j);
  throw new FormatError(`not an encoded header value: ${typeof j}`);
}

export function decodeTable(j: unknown): HeaderTable {
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw new FormatError('not an encoded table');
  // fromEntries defines own properties, so a key named "__proto__" stays a key (plain
  // assignment would set the prototype instead).
  return Object.fromEntries(
    Object.entries(j as Record<string, unknown>).map(([k, v]) => [k, decodeValue(v)]),
  ) as HeaderTable;
}

function decodeNumber(j: unknown): number {
  if (typeof j === 'number') return j;
  if (Array.isArray(j) && j[0] === 'f') {
    switch (j[1]) {
      case 'NaN':
        return Number.NaN;
      case 'Infinity':
        return Number.POSITIVE_INFINITY;
      case '-Infinity':
        return Number.NEGATIVE_INFINITY;
      case '-0':
        return -0;
    }
  }
  throw new FormatError(`not an encoded number: ${JSON.stringify(j)}`);
}

function str(j: unknown): string {
  if (typeof j !== 'string') throw new FormatError(`expected a string, got ${typeof j}`);
  return j;
}

/** Frames a payload as one record. */
export function frame(payload: string): Buffer {
  const len = Buffer.byteLength(payload);
  const b = Buffer.allocUnsafe(RECORD_HEADER + len);
  b.write(payload, RECORD_HEADER, 'utf8');
  b.writeUInt32LE(len, 0);
  b.writeUInt32LE(crc32(b.subarray(RECORD_HEADER)), 4);
  return b;
}

export interface Scan {
  /** Payloads of the intact records, in order. */
  readonly payloads: string[];
  /** Bytes taken by the intact records; anything after is a torn or damaged tail. */
  readonly validBytes: number;
}

/**
 * Reads records from the start of `buf` up to the first one that is incomplete or fails its
 * CRC. Records are only ever appended and each append is flushed before it is acknowledged, so
 * a bad record can only be the tail of a write that was cut short: it and everything after it
 * were never acknowledged.
 */
export function scanRecords(buf: Buffer): Scan {
  const payloads: string[] = [];
  let off = 0;
  while (buf.length - off >= RECORD_HEADER) {
    const len = buf.readUInt32LE(off);
    if (len === 0 || len > MAX_RECORD || len > buf.length - off - RECORD_HEADER) break;
    const body = buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len);
    if (crc32(body) !== buf.readUInt32LE(off + 4)) break;
    payloads.push(body.toString('utf8'));
    off += RECORD_HEADER + len;
  }
  return { payloads, validBytes: off };
}
