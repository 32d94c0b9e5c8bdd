/**
 * Resource alarms block publishers, as RabbitMQ does: clients that announced the capability get
 * connection.blocked, a connection that publishes stops being read until the alarm ends, and
 * consumers keep working meanwhile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp from 'amqplib';
import { once, startTestBroker } from './helpers.js';

test('alarm: publishers are blocked and resumed; consumers keep working', async () => {
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: 0 } });
  const pubConn = await amqp.connect(b.url);
  const subConn = await amqp.connect(b.url);
  const pub = await pubConn.createChannel();
  const sub = await subConn.createChannel();
  const q = (await sub.assertQueue('', { exclusive: true })).queue;
  pub.sendToQueue(q, Buffer.from('before'));
  const got: string[] = [];
  const arrived: (() => void)[] = [];
  await sub.consume(
    q,
    (m) => {
      if (m === null) return;
      got.push(m.content.toString());
      sub.ack(m);
      arrived.shift()?.();
    },
    { noAck: false },
  );
  const next = () => new Promise<void>((r) => arrived.push(r));
  if (got.length === 0) await next();
  assert.deepEqual(got, ['before']);

  const blocked = once<string>(pubConn, 'blocked');
  b.server.broker.setAlarm('disk', true);
  assert.match(await blocked, /disk/);
  pub.sendToQueue(q, Buffer.from('during'));
  // The publish is held: a round trip on the consumer's connection shows it did not arrive.
  await sub.checkQueue(q);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got, ['before'], 'nothing from the blocked publisher');

  const unblocked = once(pubConn, 'unblocked');
  const delivered = next();
  b.server.broker.setAlarm('disk', false);
  await unblocked;
  await delivered;
  assert.deepEqual(got, ['before', 'during']);
  await pubConn.close();
  await subConn.close();
  await b.close();
});

test('alarm: below the configured free disk space, publishes are held', async () => {
  // A limit no disk meets: the watcher raises the disk alarm at start.
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: Number.MAX_SAFE_INTEGER } });
  const conn = await amqp.connect(b.url);
  const ch = await conn.createChannel();
  const q = (await ch.assertQueue('', { exclusive: false, autoDelete: true })).queue;
  assert.deepEqual([...b.server.broker.alarms], ['disk']);
  ch.sendToQueue(q, Buffer.from('held'));
  const other = await amqp.connect(b.url);
  const oc = await other.createChannel();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await oc.checkQueue(q)).messageCount, 0, 'the publish waits for disk space');
  b.server.broker.setAlarm('disk', false);
  await ch.checkQueue(q); // the held publish is processed first, in order
  assert.equal((await oc.checkQueue(q)).messageCount, 1);
  await other.close();
  await conn.close();
  await b.close();
});
