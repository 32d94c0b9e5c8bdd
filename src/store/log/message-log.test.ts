import assert from 'node:assert/strict';
import { copyFile, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { MessageLog } from './message-log.js';
import { RecordType } from './records.js';
import { RECORD_HEADER, segmentFileName } from './segments.js';
import { makeMessage } from './test-model.js';
import { poll } from '../../../test/support/wait.js';
import { hookedOpen, readRecords, tempDir } from './test-util.js';

const ids = (log: { messages: { id: number }[] } | undefined): number[] =>
  log?.messages.map((m) => m.id) ?? [];

async function reopen(dir: string, opts: Parameters<typeof MessageLog.open>[1] = {}) {
  return MessageLog.open(dir, { loadBodies: 'all', ...opts });
}

test('message log: a message for several queues is one record; settles and watermarks recover', async (t) => {
  const dir = await tempDir(t);
  const { log, recovered: empty } = await MessageLog.open(dir);
  assert.equal(empty.maxId, 0);
  assert.equal(empty.queues.size, 0);
  for (let id = 1; id <= 6; id++) log.appendMessage(makeMessage(id, [1, 2, 3], 10 * id));
  log.settle(1, 1);
  log.settleMany(2, [1, 2, 3]);
  log.settle(3, 6);
  log.settle(3, 99); // not held: nothing
  log.deliveredUpTo(1, 3);
  log.deliveredUpTo(1, 4);
  log.deliveredUpTo(1, 2); // lower: ignored
  await log.sync();
  await log.close();

  const recs = await readRecords(dir);
  assert.equal(recs.filter((r) => r.type === RecordType.MSG).length, 6);
  assert.equal(recs.filter((r) => r.type === RecordType.SETTLE).length, 1, 'settles of one flush coalesce');
  assert.equal(
    recs.filter((r) => r.type === RecordType.DELIVERED).length,
    1,
    'watermarks of one flush coalesce',
  );

  const { log: log2, recovered } = await reopen(dir);
  assert.equal(recovered.maxId, 6);
  assert.deepEqual(ids(recovered.queues.get(1)), [2, 3, 4, 5, 6]);
  assert.deepEqual(ids(recovered.queues.get(2)), [4, 5, 6]);
  assert.deepEqual(ids(recovered.queues.get(3)), [1, 2, 3, 4, 5]);
  assert.equal(recovered.queues.get(1)!.deliveredUpTo, 4);
  assert.equal(recovered.queues.get(2)!.deliveredUpTo, 0);
  const m4 = recovered.queues.get(1)!.messages[2]!;
  assert.deepEqual(
    { ex: m4.exchange, rk: m4.routingKey, f: m4.propsFormat, p: m4.props.toString(), b: m4.body?.length },
    { ex: 'amq.topic', rk: 'k.4', f: 0, p: '', b: 40 },
  );
  // The same message object is shared by the queues that hold it.
  assert.equal(recovered.queues.get(1)!.messages[2], recovered.queues.get(2)!.messages[0]);
  // Numbering continues after the recovered maximum; a lower id is refused.
  assert.throws(() => log2.appendMessage(makeMessage(6, [1], 1)), /not above 6/);
  assert.throws(() => log2.appendMessage(makeMessage(7, [], 1)), /no queue/);
  log2.appendMessage(makeMessage(7, [1], 1));
  await log2.close();
});

test('message log: publishes of one turn share one datasync; confirms come after it', async (t) => {
  const dir = await tempDir(t);
  let datasyncs = 0;
  const { log } = await MessageLog.open(dir, {
    openFile: hookedOpen({
      datasync: async () => {
        datasyncs++;
      },
    }),
  });
  const before = datasyncs;
  const confirmed: number[] = [];
  for (let id = 1; id <= 300; id++) {
    const { epoch } = log.appendMessage(makeMessage(id, [1], 200));
    log.whenDurable(epoch, (err) => {
      assert.equal(err, undefined);
      assert.equal(datasyncs, before + 1, 'confirmed only after the datasync');
      confirmed.push(id);
    });
  }
  assert.deepEqual(confirmed, []);
  await log.sync();
  assert.equal(confirmed.length, 300);
  assert.equal(datasyncs, before + 1);
  await log.close();
});

test('message log: a transaction is applied whole, or not at all when its record is torn', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir);
  log.appendMessage(makeMessage(1, [1], 10));
  log.appendMessage(makeMessage(2, [1], 10));
  await log.sync();
  const { locations } = log.txn({
    publishes: [makeMessage(3, [1, 2], 30), makeMessage(4, [2], 40)],
    settles: new Map([[1, [1, 3]]]),
  });
  assert.equal(locations.length, 2);
  assert.deepEqual(await log.readBody(locations[1]!), makeMessage(4, [2], 40).body);
  assert.deepEqual(await log.readBody(3), makeMessage(3, [2], 30).body);
  await log.close();

  const file = join(dir, segmentFileName(1));
  const whole = await readFile(file);
  const { log: all, recovered } = await reopen(dir);
  await all.close();
  assert.deepEqual(ids(recovered.queues.get(1)), [2]);
  assert.deepEqual(ids(recovered.queues.get(2)), [3, 4]);

  // Cut the TXN record anywhere: none of it happened.
  const txn = (await readRecords(dir)).find((r) => r.type === RecordType.TXN)!;
  for (const cut of [txn.offset - 5, txn.offset + 10, txn.offset + txn.payload.length - 1]) {
    // Recovery starts a new segment; remove it so the cut file is the last one again.
    for (const f of await readdir(dir)) if (f !== segmentFileName(1)) await rm(join(dir, f));
    await writeFile(file, whole.subarray(0, cut));
    const { log: l, recovered: r } = await reopen(dir);
    await l.close();
    assert.deepEqual(ids(r.queues.get(1)), [1, 2], `cut at ${cut}`);
    assert.equal(r.queues.get(2), undefined);
    assert.ok(r.truncatedBytes > 0, 'the torn record was truncated');
  }
});

