/**
 * One packet of every kind a client sends, with the fields a broker acts on filled in (user
 * properties, wills, binary passwords, QoS 2, large payloads), for codec tests that need fixed
 * inputs: framing splits, mutation fuzz seeds.
 */
import { PacketType } from '../../src/mqtt/codec/constants.js';
import type { ClientPacket, ConnectPacket, UserProperties } from '../../src/mqtt/codec/packets.js';

export type Version = 4 | 5;

const payload = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));

function user(): UserProperties {
  return Object.assign(Object.create(null) as UserProperties, { a: 'b', c: ['d', 'e'] });
}

/** A CONNECT of `v` (and anything else given). */
export function connectPacket(v: Version | 3, extra: Partial<ConnectPacket> = {}): ConnectPacket {
  return {
    type: PacketType.CONNECT,
    protocolName: v === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: v,
    bridge: false,
    clean: true,
    keepAlive: 30,
    clientId: 'codec-test',
    will: undefined,
    username: undefined,
    password: undefined,
    properties: undefined,
    ...extra,
  };
}

/** Every packet kind a client of `v` sends (CONNECT first, twice: plain and with everything). */
export function clientSamples(v: Version): ClientPacket[] {
  const five = v === 5;
  const ok = (type: 4 | 5 | 6 | 7, packetId: number): ClientPacket => ({
    type,
    packetId,
    reasonCode: 0,
    properties: undefined,
  });
  const list: ClientPacket[] = [
    connectPacket(v),
    connectPacket(v, {
      clean: false,
      clientId: 'ü-client',
      username: 'user',
      password: Buffer.from([0xff, 0x00, 0xfe]),
      will: {
        topic: 'will/ü',
        payload: Buffer.from('gone'),
        qos: 1,
        retain: true,
        properties: five ? { willDelayInterval: 5, contentType: 'text/plain' } : undefined,
      },
      properties: five
        ? {
            sessionExpiryInterval: 60,
            receiveMaximum: 10,
            maximumPacketSize: 4096,
            topicAliasMaximum: 5,
            requestResponseInformation: true,
            requestProblemInformation: false,
            userProperties: user(),
          }
        : undefined,
    }),
    {
      type: PacketType.PUBLISH,
      topic: 'a/b',
      payload: Buffer.from('x'),
      qos: 0,
      packetId: 0,
      retain: false,
      dup: false,
      properties: undefined,
    },
    {
      type: PacketType.PUBLISH,
      topic: 'a/ü/€',
      payload: payload(300),
      qos: 1,
      packetId: 7,
      retain: true,
      dup: false,
      properties: undefined,
    },
    {
      type: PacketType.PUBLISH,
      topic: 'q2',
      payload: Buffer.alloc(0),
      qos: 2,
      packetId: 65535,
      retain: false,
      dup: true,
      properties: undefined,
    },
    {
      type: PacketType.PUBLISH,
      topic: 't',
      payload: payload(20_000),
      qos: 1,
      packetId: 1,
      retain: false,
      dup: false,
      properties: undefined,
    },
    ok(PacketType.PUBACK, 7),
    ok(PacketType.PUBREC, 8),
    ok(PacketType.PUBREL, 9),
    ok(PacketType.PUBCOMP, 10),
    {
      type: PacketType.SUBSCRIBE,
      packetId: 11,
      subscriptions: [
        {
          topicFilter: 'a/+/c',
          qos: 1,
          noLocal: five,
          retainAsPublished: five,
          retainHandling: five ? 1 : 0,
        },
        { topicFilter: '#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: '$share/g/x/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
      properties: five ? { subscriptionIdentifier: 42 } : undefined,
    },
    { type: PacketType.UNSUBSCRIBE, packetId: 12, topicFilters: ['a/+/c', '#'], properties: undefined },
    { type: PacketType.PINGREQ },
    { type: PacketType.DISCONNECT, reasonCode: 0, properties: undefined },
  ];
  if (five) {
    list.push(
      {
        type: PacketType.PUBLISH,
        topic: 'props',
        payload: Buffer.from('{}'),
        qos: 1,
        packetId: 3,
        retain: false,
        dup: false,
        properties: {
          payloadFormatIndicator: true,
          messageExpiryInterval: 100,
          topicAlias: 3,
          responseTopic: 'reply/1',
          correlationData: Buffer.from([1, 2, 3]),
          userProperties: user(),
          contentType: 'application/json',
        },
      },
      { type: PacketType.PUBACK, packetId: 7, reasonCode: 0x10, properties: { reasonString: 'nobody' } },
      { type: PacketType.PUBREC, packetId: 8, reasonCode: 0x80, properties: undefined },
      { type: PacketType.PUBREL, packetId: 9, reasonCode: 0x92, properties: undefined },
      { type: PacketType.PUBCOMP, packetId: 10, reasonCode: 0x92, properties: undefined },
      {
        type: PacketType.DISCONNECT,
        reasonCode: 0x04,
        properties: { sessionExpiryInterval: 10, reasonString: 'bye' },
      },
      {
        type: PacketType.AUTH,
        reasonCode: 0x18,
        properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('d') },
      },
    );
  }
  return list;
}

/** `stream` cut at `points` (outside ones and repeats ignored), in order. */
export function cut(stream: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points)].filter((p) => p > 0 && p < stream.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of sorted) {
    out.push(stream.subarray(at, p));
    at = p;
  }
  out.push(stream.subarray(at));
  return out;
}
