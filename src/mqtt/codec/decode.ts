/**
 * Decoding the packets a client sends, each from one whole packet (the reader frames them),
 * with the checks MQTT asks of a server. A packet that breaks the wire format throws
 * MALFORMED_PACKET (0x81); one that is well formed but not allowed throws PROTOCOL_ERROR (0x82).
 * Clauses are MQTT 5.0's; 3.1.1 has the same rules where it has the field.
 */
import { type AckType, CLIENT_REASONS, PACKET_NAMES, PacketType, requiredFlags } from './constants.js';
import { decodeConnect } from './decode-connect.js';
import { Input, malformed, protocolError } from './input.js';
import type {
  AckPacket,
  AuthPacket,
  ClientPacket,
  DisconnectPacket,
  Properties,
  PublishPacket,
  QoS,
  SubscribePacket,
  SubscriptionRequest,
  UnsubscribePacket,
} from './packets.js';
import type { PayloadPool } from './payload-pool.js';
import { decodeProperties, Section } from './properties.js';

/** Decoding is synchronous: one Input serves every packet. */
const input = new Input();

const PINGREQ: ClientPacket = Object.freeze({ type: PacketType.PINGREQ });

/**
 * Decodes `raw`, one whole packet (fixed header included), for a connection whose CONNECT chose
 * `version` (4 before it). `owned`: raw is the reader's to keep; otherwise what outlives the
 * call (payloads, binary fields) is copied, since the producer may reuse raw's bytes.
 */
export function decodePacket(raw: Buffer, version: number, owned: boolean, pool: PayloadPool): ClientPacket {
  return decodePacketAt(raw, 0, raw.length, version, owned, pool);
}

/** decodePacket for the packet at `b[start, end)`: no view of it is made (one object less per packet). */
export function decodePacketAt(
  b: Buffer,
  start: number,
  end: number,
  version: number,
  owned: boolean,
  pool: PayloadPool,
): ClientPacket {
  const first = b[start]!;
  const type = first >> 4;
  // The variable header starts after the Remaining Length (the reader checked it).
  let p = start + 1;
  while ((b[p]! & 0x80) !== 0) p++;
  input.reset(b, p + 1, end, owned, pool);
  if (type === PacketType.PUBLISH) return decodePublish(first, version);
  if ((first & 0x0f) !== requiredFlags(type)) {
    // [MQTT-2.1.3-1]: reserved flags other than the table's are malformed.
    throw malformed(`${PACKET_NAMES[type]} with fixed header flags 0x${(first & 0x0f).toString(16)}`);
  }
  switch (type) {
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return decodeAck(type, version);
    case PacketType.CONNECT:
      return decodeConnect(input);
    case PacketType.SUBSCRIBE:
      return decodeSubscribe(version);
    case PacketType.UNSUBSCRIBE:
      return decodeUnsubscribe(version);
    case PacketType.PINGREQ:
      expectEnd('PINGREQ'); // it has no variable header (section 3.12)
      return PINGREQ;
    case PacketType.DISCONNECT:
      return decodeDisconnect(version);
    case PacketType.AUTH:
      // AUTH is new in 5; in 3.1.1 type 15 is reserved.
      if (version !== 5) throw malformed('AUTH is an MQTT 5 packet');
      return decodeAuth();
    case 0:
      throw malformed('packet type 0 is reserved');
    default:
      // CONNACK, SUBACK, UNSUBACK and PINGRESP go from the server to the client.
      throw protocolError(`${PACKET_NAMES[type]} is a server's packet, not a client's`);
  }
}

/** Nothing may follow a packet's last field: its Remaining Length says where it ends. */
function expectEnd(what: string): void {
  if (input.left !== 0) throw malformed(`${input.left} bytes after the end of the ${what}`);
}

/** A Packet Identifier where one is required: two bytes, not 0 [MQTT-2.2.1-3]. */
function packetId(what: string): number {
  const id = input.u16(`${what} packet identifier`);
  if (id === 0) throw protocolError(`${what} with packet identifier 0`);
  return id;
}

function decodePublish(first: number, version: number): PublishPacket {
  const qos = (first >> 1) & 3;
  if (qos === 3) throw malformed('PUBLISH with both QoS bits set'); // [MQTT-3.3.1-4]
  const topic = input.string('topic name'); // [MQTT-3.3.2-1]
  // [MQTT-2.2.1-2]: a Packet Identifier only at QoS 1 and 2.
  const id = qos > 0 ? packetId('PUBLISH') : 0;
  let properties: PublishPacket['properties'];
  if (version === 5) {
    if (input.left > 0 && input.b[input.p] === 0)
      input.p++; // no properties: the common case
    else {
      properties = decodeProperties(input, Section.PUBLISH);
      // [MQTT-3.3.4-6]: subscription identifiers go from the server to a client only.
      if (properties?.subscriptionIdentifier !== undefined) {
        throw protocolError('a PUBLISH from a client must not carry a Subscription Identifier');
      }
    }
  }
  return {
    type: PacketType.PUBLISH,
    qos: qos as QoS,
    dup: (first & 8) !== 0,
    retain: (first & 1) !== 0,
    topic,
    packetId: id,
    payload: input.keep(input.b.subarray(input.p, input.end)),
    properties,
  };
}

