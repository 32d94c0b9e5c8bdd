/**
 * MQTT flow control and the MQTT 5 details a high-level client hides: resend with DUP and the
 * same packet id, Receive Maximum towards the client, the client's Maximum Packet Size, topic
 * aliases on the wire, reason strings, Request Response Information, retained expiry, and the
 * resource alarm blocking MQTT publishers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { RawClient } from './mqtt-client.js';

let b: TestBroker;
let port: number;

before(async () => {
  // The payload tests hold a subscriber back for megabytes on purpose: what they check is buffer
  // reuse, so the slow-consumer bound (which would drop QoS 0 deliveries) is set out of the way.
  b = await startTestBroker({}, undefined, { limits: { maxOutboundBytes: 256 * 1024 * 1024 } });
  port = b.server.mqtt!.address.port;
});

after(() => b.close());

async function publish(topic: string, payloads: string[], qos: 0 | 1 | 2 = 1): Promise<void> {
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  for (const p of payloads) await pub.publishAsync(topic, p, { qos });
  await pub.endAsync();
}

test('mqtt flow: an unacknowledged QoS 1 message is resent after reconnect with DUP and the same packet id', async () => {
  const id = uniq('dup');
  const topic = `t/${id}`;
  const props = { sessionExpiryInterval: 60 };
  const { c } = await RawClient.open(port, { clientId: id, properties: props });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as Packet);
  await c.next('suback');
  await publish(topic, ['once']);
  const first = (await c.next('publish')) as IPublishPacket;
  assert.equal(first.dup, false);
  c.close(); // no PUBACK
  const { c: c2 } = await RawClient.open(port, { clientId: id, properties: props });
  const again = (await c2.next('publish')) as IPublishPacket;
  assert.equal(again.payload.toString(), 'once');
  assert.equal(again.dup, true);
  assert.equal(again.messageId, first.messageId);
  c2.send({ cmd: 'puback', messageId: again.messageId! });
  c2.close();
});

test('mqtt flow: the client Receive Maximum bounds unacknowledged deliveries', async () => {
  const topic = `t/${uniq('rm')}`;
  const { c } = await RawClient.open(port, {
    clientId: uniq('rm'),
    clean: true,
    properties: { receiveMaximum: 2 },
  });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as Packet);
  await c.next('suback');
  await publish(
    topic,
    Array.from({ length: 5 }, (_, i) => `m${i}`),
  );
  const a = (await c.next('publish')) as IPublishPacket;
  const b2 = (await c.next('publish')) as IPublishPacket;
  // Five were published and acknowledged to the publisher, yet only two are in flight here.
  await assert.rejects(c.next('publish', 300));
  c.send({ cmd: 'puback', messageId: a.messageId! });
  const third = (await c.next('publish')) as IPublishPacket;
  assert.deepEqual(
    [a, b2, third].map((p) => p.payload.toString()),
    ['m0', 'm1', 'm2'],
  );
  c.close();
});

test("mqtt flow: a message larger than the client's Maximum Packet Size is not sent to it", async () => {
  const topic = `t/${uniq('mps')}`;
  const { c } = await RawClient.open(port, {
    clientId: uniq('mps'),
    clean: true,
    properties: { maximumPacketSize: 200 },
  });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as Packet);
  await c.next('suback');
  await publish(topic, ['x'.repeat(1000), 'small']);
  const got = (await c.next('publish')) as IPublishPacket;
  assert.equal(got.payload.toString(), 'small');
  c.close();
});

test('mqtt flow: a message dropped as too large does not use up a topic alias', async () => {
  const topic = `t/${uniq('alias-drop')}`;
  const { c } = await RawClient.open(port, {
    clientId: uniq('alias-drop'),
    clean: true,
    properties: { topicAliasMaximum: 4, maximumPacketSize: 200 },
  });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] } as Packet);
  await c.next('suback');
  await publish(topic, ['x'.repeat(1000), 'small'], 0);
  const got = (await c.next('publish')) as IPublishPacket;
  assert.equal(got.payload.toString(), 'small');
  // The alias comes with the topic: the dropped message never told the client about it.
  assert.equal(got.topic, topic);
  assert.equal(got.properties?.topicAlias, 1);
  c.close();
});

test('mqtt flow: outbound topic aliases: the topic goes once, then only the alias', async () => {
  const topic = `t/${uniq('alias')}`;
  const { c } = await RawClient.open(port, {
    clientId: uniq('alias'),
    clean: true,
    properties: { topicAliasMaximum: 4 },
  });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] } as Packet);
  await c.next('suback');
  await publish(topic, ['1', '2'], 0);
  const one = (await c.next('publish')) as IPublishPacket;
  const two = (await c.next('publish')) as IPublishPacket;
  assert.equal(one.topic, topic);
  assert.equal(one.properties?.topicAlias, 1);
  assert.equal(two.topic, '');
  assert.equal(two.properties?.topicAlias, 1);
  c.close();
});

test('mqtt flow: non-success acknowledgements carry a reason string; CONNACK answers Request Response Information', async () => {
  const { c, connack } = await RawClient.open(port, {
    clientId: uniq('rs'),
    clean: true,
    properties: { requestResponseInformation: true },
  });
  assert.match(
    String((connack as { properties?: { responseInformation?: string } }).properties?.responseInformation),
    /^reply\//,
  );
  c.send({
    cmd: 'publish',
    topic: `t/${uniq('nobody')}`,
    payload: Buffer.from('x'),
    qos: 1,
    messageId: 3,
    retain: false,
    dup: false,
  });
  const puback = (await c.next('puback')) as { reasonCode?: number; properties?: { reasonString?: string } };
  assert.equal(puback.reasonCode, 0x10);
  assert.equal(puback.properties?.reasonString, 'no matching subscribers');
  c.send({
    cmd: 'subscribe',
    messageId: 4,
    subscriptions: [
      { topic: 'a/#/b', qos: 1 },
      { topic: 'ok/+', qos: 1 },
    ],
  } as Packet);
  const suback = (await c.next('suback')) as { granted: number[]; properties?: { reasonString?: string } };
  assert.deepEqual(suback.granted, [0x8f, 1]);
  assert.match(suback.properties?.reasonString ?? '', /a\/#\/b/);
  c.close();
});

test('mqtt flow: a resource alarm holds MQTT publishers; subscribers go on', async () => {
  const topic = `t/${uniq('alarm')}`;
  const { c: sub } = await RawClient.open(port, { clientId: uniq('alarm-sub'), clean: true });
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] } as Packet);
  await sub.next('suback');
  const { c: pub } = await RawClient.open(port, { clientId: uniq('alarm-pub'), clean: true });
  pub.send({
    cmd: 'publish',
    topic,
    payload: Buffer.from('before'),
    qos: 1,
    messageId: 1,
    retain: false,
    dup: false,
  });
  await pub.next('puback');
  const first = (await sub.next('publish')) as IPublishPacket;
  b.server.broker.setAlarm('disk', true);
  try {
    pub.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('held'),
      qos: 1,
      messageId: 2,
      retain: false,
      dup: false,
    });
    pub.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('held2'),
      qos: 1,
      messageId: 3,
      retain: false,
      dup: false,
    });
    // The subscriber still acknowledges freely while the publisher's second publish waits.
    sub.send({ cmd: 'puback', messageId: first.messageId! });
    await assert.rejects(pub.next('puback', 300));
  } finally {
    b.server.broker.setAlarm('disk', false);
  }
  assert.equal((await pub.next('puback')).messageId !== undefined, true);
  const held = (await sub.next('publish')) as IPublishPacket;
  assert.equal(held.payload.toString(), 'held');
  pub.close();
  sub.close();
});

test('mqtt flow: for its own publishes a client is served only by its subscriptions without No Local', async () => {
  const base = `t/${uniq('nl-mixed')}`;
  const { c } = await RawClient.open(port, { clientId: uniq('nl-mixed'), clean: true });
  c.send({
    cmd: 'subscribe',
    messageId: 1,
    properties: { subscriptionIdentifier: 1 },
    subscriptions: [{ topic: `${base}/#`, qos: 1, nl: true }],
  } as Packet);
  await c.next('suback');
  c.send({
    cmd: 'subscribe',
    messageId: 2,
    properties: { subscriptionIdentifier: 2 },
    subscriptions: [{ topic: `${base}/a`, qos: 0 }],
  } as Packet);
  await c.next('suback');
  c.send({
    cmd: 'publish',
    topic: `${base}/a`,
    payload: Buffer.from('own'),
    qos: 1,
    messageId: 3,
    retain: false,
    dup: false,
  });
  const got = (await c.next('publish')) as IPublishPacket;
  assert.equal(got.payload.toString(), 'own');
  assert.equal(got.qos, 0); // the QoS 1 No Local subscription does not count
  assert.deepEqual([got.properties?.subscriptionIdentifier].flat(), [2]);
  c.close();
});

for (const qos of [0, 1] as const) {
  test(`mqtt flow: large QoS ${qos} payloads keep their bytes while their buffers are reused`, async () => {
    const topic = `t/${uniq('pool')}`;
    const n = 300;
    const size = 40 * 1024;
    const body = (i: number) => Buffer.alloc(size, i % 251);
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    const got: Buffer[] = [];
    const all = new Promise<void>((resolve) =>
      sub.on('message', (_t, payload) => {
        got.push(Buffer.from(payload));
        if (got.length === n) resolve();
      }),
    );
    await sub.subscribeAsync(topic, { qos });
    // Held back for a while, so messages wait in the queue as well as go straight through.
    sub.stream.pause();
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    for (let i = 0; i < n; i++) {
      pub.publish(topic, body(i), { qos });
      if (i === n / 2) sub.stream.resume();
    }
    await pub.endAsync();
    sub.stream.resume();
    await all;
    for (let i = 0; i < n; i++) assert.ok(got[i]!.equals(body(i)), `message ${i} intact`);
    await sub.endAsync();
  });
}

test('mqtt flow: large QoS 0 payloads read by an AMQP consumer are never reused under it', async () => {
  const key = uniq('pool-amqp');
  const n = 200;
  const body = (i: number) => Buffer.alloc(40 * 1024, (i * 7) % 251);
  const conn = await amqp.connect(b.url);
  try {
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', `t.${key}`);
    const got: Buffer[] = [];
    const all = new Promise<void>((resolve) => {
      void ch.consume(
        queue,
        (m) => {
          if (m === null) return;
          got.push(m.content);
          if (got.length === n) resolve();
        },
        { noAck: true },
      );
    });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    for (let i = 0; i < n; i++) pub.publish(`t/${key}`, body(i), { qos: 0 });
    await pub.endAsync();
    await all;
    for (let i = 0; i < n; i++) assert.ok(got[i]!.equals(body(i)), `message ${i} intact`);
  } finally {
    await conn.close();
  }
});

test('mqtt flow: large QoS 1 payloads of a shared group stay intact through a redelivery', async () => {
  const topic = `t/${uniq('pool-q1')}`;
  const n = 40;
  const body = (i: number) => Buffer.alloc(40 * 1024, (i * 13) % 251);
  // A takes messages of the shared group and never acknowledges them, then leaves: they go to B.
  const { c: a } = await RawClient.open(port, { clientId: uniq('pool-a'), clean: true });
  a.send({
    cmd: 'subscribe',
    messageId: 1,
    subscriptions: [{ topic: `$share/g/${topic}`, qos: 1 }],
  } as Packet);
  await a.next('suback');
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  // All of them go to A first: later ones are read while earlier ones wait for A's PUBACK.
  for (let i = 0; i < n; i++) await pub.publishAsync(topic, body(i), { qos: 1 });
  for (let i = 0; i < n; i++) await a.next('publish');
  const b2 = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  const got = new Map<number, Buffer>();
  const all = new Promise<void>((resolve) =>
    b2.on('message', (_t, payload) => {
      got.set(payload[0]!, Buffer.from(payload));
      if (got.size === n) resolve();
    }),
  );
  await b2.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
  a.close(); // its unacknowledged deliveries are redelivered to B
  await all;
  for (let i = 0; i < n; i++) {
    const want = body(i);
    assert.ok(got.get(want[0]!)?.equals(want), `message ${i} intact`);
  }
  await pub.endAsync();
  await b2.endAsync();
});
