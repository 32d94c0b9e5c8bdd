import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clientPacketsByKind, type Version } from '../../../test/support/mqtt-codec-arbitraries.js';
import { generate, mqttPacketCanGenerate, toMqttPacket } from '../../../test/support/mqtt-packet-shape.js';
import { encodeClientPacket } from '../../../test/support/mqtt-peer.js';
import { PacketType } from './constants.js';
import { decodePacket } from './decode.js';
import type { ClientPacket } from './packets.js';
import { PayloadPool } from './payload-pool.js';

const SEED = 0xc0dec;
const POOL = new PayloadPool(false);

const decode = (b: Buffer, v: Version, owned = false) => decodePacket(b, v, owned, POOL);

for (const v of [4, 5] as const) {
  for (const [kind, arb] of Object.entries(clientPacketsByKind(v))) {
    test(`codec: decode(encode(p)) = p for ${kind} (v${v})`, () => {
      fc.assert(
        fc.property(arb, (p) => {
          const wire = encodeClientPacket(p, p.type === PacketType.CONNECT ? p.protocolVersion : v);
          assert.deepEqual(decode(wire, v), p);
          // A view of a chunk the producer reuses and the reader's own copy decode alike.
          assert.deepEqual(decode(Buffer.from(wire), v, true), p);
        }),
        { seed: SEED, numRuns: 400 },
      );
    });

    test(`codec: what mqtt-packet generates for ${kind} decodes to the same values (v${v})`, () => {
      fc.assert(
        fc.property(
          arb.filter((p) => mqttPacketCanGenerate(p)),
          (p) => {
            const theirs = generate(
              toMqttPacket(p, v),
              p.type === PacketType.CONNECT ? p.protocolVersion : v,
            );
            assert.deepEqual(decode(theirs, v), p);
          },
        ),
        { seed: SEED, numRuns: 400 },
      );
    });
  }
}

test('codec: a 3.1 CONNECT (MQIsdp, level 3) and a bridge CONNECT (level 0x84) decode', () => {
  const base: ClientPacket = {
    type: PacketType.CONNECT,
    protocolName: 'MQIsdp',
    protocolVersion: 3,
    bridge: false,
    clean: true,
    keepAlive: 60,
    clientId: 'old',
    will: undefined,
    username: undefined,
    password: undefined,
    properties: undefined,
  };
  assert.deepEqual(decode(encodeClientPacket(base, 3), 4), base);
  const bridge = { ...base, protocolName: 'MQTT', protocolVersion: 4 as const, bridge: true };
  assert.deepEqual(decode(encodeClientPacket(bridge, 4), 4), bridge);
  assert.equal(generate(toMqttPacket(bridge, 4), 4)[8], 0x84, 'mqtt-packet writes the bridge bit too');
});

test('codec: a PUBLISH decoded from a reusable chunk keeps its payload when the chunk changes', () => {
  const p: ClientPacket = {
    type: PacketType.PUBLISH,
    qos: 1,
    dup: false,
    retain: false,
    topic: 't',
    packetId: 9,
    payload: Buffer.from('payload'),
    properties: { correlationData: Buffer.from('cd') },
  };
  const wire = encodeClientPacket(p, 5);
  const got = decode(wire, 5);
  wire.fill(0);
  assert.deepEqual(got, p);
});

test('codec: the common packets take the short forms: v5 PUBLISH without properties, 2-byte acks', () => {
  // Property Length 0 [MQTT-2.2.2-1].
  const pub = decode(Buffer.from([0x30, 5, 0, 1, 0x61, 0, 0x78]), 5);
  assert.deepEqual(pub, {
    type: PacketType.PUBLISH,
    qos: 0,
    dup: false,
    retain: false,
    topic: 'a',
    packetId: 0,
    payload: Buffer.from('x'),
    properties: undefined,
  });
  // MQTT 5 section 3.4.2.1: no Reason Code means success.
  for (const v of [4, 5] as const) {
    assert.deepEqual(decode(Buffer.from([0x40, 2, 1, 2]), v), {
      type: PacketType.PUBACK,
      packetId: 0x102,
      reasonCode: 0,
      properties: undefined,
    });
  }
  // Reason Code without a Property Length (Remaining Length 3).
  assert.deepEqual(decode(Buffer.from([0x62, 3, 0, 7, 0x92]), 5), {
    type: PacketType.PUBREL,
    packetId: 7,
    reasonCode: 0x92,
    properties: undefined,
  });
  // DISCONNECT and AUTH with a Remaining Length of 0: reason 0.
  assert.deepEqual(decode(Buffer.from([0xe0, 0]), 5), {
    type: PacketType.DISCONNECT,
    reasonCode: 0,
    properties: undefined,
  });
  assert.deepEqual(decode(Buffer.from([0xf0, 0]), 5), {
    type: PacketType.AUTH,
    reasonCode: 0,
    properties: undefined,
  });
});
