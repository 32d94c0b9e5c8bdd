/**
 * Our packets ⇄ mqtt-packet's, so that mqtt-packet (an independent implementation) can be the
 * differential reference of the codec's tests: what it generates must decode to the same
 * values, and what we encode must parse with it to the same values.
 */
import mqttPacket, { type Packet } from 'mqtt-packet';
import { PacketType } from '../../src/mqtt/codec/constants.js';
import type { ClientPacket, Properties, UserProperties } from '../../src/mqtt/codec/packets.js';
import type { ServerPacket } from './mqtt-peer.js';

type Loose = Record<string, unknown>;

const ACK_NAMES = { 4: 'puback', 5: 'pubrec', 6: 'pubrel', 7: 'pubcomp' } as const;

/** mqtt-packet wants user properties on an ordinary object. */
function theirProperties(p: Properties | undefined): Loose | undefined {
  if (p === undefined) return undefined;
  const out: Loose = { ...p };
  if (p.userProperties !== undefined) out.userProperties = { ...p.userProperties };
  return out;
}

function withProps(base: Loose, p: Properties | undefined): Packet {
  const props = theirProperties(p);
  return (props === undefined ? base : { ...base, properties: props }) as unknown as Packet;
}

/** A PUBLISH (either way), as mqtt-packet takes it. */
function publishToMqtt(p: {
  topic: string;
  payload: Buffer;
  qos: number;
  dup: boolean;
  retain: boolean;
  packetId: number;
  properties?: Properties | undefined;
}): Packet {
  return withProps(
    {
      cmd: 'publish',
      topic: p.topic,
      payload: p.payload,
      qos: p.qos,
      dup: p.dup,
      retain: p.retain,
      ...(p.qos > 0 ? { messageId: p.packetId } : {}),
    },
    p.properties,
  );
}

/** A PUBACK, PUBREC, PUBREL or PUBCOMP (either way), as mqtt-packet takes it for version `v`. */
function ackToMqtt(
  p: { type: 4 | 5 | 6 | 7; packetId: number; reasonCode: number; properties?: Properties | undefined },
  v: number,
): Packet {
  return withProps(
    { cmd: ACK_NAMES[p.type], messageId: p.packetId, ...(v === 5 ? { reasonCode: p.reasonCode } : {}) },
    p.properties,
  );
}

/** A client packet of ours, as mqtt-packet's generate() takes it. */
export function toMqttPacket(p: ClientPacket, v: number): Packet {
  switch (p.type) {
    case PacketType.CONNECT:
      return withProps(
        {
          cmd: 'connect',
          protocolId: p.protocolName,
          protocolVersion: p.protocolVersion,
          ...(p.bridge ? { bridgeMode: true } : {}),
          clean: p.clean,
          keepalive: p.keepAlive,
          clientId: p.clientId,
          ...(p.will === undefined
            ? {}
            : {
                will: withProps(
                  { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain },
                  p.will.properties,
                ),
              }),
          ...(p.username === undefined ? {} : { username: p.username }),
          ...(p.password === undefined ? {} : { password: p.password }),
        },
        p.properties,
      );
    case PacketType.PUBLISH:
      return publishToMqtt(p);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return ackToMqtt(p, v);
    case PacketType.SUBSCRIBE:
      return withProps(
        {
          cmd: 'subscribe',
          messageId: p.packetId,
          subscriptions: p.subscriptions.map((s) => ({
            topic: s.topicFilter,
            qos: s.qos,
            ...(v === 5 ? { nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling } : {}),
          })),
        },
        p.properties,
      );
    case PacketType.UNSUBSCRIBE:
      return withProps(
        { cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions: [...p.topicFilters] },
        p.properties,
      );
    case PacketType.PINGREQ:
      return { cmd: 'pingreq' };
    case PacketType.DISCONNECT:
      return withProps({ cmd: 'disconnect', reasonCode: p.reasonCode }, p.properties);
    case PacketType.AUTH:
      return withProps({ cmd: 'auth', reasonCode: p.reasonCode }, p.properties);
  }
}

/** Whether mqtt-packet can generate `p` (it refuses or garbles a few valid packets). */
export function mqttPacketCanGenerate(p: ClientPacket): boolean {
  if (p.type !== PacketType.CONNECT) return true;
  // It wants a user name with a password, a will topic, and a client id without a clean
  // session; and its bridge bit turns level 5 into level 3.
  return (
    (p.password === undefined || p.username !== undefined) &&
    p.will?.topic !== '' &&
    (p.clientId !== '' || p.clean) &&
    !(p.bridge && p.protocolVersion === 5)
  );
}

