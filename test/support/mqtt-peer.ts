/**
 * The client's half of the MQTT codec, for tests: encoding what a client sends (CONNECT,
 * SUBSCRIBE, UNSUBSCRIBE, PINGREQ; PUBLISH and the rest use the broker's own encoders, the same
 * both ways) and decoding what the broker sends (CONNACK, SUBACK, UNSUBACK, PINGRESP; the rest
 * as a client reads them). With src/mqtt/codec it gives a round trip for every packet kind, and
 * it drives session tests over an in-memory duplex pair.
 */
import {
  type AckType,
  encodeAck,
  encodeAuth,
  encodeDisconnect,
  encodePublish,
  PacketType,
} from '../../src/mqtt/codec/index.js';
import { Input, malformed } from '../../src/mqtt/codec/input.js';
import type {
  AckProperties,
  ClientPacket,
  ConnackProperties,
  Properties,
  PublishProperties,
} from '../../src/mqtt/codec/packets.js';
import { PayloadPool } from '../../src/mqtt/codec/payload-pool.js';
import {
  decodeProperties,
  propertiesSize,
  Section,
  varintSize,
  writeField,
  writeProperties,
  writeVarint,
} from '../../src/mqtt/codec/properties.js';
import { packetSize } from '../../src/mqtt/codec/reader.js';

// ---- encoding what a client sends ---------------------------------------------------------------

function frame(first: number, body: Buffer): Buffer {
  const head = Buffer.alloc(1 + varintSize(body.length));
  head[0] = first;
  writeVarint(head, 1, body.length);
  return Buffer.concat([head, body]);
}

