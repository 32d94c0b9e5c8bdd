import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness } from '../../test/support/mqtt-session.js';
import { PacketType, type QoS } from './codec/index.js';
import type { ClientPacket, PublishProperties } from './codec/packets.js';

const publish = (topic: string, payload: string, qos: QoS, extra: Partial<ClientPacket> = {}): ClientPacket =>
  ({
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.from(payload),
    qos,
    packetId: qos > 0 ? 1 : 0,
    retain: false,
    dup: false,
    properties: undefined,
    ...extra,
  }) as ClientPacket;

const subscribe = (topicFilter: string, qos: QoS = 0): ClientPacket => ({
  type: PacketType.SUBSCRIBE,
  packetId: 1,
  subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
  properties: undefined,
});

test('mqtt timers: a silent client is disconnected after 1.5 x its keep-alive (v5 0x8D; 3.1.1 closed) [MQTT-3.1.2-22]', async () => {
  const h = harness();
  try {
    const v5 = await h.connect(5, { keepAlive: 10 });
    const v4 = await h.connect(4, { keepAlive: 10 });
    h.clock.advance(15_000); // exactly 1.5 x: still allowed
    await v5.settle();
    assert.equal(v5.closed || v4.closed, false);
    h.clock.advance(1_000);
    const d = await v5.next(PacketType.DISCONNECT);
    assert.equal(d.reasonCode, 0x8d);
    await v5.waitClosed();
    await v4.waitClosed();
    assert.deepEqual(v4.received, [], 'a 3.1.1 client gets no DISCONNECT');
  } finally {
    await h.close();
  }
});

test('mqtt timers: any packet, a PINGREQ too, keeps a connection alive; keep-alive 0 never expires', async () => {
  const h = harness();
  try {
    const pinging = await h.connect(5, { keepAlive: 2 });
    const idle = await h.connect(5, { keepAlive: 0 });
    for (let i = 0; i < 10; i++) {
      pinging.send({ type: PacketType.PINGREQ });
      await pinging.next(PacketType.PINGRESP);
      h.clock.advance(2_500);
    }
    h.clock.advance(3_600_000);
    await idle.settle();
    assert.equal(idle.closed, false);
    assert.equal(pinging.closed, true, 'silent for an hour after its last PINGREQ');
  } finally {
    await h.close();
  }
});

test('mqtt timers: a connection without a CONNECT is closed after connectTimeout, a half CONNECT too', async () => {
  const h = harness({ connectTimeout: 5_000 });
  try {
    const silent = h.open(4);
    const half = h.open(4);
    half.write([0x10, 0x20, 0x00, 0x04]);
    h.clock.advance(5_000);
    await silent.settle();
    assert.equal(silent.closed, false, 'not before the timeout has passed');
    h.clock.advance(1_000);
    await silent.waitClosed();
    await half.waitClosed();
    assert.deepEqual([silent.received, half.received], [[], []]);
  } finally {
    await h.close();
  }
});

test('mqtt timers: a delayed will comes after its delay; a reconnect within it cancels it [MQTT-3.1.3-9]', async () => {
  const h = harness();
  try {
    const watcher = await h.connect(5);
    watcher.send(subscribe('will/#'));
    await watcher.next(PacketType.SUBACK);
    const will = (id: string) => ({
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: {
        topic: `will/${id}`,
        payload: Buffer.from(`${id} gone`),
        qos: 0 as QoS,
        retain: false,
        properties: { willDelayInterval: 5 },
      },
    });
    const a = await h.connect(5, will('a'));
    const b = await h.connect(5, will('b'));
    a.destroy(); // no DISCONNECT: the will stands
    b.destroy();
    await a.settle();
    h.clock.advance(4_000);
    await h.connect(5, will('b')); // b is back in time
    await watcher.settle();
    assert.equal(watcher.received.length, 0, 'no will before its delay');
    h.clock.advance(1_000);
    const got = await watcher.next(PacketType.PUBLISH);
    assert.deepEqual([got.topic, got.payload.toString()], ['will/a', 'a gone']);
    h.clock.advance(60_000);
    await watcher.settle();
    assert.equal(watcher.received.length, 0, "b's will was cancelled");
  } finally {
    await h.close();
  }
});

test('mqtt timers: a session ends when its expiry interval passes offline, and its delayed will goes then', async () => {
  const h = harness();
  try {
    const watcher = await h.connect(5);
    watcher.send(subscribe('will/#'));
    await watcher.next(PacketType.SUBACK);
    const s = await h.connect(5, {
      clientId: 'expiring',
      clean: false,
      properties: { sessionExpiryInterval: 10 },
      will: {
        topic: 'will/x',
        payload: Buffer.from('x'),
        qos: 0,
        retain: false,
        properties: { willDelayInterval: 600 },
      },
    });
    s.send(subscribe('t/1', 1));
    await s.next(PacketType.SUBACK);
    assert.ok(h.broker.vhosts.get('/')!.queues.has('mqtt-session.expiring'));
    s.destroy();
    await s.settle();
    h.clock.advance(9_000);
    assert.notEqual(h.fe.sessions.get('expiring'), undefined);
    h.clock.advance(1_000);
    await watcher.settle();
    assert.equal(h.fe.sessions.get('expiring'), undefined, 'the session ended');
    assert.equal(h.broker.vhosts.get('/')!.queues.has('mqtt-session.expiring'), false, 'its queue went');
    // MQTT 5 section 3.1.3.2.2: a will still delayed is published when the session ends.
    assert.equal((await watcher.next(PacketType.PUBLISH)).topic, 'will/x');
    const again = await h.connect(5, {
      clientId: 'expiring',
      clean: false,
      properties: { sessionExpiryInterval: 10 },
    });
    assert.equal(again.received.length, 0);
  } finally {
    await h.close();
  }
});

test('mqtt timers: message expiry: an expired retained message is not sent; a queued one carries what is left', async () => {
  const h = harness();
  try {
    const pub = await h.connect(5);
    const expiring = (topic: string, seconds: number, extra: Partial<ClientPacket> = {}) =>
      publish(topic, topic, 1, {
        properties: { messageExpiryInterval: seconds } satisfies PublishProperties,
        ...extra,
      } as Partial<ClientPacket>);
    pub.send(expiring('r/short', 1, { retain: true }));
    await pub.next(PacketType.PUBACK);
    pub.send(expiring('r/long', 100, { retain: true }));
    await pub.next(PacketType.PUBACK);
    // An offline persistent session gets a message that waits in its queue.
    const offline = await h.connect(5, {
      clientId: 'later',
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    offline.send(subscribe('q/1', 1));
    await offline.next(PacketType.SUBACK);
    offline.destroy();
    await offline.settle();
    pub.send(expiring('q/1', 10));
    await pub.next(PacketType.PUBACK);
    h.clock.advance(4_000);
    const sub = await h.connect(5);
    sub.send(subscribe('r/+', 1));
    await sub.next(PacketType.SUBACK);
    const retained = await sub.next(PacketType.PUBLISH);
    assert.deepEqual([retained.topic, retained.retain], ['r/long', true]);
    assert.equal(retained.properties?.messageExpiryInterval, 96, 'the interval left [MQTT-3.3.2-6]');
    await sub.settle();
    assert.equal(sub.received.length, 0, 'the expired one is not sent');
    const back = await h.connect(5, {
      clientId: 'later',
      clean: false,
      properties: { sessionExpiryInterval: 600 },
    });
    const queued = await back.next(PacketType.PUBLISH);
    assert.deepEqual([queued.topic, queued.properties?.messageExpiryInterval], ['q/1', 6]);
  } finally {
    await h.close();
  }
});