/**
 * Whether mqtt-packet parses `props` back as they are: it tests a repeated user property by the
 * truth of the value it has, so a name whose first value is '' loses it.
 */
export function mqttPacketCanParse(p: object): boolean {
  const user = (p as { properties?: Properties | undefined }).properties?.userProperties;
  if (user === undefined) return true;
  return Object.values(user).every((v) => !Array.isArray(v) || v[0] !== '');
}

/** Bytes of `p` as mqtt-packet generates them for a client of `v`. */
export function generate(p: Packet, v: number): Buffer {
  return mqttPacket.generate(p, { protocolVersion: v as 4 | 5 });
}

/** Parses whole packets with mqtt-packet (as a client of `v` would); throws on its errors. */
export function parseWithMqttPacket(bytes: Buffer, v: number): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion: v as 4 | 5 });
  const out: Packet[] = [];
  let error: Error | undefined;
  parser.on('packet', (p: Packet) => out.push(p));
  parser.on('error', (e: Error) => {
    error ??= e;
  });
  parser.parse(bytes);
  if (error !== undefined) throw error;
  return out;
}

function ourProperties(p: unknown): Properties | undefined {
  if (p === undefined || p === null) return undefined;
  const out = { ...(p as Loose) } as Properties;
  if (Object.keys(out).length === 0) return undefined;
  if (out.userProperties !== undefined) {
    out.userProperties = Object.assign(Object.create(null) as UserProperties, out.userProperties);
  }
  return out;
}

/** A server packet mqtt-packet parsed, in the shape of test/support/mqtt-peer.ts. */
export function fromMqttServerPacket(m: Packet): ServerPacket {
  const x = m as unknown as Loose;
  switch (m.cmd) {
    case 'connack':
      return {
        type: PacketType.CONNACK,
        sessionPresent: x.sessionPresent as boolean,
        code: (x.reasonCode ?? x.returnCode) as number,
        properties: ourProperties(x.properties),
      };
    case 'publish':
      return {
        type: PacketType.PUBLISH,
        qos: x.qos as number,
        dup: x.dup as boolean,
        retain: x.retain as boolean,
        topic: x.topic as string,
        packetId: (x.messageId as number | undefined) ?? 0,
        payload: Buffer.from(x.payload as Buffer),
        properties: ourProperties(x.properties),
      };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return {
        type: { puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7 }[m.cmd] as 4 | 5 | 6 | 7,
        packetId: x.messageId as number,
        reasonCode: (x.reasonCode as number | undefined) ?? 0,
        properties: ourProperties(x.properties),
      };
    case 'suback':
    case 'unsuback':
      return {
        type: m.cmd === 'suback' ? PacketType.SUBACK : PacketType.UNSUBACK,
        packetId: x.messageId as number,
        codes: [...((x.granted as number[] | undefined) ?? [])],
        properties: ourProperties(x.properties),
      };
    case 'pingresp':
      return { type: PacketType.PINGRESP };
    case 'disconnect':
    case 'auth':
      return {
        type: m.cmd === 'auth' ? PacketType.AUTH : PacketType.DISCONNECT,
        reasonCode: (x.reasonCode as number | undefined) ?? 0,
        properties: ourProperties(x.properties),
      };
    default:
      throw new Error(`not a server packet: ${m.cmd}`);
  }
}

/** A server packet in the shape of test/support/mqtt-peer.ts, as mqtt-packet's generate() takes it. */
export function toMqttServerPacket(p: ServerPacket, v: number): Packet {
  switch (p.type) {
    case PacketType.CONNACK:
      return withProps(
        {
          cmd: 'connack',
          sessionPresent: p.sessionPresent,
          ...(v === 5 ? { reasonCode: p.code } : { returnCode: p.code }),
        },
        p.properties,
      );
    case PacketType.PUBLISH:
      return publishToMqtt(p);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return ackToMqtt(p, v);
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return withProps(
        {
          cmd: p.type === PacketType.SUBACK ? 'suback' : 'unsuback',
          messageId: p.packetId,
          granted: p.codes,
        },
        p.properties,
      );
    case PacketType.PINGRESP:
      return { cmd: 'pingresp' };
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return withProps(
        { cmd: p.type === PacketType.AUTH ? 'auth' : 'disconnect', reasonCode: p.reasonCode },
        p.properties,
      );
  }
}
