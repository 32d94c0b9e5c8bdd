/**
 * Durability across restarts, through a real listener and amqplib: durable definitions and
 * persistent messages come back, transient ones do not, delivered-but-unacked messages come back
 * redelivered, and a second broker on the same data directory is refused.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import amqp from 'amqplib';
import { EPHEMERAL_PORTS, startTestBroker } from './helpers.js';
import { txRpc } from './interop-support.js';
import { tempDir } from './support/temp.js';
import { skipUnless } from './support/tools.js';

const root = join(import.meta.dirname, '..');

test('durability: durable definitions and persistent messages survive a restart; transient ones do not', async () => {
  const dir = tempDir('sy-durable-');
  let b = await startTestBroker({}, dir);
  let conn = await amqp.connect(b.url);
  let ch = await conn.createConfirmChannel();
  await ch.assertExchange('orders', 'topic', { durable: true });
  await ch.assertExchange('scratch', 'fanout', { durable: false });
  await ch.assertQueue('keep', { durable: true, arguments: { 'x-max-length': 1000 } });
  await ch.assertQueue('drop', { durable: false });
  await ch.bindQueue('keep', 'orders', 'order.*', { why: 'test' });
  for (let i = 0; i < 5; i++)
    ch.publish('orders', 'order.new', Buffer.from(`p${i}`), { persistent: true, messageId: `m${i}` });
  ch.publish('orders', 'order.new', Buffer.from('transient'), { persistent: false });
  ch.sendToQueue('drop', Buffer.from('lost'), { persistent: true });
  await ch.waitForConfirms();
  // Deliver one without acking: it must come back redelivered.
  const first = await ch.get('keep', { noAck: false });
  assert.ok(first && first.content.toString() === 'p0');
  await b.close();

  b = await startTestBroker({}, dir);
  assert.equal(b.server.recovery.queues, 1);
  conn = await amqp.connect(b.url);
  const probe = async (check: (c: amqp.Channel) => Promise<unknown>) => {
    const c = await conn.createChannel();
    // The 404 closes this channel; it must be the only error the channel reports.
    c.on('error', (e: Error) => assert.match(e.message, /404/));
    await assert.rejects(check(c), /404/);
  };
  ch = await conn.createConfirmChannel();
  const q = await ch.checkQueue('keep');
  assert.equal(q.messageCount, 5, 'the persistent messages, not the transient one');
  await ch.checkExchange('orders');
  await probe((c) => c.checkExchange('scratch'));
  await probe((c) => c.checkQueue('drop'));
  // The binding came back: a new publish to the exchange reaches the queue.
  ch.publish('orders', 'order.paid', Buffer.from('after'), { persistent: true });
  await ch.waitForConfirms();
  const got: { body: string; redelivered: boolean }[] = [];
  for (;;) {
    const m = await ch.get('keep', { noAck: true });
    if (m === false) break;
    got.push({ body: m.content.toString(), redelivered: m.fields.redelivered });
  }
  assert.deepEqual(got, [
    { body: 'p0', redelivered: true },
    { body: 'p1', redelivered: false },
    { body: 'p2', redelivered: false },
    { body: 'p3', redelivered: false },
    { body: 'p4', redelivered: false },
    { body: 'after', redelivered: false },
  ]);
  await conn.close();
  await b.close();

  // Acked and deleted things stay gone.
  b = await startTestBroker({}, dir);
  conn = await amqp.connect(b.url);
  ch = await conn.createConfirmChannel();
  assert.equal((await ch.checkQueue('keep')).messageCount, 0);
  await ch.deleteQueue('keep');
  await conn.close();
  await b.close();
  b = await startTestBroker({}, dir);
  assert.equal(b.server.recovery.queues, 0);
  await b.close();
});

test('durability: a second broker on the same data directory exits with a clear message', async () => {
  const dir = tempDir('sy-lock-');
  const b = await startTestBroker({}, dir);
  try {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', '--host', '127.0.0.1', ...EPHEMERAL_PORTS, '--data-dir', dir],
      { cwd: root, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /in use by another Switchyard \(pid \d+\)/);
  } finally {
    await b.close();
  }
});

// The crash test runs the built broker (bin/switchyard.js), as a user would.
test('durability: kill -9 under confirmed load loses no confirmed message (3 cycles)', {
  skip: await skipUnless('build'),
  timeout: 240_000,
}, () => {
  // The limits are hang guards (the script's own is 60 s a cycle); 3 cycles take seconds.
  const r = spawnSync(
    process.execPath,
    ['scripts/crash-test.mjs', '--cycles', '3', '--seed', '42', '--json'],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 200_000,
    },
  );
  assert.equal(r.status, 0, `crash test failed: ${r.stdout} ${r.stderr}`);
  const totals = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
    cycles: number;
    lost: number;
    confirmed: number;
  };
  assert.equal(totals.cycles, 3);
  assert.equal(totals.lost, 0);
  assert.ok(totals.confirmed > 0);
});

test('durability: a committed transaction (publishes and acks) is on disk as a whole', async () => {
  const dir = tempDir('sy-tx-');
  let b = await startTestBroker({}, dir);
  let conn = await amqp.connect(b.url);
  const setup = await conn.createConfirmChannel();
  await setup.assertQueue('tx-q', { durable: true });
  setup.sendToQueue('tx-q', Buffer.from('old'), { persistent: true });
  await setup.waitForConfirms();
  const ch = await conn.createChannel();
  await txRpc(ch, 'select');
  const old = await ch.get('tx-q', { noAck: false });
  assert.ok(old);
  ch.ack(old);
  ch.sendToQueue('tx-q', Buffer.from('new'), { persistent: true });
  await txRpc(ch, 'commit');
  await conn.close();
  await b.close();

  b = await startTestBroker({}, dir);
  conn = await amqp.connect(b.url);
  const c2 = await conn.createChannel();
  const m = await c2.get('tx-q', { noAck: true });
  assert.ok(m && m.content.toString() === 'new', 'the published message is there');
  assert.equal(await c2.get('tx-q', { noAck: true }), false, 'the acked one is gone');
  await conn.close();
  await b.close();
});
