/**
 * Interop with amqplib, messaging: publish and consume, basic.get, publisher confirms, returns,
 * nacks, rejects, requeue on close, transactions.
 *
 * Every scenario runs against Switchyard, and RabbitMQ when RABBITMQ_URL is set (amqplibSuites).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Message } from 'amqplib';
import { uniq } from './helpers.js';
import { amqplibSuites, bodies, channel, confirmChannel, Inbox, txRpc, getOk } from './interop-support.js';

await amqplibSuites((_target, conns) => {
  test('publish and consume: bodies, properties and delivery fields intact', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const q = uniq('pubsub');
    await ch.assertQueue(q, { exclusive: true });
    const props = {
      contentType: 'text/plain',
      contentEncoding: 'utf8',
      headers: { a: 1, s: 'x', nested: { b: true }, list: [1, 'two'] },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'corr',
      replyTo: 'somewhere',
      expiration: '60000',
      messageId: 'mid',
      timestamp: 1700000000,
      type: 'kind',
      userId: 'guest',
      appId: 'app',
    };
    ch.sendToQueue(q, Buffer.from('one'), props);
    ch.sendToQueue(q, Buffer.from('two'));
    ch.sendToQueue(q, Buffer.alloc(0));
    const box = await Inbox.consume(ch, q);
    const [m1, m2, m3] = await box.take(3);
    assert.deepEqual(bodies([m1!, m2!, m3!]), ['one', 'two', '']);
    const got = m1!.properties as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(props)) assert.deepEqual(got[k], v, `property ${k}`);
    assert.equal(m1!.fields.exchange, '');
    assert.equal(m1!.fields.routingKey, q);
    assert.equal(m1!.fields.redelivered, false);
    assert.equal(m1!.fields.consumerTag, box.consumerTag);
    assert.match(box.consumerTag, /^amq\.ctag-/);
    assert.deepEqual(
      [m1!, m2!, m3!].map((m) => m.fields.deliveryTag),
      [1, 2, 3],
    );
    ch.ack(m3!, true);
    await ch.close();
    assert.deepEqual(ch.errors, []);
  });

  test('basic.get: get-empty, then get-ok with the remaining count', async () => {
    const c = await conns.connect();
    const ch = await confirmChannel(c);
    const q = uniq('get');
    await ch.assertQueue(q, { exclusive: true });
    assert.equal(await ch.get(q), false);
    ch.sendToQueue(q, Buffer.from('a'), { headers: { n: 1 } });
    ch.sendToQueue(q, Buffer.from('b'));
    await ch.waitForConfirms(); // RabbitMQ counts a message once its queue confirmed it
    assert.equal((await ch.checkQueue(q)).messageCount, 2);
    const a = getOk(await ch.get(q));
    assert.equal(a.content.toString(), 'a');
    assert.equal(a.fields.messageCount, 1);
    assert.equal(a.fields.deliveryTag, 1);
    assert.equal(a.fields.redelivered, false);
    assert.equal(a.fields.routingKey, q);
    assert.deepEqual(a.properties.headers, { n: 1 });
    const b = getOk(await ch.get(q, { noAck: true }));
    assert.equal(b.content.toString(), 'b');
    assert.equal(b.fields.messageCount, 0);
    assert.equal(b.fields.deliveryTag, 2);
    assert.equal(await ch.get(q), false);
    ch.ack(a);
    await ch.close();
    assert.deepEqual(ch.errors, []);
  });

  test('publisher confirms: every publish is confirmed, waitForConfirms resolves', async () => {
    const c = await conns.connect();
    const ch = await confirmChannel(c);
    const q = uniq('confirms');
    await ch.assertQueue(q, { exclusive: true });
    const N = 2000;
    const acked: number[] = [];
    ch.on('ack', (f: { deliveryTag: number; multiple: boolean }) => acked.push(f.deliveryTag));
    const confirms: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      confirms.push(
        new Promise((resolve, reject) =>
          ch.sendToQueue(q, Buffer.from(String(i)), {}, (err) => (err ? reject(err) : resolve())),
        ),
      );
    }
    await ch.waitForConfirms();
    await Promise.all(confirms);
    assert.equal(acked.at(-1), N, 'the last confirm covers the last publish');
    assert.deepEqual(
      acked,
      [...acked].sort((a, b) => a - b),
      'confirms arrive in order',
    );
    assert.equal((await ch.checkQueue(q)).messageCount, N);
    assert.deepEqual(ch.errors, []);
  });

  test('mandatory publish with no route: basic.return 312 NO_ROUTE, then the confirm', async () => {
    const c = await conns.connect();
    const ch = await confirmChannel(c);
    const x = uniq('noroute');
    await ch.assertExchange(x, 'direct', { autoDelete: false });
    const events: string[] = [];
    const returned: Message[] = [];
    ch.on('return', (m: Message) => {
      events.push(`return:${m.content.toString()}`);
      returned.push(m);
    });
    const publish = (exchange: string, key: string, body: string, mandatory: boolean) =>
      new Promise<void>((resolve, reject) =>
        ch.publish(exchange, key, Buffer.from(body), { mandatory, messageId: body }, (err) => {
          events.push(`ack:${body}`);
          if (err) reject(err);
          else resolve();
        }),
      );
    await publish(x, 'nowhere', 'lost', true);
    await publish(x, 'nowhere', 'dropped', false);
    await publish('', uniq('no-such-queue'), 'default', true);
    assert.deepEqual(events, ['return:lost', 'ack:lost', 'ack:dropped', 'return:default', 'ack:default']);
    const r = returned[0]!;
    // basic.return's fields (amqplib's MessageFields type leaves out the reply code and text).
    const rf = r.fields as typeof r.fields & { replyCode: number; replyText: string };
    assert.equal(rf.replyCode, 312);
    assert.equal(rf.replyText, 'NO_ROUTE');
    assert.equal(r.fields.exchange, x);
    assert.equal(r.fields.routingKey, 'nowhere');
    assert.equal(r.properties.messageId, 'lost');
    assert.equal(returned[1]!.fields.exchange, '');
    await ch.deleteExchange(x);
    assert.deepEqual(ch.errors, []);
  });

  test('nack with requeue: redelivered, in the original order', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const q = uniq('nack');
    await ch.assertQueue(q, { exclusive: true });
    for (const b of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(b));
    const box = await Inbox.consume(ch, q);
    const first = await box.take(3);
    assert.deepEqual(bodies(first), ['a', 'b', 'c']);
    assert.ok(first.every((m) => !m.fields.redelivered));
    ch.nack(first[2]!, true, true); // multiple: all three
    const again = (await box.take(6)).slice(3);
    assert.deepEqual(bodies(again), ['a', 'b', 'c']);
    assert.ok(again.every((m) => m.fields.redelivered));
    ch.ackAll();
    await ch.cancel(box.consumerTag);

    // Out-of-order single nacks still put each message back at its own place.
    const q2 = uniq('nack-order');
    await ch.assertQueue(q2, { exclusive: true });
    for (const b of ['1', '2', '3', '4']) ch.sendToQueue(q2, Buffer.from(b));
    const got = [getOk(await ch.get(q2)), getOk(await ch.get(q2)), getOk(await ch.get(q2))];
    ch.nack(got[2]!, false, true);
    ch.nack(got[0]!, false, true);
    const order: string[] = [];
    const flags: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const m = getOk(await ch.get(q2, { noAck: true }));
      order.push(m.content.toString());
      flags.push(m.fields.redelivered);
    }
    assert.deepEqual(order, ['1', '3', '4']);
    assert.deepEqual(flags, [true, true, false]);
    ch.reject(got[1]!, true);
    const last = getOk(await ch.get(q2, { noAck: true }));
    assert.equal(last.content.toString(), '2');
    assert.equal(last.fields.redelivered, true);
    await ch.close();
    assert.deepEqual(ch.errors, []);
  });

  test('closing a channel or connection requeues unacked deliveries; basic.recover too', async () => {
    const c = await conns.connect();
    const setup = await channel(c);
    const q = uniq('requeue');
    await setup.assertQueue(q, { durable: false, autoDelete: false });
    for (const b of ['a', 'b', 'c', 'd']) setup.sendToQueue(q, Buffer.from(b));

    const ch1 = await channel(c);
    const box1 = await Inbox.consume(ch1, q);
    const got1 = await box1.take(4);
    ch1.ack(got1[1]!); // 'b' is done
    await ch1.close();

    const c2 = await conns.connect();
    const ch2 = await channel(c2);
    const box2 = await Inbox.consume(ch2, q);
    const got2 = await box2.take(3);
    assert.deepEqual(bodies(got2), ['a', 'c', 'd']);
    assert.ok(got2.every((m) => m.fields.redelivered));
    await c2.close();

    const ch3 = await channel(c);
    const box3 = await Inbox.consume(ch3, q);
    const got3 = await box3.take(3);
    assert.deepEqual(bodies(got3), ['a', 'c', 'd']);
    await ch3.recover();
    const again = (await box3.take(6)).slice(3);
    assert.deepEqual(bodies(again), ['a', 'c', 'd']);
    assert.ok(again.every((m) => m.fields.redelivered));
    assert.deepEqual(
      again.map((m) => m.fields.deliveryTag),
      [4, 5, 6],
    );
    ch3.ackAll();
    await box3.settlesAt(6, 100);
    await setup.deleteQueue(q);
    assert.deepEqual([...setup.errors, ...ch1.errors, ...ch2.errors, ...ch3.errors], []);
  });

  test('reject without requeue drops the message', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const q = uniq('reject');
    await ch.assertQueue(q, { exclusive: true });
    ch.sendToQueue(q, Buffer.from('x'));
    ch.sendToQueue(q, Buffer.from('y'));
    const box = await Inbox.consume(ch, q);
    const [x, y] = await box.take(2);
    ch.reject(x!, false);
    ch.nack(y!, false, false);
    await box.settlesAt(2, 200);
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
    assert.deepEqual(ch.errors, []);
  });

  test('tx: publishes and acks take effect at commit, rollback discards them', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const probe = await channel(c);
    const q = uniq('tx');
    await ch.assertQueue(q, { exclusive: true });
    await txRpc(ch, 'select');
    ch.sendToQueue(q, Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    await ch.checkQueue(q); // the publishes have been processed
    assert.equal((await probe.checkQueue(q)).messageCount, 0, 'nothing before commit');
    await txRpc(ch, 'commit');
    assert.equal((await probe.checkQueue(q)).messageCount, 2);

    ch.sendToQueue(q, Buffer.from('c'));
    await txRpc(ch, 'rollback');
    assert.equal((await probe.checkQueue(q)).messageCount, 2, 'rolled back publish is gone');

    // An ack in a rolled back transaction is forgotten; the message stays unacked.
    const a = getOk(await ch.get(q));
    assert.equal(a.content.toString(), 'a');
    ch.ack(a);
    await txRpc(ch, 'rollback');
    ch.ack(a);
    await txRpc(ch, 'commit');
    // A nack with requeue inside a transaction requeues at commit.
    const b = getOk(await ch.get(q));
    assert.equal(b.content.toString(), 'b');
    ch.nack(b, false, true);
    await ch.checkQueue(q);
    assert.equal((await probe.checkQueue(q)).messageCount, 0, 'requeue waits for the commit');
    await txRpc(ch, 'commit');
    const b2 = getOk(await probe.get(q, { noAck: true }));
    assert.equal(b2.content.toString(), 'b');
    assert.equal(b2.fields.redelivered, true);
    assert.equal(await probe.get(q), false, "'a' was acked, 'c' never published");
    await ch.close();
    await probe.close();
    assert.deepEqual([...ch.errors, ...probe.errors], []);
  });
});
