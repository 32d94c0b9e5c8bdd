/**
 * fast-check generators for MQTT packets in the codec's shape (src/mqtt/codec/packets.ts): every
 * packet a client sends, and the properties of what the broker sends, for 3.1.1 (4) and 5.
 * Values are valid by construction; absent properties are `undefined` (never `{}`), as decoding
 * gives them.
 */
import fc from 'fast-check';
import { PacketType } from '../../src/mqtt/codec/constants.js';
import type {
  AckProperties,
  ClientPacket,
  ConnackProperties,
  Properties,
  PublishProperties,
  QoS,
  UserProperties,
} from '../../src/mqtt/codec/packets.js';

export type Version = 4 | 5;

/** fc.record, with ordinary objects (decoded packets have Object's prototype). */
function rec<T extends Record<string, fc.Arbitrary<unknown>>>(
  fields: T,
): fc.Arbitrary<{ [K in keyof T]: T[K] extends fc.Arbitrary<infer U> ? U : never }> {
  return fc.record(fields, { noNullPrototype: true }) as unknown as fc.Arbitrary<{
    [K in keyof T]: T[K] extends fc.Arbitrary<infer U> ? U : never;
  }>;
}

export const utf8 = (max = 20): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength: max });
export const bytes = (max = 20): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u16nz = fc.integer({ min: 1, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u32nz = fc.integer({ min: 1, max: 0xffffffff });
const varint = fc.integer({ min: 1, max: 268_435_455 });
export const packetId = fc.integer({ min: 1, max: 0xffff });
export const qos = fc.constantFrom<QoS>(0, 1, 2);

/** User properties: a name seen twice keeps both values (an array of two or more). */
export const userProperties: fc.Arbitrary<UserProperties> = fc
  .array(fc.tuple(utf8(6), fc.oneof(utf8(6), fc.array(utf8(4), { minLength: 2, maxLength: 3 }))), {
    minLength: 1,
    maxLength: 4,
  })
  .map((entries) => {
    const out = Object.create(null) as UserProperties;
    for (const [k, v] of entries) out[k] = v;
    return out;
  });

/** A properties object with some of `fields`, or undefined when none was picked. */
function props<T extends Properties>(
  fields: { [K in keyof T]: fc.Arbitrary<T[K]> },
): fc.Arbitrary<T | undefined> {
  return fc
    .record(fields as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: [], noNullPrototype: true })
    .map((r) => (Object.keys(r).length === 0 ? undefined : (r as unknown as T)));
}

export const publishProperties = (towardsClient: boolean): fc.Arbitrary<PublishProperties | undefined> =>
  props<PublishProperties>({
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: u32,
    topicAlias: u16nz,
    responseTopic: utf8(),
    correlationData: bytes(),
    userProperties,
    contentType: utf8(),
    ...(towardsClient
      ? { subscriptionIdentifier: fc.oneof(varint, fc.array(varint, { minLength: 2, maxLength: 3 })) }
      : {}),
  });

export const ackProperties: fc.Arbitrary<AckProperties | undefined> = props<AckProperties>({
  reasonString: utf8(),
  userProperties,
});

export const connackProperties: fc.Arbitrary<ConnackProperties | undefined> = props<ConnackProperties>({
  sessionExpiryInterval: u32,
  receiveMaximum: u16nz,
  maximumQoS: fc.constantFrom(0, 1),
  retainAvailable: fc.boolean(),
  maximumPacketSize: u32nz,
  assignedClientIdentifier: utf8(),
  topicAliasMaximum: u16,
  reasonString: utf8(),
  userProperties,
  wildcardSubscriptionAvailable: fc.boolean(),
  subscriptionIdentifiersAvailable: fc.boolean(),
  sharedSubscriptionAvailable: fc.boolean(),
  serverKeepAlive: u16,
  responseInformation: utf8(),
  serverReference: utf8(),
  authenticationMethod: utf8(),
  authenticationData: bytes(),
});

function connect(v: Version): fc.Arbitrary<ClientPacket> {
  const five = v === 5;
  const will = rec({
    topic: utf8(),
    payload: bytes(40),
    qos,
    retain: fc.boolean(),
    properties: five
      ? props({
          willDelayInterval: u32,
          payloadFormatIndicator: fc.boolean(),
          messageExpiryInterval: u32,
          contentType: utf8(),
          responseTopic: utf8(),
          correlationData: bytes(),
          userProperties,
        })
      : fc.constant(undefined),
  });
  return fc
    .record({
      bridge: fc.boolean(),
      clean: fc.boolean(),
      keepAlive: u16,
      clientId: utf8(23),
      will: fc.option(will, { nil: undefined }),
      username: fc.option(utf8(), { nil: undefined }),
      password: fc.option(bytes(), { nil: undefined }),
      properties: five
        ? props({
            sessionExpiryInterval: u32,
            receiveMaximum: u16nz,
            maximumPacketSize: u32nz,
            topicAliasMaximum: u16,
            requestResponseInformation: fc.boolean(),
            requestProblemInformation: fc.boolean(),
            userProperties,
            authenticationMethod: utf8(),
          })
        : fc.constant(undefined),
    })
    .map((r) => ({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: v,
      ...r,
      // 3.1.1 [MQTT-3.1.2-22]: a password needs a user name.
      password: !five && r.username === undefined ? undefined : r.password,
    }));
}

function publish(v: Version): fc.Arbitrary<ClientPacket> {
  return fc
    .record({
      qos,
      dup: fc.boolean(),
      retain: fc.boolean(),
      topic: utf8(40),
      packetId,
      payload: bytes(300),
      properties: v === 5 ? publishProperties(false) : fc.constant(undefined),
    })
    .map((r) => ({ type: PacketType.PUBLISH, ...r, packetId: r.qos === 0 ? 0 : r.packetId }));
}

/** Reason codes a client may send, by acknowledgement. */
const ACK_REASONS = {
  [PacketType.PUBACK]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.PUBREC]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.PUBREL]: [0x00, 0x92],
  [PacketType.PUBCOMP]: [0x00, 0x92],
} as const;

