import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Outbox } from './outbox.js';

function flow() {
  const events: string[] = [];
  return { events, full: () => events.push('full'), drained: () => events.push('drained') };
}

test('outbox: full at the high-water mark, drained at half of it', async () => {
  const f = flow();
  const o = new Outbox<number>(4, Number.POSITIVE_INFINITY, f);
  for (let i = 0; i < 4; i++) o.push(i);
  assert.deepEqual(f.events, ['full']);
  assert.equal(o.full, true);
  o.push(4); // still taken: the producer may be mid-batch
  assert.equal(o.length, 5);
  assert.deepEqual(await o.next(), { done: false, value: 0 });
  assert.deepEqual(await o.next(), { done: false, value: 1 });
  assert.deepEqual(f.events, ['full']);
  assert.deepEqual(await o.next(), { done: false, value: 2 });
  assert.deepEqual(f.events, ['full', 'drained']);
  assert.equal(o.full, false);
});

test('outbox: full at the byte mark too, drained when both counts are at half', async () => {
  const f = flow();
  const o = new Outbox<string>(100, 1000, f);
  o.push('a', 600);
  o.push('b', 600);
  assert.deepEqual(f.events, ['full']);
  await o.next();
  assert.deepEqual(f.events, ['full'], '600 bytes left: still above half');
  o.push('c', 0);
  await o.next();
  assert.deepEqual(f.events, ['full', 'drained']);
});

test('outbox: a waiting reader gets the next push directly', async () => {
  const o = new Outbox<string>(2, Number.POSITIVE_INFINITY, flow());
  const p = o.next();
  o.push('a');
  assert.deepEqual(await p, { done: false, value: 'a' });
  assert.equal(o.length, 0);
});

test('outbox: end() finishes after what is queued; later pushes are dropped', async () => {
  const o = new Outbox<number>(8, Number.POSITIVE_INFINITY, flow());
  o.push(1);
  o.end();
  o.push(2);
  const got: number[] = [];
  for await (const v of o) got.push(v);
  assert.deepEqual(got, [1]);
});

test('outbox: fail() rejects after what is queued, also a waiting reader', async () => {
  const o = new Outbox<number>(8, Number.POSITIVE_INFINITY, flow());
  o.push(1);
  o.fail(new Error('gone'));
  assert.deepEqual(await o.next(), { done: false, value: 1 });
  await assert.rejects(o.next(), /gone/);
  const w = new Outbox<number>(8, Number.POSITIVE_INFINITY, flow());
  const p = w.next();
  w.fail(new Error('late'));
  await assert.rejects(p, /late/);
});

test('outbox: abort() drops what is queued and ends a waiting reader', async () => {
  const o = new Outbox<number>(8, Number.POSITIVE_INFINITY, flow());
  o.push(1);
  o.abort();
  assert.deepEqual(await o.next(), { done: true, value: undefined });
  const w = new Outbox<number>(8, Number.POSITIVE_INFINITY, flow());
  const p = w.next();
  w.abort();
  assert.deepEqual(await p, { done: true, value: undefined });
});

test('outbox: whenNotFull waits for the drain, and never past the end', async () => {
  const o = new Outbox<number>(2, Number.POSITIVE_INFINITY, flow());
  assert.equal(o.whenNotFull(), undefined);
  o.push(1);
  o.push(2);
  const room = o.whenNotFull();
  assert.ok(room !== undefined);
  await o.next();
  await room;
  o.push(3);
  o.push(4);
  const again = o.whenNotFull();
  o.abort();
  await again;
});
