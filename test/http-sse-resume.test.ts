/**
 * Server-Sent Events resume (docs/http.md): a client that comes back with Last-Event-ID on a
 * durable queue gets exactly what it had not read; the resume window is bounded by sseBuffer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker, uniq } from './helpers.js';
import { eventually, RawSse, range, SseFixture } from './http-sse-client.js';

const fx = new SseFixture();

describe('resume with Last-Event-ID on a durable queue', () => {
  test('a client that read 8 of 20 events and came back gets the other 12 and what follows, once', async () => {
    const q = uniq('sse-durable');
    await fx.ch.assertQueue(q, { durable: true });
    await fx.send(q, range(0, 20), true);
    const first = new RawSse(`${fx.base}/queues/${q}/events`, {}, 8);
    await first.untilEvents(8);
    assert.deepEqual(first.bodies, range(0, 8));
    const ids = first.events.map((e) => e.id);
    assert.ok(
      ids.every((id) => /^\d+$/.test(id!)),
      'persistent messages carry their store ids',
    );
    assert.deepEqual(
      ids.map(Number),
      [...ids.map(Number)].sort((x, y) => x - y),
    );

    const second = new RawSse(`${fx.base}/queues/${q}/events`, { 'last-event-id': ids[7]! });
    await second.untilEvents(12);
    assert.deepEqual(second.bodies, range(8, 20), 'nothing lost, nothing the client had');
    await fx.send(q, range(20, 25), true);
    await second.untilEvents(17);
    assert.deepEqual(second.bodies, range(8, 25));
    assert.equal((await fx.ch.checkQueue(q)).messageCount, 0, 'every message is with the stream');

    // The first client's 8 were acknowledged by its Last-Event-ID; the second stream's own
    // unsettled window goes back to the queue when it closes (its client may come back too).
    second.destroy();
    await eventually(async () => (await fx.ch.checkQueue(q)).consumerCount === 0, 'the stream to close');
    const left: string[] = [];
    for (let m = await fx.ch.get(q, { noAck: true }); m !== false; m = await fx.ch.get(q, { noAck: true })) {
      left.push(m.content.toString());
    }
    assert.deepEqual(left, range(8, 25));
    await fx.ch.deleteQueue(q);
  });

  test('a reconnect that arrives while the old stream is still open takes its place', async () => {
    const q = uniq('sse-takeover');
    await fx.ch.assertQueue(q, { durable: true });
    await fx.send(q, range(0, 10), true);
    const first = new RawSse(`${fx.base}/queues/${q}/events`);
    await first.untilEvents(10);
    const lastSeen = first.events[3]!.id!;
    // The old client stops reading: to the server its connection is still open.
    first.pause();
    const second = new RawSse(`${fx.base}/queues/${q}/events`, { 'last-event-id': lastSeen });
    await second.untilEvents(6);
    assert.deepEqual(second.bodies, range(4, 10));
    first.resume();
    await first.until(() => first.ended, 'the old stream to be ended');
    second.destroy();
    await fx.ch.deleteQueue(q);
  });

  test('an unknown Last-Event-ID, and a non-durable queue, get everything again (at least once)', async () => {
    const q = uniq('sse-unknown');
    await fx.ch.assertQueue(q, { durable: true });
    await fx.send(q, range(0, 3), true);
    const s = new RawSse(`${fx.base}/queues/${q}/events`, { 'last-event-id': '999999999' });
    await s.untilEvents(3);
    assert.deepEqual(s.bodies, range(0, 3));
    s.destroy();

    const t = uniq('sse-transient');
    await fx.ch.assertQueue(t, { durable: false });
    await fx.send(t, range(0, 3));
    const a = new RawSse(`${fx.base}/queues/${t}/events`, {}, 1);
    await a.untilEvents(1);
    assert.equal(a.events[0]!.id, '1', 'a per-stream number');
    await eventually(async () => (await fx.ch.checkQueue(t)).consumerCount === 0, 'the stream to close');
    // At most once: what the first stream was sent is gone, whatever the client read.
    assert.equal((await fx.ch.checkQueue(t)).messageCount, 0);
    const c = new RawSse(`${fx.base}/queues/${t}/events`, { 'last-event-id': '1' });
    await c.until(() => c.status === 200, 'the stream');
    await fx.send(t, ['m3']);
    await c.untilEvents(1);
    assert.deepEqual(c.bodies, ['m3']);
    assert.equal(c.events[0]!.id, '1');
    c.destroy();
    await fx.ch.deleteQueue(q);
    await fx.ch.deleteQueue(t);
  });
});

test('resume window: at most sseBuffer written events stay unsettled; batches pause at sseBuffer', async () => {
  const small = await startTestBroker({}, undefined, { http: { port: 0, sseBuffer: 5 } });
  const c = await amqp.connect(small.url);
  try {
    const sch = await c.createConfirmChannel();
    const q = uniq('sse-window');
    await sch.assertQueue(q, { durable: true });
    for (const m of range(0, 40)) sch.sendToQueue(q, Buffer.from(m), { persistent: true });
    await sch.waitForConfirms();
    const url = `http://127.0.0.1:${small.server.http!.address.port}/api/v1/vhosts/%2F/queues/${q}/events`;
    const s = new RawSse(url);
    await s.untilEvents(40);
    assert.deepEqual(s.bodies, range(0, 40));
    s.destroy();
    await eventually(async () => (await sch.checkQueue(q)).consumerCount === 0, 'the stream to close');
    // The last five were written but not yet settled: they went back to the queue.
    assert.equal((await sch.checkQueue(q)).messageCount, 5);
    const back = new RawSse(url, { 'last-event-id': s.events[37]!.id! });
    await back.untilEvents(2);
    assert.deepEqual(back.bodies, ['m38', 'm39']);
    back.destroy();
  } finally {
    await c.close();
    await small.close();
  }
});
