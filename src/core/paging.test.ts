/**
 * Paging: a durable queue keeps at most PAGE_WINDOW ready messages in memory; stored messages
 * behind it are references only, read back from the store in order as the queue drains.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageRecord, MessageStore } from '../store/types.js';
import { Broker, type CoreConnection, type DeliverySink, Message } from './index.js';
import { PAGE_WINDOW, type Queue, REFILL_BATCH } from './queue.js';

class MemoryStore implements MessageStore {
  readonly records = new Map<number, MessageRecord>();
  readonly settled: [number, number][] = [];
  reads = 0;
  currentEpoch = 1;
  appendMessage(r: MessageRecord): number {
    this.records.set(r.id, r);
    return this.currentEpoch;
  }
  settle(q: number, m: number): void {
    this.settled.push([q, m]);
  }
  delivered(): void {}
  purgeQueue(): void {}
  deleteQueue(): void {}
  beginTxn(): void {}
  commitTxn(): number {
    return this.currentEpoch;
  }
  whenDurable(_e: number, cb: () => void): void {
    cb();
  }
  readMessages(
    ids: readonly number[],
    cb: (err: Error | undefined, r: readonly MessageRecord[]) => void,
  ): void {
    this.reads++;
    const out = ids.map((id) => this.records.get(id)!);
    setImmediate(() => cb(undefined, out));
  }
}

function setup() {
  const store = new MemoryStore();
  const broker = new Broker({ store });
  const c = broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost: '/' });
  c.declareQueue('q', { passive: false, durable: true, exclusive: false, autoDelete: false, args: {} });
  const q = broker.vhosts.get('/')!.queues.get('q')!;
  return { store, c, q };
}

function publish(c: CoreConnection, n: number, from = 0): void {
  const x = c.admitPublish('', '', 'accept');
  for (let i = from; i < from + n; i++) {
    c.publish(x, new Message('', 'q', Buffer.from(String(i)), { deliveryMode: 2, messageId: `m${i}` }));
  }
}

function inMemory(q: Queue): number {
  return q.messageCount - q.pagedCount;
}

test('paging: a long durable queue keeps only its window in memory, and delivers everything in order', async () => {
  const { store, c, q } = setup();
  const total = PAGE_WINDOW + 5000;
  publish(c, total);
  assert.equal(q.messageCount, total);
  assert.equal(inMemory(q), PAGE_WINDOW);
  assert.equal(q.pagedCount, 5000);

  const got: string[] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const s = c.openSession();
  const sink: DeliverySink = {
    deliver(_tag, deliveryTag, _r, msg) {
      got.push(msg.body.toString());
      assert.equal(msg.properties.messageId, `m${got.length - 1}`, 'properties come back too');
      s.settle(deliveryTag, false, 'ack');
      if (got.length === total) done();
    },
    cancelled() {},
  };
  s.consumerPrefetch = 100;
  c.consume(s, 'q', { tag: 't', noAck: false, exclusive: false, args: {} }, sink);
  await finished;
  assert.deepEqual(
    got,
    Array.from({ length: total }, (_, i) => String(i)),
  );
  assert.ok(store.reads >= Math.ceil(5000 / REFILL_BATCH), 'paged messages were read back in batches');
  assert.equal(q.messageCount, 0);
  assert.equal(store.settled.length, total);
});

test('paging: transient messages behind paged ones keep their place', async () => {
  const { c, q } = setup();
  publish(c, PAGE_WINDOW + 10);
  const x = c.admitPublish('', '', 'accept');
  c.publish(x, new Message('', 'q', Buffer.from('transient'), { deliveryMode: 1 }));
  publish(c, 10, PAGE_WINDOW + 10);
  const s = c.openSession();
  const order: string[] = [];
  for (;;) {
    const g = c.get(s, 'q', true);
    if (g !== undefined) {
      order.push(g.msg.body.toString());
      continue;
    }
    if (!c.hasPaged('q')) break;
    await new Promise<void>((r) => c.whenRefilled('q', r));
  }
  const expected = Array.from({ length: PAGE_WINDOW + 10 }, (_, i) => String(i));
  expected.push('transient', ...Array.from({ length: 10 }, (_, i) => String(PAGE_WINDOW + 10 + i)));
  assert.deepEqual(order, expected);
  assert.equal(q.messageCount, 0);
});

test('paging: purge settles paged messages in the store too', () => {
  const { store, c, q } = setup();
  publish(c, PAGE_WINDOW + 100);
  assert.equal(c.purgeQueue('q'), PAGE_WINDOW + 100);
  assert.equal(q.messageCount, 0);
  assert.equal(q.pagedCount, 0);
  assert.equal(store.settled.length, PAGE_WINDOW + 100);
});

test('paging: recovered messages start on disk and are read back when needed', async () => {
  const { store, c, q } = setup();
  for (let i = 1; i <= 3; i++) {
    store.appendMessage({
      id: i,
      queues: [q.storeId],
      exchange: '',
      routingKey: 'q',
      propsFormat: 'switchyard-json',
      props: Buffer.from('{"deliveryMode":2}'),
      body: Buffer.from(`r${i}`),
    });
    q.recover(i, i === 1);
  }
  const s = c.openSession();
  assert.equal(c.get(s, 'q', true), undefined);
  assert.ok(c.hasPaged('q'));
  await new Promise<void>((r) => c.whenRefilled('q', r));
  const first = c.get(s, 'q', true)!;
  assert.equal(first.msg.body.toString(), 'r1');
  assert.equal(first.redelivered, true);
  assert.equal(c.get(s, 'q', true)!.redelivered, false);
});

test('paging: a purge while a read-back is in flight settles those messages and drops the late read', async () => {
  const { store, c, q } = setup();
  publish(c, PAGE_WINDOW + 600);
  const s = c.openSession();
  // Drain the window with gets so that a read-back starts.
  for (let i = 0; i < PAGE_WINDOW; i++) assert.ok(c.get(s, 'q', true));
  assert.ok(store.reads >= 1, 'a read-back is in flight');
  const settledBefore = store.settled.length;
  assert.equal(c.purgeQueue('q'), 600);
  assert.equal(store.settled.length - settledBefore, 600, 'every purged message is settled once');
  await new Promise((r) => setImmediate(r)); // the late read-back lands, and is dropped
  assert.equal(q.messageCount, 0);
  assert.equal(c.get(s, 'q', true), undefined);
});