function ack(v: Version): fc.Arbitrary<ClientPacket> {
  return fc
    .constantFrom(PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP)
    .chain((type) =>
      rec({
        type: fc.constant(type),
        packetId,
        reasonCode: v === 5 ? fc.constantFrom(...ACK_REASONS[type]) : fc.constant(0),
        properties: v === 5 ? ackProperties : fc.constant(undefined),
      }),
    );
}

function subscribe(v: Version): fc.Arbitrary<ClientPacket> {
  const five = v === 5;
  return fc
    .record({
      packetId,
      subscriptions: fc.array(
        rec({
          topicFilter: utf8(30),
          qos,
          noLocal: five ? fc.boolean() : fc.constant(false),
          retainAsPublished: five ? fc.boolean() : fc.constant(false),
          retainHandling: five ? fc.constantFrom<0 | 1 | 2>(0, 1, 2) : fc.constant<0>(0),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      properties: five ? props({ subscriptionIdentifier: varint, userProperties }) : fc.constant(undefined),
    })
    .map((r) => ({ type: PacketType.SUBSCRIBE, ...r }));
}

function unsubscribe(v: Version): fc.Arbitrary<ClientPacket> {
  return fc
    .record({
      packetId,
      topicFilters: fc.array(utf8(30), { minLength: 1, maxLength: 4 }),
      properties: v === 5 ? props({ userProperties }) : fc.constant(undefined),
    })
    .map((r) => ({ type: PacketType.UNSUBSCRIBE, ...r }));
}

const DISCONNECT_REASONS = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x8b, 0x90, 0x93, 0x95, 0x99];

function disconnect(v: Version): fc.Arbitrary<ClientPacket> {
  if (v !== 5) return fc.constant({ type: PacketType.DISCONNECT, reasonCode: 0, properties: undefined });
  return rec({
    type: fc.constant(PacketType.DISCONNECT),
    reasonCode: fc.constantFrom(...DISCONNECT_REASONS),
    properties: props({
      sessionExpiryInterval: u32,
      reasonString: utf8(),
      userProperties,
      serverReference: utf8(),
    }),
  });
}

const auth: fc.Arbitrary<ClientPacket> = rec({
  type: fc.constant(PacketType.AUTH),
  reasonCode: fc.constantFrom(0x00, 0x18, 0x19),
  properties: props({
    authenticationMethod: utf8(),
    authenticationData: bytes(),
    reasonString: utf8(),
    userProperties,
  }),
});

/** Packets of one kind a client of `v` sends, by kind (for a test per kind). */
export function clientPacketsByKind(v: Version): Record<string, fc.Arbitrary<ClientPacket>> {
  const out: Record<string, fc.Arbitrary<ClientPacket>> = {
    CONNECT: connect(v),
    PUBLISH: publish(v),
    'PUBACK/PUBREC/PUBREL/PUBCOMP': ack(v),
    SUBSCRIBE: subscribe(v),
    UNSUBSCRIBE: unsubscribe(v),
    PINGREQ: fc.constant({ type: PacketType.PINGREQ }),
    DISCONNECT: disconnect(v),
  };
  if (v === 5) out.AUTH = auth;
  return out;
}

/** Any packet a client of `v` sends after its CONNECT. */
export function clientPacket(v: Version): fc.Arbitrary<ClientPacket> {
  const { CONNECT: _connect, ...rest } = clientPacketsByKind(v);
  return fc.oneof(...Object.values(rest));
}

// ---- what the broker sends ----------------------------------------------------------------------

/** A packet the broker sends, in the shape test/support/mqtt-peer.ts decodes to. */
export type ServerPacketArb = fc.Arbitrary<import('./mqtt-peer.js').ServerPacket>;

const SUBACK_CODES = {
  4: [0, 1, 2, 0x80],
  5: [0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
};
const UNSUBACK_CODES = [0, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
const CONNACK_CODES = {
  4: [0, 1, 2, 3, 4, 5],
  5: [
    0, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a,
  ],
};
const SERVER_DISCONNECT_CODES = [
  0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94,
];

/** Packets of one kind the broker sends to a client of `v`, by kind. */
export function serverPacketsByKind(v: Version): Record<string, ServerPacketArb> {
  const five = v === 5;
  const out: Record<string, ServerPacketArb> = {
    CONNACK: rec({
      type: fc.constant(PacketType.CONNACK),
      sessionPresent: fc.boolean(),
      code: fc.constantFrom(...CONNACK_CODES[v]),
      properties: five ? connackProperties : fc.constant(undefined),
    }),
    PUBLISH: rec({
      type: fc.constant(PacketType.PUBLISH),
      qos,
      dup: fc.boolean(),
      retain: fc.boolean(),
      topic: utf8(40),
      packetId,
      payload: bytes(300),
      properties: five ? publishProperties(true) : fc.constant(undefined),
    }).map((r) => ({ ...r, packetId: r.qos === 0 ? 0 : r.packetId })),
    'PUBACK/PUBREC/PUBREL/PUBCOMP': ack(v) as ServerPacketArb,
    SUBACK: rec({
      type: fc.constant(PacketType.SUBACK),
      packetId,
      codes: fc.array(fc.constantFrom(...SUBACK_CODES[v]), { minLength: 1, maxLength: 5 }),
      properties: five ? ackProperties : fc.constant(undefined),
    }),
    UNSUBACK: rec({
      type: fc.constant(PacketType.UNSUBACK),
      packetId,
      codes: five
        ? fc.array(fc.constantFrom(...UNSUBACK_CODES), { minLength: 1, maxLength: 5 })
        : fc.constant<number[]>([]),
      properties: five ? ackProperties : fc.constant(undefined),
    }),
    PINGRESP: fc.constant({ type: PacketType.PINGRESP }),
  };
  if (five) {
    out.DISCONNECT = rec({
      type: fc.constant(PacketType.DISCONNECT),
      reasonCode: fc.constantFrom(...SERVER_DISCONNECT_CODES),
      properties: props({ reasonString: utf8(), userProperties, serverReference: utf8() }),
    });
    out.AUTH = auth as ServerPacketArb;
  }
  return out;
}
