/**
 * Encoding the packets the broker sends: CONNACK, PUBLISH, PUBACK / PUBREC / PUBREL / PUBCOMP,
 * SUBACK, UNSUBACK, PINGRESP, DISCONNECT and AUTH, for 3.1.1 (4) or 5. Each packet is sized
 * first and written into one buffer of that size, so a value that cannot be encoded throws
 * before any byte exists (half a packet never reaches a batch).
 */
import { type AckType, PacketType } from './constants.js';
import type { AckProperties, ConnackProperties, Properties, PublishProperties } from './packets.js';
import { propertiesSize, varintSize, writeProperties, writeVarint } from './properties.js';

/** PINGRESP: a fixed header and nothing else (section 3.13). */
export const PINGRESP = Buffer.from([PacketType.PINGRESP << 4, 0]);

/** A buffer for a packet of `first` byte and `rest` bytes after its Remaining Length. */
function packet(first: number, rest: number): { b: Buffer; p: number } {
  const b = Buffer.allocUnsafe(1 + varintSize(rest) + rest);
  b[0] = first;
  return { b, p: writeVarint(b, 1, rest) };
}

function done(b: Buffer, p: number): Buffer {
  if (p !== b.length) throw new Error(`encoder wrote ${p} of ${b.length} bytes`);
  return b;
}

/**
 * A property section of `props` as it will be sent: when the receiver's Maximum Packet Size
 * (`max`, 0 = none) would be exceeded, the Reason String and User Properties are left out
 * ([MQTT-3.2.2-19] [MQTT-3.2.2-20], [MQTT-3.4.2-2] [MQTT-3.4.2-3] and the same for PUBREC,
 * PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT and AUTH).
 */
function fitted<P extends Properties>(props: P | undefined, fixed: number, max: number): P | undefined {
  if (props === undefined || max === 0) return props;
  const size = propertiesSize(props);
  const rest = fixed + varintSize(size) + size;
  if (1 + varintSize(rest) + rest <= max) return props;
  const { reasonString: _r, userProperties: _u, ...kept } = props;
  return kept as P;
}

/** Section size of `props`: its length field and its content. */
function sectionSize(contentSize: number): number {
  return varintSize(contentSize) + contentSize;
}

/**
 * CONNACK (section 3.2): `code` is a v5 reason code, or a 3.1.1 return code for version 4.
 * Session Present must be 0 with a failure [MQTT-3.2.2-6]; the caller passes false then.
 */
export function encodeConnack(
  version: number,
  sessionPresent: boolean,
  code: number,
  properties?: ConnackProperties,
  max = 0,
): Buffer {
  if (version !== 5) {
    const { b, p } = packet(PacketType.CONNACK << 4, 2);
    b[p] = sessionPresent ? 1 : 0;
    b[p + 1] = code;
    return done(b, p + 2);
  }
  const props = fitted(properties, 2, max);
  const size = propertiesSize(props);
  const { b, p } = packet(PacketType.CONNACK << 4, 2 + sectionSize(size));
  b[p] = sessionPresent ? 1 : 0;
  b[p + 1] = code;
  return done(b, writeProperties(b, p + 2, props, size));
}

/** Bytes before the payload of a PUBLISH (section 3.3): fixed header, topic, id, properties. */
export function publishHeaderSize(
  topicBytes: number,
  qos: number,
  version: number,
  propsSize: number,
): number {
  const rest = 2 + topicBytes + (qos > 0 ? 2 : 0) + (version === 5 ? sectionSize(propsSize) : 0);
  return rest;
}

/** The whole size of a PUBLISH: the fixed header, the variable header and the payload. */
export function publishPacketSize(
  topicBytes: number,
  payloadBytes: number,
  qos: number,
  version: number,
  propsSize = 0,
): number {
  const rest = publishHeaderSize(topicBytes, qos, version, propsSize) + payloadBytes;
  return 1 + varintSize(rest) + rest;
}

/**
 * The part of a PUBLISH before its payload, so that the payload goes to the socket as it is.
 * `propsSize` is propertiesSize(properties), which the caller has already worked out.
 */
