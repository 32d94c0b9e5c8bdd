/**
 * Publisher confirms wait for the store: a persistent message routed to a durable queue is
 * confirmed only after the store says its epoch is on disk, transient ones behind it wait their
 * turn, and acks, no-ack deliveries, purges and deletes reach the store as settles.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import { AmqpFrontEnd } from '../src/amqp/index.js';
import { Broker, type Listening } from '../src/core/index.js';
import type { MessageRecord, MessageStore } from '../src/store/types.js';
import { txRpc } from './interop-support.js';
import { poll } from './support/wait.js';

/** A store double: records what the core asks, makes epochs durable when the test says so. */
class FakeStore implements MessageStore {
  readonly appended: MessageRecord[] = [];
  readonly settles: [number, number][] = [];
  readonly delivers: [number, number][] = [];
  readonly deletedQueues: number[] = [];
  currentEpoch = 1;
  durable = 0;
  readMessages(
    ids: readonly number[],
    cb: (err: Error | undefined, r: readonly MessageRecord[]) => void,
  ): void {
    cb(
      undefined,
      ids.map((id) => this.appended.find((m) => m.id === id)!),
    );
  }
  private waiters: [number, () => void][] = [];
  appendMessage(r: MessageRecord): number {
    this.appended.push(r);
    return this.currentEpoch;
  }
  settle(q: number, m: number): void {
    this.settles.push([q, m]);
  }
  delivered(q: number, m: number): void {
    this.delivers.push([q, m]);
  }
  purgeQueue(): void {}
  deleteQueue(q: number): void {
    this.deletedQueues.push(q);
  }
  beginTxn(): void {}
  commitTxn(): number {
    return this.currentEpoch;
  }
  whenDurable(epoch: number, cb: () => void): void {
    if (epoch <= this.durable) cb();
    else this.waiters.push([epoch, cb]);
  }
  /** Ends the current epoch (as a flush would) and makes it durable. */
  flush(): void {
    this.durable = this.currentEpoch++;
    const ready = this.waiters.filter(([e]) => e <= this.durable);
    this.waiters = this.waiters.filter(([e]) => e > this.durable);
    for (const [, cb] of ready) cb();
  }
}

/** Polls until `cond` holds (the broker handles frames asynchronously); bounded. */
const until = (cond: () => boolean) => poll(cond, 'the condition', undefined, 5);

let store: FakeStore;
let amqpFrontEnd: AmqpFrontEnd;
let listener: Listening;
let url: string;
before(async () => {
  store = new FakeStore();
  amqpFrontEnd = new AmqpFrontEnd(new Broker({ store }));
  listener = await amqpFrontEnd.listen('127.0.0.1', 0);
  url = `amqp://guest:guest@127.0.0.1:${listener.address.port}`;
});
after(async () => {
  await Promise.all([listener.close(), amqpFrontEnd.close()]);
});

test('store: a persistent publish to a durable queue is confirmed only after its flush', async () => {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('durable-q', { durable: true });
  await ch.assertQueue('transient-q', { durable: false });
  const order: string[] = [];
  const confirmed = (name: string) =>
    new Promise<void>((resolve, reject) => {
      const cb = (err: unknown) => {
        if (err) return reject(err);
        order.push(name);
        resolve();
      };
      if (name === 'persistent') ch.sendToQueue('durable-q', Buffer.from('p'), { persistent: true }, cb);
      else ch.sendToQueue('transient-q', Buffer.from('t'), {}, cb);
    });
  const p1 = confirmed('persistent');
  const p2 = confirmed('transient');
  // The transient one waits behind the persistent one: nothing is confirmed before the flush.
  await until(() => store.appended.length === 1);
  await ch.checkQueue('transient-q'); // a round trip: both publishes have been handled
  assert.deepEqual(order, []);
  assert.equal(store.appended.length, 1);
  assert.equal(store.appended[0]!.body.toString(), 'p');
  assert.equal(store.appended[0]!.propsFormat, 'amqp091');
  store.flush();
  await Promise.all([p1, p2]);
  assert.deepEqual(order, ['persistent', 'transient']);
  await conn.close();
});

test('store: transient messages and non-durable queues never reach the store', async () => {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('durable-2', { durable: true });
  await ch.assertQueue('transient-2', { durable: false });
  const before = store.appended.length;
  ch.sendToQueue('durable-2', Buffer.from('t'), { persistent: false });
  ch.sendToQueue('transient-2', Buffer.from('p'), { persistent: true });
  await ch.waitForConfirms();
  assert.equal(store.appended.length, before);
  await conn.close();
});

test('store: acks and no-ack deliveries are settles; deliveries are recorded; delete reaches the store', async () => {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('durable-3', { durable: true });
  const n = store.appended.length;
  for (const b of ['a', 'b']) ch.sendToQueue('durable-3', Buffer.from(b), { persistent: true });
  await until(() => store.appended.length === n + 2);
  store.flush();
  await ch.waitForConfirms();
  const ids = store.appended.slice(-2).map((r) => r.id);
  const qid = store.appended.at(-1)!.queues[0]!;
  const a = await ch.get('durable-3', { noAck: false });
  assert.ok(a);
  assert.deepEqual(store.delivers.at(-1), [qid, ids[0]]);
  ch.ack(a);
  const b = await ch.get('durable-3', { noAck: true });
  assert.ok(b);
  await ch.checkQueue('durable-3'); // a round trip, so the ack has been handled
  assert.deepEqual(store.settles.slice(-2), [
    [qid, ids[0]],
    [qid, ids[1]],
  ]);
  await ch.deleteQueue('durable-3');
  assert.deepEqual(store.deletedQueues.at(-1), qid);
  await conn.close();
});

test('store: tx.commit-ok waits for the flush of its persistent publishes', async () => {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue('durable-tx', { durable: true });
  await txRpc(ch, 'select');
  const n = store.appended.length;
  ch.sendToQueue('durable-tx', Buffer.from('in-tx'), { persistent: true });
  const events: string[] = [];
  const committed = txRpc(ch, 'commit').then(() => events.push('commit-ok'));
  await until(() => store.appended.length === n + 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, [], 'no commit-ok before the flush');
  store.flush();
  await committed;
  assert.deepEqual(events, ['commit-ok']);
  const m = await ch.get('durable-tx', { noAck: true });
  assert.ok(m && m.content.toString() === 'in-tx');
  await conn.close();
});
