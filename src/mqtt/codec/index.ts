/**
 * The MQTT 3.1.1 / 5.0 codec for the server side: decoding what clients send, encoding what
 * the broker sends, the reader that frames a byte stream and the writer that batches a turn's
 * packets into one socket write. Nothing here knows about sessions or the core.
 */
export {
  type AckType,
  ConnackV3,
  MAX_USER_PROPERTIES,
  PACKET_NAMES,
  PacketType,
  Reason,
} from './constants.js';
export { decodePacket } from './decode.js';
export {
  encodeAck,
  encodeAuth,
  encodeConnack,
  encodeDisconnect,
  encodePublish,
  encodeSuback,
  encodeUnsuback,
  PINGRESP,
  publishPacketSize,
} from './encode.js';
export type * from './packets.js';
export { PayloadPool } from './payload-pool.js';
export { propertiesSize } from './properties.js';
export { type PacketHandler, PacketReader, packetSize } from './reader.js';
export { type PacketSink, PacketWriter } from './writer.js';