export function encodePublishHeader(
  version: number,
  topic: Buffer,
  payloadBytes: number,
  qos: number,
  packetId: number,
  retain: boolean,
  dup: boolean,
  properties: PublishProperties | undefined,
  propsSize: number,
): Buffer {
  const head = publishHeaderSize(topic.length, qos, version, propsSize);
  const rest = head + payloadBytes;
  const b = Buffer.allocUnsafe(1 + varintSize(rest) + head);
  b[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
  let p = writeVarint(b, 1, rest);
  b[p] = topic.length >> 8;
  b[p + 1] = topic.length & 0xff;
  p += 2;
  p += topic.copy(b, p);
  if (qos > 0) p = b.writeUInt16BE(packetId, p);
  if (version === 5) p = writeProperties(b, p, properties, propsSize);
  return done(b, p);
}

/** A whole PUBLISH in one buffer (the writer sends the payload apart; see PacketWriter.publish). */
export function encodePublish(
  version: number,
  topic: string,
  payload: Buffer,
  qos: number,
  packetId: number,
  retain: boolean,
  dup: boolean,
  properties?: PublishProperties,
): Buffer {
  const head = encodePublishHeader(
    version,
    Buffer.from(topic, 'utf8'),
    payload.length,
    qos,
    packetId,
    retain,
    dup,
    properties,
    propertiesSize(properties),
  );
  return Buffer.concat([head, payload]);
}

/** First byte of an acknowledgement: PUBREL has the flags 0b0010 [MQTT-3.6.1-1]. */
function ackFirst(type: AckType): number {
  return (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
}

/**
 * PUBACK, PUBREC, PUBREL or PUBCOMP (sections 3.4 to 3.7) in the shortest form MQTT allows:
 * the packet identifier alone for success without properties (and always in 3.1.1), with the
 * reason code but no Property Length when there are no properties (section 3.4.2.2.1).
 */
export function encodeAck(
  version: number,
  type: AckType,
  packetId: number,
  reason: number,
  properties?: AckProperties,
  max = 0,
): Buffer {
  const props = version === 5 ? fitted(properties, 3, max) : undefined;
  const size = propertiesSize(props);
  if (props === undefined || size === 0) {
    const withReason = version === 5 && reason !== 0;
    const { b, p } = packet(ackFirst(type), withReason ? 3 : 2);
    b.writeUInt16BE(packetId, p);
    if (withReason) b[p + 2] = reason;
    return done(b, p + (withReason ? 3 : 2));
  }
  const { b, p } = packet(ackFirst(type), 3 + sectionSize(size));
  let q = b.writeUInt16BE(packetId, p);
  b[q++] = reason;
  return done(b, writeProperties(b, q, props, size));
}

/** SUBACK (section 3.9): a reason code (or 3.1.1 return code) per topic filter, in order [MQTT-3.9.3-1]. */
export function encodeSuback(
  version: number,
  packetId: number,
  codes: readonly number[],
  properties?: AckProperties,
  max = 0,
): Buffer {
  return codeList(PacketType.SUBACK, version, packetId, codes, properties, max);
}

/** UNSUBACK (section 3.11): in 5, a reason code per topic filter [MQTT-3.11.3-1]; in 3.1.1, none. */
export function encodeUnsuback(
  version: number,
  packetId: number,
  codes: readonly number[],
  properties?: AckProperties,
  max = 0,
): Buffer {
  return codeList(PacketType.UNSUBACK, version, packetId, version === 5 ? codes : [], properties, max);
}

/** SUBACK and UNSUBACK: a packet identifier, the properties (5 only), then a code per filter. */
function codeList(
  type: number,
  version: number,
  packetId: number,
  codes: readonly number[],
  properties: AckProperties | undefined,
  max: number,
): Buffer {
  const v5 = version === 5;
  const props = v5 ? fitted(properties, 2 + codes.length, max) : undefined;
  const size = propertiesSize(props);
  const { b, p } = packet(type << 4, 2 + (v5 ? sectionSize(size) : 0) + codes.length);
  let q = b.writeUInt16BE(packetId, p);
  if (v5) q = writeProperties(b, q, props, size);
  for (const c of codes) b[q++] = c;
  return done(b, q);
}

/**
 * DISCONNECT (section 3.14). The broker sends one to MQTT 5 clients only (3.1.1 has no server
 * DISCONNECT); for version 4 it is the bare fixed header.
 */
export function encodeDisconnect(
  version: number,
  reason: number,
  properties?: Pick<Properties, 'reasonString' | 'userProperties' | 'serverReference'>,
  max = 0,
): Buffer {
  if (version !== 5) return Buffer.from([PacketType.DISCONNECT << 4, 0]);
  const props = fitted(properties, 1, max);
  const size = propertiesSize(props);
  const { b, p } = packet(PacketType.DISCONNECT << 4, 1 + sectionSize(size));
  b[p] = reason;
  return done(b, writeProperties(b, p + 1, props, size));
}

/** AUTH (section 3.15, MQTT 5 only). */
export function encodeAuth(
  reason: number,
  properties?: Pick<
    Properties,
    'authenticationMethod' | 'authenticationData' | 'reasonString' | 'userProperties'
  >,
  max = 0,
): Buffer {
  const props = fitted(properties, 1, max);
  const size = propertiesSize(props);
  const { b, p } = packet(PacketType.AUTH << 4, 1 + sectionSize(size));
  b[p] = reason;
  return done(b, writeProperties(b, p + 1, props, size));
}
