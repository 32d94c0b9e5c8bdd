/**
 * Server-Sent Events (docs/http.md) over a real listener: EventSource subscribers of a queue and
 * of an exchange receive AMQP- and MQTT-published messages in order, with ids; a client that
 * stops reading stalls no one else; a client that goes away takes its consumer with it; and a
 * fuzz of random requests. Resume is in http-sse-resume.test.ts; heartbeats and the settling of
 * the resume window, on a ManualClock, in src/http/sse/stream.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import amqp from 'amqplib';
import { EventSource } from 'eventsource';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { uniq } from './helpers.js';
import { eventually, inbox, opened, RawSse, SseFixture, TP } from './http-sse-client.js';

const fx = new SseFixture();

describe('EventSource', () => {
  test('on a queue: AMQP and MQTT publishes in order, with ids, trace context on top', async () => {
    const q = uniq('sse-q');
    await fx.ch.assertQueue(q, { durable: false });
    await fx.ch.bindQueue(q, 'amq.topic', `${q}.#`);
    const es = new EventSource(`${fx.base}/queues/${q}/events`);
    const box = inbox(es);
    await opened(es);
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${fx.b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      fx.pub.sendToQueue(q, Buffer.from('amqp-1'), { headers: { traceparent: TP } });
      await fx.pub.waitForConfirms();
      await m.publishAsync(`${q}/room1/temp`, 'mqtt-2', { qos: 1 });
      fx.pub.publish('amq.topic', `${q}.x`, Buffer.from('amqp-3'));
      await fx.pub.waitForConfirms();
      await m.publishAsync(`${q}/y`, Buffer.from([0xff, 0xfe]), { qos: 1 });
      const got = await box.until(4);
      const data = got.map((e) => JSON.parse(e.data as string) as Record<string, unknown>);
      assert.deepEqual(
        data.map((d) => d.body),
        ['amqp-1', 'mqtt-2', 'amqp-3', '//4='],
      );
      assert.deepEqual(
        got.map((e) => e.lastEventId),
        ['1', '2', '3', '4'],
      );
      assert.deepEqual(
        data.map((d) => d.id),
        ['1', '2', '3', '4'],
      );
      assert.equal(data[0]!.traceparent, TP);
      assert.equal(data[1]!.routingKey, `${q}.room1.temp`);
      assert.equal(data[1]!.exchange, 'amq.topic');
      assert.equal(data[3]!.bodyEncoding, 'base64');
      assert.equal(data[0]!.queue, q);
    } finally {
      es.close();
      await m.endAsync();
    }
  });

  test('on an exchange with a binding key: only matching AMQP and MQTT publishes', async () => {
    const key = uniq('sensors').replace(/[^a-z0-9]/g, '');
    const es = new EventSource(`${fx.base}/exchanges/amq.topic/events?key=${key}.*.temp`);
    const box = inbox(es);
    await opened(es);
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${fx.b.server.mqtt!.address.port}`, {
      reconnectPeriod: 0,
    });
    try {
      await m.publishAsync(`${key}/a/temp`, '21.5', { qos: 1 });
      await m.publishAsync(`${key}/a/humidity`, '40', { qos: 1 });
      fx.pub.publish('amq.topic', `${key}.b.temp`, Buffer.from('19.0'), { headers: { traceparent: TP } });
      await fx.pub.waitForConfirms();
      await m.publishAsync(`${key}/c/temp`, '18.0', { qos: 0 });
      const got = await box.until(3);
      const data = got.map((e) => JSON.parse(e.data as string) as Record<string, unknown>);
      assert.deepEqual(
        data.map((d) => [d.routingKey, d.body]),
        [
          [`${key}.a.temp`, '21.5'],
          [`${key}.b.temp`, '19.0'],
          [`${key}.c.temp`, '18.0'],
        ],
      );
      assert.deepEqual(
        got.map((e) => e.lastEventId),
        ['1', '2', '3'],
      );
      assert.equal(data[1]!.traceparent, TP);
    } finally {
      es.close();
      await m.endAsync();
    }
  });
});

describe('stream behaviour', () => {
  test('a client that stops reading stalls neither the publisher nor other consumers', async () => {
    const x = uniq('sse-fan');
    const slowQ = uniq('sse-slow');
    const fastQ = uniq('sse-fast');
    await fx.ch.assertExchange(x, 'fanout', { durable: false, autoDelete: false });
    for (const q of [slowQ, fastQ]) {
      await fx.ch.assertQueue(q, { durable: false });
      await fx.ch.bindQueue(q, x, '');
    }
    const slow = new RawSse(`${fx.base}/queues/${slowQ}/events`);
    await slow.until(() => slow.status === 200, 'the stream');
    slow.pause();
    const fastConn = await amqp.connect(fx.b.url);
    const fast = await fastConn.createChannel();
    const N = 4000;
    let fastGot = 0;
    const allFast = new Promise<void>((resolve) => {
      void fast.consume(
        fastQ,
        () => {
          if (++fastGot === N) resolve();
        },
        { noAck: true },
      );
    });
    const body = Buffer.alloc(8192, 'a');
    for (let i = 0; i < N; i++) fx.pub.publish(x, '', body);
    await fx.pub.waitForConfirms();
    await allFast;
    const stuck = (await fx.ch.checkQueue(slowQ)).messageCount;
    assert.ok(stuck > 0, 'the slow subscriber stopped taking messages: they wait in its queue');

    // A competing consumer on the slow stream's queue gets what the stream does not take.
    let competing = 0;
    void fast.consume(slowQ, () => competing++, { noAck: true });
    await eventually(async () => (await fx.ch.checkQueue(slowQ)).messageCount === 0, 'the queue to drain');
    assert.ok(competing > 0);
    // And the slow client, reading again, gets the rest of what it was sent.
    slow.resume();
    await slow.until(() => slow.events.length + competing === N, 'the slow client to catch up');
    assert.equal(slow.events.length + competing, N);
    slow.destroy();
    await fastConn.close();
    await fx.ch.deleteExchange(x);
  });

  test('a client that goes away takes its consumer (and an exchange stream its queue) with it', async () => {
    const q = uniq('sse-gone');
    await fx.ch.assertQueue(q, { durable: false });
    const es = new EventSource(`${fx.base}/queues/${q}/events`);
    await opened(es);
    assert.equal((await fx.ch.checkQueue(q)).consumerCount, 1);
    es.close();
    await eventually(async () => (await fx.ch.checkQueue(q)).consumerCount === 0, 'the consumer to go');

    const vhost = fx.b.server.broker.vhosts.get('/')!;
    const queuesBefore = new Set(vhost.queues.keys());
    const conns = fx.b.server.broker.connections.size;
    const xs = new EventSource(`${fx.base}/exchanges/amq.fanout/events`);
    await opened(xs);
    const made = [...vhost.queues.keys()].filter((n) => !queuesBefore.has(n));
    assert.equal(made.length, 1);
    assert.match(made[0]!, /^amq\.gen-/);
    xs.close();
    await eventually(() => !vhost.queues.has(made[0]!), 'the server-named queue to go');
    await eventually(() => fx.b.server.broker.connections.size === conns, 'the core connection to close');
  });

  test('a deleted queue ends its stream with an error event', async () => {
    const q = uniq('sse-deleted');
    await fx.ch.assertQueue(q, { durable: false });
    const s = new RawSse(`${fx.base}/queues/${q}/events`);
    await s.until(() => s.status === 200, 'the stream');
    await fx.ch.deleteQueue(q);
    await s.until(() => s.ended, 'the end of the stream');
    const err = s.events.find((e) => e.event === 'error');
    assert.equal((JSON.parse(err!.data) as { code: string }).code, 'NOT_FOUND');
  });
});

test('fuzz: random methods, paths and headers never crash the server and always get JSON or a stream', async () => {
  const q = uniq('fuzz');
  await fx.ch.assertQueue(q, { durable: true });
  const conns = fx.b.server.broker.connections.size;
  const root = `http://127.0.0.1:${fx.port}`;
  const seg = fc.constantFrom(
    'vhosts',
    '%2F',
    '%2f',
    'nope',
    '%ZZ',
    '%E0%A4%A',
    'queues',
    'exchanges',
    q,
    'amq.default',
    'amq.topic',
    '',
    '..',
    'publish',
    'events',
    'messages',
    'ack',
    '%00',
  );
  const path = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(seg, seg, seg, seg, seg).map((p) => `/api/v1/${p.join('/')}`) },
    { weight: 1, arbitrary: fc.array(seg, { maxLength: 7 }).map((p) => `/api/v1/${p.join('/')}`) },
  );
  const query = fc.constantFrom(
    '',
    `?routingKey=${q}`,
    '?count=3&ack=manual',
    '?count=-1',
    '?ack=auto&count=1000',
    '?mandatory=true',
    '?mandatory=x',
    '?key=%23',
    '?%%',
  );
  const byteString = fc
    .array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })), {
      maxLength: 24,
    })
    .map((a) => String.fromCharCode(...a).trim());
  const headerName = fc.constantFrom(
    'authorization',
    'content-type',
    'x-priority',
    'x-persistent',
    'x-expiration',
    'x-timestamp',
    'x-header-a',
    'x-routing-key',
    'traceparent',
    'last-event-id',
  );
  const headerValue = fc.oneof(
    byteString,
    fc.constantFrom(
      'Basic Z3Vlc3Q6Z3Vlc3Q=',
      'Basic Z3Vlc3Q6d3Jvbmc=',
      'Basic',
      'application/vnd.switchyard.message+json',
      'true',
      '7',
      '1',
    ),
  );
  const body = fc.oneof(
    fc.constant(undefined),
    byteString,
    fc.json(),
    fc.constantFrom('{"ids":["x-1"]}', '{"body":"x","properties":{"priority":1}}', '{"body":1}'),
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  );
  let requests = 0;
  /** Manual gets that took messages: each holds its core connection until its lease ends. */
  let leases = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      path,
      query,
      fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
      body,
      async (method, p, qs, headers, payload) => {
        requests++;
        const abort = new AbortController();
        const withBody = method !== 'GET' && method !== 'HEAD' && payload !== undefined;
        const r = await fetch(`${root}${p}${qs}`, {
          method,
          headers,
          signal: abort.signal,
          ...(withBody ? { body: payload } : {}),
        });
        const type = r.headers.get('content-type') ?? '';
        if (type.startsWith('text/event-stream')) {
          assert.equal(r.status, 200);
          abort.abort();
          return;
        }
        if (method === 'HEAD') {
          await r.body?.cancel();
          return;
        }
        assert.match(type, /^application\/json/, `${method} ${p}${qs} → ${r.status} ${type}`);
        const j = (await r.json()) as Record<string, unknown>;
        if (r.status >= 400) {
          assert.equal(typeof j.code, 'string');
          assert.equal(typeof j.message, 'string');
        } else {
          assert.equal(r.status, 200);
          if (Array.isArray(j) && j.length > 0 && typeof j[0].id === 'string') leases++;
        }
      },
    ),
    { numRuns: 2500 },
  );
  assert.ok(requests >= 2000);
  // The server is fine: a normal request works, and every request's core connection is gone
  // (streams aborted by the client close asynchronously; manual gets hold theirs until acked).
  const ok = await fetch(`${fx.base}/queues/${q}/messages?count=1`, { method: 'POST' });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  await eventually(
    () => fx.b.server.broker.connections.size === conns + leases,
    'request connections to close',
  );
});