test('message log: delivered-but-unacked messages come back redelivered; purge and delete', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir);
  for (let id = 1; id <= 10; id++) log.appendMessage(makeMessage(id, id <= 5 ? [1, 2] : [1], 5));
  log.deliveredUpTo(1, 7); // 1..7 sent to consumers
  log.settleMany(1, [1, 2, 3]); // 4..7 still unacked
  log.deliveredUpTo(2, 5);
  log.purgeQueue(2);
  await log.sync();
  await log.close();
  const { log: log2, recovered } = await reopen(dir);
  const q1 = recovered.queues.get(1)!;
  assert.deepEqual(ids(q1), [4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(
    q1.messages.map((m) => m.id <= q1.deliveredUpTo),
    [true, true, true, true, false, false, false],
  );
  assert.equal(recovered.queues.get(2), undefined, 'purged');
  // A deleted queue's id may be reused: the old watermark does not apply to the new queue.
  log2.deleteQueue(1);
  log2.appendMessage(makeMessage(11, [1], 5));
  await log2.close();
  const { log: log3, recovered: r3 } = await reopen(dir);
  assert.deepEqual(ids(r3.queues.get(1)), [11]);
  assert.equal(r3.queues.get(1)!.deliveredUpTo, 0);
  await log3.close();
});

test('message log: disk use follows the backlog; settled segments are deleted from the oldest end', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir, { segmentSize: 2048, compactRatio: 0 });
  let maxSegments = 0;
  for (let id = 1; id <= 2000; id++) {
    log.appendMessage(makeMessage(id, [1], 100));
    if (id > 40) log.settle(1, id - 40); // a backlog of 40 messages (~5 segments)
    if (id % 50 === 0) {
      await log.sync();
      await log.reclaimed();
      maxSegments = Math.max(maxSegments, (await readdir(dir)).length);
    }
  }
  assert.ok(maxSegments <= 10, `at most ${maxSegments} segment files for a backlog of 40`);
  log.settleMany(
    1,
    Array.from({ length: 40 }, (_, i) => 1961 + i),
  );
  // The flush that records the settles triggers deletion; then the next checkpointed segment is durable.
  do {
    await log.sync();
    await log.reclaimed();
  } while (log.reclaiming);
  assert.equal(log.segments().length, 1, `segments left: ${log.segments().join(',')}`);
  assert.equal((await readdir(dir)).length, 1);
  assert.ok(log.stats().segmentsDeleted > 100, `deleted ${log.stats().segmentsDeleted}`);
  await log.close();
  // Everything was settled and every old segment is gone, yet numbering continues.
  const { log: log2, recovered } = await reopen(dir);
  assert.equal(recovered.maxId, 2000);
  assert.equal(recovered.queues.size, 0);
  await log2.close();
});

