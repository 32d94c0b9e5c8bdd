/**
 * The hot path out: deliveries, get-ok, returns, publisher confirms and content frames, written
 * straight into the connection's OutBuffer with no intermediate method object (DESIGN.md 5a).
 * Each writer produces exactly the bytes the generic encoder in methods.ts produces for the same
 * method (a test checks this).
 */

import { ClassId, CONTENT_HEADER_PREFIX_SIZE, FRAME_OVERHEAD, FrameType } from './constants.js';
import type { OutBuffer } from './out-buffer.js';
import { frameError } from './reader.js';

const TWO_32 = 4294967296;

// class-id and method-id as one uint32, written in one call.
const BASIC_RETURN = (ClassId.BASIC << 16) | 50;
const BASIC_DELIVER = (ClassId.BASIC << 16) | 60;
const BASIC_GET_OK = (ClassId.BASIC << 16) | 71;
const BASIC_ACK = (ClassId.BASIC << 16) | 80;
const BASIC_NACK = (ClassId.BASIC << 16) | 120;

/**
 * basic.deliver (spec 1.8.3.9). A string that cannot be written (a routing key over 255 bytes
 * from another protocol) throws INTERNAL_ERROR and leaves nothing of the frame in `out`.
 * `deliveryTag` must be a non-negative safe integer; it is written as uint64.
 */
export function writeDeliver(
  out: OutBuffer,
  channel: number,
  consumerTag: string,
  deliveryTag: number,
  redelivered: boolean,
  exchange: string,
  routingKey: string,
): void {
  out.beginFrame(FrameType.METHOD, channel);
  try {
    out.u32(BASIC_DELIVER);
    out.shortStr(consumerTag);
    out.u64(deliveryTag);
    out.u8(redelivered ? 1 : 0);
    out.shortStr(exchange);
    out.shortStr(routingKey);
  } catch (e) {
    out.abortFrame();
    throw e;
  }
  out.endFrame();
}

/** basic.get-ok (spec 1.8.3.11); content frames follow. */
export function writeGetOk(
  out: OutBuffer,
  channel: number,
  deliveryTag: number,
  redelivered: boolean,
  exchange: string,
  routingKey: string,
  messageCount: number,
): void {
  out.beginFrame(FrameType.METHOD, channel);
  try {
    out.u32(BASIC_GET_OK);
    out.u64(deliveryTag);
    out.u8(redelivered ? 1 : 0);
    out.shortStr(exchange);
    out.shortStr(routingKey);
    out.u32(messageCount);
  } catch (e) {
    out.abortFrame();
    throw e;
  }
  out.endFrame();
}

/** basic.return (spec 1.8.3.8), for a mandatory message no queue took; content frames follow. */
export function writeReturn(
  out: OutBuffer,
  channel: number,
  replyCode: number,
  replyText: string,
  exchange: string,
  routingKey: string,
): void {
  out.beginFrame(FrameType.METHOD, channel);
  try {
    out.u32(BASIC_RETURN);
    out.u16(replyCode);
    out.shortStr(replyText);
    out.shortStr(exchange);
    out.shortStr(routingKey);
  } catch (e) {
    out.abortFrame();
    throw e;
  }
  out.endFrame();
}

/** basic.ack from the broker: a publisher confirm (RabbitMQ's confirm extension). */
export function writeBasicAck(out: OutBuffer, channel: number, deliveryTag: number, multiple: boolean): void {
  out.beginFrame(FrameType.METHOD, channel);
  out.u32(BASIC_ACK);
  out.u64(deliveryTag);
  out.u8(multiple ? 1 : 0);
  out.endFrame();
}

/** basic.nack from the broker: a negative publisher confirm. Bits: multiple (0), requeue (1). */
export function writeBasicNack(
  out: OutBuffer,
  channel: number,
  deliveryTag: number,
  multiple: boolean,
  requeue = false,
): void {
  out.beginFrame(FrameType.METHOD, channel);
  out.u32(BASIC_NACK);
  out.u64(deliveryTag);
  out.u8((multiple ? 1 : 0) | (requeue ? 2 : 0));
  out.endFrame();
}

/** A heartbeat frame: type 8, channel 0, empty payload (spec 4.2.7). */
export function writeHeartbeat(out: OutBuffer): void {
  out.beginFrame(FrameType.HEARTBEAT, 0);
  out.endFrame();
}

/**
 * A content header frame (spec 4.2.6): class-id, weight 0, body size as uint64, then the property
 * flags and list exactly as given (bytes received from a publisher are passed on untouched).
 */
export function writeContentHeader(
  out: OutBuffer,
  channel: number,
  classId: number,
  bodySize: number,
  propsBytes: Buffer,
): void {
  out.beginFrame(FrameType.HEADER, channel);
  out.u32(classId << 16); // class-id, then weight: always 0 (spec 4.2.6.1)
  out.u64(bodySize);
  out.bytes(propsBytes);
  out.endFrame();
}

/**
 * The content that follows a basic.publish/deliver/get-ok/return: the header frame, then the body
 * in body frames of at most frameMax - 8 payload bytes (spec 4.2.6.2). An empty body has no body
 * frames. Body slices are views; OutBuffer#appendBody passes large ones on without copying.
 * frameMax 0 means "no limit" as in connection.tune: the body goes in one frame.
 */
export function writeContentFrames(
  out: OutBuffer,
  channel: number,
  classId: number,
  propsBytes: Buffer,
  body: Buffer,
  frameMax: number,
): void {
  const size = body.length;
  writeContentHeader(out, channel, classId, size, propsBytes);
  if (size === 0) return;
  const max = frameMax === 0 ? size : frameMax - FRAME_OVERHEAD;
  if (!(max > 0)) throw new RangeError(`frameMax ${frameMax} leaves no room for a body frame`);
  for (let at = 0; at < size; at += max) {
    const end = Math.min(at + max, size);
    out.beginFrame(FrameType.BODY, channel);
    out.appendBody(at === 0 && end === size ? body : body.subarray(at, end));
    out.endFrame();
  }
}

/** A decoded content header frame. `properties` is a view of the payload (flags word onwards). */
export interface ContentHeader {
  classId: number;
  /** Unused by 0-9-1 and must be 0 (spec 4.2.6.1); RabbitMQ answers anything else with 505. */
  weight: number;
  bodySize: number;
  properties: Buffer;
}

/**
 * Splits a header frame payload. Too short for class-id, weight, body size and a flags word, or a
 * body size past 2^53, is a FRAME_ERROR (RabbitMQ's rabbit_command_assembler: frame_error).
 */
export function decodeContentHeader(payload: Buffer): ContentHeader {
  if (payload.length < CONTENT_HEADER_PREFIX_SIZE + 2) {
    throw frameError(`content header frame of ${payload.length} bytes is too short`);
  }
  const hi = payload.readUInt32BE(4);
  if (hi > 0x1fffff) throw frameError('content body size exceeds 2^53');
  return {
    classId: payload.readUInt16BE(0),
    weight: payload.readUInt16BE(2),
    bodySize: hi * TWO_32 + payload.readUInt32BE(8),
    properties: payload.subarray(CONTENT_HEADER_PREFIX_SIZE),
  };
}
