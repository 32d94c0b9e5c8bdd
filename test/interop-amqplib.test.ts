/**
 * Interop with amqplib: every scenario runs against each target of interopTargets() (Switchyard,
 * and RabbitMQ when RABBITMQ_URL is set), so a difference from RabbitMQ shows up as a failure.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Channel, GetMessage, Message } from 'amqplib';
import amqp from 'amqplib';
import { listenAmqp } from '../src/amqp/listener.js';
import { Broker } from '../src/core/index.js';
import { interopTargets, uniq } from './helpers.js';
import { poll, WAIT_MS } from './support/wait.js';
import {
  bodies,
  Connections,
  channel,
  confirmChannel,
  Inbox,
  RawAmqp,
  txRpc,
  rejection,
  replyText,
  within,
} from './interop-support.js';

const targets = await interopTargets();
after(async () => {
  for (const t of targets) await t.stop();
});

/** Takes every ready message from a queue with basic.get (bounded), acking them. */
async function drain(ch: Channel, queue: string, max = 100): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < max; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
  throw new Error(`more than ${max} messages in ${queue}`);
}

function getOk(m: GetMessage | false): GetMessage {
  assert.notEqual(m, false, 'expected get-ok, got get-empty');
  return m as GetMessage;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOCKED_TAIL =
  '. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.';

for (const target of targets) {
  describe(`amqplib against ${target.name}`, { skip: target.skip }, () => {
    const conns = new Connections(target.url);
    after(() => conns.closeAll());

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

    test('channel errors: codes and reply texts in RabbitMQ form', async () => {
      const c = await conns.connect();
      const q = uniq('errs');
      const x = uniq('errx');
      const fails = async (op: (ch: Channel) => Promise<unknown>, code: number, text: string) => {
        const ch = await channel(c);
        const e = await rejection(op(ch));
        assert.equal(e.code, code, e.message);
        assert.equal(replyText(e), text);
        await within(ch.closed, 5000, 'channel close');
      };
      await fails((ch) => ch.checkQueue(q), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);
      await fails((ch) => ch.checkExchange(x), 404, `NOT_FOUND - no exchange '${x}' in vhost '/'`);
      await fails((ch) => ch.get(q), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);
      await fails(
        (ch) => ch.bindQueue(q, 'amq.direct', 'k'),
        404,
        `NOT_FOUND - no queue '${q}' in vhost '/'`,
      );

      const setup = await channel(c);
      await setup.assertQueue(q, { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 1000 } });
      await setup.assertExchange(x, 'direct', { autoDelete: false, alternateExchange: 'ae-a' });
      await fails(
        (ch) => ch.assertQueue(q, { durable: true, autoDelete: true, arguments: { 'x-message-ttl': 1000 } }),
        406,
        `PRECONDITION_FAILED - inequivalent arg 'durable' for queue '${q}' in vhost '/': received 'true' but current is 'false'`,
      );
      await fails(
        (ch) => ch.assertQueue(q, { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 2000 } }),
        406,
        `PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '${q}' in vhost '/': received '2000' but current is '1000'`,
      );
      await fails(
        (ch) => ch.assertExchange(x, 'fanout', { autoDelete: false, alternateExchange: 'ae-a' }),
        406,
        `PRECONDITION_FAILED - inequivalent arg 'type' for exchange '${x}' in vhost '/': received 'fanout' but current is 'direct'`,
      );
      await fails(
        (ch) => ch.assertExchange(x, 'direct', { autoDelete: false, alternateExchange: 'ae-b' }),
        406,
        `PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '${x}' in vhost '/': received 'ae-b' but current is 'ae-a'`,
      );
      await fails(
        (ch) => ch.bindQueue(q, 'amq.headers', '', { 'x-match': 'bad' }),
        406,
        `PRECONDITION_FAILED - Invalid x-match field value <<"bad">>; expected all, any, all-with-x, or any-with-x`,
      );
      const amqQ = `amq.${uniq('q')}`;
      await fails(
        (ch) => ch.assertQueue(amqQ),
        403,
        `ACCESS_REFUSED - queue name '${amqQ}' contains reserved prefix 'amq.*'`,
      );
      await fails(
        (ch) => ch.assertExchange(amqQ, 'direct'),
        403,
        `ACCESS_REFUSED - exchange name '${amqQ}' contains reserved prefix 'amq.*'`,
      );
      await fails(
        (ch) => ch.deleteExchange('amq.direct'),
        403,
        `ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed`,
      );
      setup.sendToQueue(q, Buffer.from('x'));
      await fails(
        (ch) => ch.deleteQueue(q, { ifEmpty: true }),
        406,
        `PRECONDITION_FAILED - queue '${q}' in vhost '/' not empty`,
      );

      // Asynchronous methods: the channel closes with the error.
      const asyncFails = async (op: (ch: Channel) => void, code: number, text: string) => {
        const ch = await channel(c);
        op(ch);
        await within(ch.closed, 5000, 'channel close');
        assert.equal(ch.errors.length, 1);
        assert.equal(ch.errors[0]!.code, code, ch.errors[0]!.message);
        assert.equal(replyText(ch.errors[0]), text);
      };
      const fakeTag = (deliveryTag: number) => ({ fields: { deliveryTag } }) as Message;
      await asyncFails((ch) => ch.ack(fakeTag(99)), 406, 'PRECONDITION_FAILED - unknown delivery tag 99');
      await asyncFails(
        (ch) => ch.nack(fakeTag(7), true, true),
        406,
        'PRECONDITION_FAILED - unknown delivery tag 7',
      );
      await asyncFails(
        (ch) => ch.publish(`${x}-missing`, 'k', Buffer.from('x')),
        404,
        `NOT_FOUND - no exchange '${x}-missing' in vhost '/'`,
      );
      await asyncFails(
        (ch) => ch.sendToQueue(q, Buffer.from('x'), { userId: 'mallory' }),
        406,
        "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated user was 'guest'",
      );

      // Idempotent operations that RabbitMQ 3.x answers with -ok.
      const ok = await channel(c);
      await ok.deleteQueue(uniq('never'));
      await ok.deleteExchange(uniq('never'));
      await ok.unbindQueue(q, 'amq.direct', 'never-bound');
      await ok.unbindQueue(uniq('never'), 'amq.direct', 'k');
      await ok.unbindQueue(q, uniq('never'), 'k');
      await ok.unbindExchange(uniq('never'), 'amq.direct', 'k');
      await ok.deleteExchange(x);
      await ok.deleteQueue(q);
      assert.deepEqual(ok.errors, []);
      assert.deepEqual(c.errors, []);
    });

    test('connection errors: 503 unknown exchange type, 530 unknown vhost, 403 bad login', async () => {
      const c = await conns.connect();
      const ch = await channel(c);
      const closed = new Promise<void>((r) => c.once('close', () => r()));
      const e = await rejection(ch.assertExchange(uniq('x'), 'no-such-type'));
      assert.ok(e instanceof Error);
      await within(closed, 5000, 'connection close');
      assert.equal(c.errors.length, 1);
      assert.equal(c.errors[0]!.code, 503);
      assert.equal(replyText(c.errors[0]), "COMMAND_INVALID - unknown exchange type 'no-such-type'");

      const vhost = uniq('no-vhost');
      const raw = await RawAmqp.connect(target.port);
      try {
        const r = await raw.handshake(0, vhost);
        assert.deepEqual(r, {
          ok: false,
          replyCode: 530,
          replyText: `NOT_ALLOWED - vhost ${vhost} not found`,
        });
      } finally {
        raw.destroy();
      }
      await assert.rejects(amqp.connect(`${target.url}/${vhost}`));

      const viaAmqplain = await amqp.connect(target.url, {
        credentials: amqp.credentials.amqplain('guest', 'guest'),
      });
      await (await viaAmqplain.createChannel()).checkExchange('amq.direct');
      await viaAmqplain.close();

      const bad = await rejection(amqp.connect(target.url.replace('guest:guest', 'guest:wrong')));
      assert.match(
        bad.message,
        /403 \(ACCESS-REFUSED\) with message "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN\. For details see the broker logfile\."/,
      );
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

    test('heartbeats and handshake timeout: idle clients stay, silent ones are dropped', async () => {
      const idle = async () => {
        const c = await conns.connect({ query: 'heartbeat=1' });
        const ch = await channel(c);
        await sleep(3200);
        const { queue } = await ch.assertQueue('', { exclusive: true });
        ch.sendToQueue(queue, Buffer.from('still here'));
        const m = getOk(await ch.get(queue, { noAck: true }));
        assert.equal(m.content.toString(), 'still here');
        assert.deepEqual(c.errors, []);
      };
      // The lower bounds are sound (timed from before the connect); the upper ones are only the
      // wait's safety net, as a busy machine can make any timer late.
      const silent = async () => {
        const raw = await RawAmqp.connect(target.port);
        try {
          assert.deepEqual(await raw.handshake(1), { ok: true });
          const ms = await within(raw.closed, WAIT_MS, 'the broker to drop the silent client');
          assert.ok(ms >= 1000, `dropped after ${ms} ms`);
        } finally {
          raw.destroy();
        }
      };
      // A client that never completes the handshake is dropped after the handshake timeout:
      // RabbitMQ's is 10 s; the Switchyard side runs a listener with 1 s to keep the suite fast.
      const handshake = async () => {
        let port = target.port;
        let min = 9000; // RabbitMQ's 10 s, less a second for however it counts
        let stop = () => Promise.resolve();
        if (target.name === 'switchyard') {
          const l = await listenAmqp(new Broker(), '127.0.0.1', 0, { handshakeTimeout: 1000 });
          port = l.address.port;
          min = 1000;
          stop = () => l.close();
        }
        const quiet = await RawAmqp.connect(port);
        const headerOnly = await RawAmqp.connect(port);
        try {
          headerOnly.socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
          const start = await headerOnly.method();
          assert.deepEqual([start.classId, start.methodId], [10, 10]);
          for (const raw of [quiet, headerOnly]) {
            const ms = await within(raw.closed, min + WAIT_MS, 'the broker to drop a handshaking client');
            assert.ok(ms >= min, `dropped after ${ms} ms`);
          }
        } finally {
          quiet.destroy();
          headerOnly.destroy();
          await stop();
        }
      };
      await Promise.all([idle(), silent(), handshake()]);
    });

    test('1 MiB and 64 MiB bodies round trip intact', async () => {
      const c = await conns.connect();
      const ch = await channel(c);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const small = randomBytes(1024 * 1024);
      const big = randomBytes(64 * 1024 * 1024);
      ch.sendToQueue(queue, small);
      ch.sendToQueue(queue, big);
      const box = await Inbox.consume(ch, queue, { noAck: true });
      const got = await box.take(2, 60_000);
      assert.equal(got[0]!.content.length, small.length);
      assert.equal(sha(got[0]!.content), sha(small));
      assert.equal(got[1]!.content.length, big.length);
      assert.equal(sha(got[1]!.content), sha(big));
      assert.deepEqual(ch.errors, []);
      await c.close();

      // The same 1 MiB in 4 KiB frames (the smallest frame_max).
      const small4k = await conns.connect({ query: 'frameMax=4096' });
      const ch4k = await channel(small4k);
      const q4k = (await ch4k.assertQueue('', { exclusive: true })).queue;
      ch4k.sendToQueue(q4k, small, { headers: { big: 'x'.repeat(2000) } });
      const box4k = await Inbox.consume(ch4k, q4k, { noAck: true });
      const [m4k] = await box4k.take(1, 30_000);
      assert.equal(sha(m4k!.content), sha(small));
      assert.equal(m4k!.properties.headers?.big, 'x'.repeat(2000));
      await small4k.close();
    });

    test('1,000 channels on one connection each publish and consume', async () => {
      const c = await conns.connect();
      const N = 1000;
      const chans = await Promise.all(Array.from({ length: N }, () => channel(c)));
      await Promise.all(
        chans.map(async (ch, i) => {
          const { queue } = await ch.assertQueue('', { exclusive: true });
          ch.sendToQueue(queue, Buffer.from(`m${i}`));
          const box = await Inbox.consume(ch, queue, { noAck: true });
          const [m] = await box.take(1, 30_000);
          assert.equal(m!.content.toString(), `m${i}`);
        }),
      );
      assert.deepEqual(
        chans.flatMap((ch) => ch.errors),
        [],
      );
      await c.close();
    });

    test('100 concurrent connections each publish and consume', async () => {
      const N = 100;
      const PER = 20;
      await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const c = await conns.connect();
          const ch = await channel(c);
          const { queue } = await ch.assertQueue('', { exclusive: true });
          for (let k = 0; k < PER; k++) ch.sendToQueue(queue, Buffer.from(`${i}:${k}`));
          const box = await Inbox.consume(ch, queue);
          const got = await box.take(PER, 30_000);
          assert.deepEqual(
            bodies(got),
            Array.from({ length: PER }, (_, k) => `${i}:${k}`),
          );
          ch.ack(got.at(-1)!, true);
          assert.deepEqual(ch.errors, []);
          await c.close();
        }),
      );
    });
  });
}