test('message log: compaction moves a pinned message forward and frees the old segments', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir, { segmentSize: 4096, compactRatio: 0.1 });
  log.appendMessage(makeMessage(1, [1, 2], 50)); // pinned: held by queue 2 for good
  log.deliveredUpTo(2, 1);
  await log.sync();
  // Outside the log's directory (which it owns), in a directory of its own that is removed.
  const saved = join(await tempDir(t), `${segmentFileName(1)}.saved`);
  for (let id = 2; id <= 400; id++) {
    log.appendMessage(makeMessage(id, [1], 100));
    if (id === 2) log.settle(1, 1);
  }
  await log.sync();
  await copyFile(join(dir, segmentFileName(1)), saved);
  log.settleMany(
    1,
    Array.from({ length: 399 }, (_, i) => i + 2),
  );
  // Reads racing the compaction: each must find the body, before or after it moved.
  const racing: Promise<Buffer>[] = [];
  do {
    const synced = log.sync();
    for (let i = 0; i < 5; i++) racing.push(log.readBody(1));
    await synced;
    for (let i = 0; i < 5; i++) racing.push(log.readBody(1));
    await log.reclaimed();
  } while (log.reclaiming);
  for (const b of await Promise.all(racing)) assert.deepEqual(b, makeMessage(1, [2], 50).body);
  assert.ok(log.stats().moved >= 1, 'the pinned message was copied forward');
  assert.ok(!log.segments().includes(1), 'its old segment is gone');
  assert.ok(log.segments().length <= 2, `segments: ${log.segments().join(',')}`);
  assert.deepEqual(await log.readBody(1), makeMessage(1, [2], 50).body);
  await log.close();

  const check = async (why: string) => {
    const { log: l, recovered } = await reopen(dir, { reclaim: false });
    assert.deepEqual(ids(recovered.queues.get(2)), [1], why);
    assert.equal(recovered.queues.get(1), undefined, why);
    assert.equal(recovered.queues.get(2)!.deliveredUpTo, 1, `${why}: the watermark survived in a checkpoint`);
    assert.deepEqual(recovered.queues.get(2)!.messages[0]!.body!, makeMessage(1, [2], 50).body);
    assert.deepEqual(await l.readBody(1), makeMessage(1, [2], 50).body);
    await l.close();
  };
  await check('after compaction');
  // A crash between the copy and the deletion: the old segment is still there. Still once.
  await copyFile(saved, join(dir, segmentFileName(1)));
  await check('with the original segment back');
});

test('message log: loadBodies none leaves bodies on disk; a budget loads the head of the log', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir, { segmentSize: 1 << 16 });
  for (let id = 1; id <= 100; id++) log.appendMessage(makeMessage(id, [1], 1000));
  log.appendMessage(makeMessage(101, [1], 9000)); // larger than COPY_LIMIT: written by reference
  await log.close();

  const none = await reopen(dir, { loadBodies: 'none' });
  const msgs = none.recovered.queues.get(1)!.messages;
  assert.ok(
    msgs.every((m) => m.body === undefined),
    'no body loaded',
  );
  for (const m of [msgs[0]!, msgs[57]!, msgs[100]!]) {
    const body = await none.log.readBody(m.id);
    assert.deepEqual(body, makeMessage(m.id, [1], m.id === 101 ? 9000 : 1000).body);
    assert.deepEqual(await none.log.readBody(m.location), body);
  }
  await none.log.close();

  const some = await reopen(dir, { loadBodies: 'all', bodyBudget: 10_500 });
  const loaded = some.recovered.queues.get(1)!.messages.filter((m) => m.body !== undefined);
  assert.deepEqual(
    loaded.map((m) => m.id),
    Array.from({ length: 10 }, (_, i) => i + 1),
  );
  await some.log.close();
});

