/**
 * AMQP 0-9-1 wire constants (amqp0-9-1.xml `<constant>` elements and section 4.2 of the spec),
 * plus the RabbitMQ extensions (confirm class, connection.blocked, basic.nack). The reply codes
 * are not here: each is an entry of the error catalogue (src/errors), beside the other protocols'
 * codes for the same error.
 */

/** Frame types (spec 4.2.3). RabbitMQ closes with FRAME_ERROR (501) on any other type. */
export const FrameType = {
  METHOD: 1,
  HEADER: 2,
  BODY: 3,
  HEARTBEAT: 8,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** The octet that ends every frame (spec 4.2.3: frame-end = %xCE). */
export const FRAME_END = 0xce;

/** The smallest frame_max a peer may negotiate, and the limit before connection.tune-ok (spec 4.2.1). */
export const FRAME_MIN_SIZE = 4096;

/** type (1) + channel (2) + size (4). */
export const FRAME_HEADER_SIZE = 7;

/** Header plus the frame-end octet: what frame_max counts on top of the payload. */
export const FRAME_OVERHEAD = 8;

/** class-id (2) + weight (2) + body-size (8): the content header payload before the property flags. */
export const CONTENT_HEADER_PREFIX_SIZE = 12;

/** The protocol header a 0-9-1 client sends first (spec 4.2.2): "AMQP" 0 0 9 1. */
export const PROTOCOL_HEADER_BYTES = [0x41, 0x4d, 0x51, 0x50, 0x00, 0x00, 0x09, 0x01] as const;

/**
 * The same bytes as a Buffer, to send back on a version mismatch (spec 4.2.2: "the server MUST
 * respond with a valid protocol header and then close the socket"). Never mutate it.
 */
export const PROTOCOL_HEADER: Buffer = Buffer.from(PROTOCOL_HEADER_BYTES);

/** Class ids (amqp0-9-1.xml `<class index=…>`; confirm is RabbitMQ's extension). */
export const ClassId = {
  CONNECTION: 10,
  CHANNEL: 20,
  ACCESS: 30,
  EXCHANGE: 40,
  QUEUE: 50,
  BASIC: 60,
  CONFIRM: 85,
  TX: 90,
} as const;
export type ClassIdValue = (typeof ClassId)[keyof typeof ClassId];

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
