/**
 * The native WebSocket protocol end to end with the `ws` client: publishes and their confirms,
 * subscriptions to queues and exchanges, acks, nacks, credit and unsubscribe.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { uniq } from './helpers.js';
import { type ClientOptions, WsFixture } from './ws-client.js';

const fx = new WsFixture();
const open = (opts?: ClientOptions) => fx.open(opts);
const declareQueue = (name?: string, durable?: boolean) => fx.declareQueue(name, durable);
const depth = (queue: string) => fx.depth(queue);

describe('ws: publish', () => {
  test('ws: a publish with an id is confirmed with the number of queues it reached', async () => {
    const q1 = declareQueue();
    const q2 = declareQueue();
    const key = uniq('two');
    void fx.admin.bindQueue(q1, 'amq.direct', key, {});
    void fx.admin.bindQueue(q2, 'amq.direct', key, {});
    const c = await open();
    const r = await c.publish({ exchange: 'amq.direct', routingKey: key, body: 'x' });
    assert.equal(r.op, 'confirm');
    assert.equal(r.routed, 2);
    assert.equal(depth(q1), 1);
    assert.equal(depth(q2), 1);
    const none = await c.publish({ exchange: 'amq.direct', routingKey: uniq('nobody'), body: 'x' });
    assert.deepEqual([none.op, none.routed], ['confirm', 0]);
  });

  test('ws: a persistent message into a durable queue is confirmed (after the store flush)', async () => {
    const q = declareQueue(uniq('durable'), true);
    const c = await open();
    const r = await c.publish({ routingKey: q, body: 'kept', properties: { deliveryMode: 2 } });
    assert.deepEqual([r.op, r.routed], ['confirm', 1]);
    assert.equal(depth(q), 1);
    fx.admin.deleteQueue(q, false, false);
  });

  test('ws: a publish without an id gets no confirm, but its errors are still reported', async () => {
    const q = declareQueue();
    const c = await open();
    c.send({ op: 'publish', routingKey: q, body: 'fire and forget' });
    await c.sync();
    assert.deepEqual(c.pending({ op: 'confirm' }), []);
    assert.equal(depth(q), 1);
    c.send({ op: 'publish', exchange: uniq('missing'), body: 'x' });
    const err = await c.next({ op: 'error' });
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(err.request, 'publish');
    assert.equal('id' in err, false);
  });

  test('ws: mandatory and unroutable is NO_ROUTE (404)', async () => {
    const c = await open();
    const r = await c.publish({
      exchange: 'amq.direct',
      routingKey: uniq('nobody'),
      body: 'x',
      mandatory: true,
    });
    assert.deepEqual([r.op, r.code, r.status], ['error', 'NO_ROUTE', 404]);
  });
});

describe('ws: subscriptions', () => {
  test('ws: subscribe to a queue with auto ack: deliveries in order, the queue empties', async () => {
    const q = declareQueue();
    const c = await open();
    assert.deepEqual(await c.subscribe({ sub: 's1', queue: q }), { op: 'subscribed', sub: 's1', queue: q });
    for (let i = 0; i < 3; i++) await c.publish({ routingKey: q, body: `m${i}` });
    const got = await c.deliveries('s1', 3);
    assert.deepEqual(
      got.map((d) => [d.id, d.redelivered, d.queue, d.exchange, d.routingKey, d.body, d.bodyEncoding]),
      [0, 1, 2].map((i) => [i + 1, false, q, '', q, `m${i}`, 'utf8']),
    );
    assert.equal(depth(q), 0);
  });

  test('ws: subscribe to an exchange with a binding key gets only matching messages', async () => {
    const c = await open();
    const key = uniq('sensors');
    const r = await c.subscribe({ sub: 'x', exchange: 'amq.topic', key: `${key}.#` });
    assert.equal(r.op, 'subscribed');
    assert.match(String(r.queue), /^amq\.gen-/);
    await c.publish({ exchange: 'amq.topic', routingKey: `${key}.a.temp`, body: 'hit' });
    await c.publish({ exchange: 'amq.topic', routingKey: `other.${key}`, body: 'miss' });
    await c.sync();
    const d = await c.next({ op: 'deliver', sub: 'x' });
    assert.equal(d.routingKey, `${key}.a.temp`);
    assert.equal(d.body, 'hit');
    assert.deepEqual(c.pending({ op: 'deliver' }), []);
  });

  test('ws: manual ack, nack with requeue (redelivered), nack without requeue, ack multiple', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'm', queue: q, ack: 'manual' });
    await c.publish({ routingKey: q, body: 'a' });
    await c.publish({ routingKey: q, body: 'b' });
    const [a, bb] = await c.deliveries('m', 2);
    c.send({ op: 'ack', sub: 'm', id: a!.id });
    c.send({ op: 'nack', sub: 'm', id: bb!.id, requeue: true });
    const again = await c.next({ op: 'deliver', sub: 'm' });
    assert.deepEqual([again.body, again.redelivered], ['b', true]);
    c.send({ op: 'nack', sub: 'm', id: again.id, requeue: false });
    await c.sync();
    assert.equal(depth(q), 0);
    for (let i = 0; i < 3; i++) await c.publish({ routingKey: q, body: `n${i}` });
    const three = await c.deliveries('m', 3);
    c.send({ op: 'ack', sub: 'm', id: three[2]!.id, multiple: true });
    c.send({ op: 'unsubscribe', sub: 'm' });
    await c.next({ op: 'unsubscribed', sub: 'm' });
    assert.equal(depth(q), 0, 'acked with multiple, nothing went back');
  });

  test('ws: prefetch bounds unsettled deliveries of a manual-ack subscription', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'p', queue: q, ack: 'manual', prefetch: 2 });
    for (let i = 0; i < 4; i++) await c.publish({ routingKey: q, body: `m${i}` });
    await c.sync();
    assert.equal(c.pending({ op: 'deliver' }).length, 2);
    const [first] = await c.deliveries('p', 2);
    c.send({ op: 'ack', sub: 'p', id: first!.id });
    assert.equal((await c.next({ op: 'deliver', sub: 'p' })).body, 'm2');
  });

  test('ws: credit gives exactly N deliveries, then more after a credit frame', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'c', queue: q, credit: 2 });
    for (let i = 0; i < 6; i++) await c.publish({ routingKey: q, body: `m${i}` });
    await c.sync();
    assert.deepEqual(
      c.pending({ op: 'deliver' }).map((d) => d.body),
      ['m0', 'm1'],
    );
    assert.equal(depth(q), 4);
    c.send({ op: 'credit', sub: 'c', n: 3 });
    await c.sync();
    assert.deepEqual(
      c.pending({ op: 'deliver' }).map((d) => d.body),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
    assert.equal(depth(q), 1);
  });

  test('ws: credit 0 delivers nothing until credit is granted', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'z', queue: q, credit: 0 });
    await c.publish({ routingKey: q, body: 'wait' });
    await c.sync();
    assert.deepEqual(c.pending({ op: 'deliver' }), []);
    c.send({ op: 'credit', sub: 'z', n: 1 });
    assert.equal((await c.next({ op: 'deliver', sub: 'z' })).body, 'wait');
  });

  test('ws: unsubscribe stops deliveries and returns unsettled ones to the queue', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'u', queue: q, ack: 'manual' });
    await c.publish({ routingKey: q, body: 'held' });
    await c.next({ op: 'deliver', sub: 'u' });
    c.send({ op: 'unsubscribe', sub: 'u' });
    assert.deepEqual(await c.next({ op: 'unsubscribed' }), { op: 'unsubscribed', sub: 'u' });
    assert.equal(depth(q), 1);
    await c.publish({ routingKey: q, body: 'later' });
    await c.sync();
    assert.deepEqual(c.pending({ op: 'deliver' }), []);
    assert.equal(depth(q), 2);
  });

  test('ws: a queue deleted under a subscription sends cancelled; the name is free again', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'k', queue: q });
    fx.admin.deleteQueue(q, false, false);
    const f = await c.next({ op: 'cancelled' });
    assert.equal(f.sub, 'k');
    assert.match(String(f.reason), new RegExp(q));
    c.send({ op: 'credit', sub: 'k', n: 1 });
    assert.equal((await c.next({ op: 'error', sub: 'k' })).code, 'SYNTAX_ERROR');
    const q2 = declareQueue();
    assert.equal((await c.subscribe({ sub: 'k', queue: q2 })).op, 'subscribed');
  });

  test('ws: closing the WebSocket returns unsettled deliveries to the queue', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'h', queue: q, ack: 'manual' });
    await c.publish({ routingKey: q, body: 'back' });
    await c.next({ op: 'deliver' });
    await c.close();
    const c2 = await open();
    await c2.subscribe({ sub: 'h', queue: q, ack: 'manual' });
    const d = await c2.next({ op: 'deliver' });
    assert.deepEqual([d.body, d.redelivered], ['back', true]);
  });
});
