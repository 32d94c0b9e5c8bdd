/**
 * The AMQP 0-9-1 binary form of message properties (the basic class's content-header property
 * list, with field tables as RabbitMQ reads them), read side. It is a persisted format: messages
 * published over AMQP are stored with their property bytes as they arrived, so the core must be
 * able to read them back whatever front ends are running. The AMQP front end writes this form
 * (src/amqp/codec) and reads it with these functions.
 *
 * Field tables (spec 4.2.5.5 with RabbitMQ's errata, which every client library follows). Decoding
 * accepts every tag RabbitMQ reads:
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
import { setOwn } from '../util/own-property.js';
import { Reader, syntaxError } from './byte-reader.js';
import {
  Decimal,
  type HeaderTable,
  type HeaderValue,
  type Properties,
  type PropertiesCodec,
} from './values.js';

/**
 * Field-table value tags as RabbitMQ reads and writes them (its errata to spec 4.2.5.5: `s` is a
 * signed 16-bit int, not a short string; `l` is a signed 64-bit int; `x` is a byte array; `L` is
 * read like `l`). Values are the ASCII codes.
 */
export const FieldTag = {
  BOOLEAN: 0x74, // t
  INT8: 0x62, // b
  UINT8: 0x42, // B
  INT16: 0x73, // s
  UINT16: 0x75, // u
  INT32: 0x49, // I
  UINT32: 0x69, // i
  INT64: 0x6c, // l
  INT64_ALT: 0x4c, // L (read only, as RabbitMQ does)
  FLOAT: 0x66, // f
  DOUBLE: 0x64, // d
  DECIMAL: 0x44, // D
  LONG_STRING: 0x53, // S
  BYTE_ARRAY: 0x78, // x
  ARRAY: 0x41, // A
  TIMESTAMP: 0x54, // T
  TABLE: 0x46, // F
  VOID: 0x56, // V
} as const;

/**
 * How deep field tables and arrays may nest. Hostile input could otherwise nest ~20,000 levels
 * inside one 128 KiB frame and overflow the stack; real headers nest two or three levels.
 */
export const MAX_TABLE_DEPTH = 64;

/** Basic content-header property flags (spec 4.2.6.1 and the basic class `<field>` order). */
export const BasicFlag = {
  CONTENT_TYPE: 1 << 15,
  CONTENT_ENCODING: 1 << 14,
  HEADERS: 1 << 13,
  DELIVERY_MODE: 1 << 12,
  PRIORITY: 1 << 11,
  CORRELATION_ID: 1 << 10,
  REPLY_TO: 1 << 9,
  EXPIRATION: 1 << 8,
  MESSAGE_ID: 1 << 7,
  TIMESTAMP: 1 << 6,
  TYPE: 1 << 5,
  USER_ID: 1 << 4,
  APP_ID: 1 << 3,
  CLUSTER_ID: 1 << 2,
  /** Another flags word follows; the 14 basic properties never need one. */
  CONTINUATION: 1,
} as const;

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

/** The `format` name of AMQP 0-9-1 basic property bytes (core's PropertiesCodec#format). */
export const AMQP_PROPERTIES_FORMAT = 'amqp091';

/**
 * Decodes the flags word and property list. Short strings are decoded as UTF-8 without validation,
 * as RabbitMQ does (binary correlation ids exist in the wild; the raw bytes stay in the message).
 */
export function decodeProperties(bytes: Buffer): Properties {
  const r = new Reader(bytes);
  const flags = r.u16('property flags');
  // 0-9-1 basic has 14 properties, which fit one flags word: a continuation word means the peer
  // speaks something else, and its extra words would be read as property values.
  if ((flags & BasicFlag.CONTINUATION) !== 0) throw syntaxError('property flags continuation bit set');
  const p: Properties = {};
  if (flags === 0) {
    r.expectEnd('content properties');
    return p;
  }
  if (flags & BasicFlag.CONTENT_TYPE) p.contentType = r.shortStrLossy('content-type');
  if (flags & BasicFlag.CONTENT_ENCODING) p.contentEncoding = r.shortStrLossy('content-encoding');
  if (flags & BasicFlag.HEADERS) p.headers = readFieldTable(r);
  if (flags & BasicFlag.DELIVERY_MODE) p.deliveryMode = r.u8('delivery-mode');
  if (flags & BasicFlag.PRIORITY) p.priority = r.u8('priority');
  if (flags & BasicFlag.CORRELATION_ID) p.correlationId = r.shortStrLossy('correlation-id');
  if (flags & BasicFlag.REPLY_TO) p.replyTo = r.shortStrLossy('reply-to');
  if (flags & BasicFlag.EXPIRATION) p.expiration = r.shortStrLossy('expiration');
  if (flags & BasicFlag.MESSAGE_ID) p.messageId = r.shortStrLossy('message-id');
  if (flags & BasicFlag.TIMESTAMP) p.timestamp = r.u64Approx('timestamp');
  if (flags & BasicFlag.TYPE) p.type = r.shortStrLossy('type');
  if (flags & BasicFlag.USER_ID) p.userId = r.shortStrLossy('user-id');
  if (flags & BasicFlag.APP_ID) p.appId = r.shortStrLossy('app-id');
  if (flags & BasicFlag.CLUSTER_ID) p.clusterId = r.shortStrLossy('cluster-id');
  r.expectEnd('content properties');
  return p;
}

/**
 * The properties codec a Message carries next to the bytes of a content header (core's
 * PropertiesCodec): `new Message(exchange, routingKey, body, undefined, propsBytes,
 * AMQP_PROPERTIES_CODEC)`. The bytes stay a view of the same socket chunk as the body; an AMQP
 * consumer gets them back through `message.encodedProperties(AMQP_PROPERTIES_FORMAT)`.
 */
export const AMQP_PROPERTIES_CODEC: PropertiesCodec = Object.freeze({
  format: AMQP_PROPERTIES_FORMAT,
  decode: decodeProperties,
  hasUserId: (bytes: Buffer) => bytes.length >= 2 && (bytes.readUInt16BE(0) & BasicFlag.USER_ID) !== 0,
});
