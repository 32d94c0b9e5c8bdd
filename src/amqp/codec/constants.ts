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

export { BasicFlag, FieldTag, MAX_TABLE_DEPTH } from '../../model/amqp091.js';
