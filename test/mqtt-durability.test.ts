/**
 * MQTT state that must survive a broker restart: persistent sessions with their queued QoS 1
 * messages, retained messages, and both sides of QoS 2 (inbound packet ids awaiting PUBREL,
 * outbound ones awaiting PUBCOMP), plus session expiry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp from 'amqplib';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { tempDir } from './support/temp.js';
import { RawClient } from './mqtt-client.js';

function mqttUrl(b: TestBroker): string {
  return `mqtt://127.0.0.1:${b.server.mqtt!.address.port}`;
}

async function withRestart(fn: (restart: () => Promise<TestBroker>, first: TestBroker) => Promise<void>) {
  const dir = tempDir('switchyard-mqtt-');
  let b = await startTestBroker({}, dir);
  try {
    await fn(async () => {
      await b.close();
      b = await startTestBroker({}, dir);
      return b;
    }, b);
  } finally {
    await b.close();
  }
}

function waitMessages(c: MqttClient, n: number, ms = 5000): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${got.length} of ${n} messages`)), ms);
    c.on('message', (_topic, payload) => {
      got.push(payload.toString());
      if (got.length === n) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

for (const protocolVersion of [4, 5] as const) {
  test(`mqtt durability: a persistent session (v${protocolVersion}) keeps its QoS 1 messages across a restart`, async () => {
    await withRestart(async (restart, first) => {
      const id = uniq('restart');
      const topic = `t/${id}`;
      const opts: IClientOptions = {
        protocolVersion,
        clientId: id,
        clean: false,
        reconnectPeriod: 0,
        ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      };
      const sub = await mqtt.connectAsync(mqttUrl(first), opts);
      await sub.subscribeAsync(topic, { qos: 1 });
      await sub.endAsync();
      const pub = await mqtt.connectAsync(mqttUrl(first), { protocolVersion, reconnectPeriod: 0 });
      for (let i = 0; i < 50; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
      await pub.endAsync();
      const b = await restart();
      const back = mqtt.connect(mqttUrl(b), opts);
      const got = waitMessages(back, 50);
      const connack = await new Promise<{ sessionPresent: boolean }>((r) =>
        back.once('connect', (p) => r(p as { sessionPresent: boolean })),
      );
      assert.equal(connack.sessionPresent, true);
      assert.deepEqual(
        await got,
        Array.from({ length: 50 }, (_, i) => `m${i}`),
      );
      // And the subscription itself survived: a new publish arrives.
      const more = waitMessages(back, 1);
      const pub2 = await mqtt.connectAsync(mqttUrl(b), { protocolVersion, reconnectPeriod: 0 });
      await pub2.publishAsync(topic, 'after', { qos: 1 });
      assert.deepEqual(await more, ['after']);
      await pub2.endAsync();
      await back.endAsync();
    });
  });
}

test('mqtt durability: retained messages survive a restart', async () => {
  await withRestart(async (restart, first) => {
    const topic = `t/${uniq('retained')}/x`;
    const pub = await mqtt.connectAsync(mqttUrl(first), { reconnectPeriod: 0 });
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
    await pub.endAsync();
    const b = await restart();
    const sub = await mqtt.connectAsync(mqttUrl(b), { reconnectPeriod: 0 });
    const got = waitMessages(sub, 1);
    await sub.subscribeAsync(topic.replace(/\/x$/, '/+'), { qos: 1 });
    assert.deepEqual(await got, ['kept']);
    await sub.endAsync();
  });
});

test('mqtt durability: inbound QoS 2 packet-id state survives a restart (a resend is not routed twice)', async () => {
  await withRestart(async (restart, first) => {
    const id = uniq('qos2in');
    const topic = `t/${id}`;
    const queue = uniq('q2');
    const conn = await amqp.connect(first.url);
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, 'amq.topic', `t.${id}`);
    await conn.close();
    const props = { sessionExpiryInterval: 3600 };
    const { c } = await RawClient.open(first.server.mqtt!.address.port, { clientId: id, properties: props });
    c.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('once'),
      qos: 2,
      messageId: 7,
      retain: false,
      dup: false,
    });
    const pubrec = await c.next('pubrec');
    assert.equal(pubrec.messageId, 7);
    c.close();
    const b = await restart();
    const { c: c2, connack } = await RawClient.open(b.server.mqtt!.address.port, {
      clientId: id,
      properties: props,
    });
    assert.equal((connack as { sessionPresent: boolean }).sessionPresent, true);
    // The client never saw the PUBREC (as far as it knows): it resends, then releases.
    c2.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('once'),
      qos: 2,
      messageId: 7,
      retain: false,
      dup: true,
    });
    assert.equal((await c2.next('pubrec')).messageId, 7);
    c2.send({ cmd: 'pubrel', messageId: 7 });
    const pubcomp = await c2.next('pubcomp');
    assert.equal(pubcomp.messageId, 7);
    assert.equal((pubcomp as { reasonCode?: number }).reasonCode ?? 0, 0);
    c2.close();
    const conn2 = await amqp.connect(b.url);
    const ch2 = await conn2.createChannel();
    const { messageCount } = await ch2.checkQueue(queue);
    assert.equal(messageCount, 1);
    await ch2.deleteQueue(queue);
    await conn2.close();
  });
});

test('mqtt durability: outbound QoS 2 PUBREL state survives a restart (PUBREL is resent, not the message)', async () => {
  await withRestart(async (restart, first) => {
    const id = uniq('qos2out');
    const topic = `t/${id}`;
    const props = { sessionExpiryInterval: 3600 };
    const port1 = first.server.mqtt!.address.port;
    const { c } = await RawClient.open(port1, { clientId: id, properties: props });
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] } as Packet);
    await c.next('suback');
    const pub = await mqtt.connectAsync(mqttUrl(first), { reconnectPeriod: 0 });
    await pub.publishAsync(topic, 'exactly-once', { qos: 2 });
    await pub.endAsync();
    const delivered = (await c.next('publish')) as IPublishPacket;
    assert.equal(delivered.qos, 2);
    c.send({ cmd: 'pubrec', messageId: delivered.messageId! });
    const pubrel = await c.next('pubrel');
    assert.equal(pubrel.messageId, delivered.messageId);
    c.close(); // no PUBCOMP
    const b = await restart();
    const { c: c2 } = await RawClient.open(b.server.mqtt!.address.port, { clientId: id, properties: props });
    const again = await c2.next('pubrel');
    assert.equal(again.messageId, delivered.messageId);
    c2.send({ cmd: 'pubcomp', messageId: delivered.messageId! });
    // The message itself must not come again: a later publish is the next thing delivered.
    const pub2 = await mqtt.connectAsync(mqttUrl(b), { reconnectPeriod: 0 });
    await pub2.publishAsync(topic, 'next', { qos: 1 });
    await pub2.endAsync();
    const nextOne = (await c2.next('publish')) as IPublishPacket;
    assert.equal(nextOne.payload.toString(), 'next');
    c2.close();
  });
});

test('mqtt durability: MQTT queues no stored session accounts for are removed at restart', async () => {
  await withRestart(async (restart, first) => {
    // What a kill -9 can leave: the queues of clean sessions' shared subscriptions (durable, as
    // persistent members need) and of sessions whose record is gone. Made here through AMQP.
    const orphans = [`mqtt-share.g/t/${uniq('orphan')}`, `mqtt-session.${uniq('orphan')}`];
    const keep = uniq('not-mqtt');
    const conn = await amqp.connect(first.url);
    const ch = await conn.createChannel();
    for (const q of [...orphans, keep]) await ch.assertQueue(q, { durable: true });
    await conn.close();
    const b = await restart();
    const queues = b.server.broker.vhosts.get('/')!.queues;
    for (const q of orphans) assert.equal(queues.has(q), false, q);
    assert.equal(queues.has(keep), true);
  });
});

test('mqtt durability: PUBACK, PUBREC and PUBCOMP wait for the flush of what they acknowledge', async () => {
  const b = await startTestBroker();
  try {
    const port = b.server.mqtt!.address.port;
    const topic = `t/${uniq('flush')}`;
    // A persistent session's queue is durable: QoS 1/2 publishes to it are written to the log.
    const sub = await mqtt.connectAsync(mqttUrl(b), {
      protocolVersion: 5,
      clientId: uniq('flush-sub'),
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      reconnectPeriod: 0,
    });
    await sub.subscribeAsync(topic, { qos: 1 });
    // Hold every flush notification until the test lets it go.
    const store = b.server.broker.store!;
    const whenDurable = store.whenDurable.bind(store);
    let held: (() => void)[] = [];
    let holding = true;
    store.whenDurable = (epoch, cb) => {
      if (holding) held.push(() => whenDurable(epoch, cb));
      else whenDurable(epoch, cb);
    };
    const release = () => {
      const h = held;
      held = [];
      for (const f of h) f();
    };
    const { c } = await RawClient.open(port, { clientId: uniq('flush-pub'), clean: true });
    c.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('q1'),
      qos: 1,
      messageId: 1,
      retain: false,
      dup: false,
    });
    await assert.rejects(c.next('puback', 300), /no puback/);
    release();
    assert.equal((await c.next('puback')).messageId, 1);
    c.send({
      cmd: 'publish',
      topic,
      payload: Buffer.from('q2'),
      qos: 2,
      messageId: 2,
      retain: false,
      dup: false,
    });
    await assert.rejects(c.next('pubrec', 300), /no pubrec/);
    release();
    assert.equal((await c.next('pubrec')).messageId, 2);
    holding = false;
    c.send({ cmd: 'pubrel', messageId: 2 });
    assert.equal((await c.next('pubcomp')).messageId, 2);
    c.close();
    await sub.endAsync();
  } finally {
    await b.close();
  }
});