test('message log: a torn tail is truncated at every byte offset of the last record', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir);
  for (let id = 1; id <= 3; id++) log.appendMessage(makeMessage(id, [1], 20));
  await log.close();
  const recs = await readRecords(dir);
  const last = recs[recs.length - 1]!;
  assert.equal(last.type, RecordType.MSG);
  const files = (await readdir(dir)).sort();
  const file = join(dir, files[files.length - 1]!);
  const whole = await readFile(file);
  const start = last.offset - RECORD_HEADER;
  for (let cut = start + 1; cut < whole.length; cut++) {
    // Recovery starts a new segment; remove it so the cut file is the last one again.
    for (const f of await readdir(dir)) if (!files.includes(f)) await rm(join(dir, f));
    await writeFile(file, whole.subarray(0, cut));
    const { log: l, recovered } = await reopen(dir, { reclaim: false });
    await l.close();
    assert.deepEqual(ids(recovered.queues.get(1)), [1, 2], `cut at ${cut}`);
    assert.equal(recovered.truncatedBytes, cut - start);
    assert.equal((await stat(file)).size, start);
  }
});

test('message log: readBodies pages a run back in, in the order asked', async (t) => {
  const dir = await tempDir(t);
  const { log } = await MessageLog.open(dir, { segmentSize: 64 * 1024 });
  for (let id = 1; id <= 300; id++) log.appendMessage(makeMessage(id, [1], id % 7 === 0 ? 5000 : 700));
  log.settleMany(
    1,
    Array.from({ length: 100 }, (_, i) => 2 * i + 1),
  ); // every other one of the first 200: sparse spans are copied out
  await log.sync();
  const want = [300, 2, 4, 150, 152, 299, 2, 250, 14];
  const bodies = await log.readBodies(want);
  assert.deepEqual(
    bodies.map((b) => b.length),
    want.map((id) => (id % 7 === 0 ? 5000 : 700)),
  );
  for (const [i, id] of want.entries()) {
    assert.deepEqual(bodies[i], makeMessage(id, [1], bodies[i]!.length).body, `body ${id}`);
  }
  await assert.rejects(log.readBodies([2, 1]), /message 1 is not in the log/);
  await log.close();
});

test('message log: settles alone are flushed lazily; waiting on their epoch flushes at once', async (t) => {
  const dir = await tempDir(t);
  let datasyncs = 0;
  const openFile = hookedOpen({
    datasync: async () => {
      datasyncs++;
    },
  });
  const { log } = await MessageLog.open(dir, { openFile, settleFlushDelay: 30 });
  for (let id = 1; id <= 3; id++) log.appendMessage(makeMessage(id, [1], 10));
  await log.sync();
  const base = datasyncs;
  // The delay's timer is node:test's mock while the test looks: it fires when the test ticks it,
  // not when a busy machine happens to let 30 ms pass (flushes themselves use setImmediate).
  t.mock.timers.enable({ apis: ['setTimeout'] });
  log.settle(1, 1);
  log.deliveredUpTo(1, 2);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.equal(datasyncs, base, 'not flushed at the end of the turn');
  t.mock.timers.tick(30);
  t.mock.timers.reset(); // the flush has started; real timers for the bounded wait on it
  await poll(() => datasyncs > base, 'the delayed flush');
  assert.equal(datasyncs, base + 1, 'flushed after the delay');

  // Now the delay can never pass (a mock timer nobody ticks): only waiting on the epoch flushes.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const epoch = log.settle(1, 2);
  await new Promise<void>((resolve) => log.whenDurable(epoch, () => resolve()));
  assert.equal(datasyncs, base + 2, 'flushed without waiting for the delay');
  t.mock.timers.reset();
  await log.close();
  const { log: again, recovered } = await MessageLog.open(dir);
  assert.deepEqual(ids(recovered.queues.get(1)), [3]);
  assert.equal(recovered.queues.get(1)!.deliveredUpTo, 2);
  await again.close();
});
