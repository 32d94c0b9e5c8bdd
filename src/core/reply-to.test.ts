/** Exclusive consumers and direct reply-to (amq.rabbitmq.reply-to) through the core, as RabbitMQ 3.x. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker, type CoreConnection, Message, REPLY_TO } from './index.js';
import { consume, open, Sink, setup, throwsCode } from './test-consumers.js';

test('exclusive consumer: refuses other consumers, and is refused when others exist', () => {
  const { c, s, sink } = setup('q', 'busy');
  consume(c, s, 'q', 'ex', sink, { exclusive: true });
  throwsCode(
    () => consume(c, s, 'q', 'second', sink),
    'ACCESS_REFUSED',
    /queue 'q' in vhost '\/' in exclusive use/,
  );
  consume(c, s, 'busy', 'first', sink);
  throwsCode(() => consume(c, s, 'busy', 'ex', sink, { exclusive: true }), 'ACCESS_REFUSED');
  s.removeConsumer('ex');
  consume(c, s, 'q', 'second', sink);
});

test('direct reply-to: consume requires noAck', () => {
  const { c, s, sink } = setup();
  throwsCode(
    () => consume(c, s, REPLY_TO, 'rt', sink),
    'PRECONDITION_FAILED',
    /reply consumer cannot acknowledge/,
  );
  assert.equal(c.replyToAddress(s), undefined);
});

test('direct reply-to: a publish to the reply-to address reaches the consumer', () => {
  const broker = new Broker();
  const client = open(broker);
  const server = open(broker);
  const s = client.openSession();
  const sink = new Sink();
  assert.equal(client.replyToAddress(s), undefined);
  consume(client, s, REPLY_TO, 'rt', sink, { noAck: true });
  const addr = client.replyToAddress(s)!;
  assert.match(addr, /^amq\.rabbitmq\.reply-to\.[A-Za-z0-9_-]+$/);
  // The server answers on the default exchange with the address as routing key.
  const routed = server.publish(
    server.admitPublish('', '', 'accept'),
    new Message('', addr, Buffer.from('pong'), {}),
  );
  assert.deepEqual(
    routed.queues.map((q) => q.name),
    [addr],
  );
  assert.deepEqual(
    sink.got.map((d) => [d.consumer, d.body]),
    [['rt', 'pong']],
  );
  // Another session gets its own address; a made-up address routes nowhere.
  const s2 = client.openSession();
  consume(client, s2, REPLY_TO, 'rt', new Sink(), { noAck: true });
  assert.notEqual(client.replyToAddress(s2), addr);
  assert.deepEqual(
    server.publish(
      server.admitPublish('', '', 'accept'),
      new Message('', `${REPLY_TO}.bogus`, Buffer.alloc(0), {}),
    ).queues,
    [],
  );
  // It is a pseudo-queue: not listed among the queues.
  assert.ok(!client.vhost.queues.has(addr));
});

test('direct reply-to: the address stops routing when the consumer or connection goes', () => {
  const broker = new Broker();
  const client = open(broker);
  const server = open(broker);
  const s1 = client.openSession();
  consume(client, s1, REPLY_TO, 'rt', new Sink(), { noAck: true });
  const a1 = client.replyToAddress(s1)!;
  s1.removeConsumer('rt');
  assert.deepEqual(
    server.publish(server.admitPublish('', '', 'accept'), new Message('', a1, Buffer.alloc(0), {})).queues,
    [],
  );
  const s2 = client.openSession();
  consume(client, s2, REPLY_TO, 'rt', new Sink(), { noAck: true });
  const a2 = client.replyToAddress(s2)!;
  client.close();
  assert.deepEqual(
    server.publish(server.admitPublish('', '', 'accept'), new Message('', a2, Buffer.alloc(0), {})).queues,
    [],
  );
  assert.equal(server.vhost.replyQueues.size, 0);
});

test('direct reply-to: one reply consumer per session; declare probes the feature and live addresses', () => {
  const broker = new Broker();
  const client = open(broker);
  const other = open(broker);
  const s = client.openSession();
  consume(client, s, REPLY_TO, 'rt', new Sink(), { noAck: true });
  throwsCode(
    () => consume(client, s, REPLY_TO, 'rt2', new Sink(), { noAck: true }),
    'PRECONDITION_FAILED',
    /^reply consumer already set$/,
  );
  const addr = client.replyToAddress(s)!;
  const declare = (c: CoreConnection, name: string, passive: boolean) =>
    c.declareQueue(name, { durable: false, exclusive: false, autoDelete: false, passive, args: {} });
  // As RabbitMQ: declaring the pseudo-queue (passive or not) or a live address answers 0 / 1.
  assert.deepEqual(declare(other, REPLY_TO, true), {
    name: REPLY_TO,
    messageCount: 0,
    consumerCount: 1,
    written: undefined,
  });
  assert.deepEqual(declare(other, REPLY_TO, false), {
    name: REPLY_TO,
    messageCount: 0,
    consumerCount: 1,
    written: undefined,
  });
  assert.deepEqual(declare(other, addr, true), {
    name: addr,
    messageCount: 0,
    consumerCount: 1,
    written: undefined,
  });
  throwsCode(() => declare(other, `${REPLY_TO}.gone`, true), 'NOT_FOUND');
  // An address is not a queue: get and consume on it are NOT_FOUND, from any connection.
  throwsCode(
    () => client.get(s, addr, true),
    'NOT_FOUND',
    /^no queue 'amq\.rabbitmq\.reply-to\..*' in vhost '\/'$/,
  );
  throwsCode(() => consume(other, other.openSession(), addr, 'x', new Sink()), 'NOT_FOUND');
});
