/**
 * The native WebSocket protocol end to end: flow control (credit, the outgoing high-water mark)
 * and messages crossing to and from amqplib and MQTT.js.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import amqplib from 'amqplib';
import mqtt from 'mqtt';
import { uniq } from './helpers.js';
import { binaryPublish, type ClientOptions, TRACEPARENT, WsFixture } from './ws-client.js';

const fx = new WsFixture();
const open = (opts?: ClientOptions) => fx.open(opts);
const declareQueue = (name?: string, durable?: boolean) => fx.declareQueue(name, durable);
const depth = (queue: string) => fx.depth(queue);

describe('ws: flow control', () => {
  test('ws: a consumer with no credit does not stall a consumer of another queue', async () => {
    const slowQ = declareQueue();
    const fastQ = declareQueue();
    const slow = await open();
    const fast = await open();
    const pub = await open();
    await slow.subscribe({ sub: 's', queue: slowQ, credit: 0 });
    await fast.subscribe({ sub: 'f', queue: fastQ });
    for (let i = 0; i < 100; i++) {
      pub.send({ op: 'publish', routingKey: slowQ, body: `s${i}` });
      pub.send({ op: 'publish', routingKey: fastQ, body: `f${i}` });
    }
    await pub.sync();
    const got = await fast.deliveries('f', 100);
    assert.deepEqual(
      got.map((d) => d.body),
      Array.from({ length: 100 }, (_, i) => `f${i}`),
    );
    await slow.sync();
    assert.deepEqual(slow.pending({ op: 'deliver' }), []);
    assert.equal(depth(slowQ), 100);
  });

  test('ws: a consumer that stops reading is paused at the high-water mark; others keep receiving, nothing is lost', async () => {
    const slowQ = declareQueue();
    const fastQ = declareQueue();
    const slow = await open();
    const fast = await open();
    const pub = await open();
    await slow.subscribe({ sub: 's', queue: slowQ, binary: true });
    await fast.subscribe({ sub: 'f', queue: fastQ });
    slow.ws.pause(); // stops reading its socket: the TCP window closes, the server's buffer fills
    const N = 600;
    const body = randomBytes(64 * 1024);
    for (let i = 0; i < N; i++) {
      body.writeUInt32BE(i, 0);
      pub.ws.send(binaryPublish({ routingKey: slowQ }, body));
      pub.send({ op: 'publish', routingKey: fastQ, body: `f${i}` });
    }
    await pub.sync();
    const got = await fast.deliveries('f', N);
    assert.equal(got.at(-1)!.body, `f${N - 1}`);
    // 38 MiB were published for the slow consumer; only its bounded socket buffer (and the
    // kernel's) holds any of it: the rest waits in the queue.
    assert.ok(depth(slowQ) > 0, `queue depth ${depth(slowQ)}`);
    slow.ws.resume();
    const all = await slow.deliveries('s', N);
    assert.deepEqual(
      all.map((d) => (d.raw as Buffer).readUInt32BE(0)),
      Array.from({ length: N }, (_, i) => i),
    );
    assert.equal(depth(slowQ), 0);
  });
});

describe('ws: across protocols', () => {
  test('ws: amqplib publish → WebSocket subscriber: properties, headers, traceparent at the top level', async () => {
    const c = await open();
    const key = uniq('from-amqp');
    await c.subscribe({ sub: 'a', exchange: 'amq.topic', key });
    const conn = await amqplib.connect(fx.b.url);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('amq.topic', key, Buffer.from('hello from amqp'), {
        contentType: 'text/plain',
        contentEncoding: 'identity',
        correlationId: 'corr-1',
        replyTo: 'replies',
        expiration: '60000',
        messageId: 'mid-1',
        timestamp: 1_700_000_000,
        type: 'greeting',
        appId: 'tests',
        priority: 3,
        persistent: true,
        headers: { n: 42, s: 'text', traceparent: TRACEPARENT },
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const d = await c.next({ op: 'deliver', sub: 'a' });
    assert.equal(d.body, 'hello from amqp');
    assert.equal(d.traceparent, TRACEPARENT);
    assert.deepEqual(d.properties, {
      contentType: 'text/plain',
      contentEncoding: 'identity',
      headers: { n: 42, s: 'text', traceparent: TRACEPARENT },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'corr-1',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'mid-1',
      timestamp: 1_700_000_000,
      type: 'greeting',
      appId: 'tests',
    });
  });

  test('ws: WebSocket publish → amqplib consumer: properties, headers, traceparent header', async () => {
    const conn = await amqplib.connect(fx.b.url);
    try {
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const key = uniq('to-amqp');
      await ch.bindQueue(queue, 'amq.topic', key);
      const got = new Promise<amqplib.ConsumeMessage>((resolve) => {
        void ch.consume(queue, (m) => m !== null && resolve(m), { noAck: true });
      });
      const c = await open();
      const body = Buffer.from([0, 1, 2, 0xff]);
      const r = await c.publish({
        exchange: 'amq.topic',
        routingKey: key,
        body: body.toString('base64'),
        bodyEncoding: 'base64',
        properties: {
          contentType: 'application/octet-stream',
          correlationId: 'c-9',
          replyTo: 'rq',
          messageId: 'm-9',
          deliveryMode: 2,
          priority: 7,
          timestamp: 1_700_000_123,
          type: 't',
          appId: 'ws-test',
          expiration: '60000',
          headers: { kind: 'sample', n: 5 },
        },
        traceparent: TRACEPARENT,
      });
      assert.equal(r.op, 'confirm');
      const m = await got;
      assert.deepEqual(m.content, body);
      const p = m.properties;
      assert.equal(p.contentType, 'application/octet-stream');
      assert.equal(p.correlationId, 'c-9');
      assert.equal(p.replyTo, 'rq');
      assert.equal(p.messageId, 'm-9');
      assert.equal(p.deliveryMode, 2);
      assert.equal(p.priority, 7);
      assert.equal(p.timestamp, 1_700_000_123);
      assert.equal(p.type, 't');
      assert.equal(p.appId, 'ws-test');
      assert.equal(p.expiration, '60000');
      assert.deepEqual(p.headers, { kind: 'sample', n: 5, traceparent: TRACEPARENT });
    } finally {
      await conn.close();
    }
  });

  test('ws: MQTT.js (v5) publish on a/b → WebSocket subscriber on amq.topic key a.b', async () => {
    const c = await open();
    const level = uniq('lvl').replaceAll('-', '_');
    await c.subscribe({ sub: 'm', exchange: 'amq.topic', key: `${level}.b` });
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${fx.b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      await m.publishAsync(`${level}/b`, 'from mqtt', {
        qos: 1,
        properties: { contentType: 'text/plain', userProperties: { traceparent: TRACEPARENT, x: 'y' } },
      });
    } finally {
      await m.endAsync();
    }
    const d = await c.next({ op: 'deliver', sub: 'm' });
    assert.equal(d.body, 'from mqtt');
    assert.equal(d.routingKey, `${level}.b`);
    assert.equal(d.traceparent, TRACEPARENT);
    const p = d.properties as { contentType?: string; headers?: Record<string, unknown> };
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.headers?.x, 'y');
  });
});
