import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { serverPacketsByKind, type Version } from '../../../test/support/mqtt-codec-arbitraries.js';
import {
  fromMqttServerPacket,
  generate,
  mqttPacketCanParse,
  parseWithMqttPacket,
  toMqttServerPacket,
} from '../../../test/support/mqtt-packet-shape.js';
import { decodeServerPacket, type ServerPacket } from '../../../test/support/mqtt-peer.js';
import { PacketType } from './constants.js';
import {
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
import type { PublishProperties } from './packets.js';
import { propertiesSize } from './properties.js';

const SEED = 0xc0dec;

/** The broker's bytes for `p`, sent to a client of `v`. */
function encode(p: ServerPacket, v: Version, max = 0): Buffer {
  switch (p.type) {
    case PacketType.CONNACK:
      return encodeConnack(v, p.sessionPresent, p.code, p.properties, max);
    case PacketType.PUBLISH:
      return encodePublish(v, p.topic, p.payload, p.qos, p.packetId, p.retain, p.dup, p.properties);
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return encodeAck(v, p.type, p.packetId, p.reasonCode, p.properties, max);
    case PacketType.SUBACK:
      return encodeSuback(v, p.packetId, p.codes, p.properties, max);
    case PacketType.UNSUBACK:
      return encodeUnsuback(v, p.packetId, p.codes, p.properties, max);
    case PacketType.PINGRESP:
      return PINGRESP;
    case PacketType.DISCONNECT:
      return encodeDisconnect(v, p.reasonCode, p.properties, max);
    case PacketType.AUTH:
      return encodeAuth(p.reasonCode, p.properties, max);
  }
}

for (const v of [4, 5] as const) {
  for (const [kind, arb] of Object.entries(serverPacketsByKind(v))) {
    test(`codec: decode(encode(p)) = p for ${kind} (v${v})`, () => {
      fc.assert(
        fc.property(arb, (p) => assert.deepEqual(decodeServerPacket(encode(p, v), v), p)),
        { seed: SEED, numRuns: 400 },
      );
    });

    test(`codec: the ${kind} we encode parses with mqtt-packet to the same values (v${v})`, () => {
      fc.assert(
        fc.property(arb.filter(mqttPacketCanParse), (p) => {
          const parsed = parseWithMqttPacket(encode(p, v), v);
          assert.equal(parsed.length, 1);
          assert.deepEqual(fromMqttServerPacket(parsed[0]!), p);
        }),
        { seed: SEED, numRuns: 400 },
      );
    });

    test(`codec: the ${kind} we encode has the bytes mqtt-packet generates (v${v})`, () => {
      fc.assert(
        fc.property(
          // The one form we write shorter: a failure acknowledged without properties (the broker
          // always adds a reason string to those).
          arb.filter(
            (p) => !(p.type >= 4 && p.type <= 7 && 'reasonCode' in p && p.reasonCode !== 0 && !p.properties),
          ),
          (p) => assert.deepEqual(encode(p, v), generate(toMqttServerPacket(p, v), v)),
        ),
        { seed: SEED, numRuns: 400 },
      );
    });
  }
}

test("codec: a reason string that would exceed the client's Maximum Packet Size is left out", () => {
  const reasonString = 'x'.repeat(100);
  const userProperties = { k: 'v' };
  // [MQTT-3.4.2-2] and the same rule for every packet with a reason string.
  const big = encodeAck(5, PacketType.PUBACK, 1, 0x80, { reasonString, userProperties });
  assert.ok(big.length > 100);
  assert.deepEqual(
    encodeAck(5, PacketType.PUBACK, 1, 0x80, { reasonString, userProperties }, big.length),
    big,
  );
  assert.deepEqual(
    encodeAck(5, PacketType.PUBACK, 1, 0x80, { reasonString, userProperties }, 50),
    Buffer.from([0x40, 3, 0, 1, 0x80]),
  );
  assert.deepEqual(encodeDisconnect(5, 0x8d, { reasonString }, 20), Buffer.from([0xe0, 2, 0x8d, 0]));
  assert.deepEqual(encodeSuback(5, 2, [0x8f], { reasonString }, 20), Buffer.from([0x90, 4, 0, 2, 0, 0x8f]));
  assert.deepEqual(encodeUnsuback(5, 2, [0x11], { reasonString }, 20), Buffer.from([0xb0, 4, 0, 2, 0, 0x11]));
  // CONNACK keeps what is not a reason string or a user property [MQTT-3.2.2-19] [MQTT-3.2.2-20].
  assert.deepEqual(
    decodeServerPacket(encodeConnack(5, false, 0, { reasonString, topicAliasMaximum: 5 }, 30), 5),
    { type: PacketType.CONNACK, sessionPresent: false, code: 0, properties: { topicAliasMaximum: 5 } },
  );
});

test('codec: publishPacketSize is the length encodePublish writes, at every Remaining Length boundary', () => {
  for (const v of [4, 5] as const) {
    for (const qos of [0, 1]) {
      for (const props of [undefined, { messageExpiryInterval: 9 }] as (PublishProperties | undefined)[]) {
        if (v === 4 && props !== undefined) continue;
        const fixed = 2 + 3 + (qos > 0 ? 2 : 0) + (v === 5 ? 1 + propertiesSize(props) : 0);
        for (const rest of [0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000]) {
          const body = Buffer.alloc(rest - fixed, 7);
          const out = encodePublish(v, 'a/b', body, qos, 9, false, false, props);
          assert.equal(out.length, publishPacketSize(3, body.length, qos, v, propertiesSize(props)));
          assert.deepEqual(
            out,
            generate(
              {
                cmd: 'publish',
                topic: 'a/b',
                payload: body,
                qos: qos as 0 | 1,
                messageId: 9,
                retain: false,
                dup: false,
                ...(props === undefined ? {} : { properties: props }),
              },
              v,
            ),
            `v${v} qos ${qos} remaining length ${rest}`,
          );
        }
      }
    }
  }
});

test('codec: a value that cannot be encoded throws before any byte exists', () => {
  assert.throws(() => encodeAck(5, PacketType.PUBCOMP, -1, 0x92, { reasonString: 'x' }), RangeError);
  assert.throws(() => encodePublish(5, 't', Buffer.alloc(0), 1, 70000, false, false), RangeError);
  assert.throws(
    () => encodeDisconnect(5, 0x80, { nope: 1 } as unknown as { reasonString: string }),
    /no MQTT property 'nope'/,
  );
});
