import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../test/support/mqtt-session.js';
import { connectPacket } from '../../test/support/mqtt-samples.js';
import { PacketType } from './codec/index.js';
import type { ClientPacket } from './codec/packets.js';

const publish = (topic: string, extra: Partial<ClientPacket> = {}): ClientPacket =>
  ({
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.from('p'),
    qos: 0,
    packetId: 0,
    retain: false,
    dup: false,
    properties: undefined,
    ...extra,
  }) as ClientPacket;

test('mqtt session errors: each protocol error ends the connection with its reason (v5 DISCONNECT)', async () => {
  const h = harness({ receiveMaximum: 2, maxPacketSize: 1024 });
  const cases: [string, number, (c: Awaited<ReturnType<typeof h.connect>>) => void][] = [
    ['a second CONNECT [MQTT-3.1.0-2]', 0x82, (c) => c.send(connectPacket(5))],
    ['reserved flags [MQTT-2.1.3-1]', 0x81, (c) => c.write([0x41, 2, 0, 1])],
    ['a packet over the maximum packet size', 0x95, (c) => c.write([0x30, 0x80, 0x10])],
    ['a wildcard in a topic name [MQTT-3.3.2-2]', 0x90, (c) => c.send(publish('a/+'))],
    ['topic alias 0 [MQTT-3.3.2-8]', 0x94, (c) => c.send(publish('t', { properties: { topicAlias: 0 } }))],
    ['an alias that was never set', 0x82, (c) => c.send(publish('', { properties: { topicAlias: 3 } }))],
    [
      'a QoS 0 payload that is not the UTF-8 its format indicator says',
      0x99,
      (c) =>
        c.send(publish('t', { payload: Buffer.from([0xff]), properties: { payloadFormatIndicator: true } })),
    ],
    [
      'more unreleased QoS 2 publishes than Receive Maximum [MQTT-3.3.4-7]',
      0x93,
      (c) => {
        for (let id = 1; id <= 3; id++) c.send(publish('t', { qos: 2, packetId: id }));
      },
    ],
    [
      'AUTH without an authentication method',
      0x82,
      (c) => c.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: undefined }),
    ],
    ['packet identifier 0 [MQTT-2.2.1-3]', 0x82, (c) => c.write([0x32, 5, 0, 1, 0x74, 0, 0])],
  ];
  try {
    for (const [what, reason, act] of cases) {
      const c = await h.connect(5);
      act(c);
      const d = await c.next(PacketType.DISCONNECT).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
      assert.equal(
        d.reasonCode,
        reason,
        `${what}: 0x${d.reasonCode.toString(16)} ${d.properties?.reasonString}`,
      );
      assert.ok((d.properties?.reasonString ?? '').length > 0, `${what}: a reason string`);
      await c.waitClosed();
    }
    // A 3.1.1 client has no DISCONNECT from the server: the connection just closes.
    const v4 = await h.connect(4);
    v4.send(publish('a/#'));
    await v4.waitClosed();
    assert.deepEqual(v4.received, []);
  } finally {
    await h.close();
  }
});

test('mqtt session errors: before CONNECT: another packet closes silently; an unknown version gets CONNACK 1', async () => {
  const h = harness();
  try {
    const early = h.open(5);
    early.send({ type: PacketType.PINGREQ });
    await early.waitClosed();
    assert.deepEqual(early.received, []);
    const future = h.open(4);
    const bytes = Buffer.from([0x10, 10, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 0]); // level 6
    future.write(bytes);
    const ack = await future.next(PacketType.CONNACK);
    // [MQTT-3.1.2-2]: 3.1.1's answer (the client's version is not known): return code 1.
    assert.deepEqual([ack.sessionPresent, ack.code], [false, 1]);
    await future.waitClosed();
  } finally {
    await h.close();
  }
});

test('mqtt session errors: refused CONNECTs carry the catalogue code (v5 reason, 3.1.1 return code)', async () => {
  const h = harness();
  try {
    const refusals: [number, Parameters<typeof connectPacket>[1], number][] = [
      [5, { username: 'guest', password: Buffer.from('nope') }, 0x86],
      [4, { username: 'guest', password: Buffer.from('nope') }, 4],
      [5, { properties: { authenticationMethod: 'SCRAM-SHA-1' } }, 0x8c],
      [5, { clientId: '', clean: false }, 0x85],
      [4, { clientId: '', clean: false }, 2],
      [
        5,
        { will: { topic: 'w/#', payload: Buffer.alloc(0), qos: 0, retain: false, properties: undefined } },
        0x90,
      ],
    ];
    for (const [v, extra, code] of refusals) {
      const c = h.open(v as 4 | 5);
      c.send(connectPacket(v as 4 | 5, { clientId: 'refused', ...extra }));
      const ack = await c.next(PacketType.CONNACK);
      assert.deepEqual([ack.code, ack.sessionPresent], [code, false], JSON.stringify(extra));
      if (v === 5) assert.ok((ack.properties?.reasonString ?? '').length > 0);
      await c.waitClosed();
    }
    assert.equal(h.fe.sessions.get('refused'), undefined, 'a refused CONNECT leaves no session');
  } finally {
    await h.close();
  }
});

test('mqtt session errors: a second connection with the same client id takes the session over (0x8E)', async () => {
  const h = harness();
  try {
    const first = await h.connect(5, { clientId: 'same' });
    const second = await h.connect(5, { clientId: 'same' });
    const d = await first.next(PacketType.DISCONNECT);
    assert.equal(d.reasonCode, 0x8e);
    await first.waitClosed();
    assert.equal(second.closed, false);
  } finally {
    await h.close();
  }
});
