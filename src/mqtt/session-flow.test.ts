import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../test/support/mqtt-session.js';
import { PacketType, type QoS } from './codec/index.js';
import type { ClientPacket } from './codec/packets.js';

const publish = (
  topic: string,
  payload: string,
  qos: QoS,
  packetId = 0,
  extra: object = {},
): ClientPacket => ({
  type: PacketType.PUBLISH,
  topic,
  payload: Buffer.from(payload),
  qos,
  packetId,
  retain: false,
  dup: false,
  properties: undefined,
  ...extra,
});

const subscribe = (topicFilter: string, qos: QoS, packetId = 1): ClientPacket => ({
  type: PacketType.SUBSCRIBE,
  packetId,
  subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  properties: undefined,
});

for (const v of [4, 5] as const) {
  test(`mqtt session: CONNECT, SUBSCRIBE and PUBLISH at QoS 0 over a duplex pair (v${v})`, async () => {
    const h = harness();
    try {
      const sub = await h.connect(v);
      sub.send(subscribe('a/+', 0));
      const suback = await sub.next(PacketType.SUBACK);
      assert.deepEqual([suback.packetId, suback.codes], [1, [0]]);
      const pub = await h.connect(v);
      pub.send(publish('a/b', 'zero', 0));
      const got = await sub.next(PacketType.PUBLISH);
      assert.deepEqual([got.topic, got.payload.toString(), got.qos, got.packetId], ['a/b', 'zero', 0, 0]);
      // PINGREQ is answered.
      pub.send({ type: PacketType.PINGREQ });
      await pub.next(PacketType.PINGRESP);
    } finally {
      await h.close();
    }
  });

  test(`mqtt session: a QoS 1 round trip: PUBACK to the publisher, a QoS 1 delivery the subscriber acknowledges (v${v})`, async () => {
    const h = harness();
    try {
      const sub = await h.connect(v);
      sub.send(subscribe('q1/#', 1));
      await sub.next(PacketType.SUBACK);
      const pub = await h.connect(v);
      pub.send(publish('q1/x', 'one', 1, 77));
      const puback = await pub.next(PacketType.PUBACK);
      assert.deepEqual([puback.packetId, puback.reasonCode], [77, 0]);
      const got = await sub.next(PacketType.PUBLISH);
      assert.deepEqual([got.payload.toString(), got.qos, got.dup], ['one', 1, false]);
      assert.ok(got.packetId > 0);
      assert.equal(h.fe.connections.size, 2);
      sub.send({ type: PacketType.PUBACK, packetId: got.packetId, reasonCode: 0, properties: undefined });
      await sub.settle();
      // Acknowledged: nothing is redelivered when the subscriber comes back (it was a clean session).
      const queue = h.broker.vhosts.get('/')!.queues;
      assert.equal(
        [...queue.values()].reduce((n, q) => n + q.messageCount, 0),
        0,
      );
    } finally {
      await h.close();
    }
  });

  test(`mqtt session: a QoS 2 round trip both ways: PUBREC, PUBREL, PUBCOMP, delivered exactly once (v${v})`, async () => {
    const h = harness();
    try {
      const sub = await h.connect(v);
      sub.send(subscribe('q2', 2));
      await sub.next(PacketType.SUBACK);
      const pub = await h.connect(v);
      pub.send(publish('q2', 'two', 2, 9));
      assert.equal((await pub.next(PacketType.PUBREC)).packetId, 9);
      // A resend before the PUBREL is acknowledged again, not routed again [MQTT-4.3.3-10].
      pub.send(publish('q2', 'two', 2, 9, { dup: true }));
      assert.equal((await pub.next(PacketType.PUBREC)).packetId, 9);
      pub.send({ type: PacketType.PUBREL, packetId: 9, reasonCode: 0, properties: undefined });
      assert.equal((await pub.next(PacketType.PUBCOMP)).packetId, 9);
      const got = await sub.next(PacketType.PUBLISH);
      assert.deepEqual([got.payload.toString(), got.qos], ['two', 2]);
      sub.send({ type: PacketType.PUBREC, packetId: got.packetId, reasonCode: 0, properties: undefined });
      assert.equal((await sub.next(PacketType.PUBREL)).packetId, got.packetId);
      sub.send({ type: PacketType.PUBCOMP, packetId: got.packetId, reasonCode: 0, properties: undefined });
      await sub.settle();
      assert.equal(sub.received.filter((p) => p.type === PacketType.PUBLISH).length, 0, 'delivered once');
      // A PUBREL for an id the broker does not know still gets its PUBCOMP (v5: 0x92).
      pub.send({ type: PacketType.PUBREL, packetId: 10, reasonCode: 0, properties: undefined });
      const comp = await pub.next(PacketType.PUBCOMP);
      assert.equal(comp.reasonCode, v === 5 ? 0x92 : 0);
    } finally {
      await h.close();
    }
  });
}

test('mqtt session: v5 CONNACK properties, UNSUBSCRIBE codes, a normal DISCONNECT', async () => {
  const h = harness({ topicAliasMaximum: 7 });
  try {
    const c = h.open(5);
    c.send({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 5,
      bridge: false,
      clean: true,
      keepAlive: 0,
      clientId: '',
      will: undefined,
      username: undefined,
      password: undefined,
      properties: { requestResponseInformation: true },
    });
    const ack = await c.next(PacketType.CONNACK);
    assert.equal(ack.code, 0);
    assert.equal(ack.sessionPresent, false);
    const assigned = ack.properties?.assignedClientIdentifier;
    assert.match(assigned ?? '', /^sy-/);
    assert.deepEqual(ack.properties, {
      maximumPacketSize: 64 * 1024 * 1024,
      topicAliasMaximum: 7,
      assignedClientIdentifier: assigned,
      responseInformation: `reply/${assigned}/`,
    });
    c.send(subscribe('u/1', 1));
    await c.next(PacketType.SUBACK);
    c.send({
      type: PacketType.UNSUBSCRIBE,
      packetId: 2,
      topicFilters: ['u/1', 'u/2', 'u/#/x'],
      properties: undefined,
    });
    const unsuback = await c.next(PacketType.UNSUBACK);
    assert.deepEqual(unsuback.codes, [0x00, 0x11, 0x8f]);
    assert.equal(unsuback.properties?.reasonString, 'success; no subscription existed; topic filter invalid');
    c.send({ type: PacketType.DISCONNECT, reasonCode: 0, properties: undefined });
    await c.waitClosed();
    assert.equal(h.fe.connections.size, 0);
  } finally {
    await h.close();
  }
});
