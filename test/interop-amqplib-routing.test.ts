/**
 * Interop with amqplib, routing and consuming: exchange types, exchange-to-exchange bindings,
 * exclusive and server-named queues, direct reply-to, consumer cancel notification, prefetch,
 * exclusive consumers, typed headers.
 *
 * Every scenario runs against Switchyard, and RabbitMQ when RABBITMQ_URL is set (amqplibSuites).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from 'amqplib';
import { uniq } from './helpers.js';
import { poll } from './support/wait.js';
import {
  amqplibSuites,
  bodies,
  channel,
  confirmChannel,
  Inbox,
  rejection,
  replyText,
  within,
  drain,
  sleep,
} from './interop-support.js';

const LOCKED_TAIL =
  '. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.';

await amqplibSuites((_target, conns) => {
  test('exchange types: direct, fanout, topic, headers (all/any)', async () => {
    const c = await conns.connect();
    const ch = await confirmChannel(c);
    const q = [uniq('q0'), uniq('q1'), uniq('q2')] as const;
    for (const n of q) await ch.assertQueue(n, { exclusive: true });
    const publish = async (x: string, key: string, body: string, headers?: Record<string, unknown>) => {
      ch.publish(x, key, Buffer.from(body), headers === undefined ? {} : { headers });
      await ch.waitForConfirms();
    };
    const seen = async () => [await drain(ch, q[0]), await drain(ch, q[1]), await drain(ch, q[2])];

    const direct = uniq('direct');
    await ch.assertExchange(direct, 'direct', { autoDelete: false });
    await ch.bindQueue(q[0], direct, 'k0');
    await ch.bindQueue(q[1], direct, 'k1');
    await ch.bindQueue(q[2], direct, 'k1');
    for (const k of ['k0', 'k1', 'k2']) await publish(direct, k, k);
    assert.deepEqual(await seen(), [['k0'], ['k1'], ['k1']]);

    const fanout = uniq('fanout');
    await ch.assertExchange(fanout, 'fanout', { autoDelete: false });
    for (const n of q) await ch.bindQueue(n, fanout, 'ignored');
    await publish(fanout, 'any.key', 'f');
    assert.deepEqual(await seen(), [['f'], ['f'], ['f']]);

    const topic = uniq('topic');
    await ch.assertExchange(topic, 'topic', { autoDelete: false });
    await ch.bindQueue(q[0], topic, 'a.*');
    await ch.bindQueue(q[1], topic, 'a.#');
    await ch.bindQueue(q[2], topic, '#.z');
    for (const k of ['a.b', 'a.b.c', 'a', 'x.z', 'a.z', 'b', 'z']) await publish(topic, k, k);
    assert.deepEqual(await seen(), [
      ['a.b', 'a.z'],
      ['a.b', 'a.b.c', 'a', 'a.z'],
      ['x.z', 'a.z', 'z'],
    ]);

    const headers = uniq('headers');
    await ch.assertExchange(headers, 'headers', { autoDelete: false });
    await ch.bindQueue(q[0], headers, '', { 'x-match': 'all', k1: 'v1', k2: 2 });
    await ch.bindQueue(q[1], headers, '', { 'x-match': 'any', k1: 'v1', k2: 2 });
    await ch.bindQueue(q[2], headers, '', { k1: 'v1' }); // x-match defaults to all
    await publish(headers, '', 'both', { k1: 'v1', k2: 2, extra: true });
    await publish(headers, '', 'k1', { k1: 'v1' });
    await publish(headers, '', 'k2', { k1: 'other', k2: 2 });
    await publish(headers, '', 'none', { k3: 'v1' });
    await publish(headers, '', 'noheaders');
    assert.deepEqual(await seen(), [['both'], ['both', 'k1', 'k2'], ['both', 'k1']]);

    // amq.headers exists and routes like any headers exchange.
    await ch.bindQueue(q[0], 'amq.headers', '', { 'x-match': 'any', tag: uniq('t') });
    await publish('amq.headers', '', 'nomatch', { tag: 'other' });
    assert.deepEqual(await seen(), [[], [], []]);

    for (const x of [direct, fanout, topic, headers]) await ch.deleteExchange(x);
    assert.deepEqual(ch.errors, []);
  });

  test('exchange-to-exchange bindings and the alternate exchange', async () => {
    const c = await conns.connect();
    const ch = await confirmChannel(c);
    const qMain = uniq('main');
    const qAlt = uniq('alt');
    const qE2e = uniq('e2e');
    for (const n of [qMain, qAlt, qE2e]) await ch.assertQueue(n, { exclusive: true });
    const src = uniq('src');
    const dst = uniq('dst');
    const ae = uniq('ae');
    const withAe = uniq('with-ae');
    await ch.assertExchange(src, 'topic', { autoDelete: false });
    await ch.assertExchange(dst, 'direct', { autoDelete: false });
    await ch.assertExchange(ae, 'fanout', { autoDelete: false });
    await ch.assertExchange(withAe, 'direct', { autoDelete: false, alternateExchange: ae });
    await ch.bindExchange(dst, src, 'orders.*');
    await ch.bindQueue(qE2e, dst, 'orders.new');
    await ch.bindQueue(qMain, withAe, 'k');
    await ch.bindQueue(qAlt, ae, '');
    // A cycle (dst -> src) must not loop or duplicate.
    await ch.bindExchange(src, dst, 'orders.new');

    const pub = async (x: string, key: string, body: string) => {
      ch.publish(x, key, Buffer.from(body));
      await ch.waitForConfirms();
    };
    await pub(src, 'orders.new', 'n1');
    await pub(src, 'orders.old', 'o1');
    await pub(dst, 'orders.new', 'n2');
    await pub(withAe, 'k', 'main');
    await pub(withAe, 'other', 'alt');
    assert.deepEqual(await drain(ch, qE2e), ['n1', 'n2']);
    assert.deepEqual(await drain(ch, qMain), ['main']);
    assert.deepEqual(await drain(ch, qAlt), ['alt']);

    await ch.unbindExchange(dst, src, 'orders.*');
    await pub(src, 'orders.new', 'n3');
    assert.deepEqual(await drain(ch, qE2e), []);
    for (const x of [src, dst, withAe, ae]) await ch.deleteExchange(x);
    assert.deepEqual(ch.errors, []);
  });

  test('server-named and exclusive queues: 405 RESOURCE_LOCKED from another connection', async () => {
    const owner = await conns.connect();
    const ch = await channel(owner);
    const { queue, messageCount, consumerCount } = await ch.assertQueue('', { exclusive: true });
    assert.match(queue, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
    assert.equal(messageCount, 0);
    assert.equal(consumerCount, 0);
    ch.sendToQueue(queue, Buffer.from('mine'));
    const named = uniq('excl');
    // Exclusive queues are never durable (RabbitMQ ignores the flag), so amqplib's default
    // durable=true and an explicit durable=false declare the same queue.
    await ch.assertQueue(named, { exclusive: true });
    await ch.assertQueue(named, { exclusive: true, durable: false });

    const other = await conns.connect();
    const locked = (n: string) =>
      `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${n}' in vhost '/'${LOCKED_TAIL}`;
    const attempts: [string, string, (o: Channel) => Promise<unknown>][] = [
      ['declare', named, (o) => o.assertQueue(named, { exclusive: true })],
      ['declare non-exclusive', named, (o) => o.assertQueue(named, { durable: false })],
      ['passive declare', queue, (o) => o.checkQueue(queue)],
      ['consume', queue, (o) => o.consume(queue, () => {})],
      ['get', queue, (o) => o.get(queue)],
      ['purge', queue, (o) => o.purgeQueue(queue)],
      ['delete', queue, (o) => o.deleteQueue(queue)],
      ['bind', queue, (o) => o.bindQueue(queue, 'amq.direct', 'k')],
    ];
    for (const [what, n, attempt] of attempts) {
      const oc = await channel(other);
      const e = await rejection(attempt(oc));
      assert.equal(e.code, 405, `${what}: ${e.message}`);
      assert.equal(replyText(e), locked(n), what);
      await within(oc.closed, 5000, 'channel close');
    }
    // The owner redeclaring it as non-exclusive: also 405.
    const e = await rejection(ch.assertQueue(named, { exclusive: false, durable: false }));
    assert.equal(e.code, 405);
    assert.equal(replyText(e), locked(named));

    // The owner's connection going away deletes its exclusive queues.
    await owner.close();
    for (const n of [queue, named]) {
      const oc = await channel(other);
      const gone = await rejection(oc.checkQueue(n));
      assert.equal(gone.code, 404);
      assert.equal(replyText(gone), `NOT_FOUND - no queue '${n}' in vhost '/'`);
    }
  });

  test('direct reply-to RPC (amq.rabbitmq.reply-to)', async () => {
    const serverConn = await conns.connect();
    const sch = await channel(serverConn);
    const rpcQ = uniq('rpc');
    await sch.assertQueue(rpcQ, { exclusive: true });
    const seenReplyTo: string[] = [];
    await sch.consume(rpcQ, (m) => {
      if (m === null) return;
      seenReplyTo.push(m.properties.replyTo as string);
      sch.sendToQueue(m.properties.replyTo as string, Buffer.from(m.content.toString().toUpperCase()), {
        correlationId: m.properties.correlationId as string,
      });
      sch.ack(m);
    });

    const clientConn = await conns.connect();
    const cch = await channel(clientConn);
    const replies = await Inbox.consume(cch, 'amq.rabbitmq.reply-to', { noAck: true });
    for (const [i, w] of ['ping', 'pong', 'pang'].entries()) {
      cch.sendToQueue(rpcQ, Buffer.from(w), { replyTo: 'amq.rabbitmq.reply-to', correlationId: `c${i}` });
    }
    const got = await replies.take(3);
    assert.deepEqual(bodies(got), ['PING', 'PONG', 'PANG']);
    assert.deepEqual(
      got.map((m) => m.properties.correlationId),
      ['c0', 'c1', 'c2'],
    );
    assert.equal(got[0]!.fields.exchange, '');
    assert.equal(got[0]!.fields.routingKey, seenReplyTo[0]);
    assert.equal(new Set(seenReplyTo).size, 1, 'one reply address per channel');
    assert.ok(seenReplyTo[0]!.startsWith('amq.rabbitmq.reply-to.'), seenReplyTo[0]);
    assert.ok(seenReplyTo[0]!.length > 'amq.rabbitmq.reply-to.'.length + 8);

    // Clients probe for the feature with a (passive) declare; a live address can be checked too.
    const probe = await channel(serverConn);
    const rt = await probe.checkQueue('amq.rabbitmq.reply-to');
    assert.deepEqual(rt, { queue: 'amq.rabbitmq.reply-to', messageCount: 0, consumerCount: 1 });
    assert.equal((await probe.assertQueue('amq.rabbitmq.reply-to')).queue, 'amq.rabbitmq.reply-to');
    assert.equal((await probe.checkQueue(seenReplyTo[0]!)).consumerCount, 1);
    // The address is not a queue: get and consume on it are 404.
    const addr = seenReplyTo[0]!;
    for (const op of [(o: Channel) => o.get(addr), (o: Channel) => o.consume(addr, () => {})]) {
      const o = await channel(serverConn);
      const e = await rejection(op(o));
      assert.equal(e.code, 404);
      assert.equal(replyText(e), `NOT_FOUND - no queue '${addr}' in vhost '/'`);
      await within(o.closed, 5000, 'channel close');
    }
    const dead = `amq.rabbitmq.reply-to.${uniq('dead')}`;
    const e404 = await rejection((await channel(serverConn)).checkQueue(dead));
    assert.equal(e404.code, 404);
    // One reply consumer per channel; it must be noAck.
    const twice = await rejection(cch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true }));
    assert.equal(twice.code, 406);
    assert.equal(replyText(twice), 'PRECONDITION_FAILED - reply consumer already set');
    const acking = await rejection((await channel(clientConn)).consume('amq.rabbitmq.reply-to', () => {}));
    assert.equal(acking.code, 406);
    assert.equal(replyText(acking), 'PRECONDITION_FAILED - reply consumer cannot acknowledge');

    // Publishing with reply-to on a channel that has no reply consumer is a channel error.
    const lonely = await channel(clientConn);
    lonely.sendToQueue(rpcQ, Buffer.from('x'), { replyTo: 'amq.rabbitmq.reply-to' });
    await within(lonely.closed, 5000, 'channel close');
    assert.equal(lonely.errors[0]?.code, 406);
    assert.equal(replyText(lonely.errors[0]), 'PRECONDITION_FAILED - fast reply consumer does not exist');
    assert.deepEqual(sch.errors, []);
  });

  test('deleting a consumed queue sends basic.cancel (amqplib delivers null)', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const q = uniq('cancelled');
    await ch.assertQueue(q, { autoDelete: false });
    ch.sendToQueue(q, Buffer.from('before'));
    const box = await Inbox.consume(ch, q);
    const [m] = await box.take(1);
    const other = await channel(c);
    const { messageCount } = await other.deleteQueue(q);
    assert.equal(messageCount, 0);
    const got = await box.waitFor(2);
    assert.equal(got[1], null);
    ch.ack(m!); // the cancelled consumer's delivery can still be acked (a no-op for a deleted queue)
    await ch.checkExchange('amq.direct'); // the channel is still usable
    assert.deepEqual([...ch.errors, ...other.errors], []);
  });

  test('basic.qos prefetch limits unacked deliveries', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const q = uniq('qos');
    await ch.assertQueue(q, { exclusive: true });
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await ch.prefetch(2);
    const box = await Inbox.consume(ch, q);
    const first = await box.take(2);
    await box.settlesAt(2, 250);
    assert.equal((await ch.checkQueue(q)).messageCount, 4);
    ch.ack(first[0]!);
    await box.take(3);
    await box.settlesAt(3, 250);
    ch.ack((await box.take(3))[2]!, true); // acks 2..3 (tags 2 and 3)
    const all = await box.take(5);
    await box.settlesAt(5, 250);
    assert.deepEqual(bodies(all), ['0', '1', '2', '3', '4']);
    ch.ackAll();
    await box.take(6);
    assert.deepEqual(ch.errors, []);
  });

  test('basic.qos global prefetch is shared by the consumers of a channel', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const qa = uniq('qos-a');
    const qb = uniq('qos-b');
    for (const q of [qa, qb]) {
      await ch.assertQueue(q, { exclusive: true });
      for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(`${q}:${i}`));
    }
    await ch.prefetch(3, true);
    const a = await Inbox.consume(ch, qa);
    const b = await Inbox.consume(ch, qb);
    await a.waitFor(3);
    // "No more than 3": a busy machine could only hide a fourth delivery, never invent one.
    await sleep(200);
    assert.equal(a.messages.length + b.messages.length, 3);
    ch.ackAll();
    await b.waitFor(1);
    await poll(() => a.messages.length + b.messages.length >= 6, 'six deliveries in all');
    await sleep(200);
    assert.equal(a.messages.length + b.messages.length, 6);
    ch.ackAll();
    await a.waitFor(4);
    await b.waitFor(4);
    assert.deepEqual(ch.errors, []);
  });

  test('exclusive consumer: a second consumer gets 403 in exclusive use', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const q = uniq('xconsumer');
    await ch.assertQueue(q, { exclusive: true });
    await ch.consume(q, () => {}, { exclusive: true });
    const text = `ACCESS_REFUSED - queue '${q}' in vhost '/' in exclusive use`;
    const e = await rejection((await channel(c)).consume(q, () => {}));
    assert.equal(e.code, 403);
    assert.equal(replyText(e), text);
    const q2 = uniq('xconsumer2');
    await ch.assertQueue(q2, { exclusive: true });
    await ch.consume(q2, () => {});
    const e2 = await rejection((await channel(c)).consume(q2, () => {}, { exclusive: true }));
    assert.equal(e2.code, 403);
    assert.equal(replyText(e2), `ACCESS_REFUSED - queue '${q2}' in vhost '/' in exclusive use`);
  });

  test('typed header values survive headers routing and the reply-to rewrite', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const headers = {
      s: 'str',
      b: { '!': 'int8', value: -5 },
      ub: { '!': 'uint8', value: 200 },
      sh: { '!': 'int16', value: -300 },
      us: { '!': 'uint16', value: 60000 },
      i: { '!': 'int32', value: -70000 },
      ui: { '!': 'uint32', value: 4000000000 },
      l: { '!': 'int64', value: 2 ** 40 },
      f: { '!': 'float', value: 1.5 },
      d: 2.25,
      dec: { '!': 'decimal', value: { places: 2, digits: 12345 } },
      ts: { '!': 'timestamp', value: 1700000000 },
      t: true,
      v: null,
      x: Buffer.from([1, 2, 3]),
      arr: [1, 'a', [true], { k: 'v' }],
      tbl: { n: { m: 1 } },
      utf8: 'grüße 🚂',
    };
    const expected = {
      ...headers,
      b: -5,
      ub: 200,
      sh: -300,
      us: 60000,
      i: -70000,
      ui: 4000000000,
      l: 2 ** 40,
      f: 1.5,
    };
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.headers', '', {
      'x-match': 'all',
      dec: headers.dec,
      ts: headers.ts,
      f: headers.f,
      ui: headers.ui,
      utf8: headers.utf8,
    });
    await ch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true });
    const box = await Inbox.consume(ch, queue, { noAck: true });
    ch.sendToQueue(queue, Buffer.from('plain'), { headers });
    ch.publish('amq.headers', '', Buffer.from('routed'), { headers });
    ch.sendToQueue(queue, Buffer.from('reply-to'), { headers, replyTo: 'amq.rabbitmq.reply-to' });
    const got = await box.take(3);
    assert.deepEqual(bodies(got), ['plain', 'routed', 'reply-to']);
    for (const m of got) assert.deepEqual(m.properties.headers, expected, m.content.toString());
    assert.deepEqual(ch.errors, []);
  });
});
