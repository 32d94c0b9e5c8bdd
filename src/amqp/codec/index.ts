/**
 * AMQP 0-9-1 wire codec: frames in (FrameParser, decodeMethod, decodeContentHeader,
 * decodeProperties), frames out (OutBuffer, writeMethodFrame and the hot-path writers).
 * Everything here is pure bytes ↔ values; connection and channel state live elsewhere in amqp/.
 */

export {
  BasicFlag,
  CONTENT_HEADER_PREFIX_SIZE,
  ClassId,
  type ClassIdValue,
  FieldTag,
  FRAME_END,
  FRAME_HEADER_SIZE,
  FRAME_MIN_SIZE,
  FRAME_OVERHEAD,
  FrameType,
  type FrameTypeValue,
  MAX_TABLE_DEPTH,
  PROTOCOL_HEADER,
  PROTOCOL_HEADER_BYTES,
} from './constants.js';
export {
  type ContentHeader,
  decodeContentHeader,
  writeBasicAck,
  writeBasicNack,
  writeContentFrames,
  writeContentHeader,
  writeDeliver,
  writeGetOk,
  writeHeartbeat,
  writeReturn,
} from './content.js';
export {
  decodeFieldArray,
  decodeFieldTable,
  decodeTable,
  encodeFieldArray,
  encodeFieldTable,
  readFieldArray,
  readFieldTable,
} from './field-table.js';
export { type FrameHandler, FrameParser, parseProtocolHeader } from './frame-parser.js';
export {
  type AmqpMethod,
  type AmqpMethodInit,
  type FieldKind,
  METHOD_SPECS,
  type Method,
  type MethodKind,
  type MethodSpec,
} from './method-specs.js';
export {
  CONTENT_METHODS,
  decodeMethod,
  encodeMethod,
  isSynchronousRequest,
  methodKindOf,
  methodSpec,
  SYNCHRONOUS_METHODS,
  writeMethodFrame,
  writeMethodPayload,
} from './methods.js';
export { BODY_COPY_THRESHOLD, DEFAULT_CHUNK_SIZE, OutBuffer } from './out-buffer.js';
export {
  AMQP_PROPERTIES_CODEC,
  AMQP_PROPERTIES_FORMAT,
  decodeProperties,
  encodeProperties,
  writeProperties,
} from './properties.js';
export { Reader } from './reader.js';