function decodeAck(type: AckType, version: number): AckPacket {
  const name = PACKET_NAMES[type];
  const id = packetId(name);
  let reasonCode = 0;
  let properties: AckPacket['properties'];
  // MQTT 5 section 3.4.2.1: the Reason Code may be left out (success), and the Property Length
  // too when the Remaining Length is less than 4. 3.1.1 has the identifier only.
  if (version === 5 && input.left > 0) {
    reasonCode = input.byte(`${name} reason code`);
    // [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1]
    if (!CLIENT_REASONS[type]!.has(reasonCode)) {
      throw malformed(`${name} with reason code 0x${reasonCode.toString(16)}`);
    }
    if (input.left > 0) properties = decodeProperties(input, Section.ACK);
  }
  expectEnd(name);
  return { type, packetId: id, reasonCode, properties };
}

function decodeSubscribe(version: number): SubscribePacket {
  const id = packetId('SUBSCRIBE');
  const properties = version === 5 ? decodeProperties(input, Section.SUBSCRIBE) : undefined;
  // Section 3.8.2.1.2: one Subscription Identifier at most (a PUBLISH to a client may carry several).
  if (Array.isArray(properties?.subscriptionIdentifier)) {
    throw protocolError('property subscriptionIdentifier more than once');
  }
  // [MQTT-3.8.3-2]: at least one topic filter.
  if (input.left === 0) throw protocolError('SUBSCRIBE without a topic filter');
  const subscriptions: SubscriptionRequest[] = [];
  while (input.left > 0) {
    const topicFilter = input.string('topic filter'); // [MQTT-3.8.3-1]
    const options = input.byte('subscription options');
    const qos = options & 3;
    const retainHandling = (options >> 4) & 3;
    if (version === 5) {
      // [MQTT-3.8.3-5]: reserved bits 6 and 7 are 0; QoS 3 and Retain Handling 3 are Protocol
      // Errors (section 3.8.3.1).
      if ((options & 0xc0) !== 0) throw malformed('SUBSCRIBE with reserved option bits set');
      if (qos === 3) throw protocolError('SUBSCRIBE with Maximum QoS 3');
      if (retainHandling === 3) throw protocolError('SUBSCRIBE with Retain Handling 3');
    } else if ((options & 0xfc) !== 0 || qos === 3) {
      // 3.1.1 [MQTT-3.8.3-4]: reserved bits set, or QoS 3, is malformed.
      throw malformed('SUBSCRIBE with reserved option bits set or QoS 3');
    }
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal: (options & 0x04) !== 0,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  return { type: PacketType.SUBSCRIBE, packetId: id, subscriptions, properties };
}

function decodeUnsubscribe(version: number): UnsubscribePacket {
  const id = packetId('UNSUBSCRIBE');
  const properties = version === 5 ? decodeProperties(input, Section.UNSUBSCRIBE) : undefined;
  // [MQTT-3.10.3-2]: at least one topic filter.
  if (input.left === 0) throw protocolError('UNSUBSCRIBE without a topic filter');
  const topicFilters: string[] = [];
  while (input.left > 0) topicFilters.push(input.string('topic filter')); // [MQTT-3.10.3-1]
  return { type: PacketType.UNSUBSCRIBE, packetId: id, topicFilters, properties };
}

function decodeDisconnect(version: number): DisconnectPacket {
  // MQTT 5 section 3.14.2.1: no Reason Code means 0 (normal); no Property Length means none.
  // 3.1.1 has neither.
  if (version !== 5) {
    expectEnd('DISCONNECT');
    return { type: PacketType.DISCONNECT, reasonCode: 0, properties: undefined };
  }
  return { type: PacketType.DISCONNECT, ...reasonAndProperties(PacketType.DISCONNECT, Section.DISCONNECT) };
}

function decodeAuth(): AuthPacket {
  // Section 3.15.2.1: a Remaining Length of 0 is a success without properties [MQTT-3.15.2-1].
  return { type: PacketType.AUTH, ...reasonAndProperties(PacketType.AUTH, Section.AUTH) };
}

/**
 * The rest of a DISCONNECT or AUTH: a Reason Code the client may send (0 when left out), then
 * properties (none when left out), then nothing.
 */
function reasonAndProperties(
  type: typeof PacketType.DISCONNECT | typeof PacketType.AUTH,
  section: number,
): { reasonCode: number; properties: Properties | undefined } {
  const name = PACKET_NAMES[type];
  let reasonCode = 0;
  let properties: Properties | undefined;
  if (input.left > 0) {
    reasonCode = input.byte(`${name} reason code`);
    if (!CLIENT_REASONS[type]!.has(reasonCode)) {
      throw malformed(`${name} with reason code 0x${reasonCode.toString(16)}`);
    }
    if (input.left > 0) properties = decodeProperties(input, section);
  }
  expectEnd(name);
  return { reasonCode, properties };
}
