/**
 * MQTT flow control and the MQTT 5 details a high-level client hides: resend with DUP and the
 * same packet id, Receive Maximum towards the client, the client's Maximum Packet Size, topic
 * aliases on the wire, reason strings, Request Response Information, retained expiry, and the
 * resource alarm blocking MQTT publishers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { RawClient } from './mqtt-client.js';

let b: TestBroker;
let port: number;

before(async () => {
  b = await startTestBroker();
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

test('mqtt flow: an expired retained message is not delivered to a new subscriber', async () => {
  const base = uniq('retexp');
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
  await pub.publishAsync(`${base}/short`, 'gone', {
    qos: 1,
    retain: true,
    properties: { messageExpiryInterval: 1 },
  });
  await pub.publishAsync(`${base}/long`, 'kept', {
    qos: 1,
    retain: true,
    properties: { messageExpiryInterval: 100 },
  });
  await pub.endAsync();
  await new Promise((r) => setTimeout(r, 1100).unref());
  const { c } = await RawClient.open(port, { clientId: uniq('retexp'), clean: true });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/+`, qos: 1 }] } as Packet);
  await c.next('suback');
  const got = (await c.next('publish')) as IPublishPacket;
  assert.equal(got.payload.toString(), 'kept');
  assert.equal(got.retain, true);
  await assert.rejects(c.next('publish', 300));
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
