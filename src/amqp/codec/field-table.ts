/**
 * AMQP field tables and arrays (spec 4.2.5.5 with RabbitMQ's errata, which every client library
 * follows). Decoding accepts every tag RabbitMQ reads; encoding writes the JS → AMQP mapping in
 * OutBuffer#fieldValue. The decoded types are core's HeaderValue:
 *
 * | tag | wire                  | decoded as                                   |
 * | --- | --------------------- | -------------------------------------------- |
 * | t   | octet, 0 = false      | boolean                                      |
 * | b B | int8 / uint8          | number                                       |
 * | s u | int16 / uint16        | number                                       |
 * | I i | int32 / uint32        | number                                       |
 * | l L | int64                 | number if a safe integer, else bigint        |
 * | f d | float32 / float64     | number                                       |
 * | D   | scale octet, uint32   | Decimal                                      |
 * | S   | longstr               | string (UTF-8, invalid bytes replaced)       |
 * | x   | longstr               | Buffer (a copy)                              |
 * | A   | uint32 size, values   | array                                        |
 * | T   | uint64 seconds        | Date                                         |
 * | F   | uint32 size, entries  | plain object                                 |
 * | V   | nothing               | null                                         |
 *
 * The round trip decode → encode is lossy where JS has fewer types than AMQP: b/B/s/u/i/I come back
 * as I (or l for a uint32 above 2^31), f as d, L as l, V/undefined as V, and T loses nothing
 * (whole seconds) but a Date written with milliseconds loses them.
 */

import { Decimal, type HeaderTable, type HeaderValue } from '../../core/index.js';
import { FieldTag, MAX_TABLE_DEPTH } from './constants.js';
import { OutBuffer } from './out-buffer.js';
import { Reader, syntaxError } from './reader.js';
import { setOwn } from '../../util/own-property.js';

/** Reads a table (uint32 size, then entries) at the reader's position. */
export function readFieldTable(r: Reader, depth = 0): HeaderTable {
  if (depth > MAX_TABLE_DEPTH) throw syntaxError(`field table nested deeper than ${MAX_TABLE_DEPTH}`);
  const size = r.u32('table size');
  r.need(size, 'table');
  const start = r.pos;
  r.pos = start + size;
  // A reader bounded by the declared size, so no entry can run past its table.
  const t = new Reader(r.buf, start, start + size);
  const out: HeaderTable = {};
  while (t.pos < t.end) {
    const key = t.shortStrLossy('table field name');
    const value = readFieldValue(t, depth);
    // A hostile "__proto__" key must become data, not the object's prototype.
    setOwn(out, key, value);
  }
  return out;
}

/** Reads an array (uint32 size, then tagged values) at the reader's position. */
export function readFieldArray(r: Reader, depth = 0): HeaderValue[] {
  if (depth > MAX_TABLE_DEPTH) throw syntaxError(`field array nested deeper than ${MAX_TABLE_DEPTH}`);
  const size = r.u32('array size');
  r.need(size, 'array');
  const start = r.pos;
  r.pos = start + size;
  const a = new Reader(r.buf, start, start + size);
  const out: HeaderValue[] = [];
  while (a.pos < a.end) out.push(readFieldValue(a, depth));
  return out;
}

/** Reads one tagged value. `depth` is the depth of the container holding it. */
export function readFieldValue(r: Reader, depth: number): HeaderValue {
  const tag = r.u8('field type');
  switch (tag) {
    case FieldTag.LONG_STRING:
      return r.longStr('S value');
    case FieldTag.INT32:
      return r.i32('I value');
    case FieldTag.BOOLEAN:
      return r.u8('t value') !== 0;
    case FieldTag.TABLE:
      return readFieldTable(r, depth + 1);
    case FieldTag.ARRAY:
      return readFieldArray(r, depth + 1);
    case FieldTag.INT64:
    case FieldTag.INT64_ALT:
      return r.i64('l value');
    case FieldTag.TIMESTAMP:
      // Seconds since the epoch; past year 275760 the Date is Invalid, which is still no throw.
      return new Date(r.u64Approx('T value') * 1000);
    case FieldTag.INT8:
      return r.i8('b value');
    case FieldTag.UINT8:
      return r.u8('B value');
    case FieldTag.INT16:
      return r.i16('s value');
    case FieldTag.UINT16:
      return r.u16('u value');
    case FieldTag.UINT32:
      return r.u32('i value');
    case FieldTag.FLOAT:
      return r.f32('f value');
    case FieldTag.DOUBLE:
      return r.f64('d value');
    case FieldTag.DECIMAL: {
      const scale = r.u8('D scale');
      return new Decimal(scale, r.u32('D value'));
    }
    case FieldTag.BYTE_ARRAY:
      return r.longBytes('x value');
    case FieldTag.VOID:
      return null;
    default:
      throw syntaxError(`unknown field type tag 0x${tag.toString(16).padStart(2, '0')}`);
  }
}

/** Decodes a whole table as it appears on the wire: uint32 size, then exactly that many bytes. */
export function decodeFieldTable(buf: Buffer): HeaderTable {
  const r = new Reader(buf);
  const t = readFieldTable(r);
  r.expectEnd('field table');
  return t;
}

/**
 * Decodes the table that starts at `offset` (uint32 size, entries) and says where it ended; bytes
 * after it are left alone. For a table inside a larger structure, e.g. an AMQPLAIN response.
 */
export function decodeTable(buf: Buffer, offset = 0): { table: HeaderTable; end: number } {
  if (!(offset >= 0 && offset <= buf.length))
    throw syntaxError(`table offset ${offset} outside ${buf.length} bytes`);
  const r = new Reader(buf, offset);
  const table = readFieldTable(r);
  return { table, end: r.pos };
}

/** Decodes a whole array as it appears on the wire: uint32 size, then exactly that many bytes. */
export function decodeFieldArray(buf: Buffer): HeaderValue[] {
  const r = new Reader(buf);
  const a = readFieldArray(r);
  r.expectEnd('field array');
  return a;
}

function copyOut(out: OutBuffer): Buffer {
  const chunks = out.take();
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Encodes a table in wire form (uint32 size, entries), in a Buffer of its own: a small chunk, so a
 * caller that keeps the result does not pin 64 KiB. Throws INTERNAL_ERROR for values AMQP cannot
 * carry (see OutBuffer#fieldValue).
 */
export function encodeFieldTable(t: HeaderTable): Buffer {
  const out = new OutBuffer(256);
  out.table(t);
  return copyOut(out);
}

/** Encodes an array in wire form (uint32 size, tagged values). */
export function encodeFieldArray(a: readonly HeaderValue[]): Buffer {
  const out = new OutBuffer(256);
  out.array(a);
  return copyOut(out);
}
