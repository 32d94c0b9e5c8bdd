/**
 * Interop with amqp-tools (the librabbitmq command-line clients): amqp-declare-queue,
 * amqp-publish, amqp-consume, amqp-get and amqp-delete-queue run as child processes against each
 * target of interopTargets(); amqplib sets up and checks what the tools cannot show.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { interopTargets, uniq } from './helpers.js';
import { Connections, channel, confirmChannel, Inbox, rejection, replyText, run } from './interop-support.js';
import { skipUnless } from './support/tools.js';
import { poll } from './support/wait.js';

const skip = await skipUnless('amqp-tools');

const targets = await interopTargets();
after(async () => {
  for (const t of targets) await t.stop();
});

for (const target of targets) {
  describe(`amqp-tools against ${target.name}`, { concurrency: true, skip: skip || target.skip }, () => {
    const conns = new Connections(target.url);
    after(() => conns.closeAll());
    const url = `amqp://guest:guest@127.0.0.1:${target.port}`;
    const tool = (name: string, args: string[], input?: string) =>
      run(`/usr/bin/${name}`, ['--url', url, ...args], input === undefined ? {} : { input });
    const ok = async (name: string, args: string[], input?: string) => {
      const r = await tool(name, args, input);
      assert.equal(r.code, 0, `${name} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return r.stdout;
    };

    test('amqp-declare-queue: named, durable and server-named queues', async () => {
      const q = uniq('tools-decl');
      const qd = uniq('tools-durable');
      assert.equal(await ok('amqp-declare-queue', ['-q', q]), `${q}\n`);
      assert.equal(await ok('amqp-declare-queue', ['-q', qd, '-d']), `${qd}\n`);
      const gen = (await ok('amqp-declare-queue', ['-q', ''])).trim();
      assert.match(gen, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
      const ch = await channel(await conns.connect());
      assert.equal((await ch.checkQueue(q)).messageCount, 0);
      // Redeclaring the non-durable queue as durable is refused with RabbitMQ's text.
      const redeclare = await tool('amqp-declare-queue', ['-q', q, '-d']);
      assert.notEqual(redeclare.code, 0);
      assert.match(
        redeclare.stderr,
        new RegExp(
          `406, message: PRECONDITION_FAILED - inequivalent arg 'durable' for queue '${q}' in vhost '/': received 'true' but current is 'false'`,
        ),
      );
      for (const n of [q, qd]) await ch.deleteQueue(n);
    });

    test('amqp-publish: -r, -e, -p, -C, -E, -H and -l reach an amqplib consumer intact', async () => {
      const ch = await channel(await conns.connect());
      const q = uniq('tools-pub');
      const x = uniq('tools-x');
      await ch.assertQueue(q, { exclusive: true });
      await ch.assertExchange(x, 'topic', { autoDelete: false });
      await ch.bindQueue(q, x, 'tools.#');
      await ok('amqp-publish', ['-r', q, '-b', 'plain']);
      await ok('amqp-publish', [
        '-e',
        x,
        '-r',
        'tools.rich',
        '-p',
        '-C',
        'text/plain',
        '-E',
        'utf-8',
        '-H',
        'k: v',
        '-H',
        'other: 42',
        '-b',
        'rich',
      ]);
      await ok('amqp-publish', ['-e', x, '-r', 'tools.lines', '-l'], 'line one\nline two\n');
      await ok('amqp-publish', ['-r', q], 'from stdin');
      const box = await Inbox.consume(ch, q, { noAck: true });
      const got = await box.take(5);
      assert.deepEqual(
        got.map((m) => m.content.toString()),
        ['plain', 'rich', 'line one\n', 'line two\n', 'from stdin'],
      );
      const rich = got[1]!;
      assert.equal(rich.fields.exchange, x);
      assert.equal(rich.fields.routingKey, 'tools.rich');
      assert.equal(rich.properties.deliveryMode, 2);
      assert.equal(rich.properties.contentType, 'text/plain');
      assert.equal(rich.properties.contentEncoding, 'utf-8');
      assert.deepEqual(rich.properties.headers, { k: 'v', other: '42' });
      assert.equal(got[0]!.properties.deliveryMode, 1, 'amqp-publish marks messages transient without -p');
      await ch.deleteExchange(x);
    });

    test('amqp-publish to a missing exchange fails with 404', async () => {
      const x = uniq('tools-nox');
      const r = await tool('amqp-publish', ['-e', x, '-r', 'k', '-b', 'x']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`404, message: NOT_FOUND - no exchange '${x}' in vhost '/'`));
    });

    test('amqp-consume -c N runs the command once per message, then exits', async () => {
      const q = uniq('tools-consume');
      await ok('amqp-declare-queue', ['-q', q]);
      for (const b of ['one\n', 'two\n', 'three\n', 'four\n']) await ok('amqp-publish', ['-r', q, '-b', b]);
      assert.equal(await ok('amqp-consume', ['-q', q, '-c', '3', '-p', '1', 'cat']), 'one\ntwo\nthree\n');
      assert.equal(await ok('amqp-consume', ['-q', q, '-c', '1', '-A', 'cat']), 'four\n');
      const ch = await channel(await conns.connect());
      const left = await ch.checkQueue(q);
      assert.deepEqual([left.messageCount, left.consumerCount], [0, 0]);
      await ch.deleteQueue(q);
    });

    test('amqp-consume -e -r binds its queue; heartbeat=1 keeps it alive while idle', async () => {
      const q = uniq('tools-bound');
      const x = uniq('tools-bx');
      const c = await conns.connect();
      const ch = await confirmChannel(c);
      await ch.assertExchange(x, 'direct', { autoDelete: false });
      // amqp-consume declares the queue itself (non-durable, auto-delete) and binds it.
      const consumer = tool('amqp-consume', ['--heartbeat=1', '-q', q, '-e', x, '-r', 'k', '-c', '2', 'cat']);
      // Wait (bounded) until amqp-consume has bound the queue: a mandatory publish stops coming back.
      let returned = 0;
      ch.on('return', () => returned++);
      await poll(
        async () => {
          const before = returned;
          ch.publish(x, 'k', Buffer.from('first\n'), { mandatory: true });
          await ch.waitForConfirms();
          return returned === before;
        },
        'amqp-consume to bind its queue',
        undefined,
        25,
      );
      // Idle for longer than two heartbeat intervals, then the second message. (A process stalled
      // for two intervals would be dropped: only a broker clock the test moves could rule it out.)
      await new Promise((r) => setTimeout(r, 3000));
      ch.publish(x, 'k', Buffer.from('second\n'));
      const r = await consumer;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'first\nsecond\n');
      // Its consumer gone, the auto-delete queue went with it.
      const gone = await rejection((await channel(c)).checkQueue(q));
      assert.equal(gone.code, 404);
      await ch.deleteExchange(x);
    });

    test('amqp-get: a message, then an empty queue, then a missing queue', async () => {
      const q = uniq('tools-get');
      await ok('amqp-declare-queue', ['-q', q]);
      await ok('amqp-publish', ['-r', q, '-b', 'got it']);
      assert.equal(await ok('amqp-get', ['-q', q]), 'got it');
      const empty = await tool('amqp-get', ['-q', q]);
      assert.equal(empty.code, 2, 'amqp-get exits 2 on get-empty');
      assert.equal(empty.stdout, '');
      const nope = uniq('tools-nope');
      const missingQ = await tool('amqp-get', ['-q', nope]);
      assert.equal(missingQ.code, 1);
      assert.match(
        missingQ.stderr,
        new RegExp(
          `basic\\.get: server channel error 404, message: NOT_FOUND - no queue '${nope}' in vhost '/'`,
        ),
      );
      await ok('amqp-delete-queue', ['-q', q]);
    });

    test('amqp-delete-queue: --if-empty refuses a non-empty queue, then deletes it', async () => {
      const q = uniq('tools-del');
      await ok('amqp-declare-queue', ['-q', q]);
      await ok('amqp-publish', ['-r', q, '-b', 'x']);
      const c = await conns.connect();
      const refused = await tool('amqp-delete-queue', ['-q', q, '--if-empty']);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        new RegExp(`406, message: PRECONDITION_FAILED - queue '${q}' in vhost '/' not empty`),
      );
      assert.equal(await ok('amqp-delete-queue', ['-q', q]), '1\n');
      const gone = await rejection((await channel(c)).checkQueue(q));
      assert.equal(gone.code, 404);
      assert.equal(replyText(gone), `NOT_FOUND - no queue '${q}' in vhost '/'`);
    });
  });
}
