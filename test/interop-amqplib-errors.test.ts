/**
 * Interop with amqplib, errors: channel and connection errors with their codes and reply texts in
 * RabbitMQ's form.
 *
 * Every scenario runs against Switchyard, and RabbitMQ when RABBITMQ_URL is set (amqplibSuites).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel, Message } from 'amqplib';
import amqp from 'amqplib';
import { uniq } from './helpers.js';
import { amqplibSuites, channel, RawAmqp, rejection, replyText, within } from './interop-support.js';

await amqplibSuites((target, conns) => {
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
    await fails((ch) => ch.bindQueue(q, 'amq.direct', 'k'), 404, `NOT_FOUND - no queue '${q}' in vhost '/'`);

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
});
