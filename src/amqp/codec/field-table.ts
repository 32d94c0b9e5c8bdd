/**
 * AMQP field tables and arrays (spec 4.2.5.5 with RabbitMQ's errata, which every client library
 * follows). Decoding accepts every tag RabbitMQ reads; encoding writes the JS → AMQP mapping in
 * OutBuffer#fieldValue; decoding is in src/model/amqp091.ts (the core reads stored tables too). The
 * decoded types are core's HeaderValue:
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

import type { HeaderTable, HeaderValue } from '../../core/index.js';
import { OutBuffer } from './out-buffer.js';

export {
  decodeFieldArray,
  decodeFieldTable,
  decodeTable,
  readFieldArray,
  readFieldTable,
  readFieldValue,
} from '../../model/amqp091.js';

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