/** Bytes of a field list: strings and buffers with their lengths, numbers as given by `sizes`. */
class Body {
  private readonly parts: Buffer[] = [];
  byte(n: number): this {
    this.parts.push(Buffer.from([n]));
    return this;
  }
  u16(n: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    this.parts.push(b);
    return this;
  }
  field(v: string | Buffer): this {
    const b = Buffer.alloc(2 + (typeof v === 'string' ? Buffer.byteLength(v) : v.length));
    writeField(b, 0, v);
    this.parts.push(b);
    return this;
  }
  properties(p: Properties | undefined): this {
    const size = propertiesSize(p);
    const b = Buffer.alloc(varintSize(size) + size);
    writeProperties(b, 0, p, size);
    this.parts.push(b);
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The bytes a client of `version` sends for `p`. */
export function encodeClientPacket(p: ClientPacket, version: number): Buffer {
  const v5 = version === 5;
  switch (p.type) {
    case PacketType.CONNECT: {
      const flags =
        (p.username !== undefined ? 0x80 : 0) |
        (p.password !== undefined ? 0x40 : 0) |
        (p.will?.retain === true ? 0x20 : 0) |
        ((p.will?.qos ?? 0) << 3) |
        (p.will !== undefined ? 0x04 : 0) |
        (p.clean ? 0x02 : 0);
      const body = new Body()
        .field(p.protocolName)
        .byte(p.protocolVersion | (p.bridge ? 0x80 : 0))
        .byte(flags)
        .u16(p.keepAlive);
      if (p.protocolVersion === 5) body.properties(p.properties);
      body.field(p.clientId);
      if (p.will !== undefined) {
        if (p.protocolVersion === 5) body.properties(p.will.properties);
        body.field(p.will.topic).field(p.will.payload);
      }
      if (p.username !== undefined) body.field(p.username);
      if (p.password !== undefined) body.field(p.password);
      return frame(PacketType.CONNECT << 4, body.bytes);
    }
    case PacketType.PUBLISH:
      return encodePublish(
        version,
        p.topic,
        p.payload,
        p.qos,
        p.packetId,
        p.retain,
        p.dup,
        p.properties as PublishProperties,
      );
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return encodeAck(version, p.type, p.packetId, p.reasonCode, p.properties);
    case PacketType.SUBSCRIBE: {
      const body = new Body().u16(p.packetId);
      if (v5) body.properties(p.properties);
      for (const s of p.subscriptions) {
        body
          .field(s.topicFilter)
          .byte(s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4));
      }
      return frame((PacketType.SUBSCRIBE << 4) | 2, body.bytes);
    }
    case PacketType.UNSUBSCRIBE: {
      const body = new Body().u16(p.packetId);
      if (v5) body.properties(p.properties);
      for (const f of p.topicFilters) body.field(f);
      return frame((PacketType.UNSUBSCRIBE << 4) | 2, body.bytes);
    }
    case PacketType.PINGREQ:
      return Buffer.from([PacketType.PINGREQ << 4, 0]);
    case PacketType.DISCONNECT:
      if (!v5) return Buffer.from([PacketType.DISCONNECT << 4, 0]);
      // The shortest form: nothing for a normal disconnect without properties.
      if (p.reasonCode === 0 && p.properties === undefined)
        return Buffer.from([PacketType.DISCONNECT << 4, 0]);
      return encodeDisconnect(version, p.reasonCode, p.properties);
    case PacketType.AUTH:
      if (p.reasonCode === 0 && p.properties === undefined) return Buffer.from([PacketType.AUTH << 4, 0]);
      return encodeAuth(p.reasonCode, p.properties);
  }
}

// ---- decoding what the broker sends -------------------------------------------------------------

export type ServerPacket =
  | {
      readonly type: typeof PacketType.CONNACK;
      readonly sessionPresent: boolean;
      /** The v5 reason code, or the 3.1.1 return code. */
      readonly code: number;
      readonly properties: ConnackProperties | undefined;
    }
  | {
      readonly type: typeof PacketType.PUBLISH;
      readonly qos: number;
      readonly dup: boolean;
      readonly retain: boolean;
      readonly topic: string;
      readonly packetId: number;
      readonly payload: Buffer;
      readonly properties: PublishProperties | undefined;
    }
  | {
      readonly type: AckType;
      readonly packetId: number;
      readonly reasonCode: number;
      readonly properties: AckProperties | undefined;
    }
  | {
      readonly type: typeof PacketType.SUBACK | typeof PacketType.UNSUBACK;
      readonly packetId: number;
      readonly codes: number[];
      readonly properties: AckProperties | undefined;
    }
  | { readonly type: typeof PacketType.PINGRESP }
  | {
      readonly type: typeof PacketType.DISCONNECT | typeof PacketType.AUTH;
      readonly reasonCode: number;
      readonly properties: Properties | undefined;
    };

const POOL = new PayloadPool(false);

/** Decodes one whole packet the broker sent to a client of `version`. */
export function decodeServerPacket(raw: Buffer, version: number): ServerPacket {
  const input = new Input();
  const first = raw[0]!;
  const type = first >> 4;
  let start = 1;
  while ((raw[start]! & 0x80) !== 0) start++;
  start++;
  input.reset(raw, start, raw.length, true, POOL);
  const v5 = version === 5;
  const end = <T>(p: T): T => {
    if (input.left !== 0) throw malformed(`${input.left} bytes left over`);
    return p;
  };
  switch (type) {
    case PacketType.CONNACK: {
      const flags = input.byte('flags');
      const code = input.byte('code');
      const properties = v5 ? decodeProperties(input, Section.CONNACK) : undefined;
      return end({ type, sessionPresent: (flags & 1) === 1, code, properties });
    }
    case PacketType.PUBLISH: {
      const qos = (first >> 1) & 3;
      const topic = input.string('topic');
      const packetId = qos > 0 ? input.u16('packet id') : 0;
      const properties = v5 ? decodeProperties(input, Section.PUBLISH) : undefined;
      return {
        type,
        qos,
        dup: (first & 8) !== 0,
        retain: (first & 1) !== 0,
        topic,
        packetId,
        payload: raw.subarray(input.p),
        properties,
      };
    }
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP: {
      const packetId = input.u16('packet id');
      let reasonCode = 0;
      let properties: AckProperties | undefined;
      if (v5 && input.left > 0) {
        reasonCode = input.byte('reason');
        if (input.left > 0) properties = decodeProperties(input, Section.ACK);
      }
      return end({ type, packetId, reasonCode, properties });
    }
    case PacketType.SUBACK:
    case PacketType.UNSUBACK: {
      const packetId = input.u16('packet id');
      const properties = v5 ? decodeProperties(input, Section.ACK) : undefined;
      const codes: number[] = [];
      while (input.left > 0) codes.push(input.byte('code'));
      return { type, packetId, codes, properties };
    }
    case PacketType.PINGRESP:
      return end({ type });
    case PacketType.DISCONNECT:
    case PacketType.AUTH: {
      let reasonCode = 0;
      let properties: Properties | undefined;
      if (v5 && input.left > 0) {
        reasonCode = input.byte('reason');
        if (input.left > 0) {
          properties = decodeProperties(input, type === PacketType.AUTH ? Section.AUTH : Section.DISCONNECT);
        }
      }
      return end({ type, reasonCode, properties });
    }
    default:
      throw malformed(`a client does not receive packet type ${type}`);
  }
}

/** Splits a byte stream the broker sent into whole packets (and what is left over). */
export function splitPackets(bytes: Buffer): { packets: Buffer[]; rest: Buffer } {
  const packets: Buffer[] = [];
  let off = 0;
  for (;;) {
    const size = off < bytes.length ? packetSize(bytes, off) : 0;
    if (size === 0 || off + size > bytes.length) return { packets, rest: bytes.subarray(off) };
    packets.push(bytes.subarray(off, off + size));
    off += size;
  }
}
