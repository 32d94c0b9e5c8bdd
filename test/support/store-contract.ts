/**
 * The contract every store implementation must keep, as a suite each implementation's test file
 * runs (nats-server and MQTT.js run one store suite over every store): what the core relies on,
 * nothing an implementation does on its own account.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageRecord, MessageStore, RecordStore } from '../../src/store/types.js';

type TestContext = { after(fn: () => Promise<void> | void): void };

/** Opens a fresh, empty store for one test; `t.after` releases it. */
export type OpenStore<S> = (t: TestContext) => Promise<S>;

function record(id: number, queues: number[], body = `body ${id}`): MessageRecord {
  return {
    id,
    queues,
    exchange: 'x',
    routingKey: `key.${id}`,
    propsFormat: 'switchyard-json',
    props: Buffer.from(`{"messageId":"m${id}"}`),
    body: Buffer.from(body),
  };
}

function read(s: MessageStore, ids: readonly number[]): Promise<readonly MessageRecord[]> {
  return new Promise((resolve, reject) =>
    s.readMessages(ids, (err, rs) => (err ? reject(err) : resolve(rs))),
  );
}

function durable(s: MessageStore, epoch: number): Promise<void> {
  return new Promise((resolve, reject) => s.whenDurable(epoch, (err) => (err ? reject(err) : resolve())));
}

function same(got: MessageRecord, want: MessageRecord): void {
  assert.equal(got.id, want.id);
  assert.equal(got.exchange, want.exchange);
  assert.equal(got.routingKey, want.routingKey);
  assert.equal(got.propsFormat, want.propsFormat);
  assert.deepEqual(Buffer.from(got.props), want.props);
  assert.deepEqual(Buffer.from(got.body), want.body);
}

export function messageStoreContract(name: string, open: OpenStore<MessageStore>): void {
  test(`${name} (MessageStore contract): read back before and after the flush, fields intact, in the order asked`, async (t) => {
    const s = await open(t);
    const rs = [record(1, [1]), record(2, [1, 2], 'x'.repeat(70_000)), record(3, [2])];
    let last = 0;
    for (const r of rs) last = s.appendMessage(r);
    assert.ok(last > 0);
    const early = await read(s, [3, 1, 2]);
    same(early[0]!, rs[2]!);
    same(early[1]!, rs[0]!);
    same(early[2]!, rs[1]!);
    await durable(s, last);
    const late = await read(s, [2]);
    same(late[0]!, rs[1]!);
  });

  test(`${name} (MessageStore contract): whenDurable calls back once per wait, in epoch order, also for a past epoch`, async (t) => {
    const s = await open(t);
    const order: number[] = [];
    const e1 = s.appendMessage(record(1, [1]));
    const waits = [durable(s, e1).then(() => order.push(e1))];
    await waits[0];
    const e2 = s.appendMessage(record(2, [1]));
    assert.ok(e2 >= e1, 'epochs never go back');
    waits.push(durable(s, e2).then(() => order.push(e2)));
    // An epoch that is durable already still gets its callback.
    waits.push(durable(s, e1).then(() => order.push(-e1)));
    await Promise.all(waits);
    assert.equal(order.length, 3);
    assert.deepEqual(
      order.filter((e) => e > 0),
      [e1, e2].sort((a, b) => a - b),
    );
    // The open epoch (what a settle-only change waits for) becomes durable too.
    s.settle(1, 1);
    await durable(s, s.currentEpoch);
  });

  test(`${name} (MessageStore contract): a message settled in every queue is gone; in one of two it stays`, async (t) => {
    const s = await open(t);
    s.appendMessage(record(1, [1, 2]));
    const e = s.appendMessage(record(2, [1]));
    await durable(s, e);
    s.settle(1, 1);
    s.settle(1, 2);
    same((await read(s, [1]))[0]!, record(1, [1, 2]));
    await assert.rejects(read(s, [2]));
    s.delivered(2, 1);
    s.settle(2, 1);
    await assert.rejects(read(s, [1]));
    await durable(s, s.currentEpoch);
  });

  test(`${name} (MessageStore contract): purgeQueue and deleteQueue settle everything of that queue only`, async (t) => {
    const s = await open(t);
    s.appendMessage(record(1, [1]));
    s.appendMessage(record(2, [2]));
    const e = s.appendMessage(record(3, [3, 1]));
    await durable(s, e);
    s.purgeQueue(1);
    await assert.rejects(read(s, [1]));
    same((await read(s, [3]))[0]!, record(3, [3, 1]));
    s.deleteQueue(3);
    await assert.rejects(read(s, [3]));
    same((await read(s, [2]))[0]!, record(2, [2]));
    await durable(s, s.currentEpoch);
  });

  test(`${name} (MessageStore contract): a transaction's appends and settles share the commit's epoch`, async (t) => {
    const s = await open(t);
    const e0 = s.appendMessage(record(1, [1]));
    await durable(s, e0);
    s.beginTxn();
    assert.equal(
      s.appendMessage(record(2, [1])),
      0,
      'an append inside a transaction has no epoch of its own',
    );
    s.settle(1, 1);
    const e = s.commitTxn();
    assert.ok(e >= e0);
    await durable(s, e);
    same((await read(s, [2]))[0]!, record(2, [1]));
    await assert.rejects(read(s, [1]));
  });
}

export function recordStoreContract(name: string, open: OpenStore<RecordStore>): void {
  test(`${name} (RecordStore contract): put, replace and delete show at once and resolve once durable`, async (t) => {
    const s = await open(t);
    const p1 = s.putRecord('session', 'a', Buffer.from('1'));
    assert.deepEqual(s.records('session').get('a'), Buffer.from('1'), 'visible before it is durable');
    await p1;
    await s.putRecord('session', 'a', Buffer.from('2'));
    await s.putRecord('session', 'b', Buffer.from('3'));
    await s.putRecord('retained', 'a', Buffer.from('other kind'));
    assert.deepEqual([...s.records('session').keys()].sort(), ['a', 'b']);
    assert.deepEqual(s.records('session').get('a'), Buffer.from('2'));
    await s.deleteRecord('session', 'a');
    await s.deleteRecord('session', 'never-there');
    assert.deepEqual([...s.records('session').keys()], ['b']);
    assert.deepEqual(s.records('retained').get('a'), Buffer.from('other kind'));
    assert.equal(s.records('no-such-kind').size, 0);
  });
}
