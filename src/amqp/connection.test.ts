/**
 * Session tests: an AmqpConnection driven with bytes over an in-memory duplex pair, no socket.
 * The client side (test/support/amqp-client.ts) encodes its frames with the codec and decodes
 * what the server sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Broker } from '../core/index.js';
import { AmqpTestClient, frame, headerFrame, methodFrame } from '../../test/support/amqp-client.js';
import { duplexPair } from '../../test/support/duplex-pair.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { decodeProperties, FrameType } from './codec/index.js';
import { AmqpConnection } from './connection.js';
import { AmqpFrontEnd } from './index.js';
import { DEFAULT_AMQP_SETTINGS } from './settings.js';

function session(broker = new Broker({ clock: new ManualClock() })) {
  const [clientEnd, serverEnd] = duplexPair();
  const closed: AmqpConnection[] = [];
  const conn = new AmqpConnection(serverEnd, broker, DEFAULT_AMQP_SETTINGS, '127.0.0.1', (c) =>
    closed.push(c),
  );
  return { conn, client: new AmqpTestClient(clientEnd), broker, closed };
}

const declare = (queue: string, passive = false) =>
  ({
    kind: 'queue.declare',
    queue,
    passive,
    durable: false,
    exclusive: false,
    autoDelete: false,
    noWait: false,
    arguments: {},
  }) as const;

/** Lets the event loop run the server's flush (one setImmediate per turn). */
const turn = () => new Promise<void>((r) => setImmediate(r));

test('amqp session: handshake, declare, publish with confirms, consume, ack, close', async () => {
  const { conn, client, closed } = session();
  const tune = await client.handshake();
  assert.deepEqual([tune.channelMax, tune.frameMax, tune.heartbeat], [2047, 131072, 60]);
  assert.equal(conn.state, 'running');

  await client.openChannel(1);
  client.send(1, { kind: 'confirm.select', noWait: false });
  await client.expect('confirm.select-ok', 1);
  client.send(1, declare('jobs'));
  const ok = await client.expect('queue.declare-ok', 1);
  assert.deepEqual([ok.queue, ok.messageCount, ok.consumerCount], ['jobs', 0, 0]);

  // Two publishes in one chunk: one flush, so one coalesced confirm for both.
  const publish = (body: string, props = {}) => [
    methodFrame(1, {
      kind: 'basic.publish',
      exchange: '',
      routingKey: 'jobs',
      mandatory: false,
      immediate: false,
    }),
    headerFrame(1, body.length, props),
    frame(FrameType.BODY, 1, Buffer.from(body)),
  ];
  client.write(...publish('one', { contentType: 'text/plain', headers: { n: 1 } }), ...publish('two'));
  const ack = await client.expect('basic.ack', 1);
  assert.deepEqual([ack.deliveryTag, ack.multiple], [2, true]);

  client.send(1, {
    kind: 'basic.consume',
    queue: 'jobs',
    consumerTag: 'c1',
    noLocal: false,
    noAck: false,
    exclusive: false,
    noWait: false,
    arguments: {},
  });
  assert.equal((await client.expect('basic.consume-ok', 1)).consumerTag, 'c1');
  const one = await client.content('basic.deliver');
  const two = await client.content('basic.deliver');
  assert.deepEqual(
    [
      one.method.consumerTag,
      one.method.deliveryTag,
      one.method.exchange,
      one.method.routingKey,
      one.body.toString(),
    ],
    ['c1', 1, '', 'jobs', 'one'],
  );
  assert.deepEqual(decodeProperties(one.header.properties), { contentType: 'text/plain', headers: { n: 1 } });
  assert.deepEqual([two.method.deliveryTag, two.body.toString()], [2, 'two']);

  // Ack both, close the channel (unacked deliveries would be requeued), count on another channel.
  client.send(1, { kind: 'basic.ack', deliveryTag: 2, multiple: true });
  client.send(1, {
    kind: 'channel.close',
    replyCode: 200,
    replyText: 'bye',
    replyClassId: 0,
    replyMethodId: 0,
  });
  await client.expect('channel.close-ok', 1);
  await client.openChannel(2);
  client.send(2, declare('jobs', true));
  assert.equal((await client.expect('queue.declare-ok', 2)).messageCount, 0);

  client.send(0, {
    kind: 'connection.close',
    replyCode: 200,
    replyText: 'bye',
    replyClassId: 0,
    replyMethodId: 0,
  });
  await client.expect('connection.close-ok', 0);
  await client.closed();
  assert.deepEqual(closed, [conn]);
  assert.equal(conn.state, 'closed');
});

test('amqp session: a method on a channel never opened closes the connection with 504, naming it', async () => {
  const { client, closed } = session();
  await client.handshake();
  client.send(3, declare('q'));
  assert.deepEqual(await client.closeReason(0), [504, "CHANNEL_ERROR - expected 'channel.open'", 50, 10]);
  // Until close-ok, the server ignores everything else (0-9-1 section 2.2.4).
  client.send(1, { kind: 'channel.open' });
  client.send(0, { kind: 'connection.close-ok' });
  await client.closed();
  assert.equal(closed.length, 1);
  assert.deepEqual(client.unread(), []);
});

test('amqp session: a channel error closes only the channel, whose number can be opened again', async () => {
  const { client } = session();
  await client.handshake();
  await client.openChannel(1);
  client.send(1, declare('missing', true));
  // Frames after the error are dropped until the client's channel.close-ok.
  client.send(1, declare('other'));
  assert.deepEqual(await client.closeReason(1), [404, "NOT_FOUND - no queue 'missing' in vhost '/'", 50, 10]);
  client.send(1, { kind: 'channel.close-ok' });
  await client.openChannel(1);
  client.send(1, declare('other', true));
  await assert.rejects(
    client.expect('queue.declare-ok', 1),
    /expected queue\.declare-ok, got channel\.close/,
  );
});

test('amqp session: content out of place is 505 UNEXPECTED_FRAME on the connection', async () => {
  // A content header with no basic.publish before it names no method.
  const a = session();
  await a.client.handshake();
  await a.client.openChannel(1);
  a.client.write(headerFrame(1, 3));
  assert.deepEqual(await a.client.closeReason(0), [
    505,
    'UNEXPECTED_FRAME - expected method frame, got non method frame instead',
    0,
    0,
  ]);
  a.client.send(0, { kind: 'connection.close-ok' });
  await a.client.closed();

  // A method where a publish's content header was expected names the basic.publish.
  const b = session();
  await b.client.handshake();
  await b.client.openChannel(1);
  b.client.write(
    methodFrame(1, {
      kind: 'basic.publish',
      exchange: '',
      routingKey: 'q',
      mandatory: false,
      immediate: false,
    }),
    methodFrame(1, declare('q')),
  );
  assert.deepEqual(await b.client.closeReason(0), [
    505,
    'UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead',
    60,
    40,
  ]);
  b.client.send(0, { kind: 'connection.close-ok' });
  await b.client.closed();
});

test('amqp session: during a resource alarm a publish and the frames after it wait, then run in order', async () => {
  const broker = new Broker({ clock: new ManualClock() });
  const frontEnd = new AmqpFrontEnd(broker);
  const [clientEnd, serverEnd] = duplexPair();
  frontEnd.accept(serverEnd, '127.0.0.1');
  const client = new AmqpTestClient(clientEnd);
  await client.handshake({ capabilities: { 'connection.blocked': true } });
  await client.openChannel(1);
  client.send(1, { kind: 'confirm.select', noWait: false });
  await client.expect('confirm.select-ok', 1);
  client.send(1, declare('q'));
  await client.expect('queue.declare-ok', 1);

  broker.setAlarm('memory', true);
  assert.equal((await client.expect('connection.blocked', 0)).reason, 'low on memory');
  client.publish(1, '', 'q', Buffer.from('held'));
  client.send(1, declare('q', true));
  for (let i = 0; i < 5; i++) await turn();
  assert.deepEqual(client.unread(), [], 'nothing is answered while the publish waits');

  broker.setAlarm('memory', false);
  await client.expect('connection.unblocked', 0);
  // The declare ran after the publish it followed: it counts the message.
  assert.equal((await client.expect('queue.declare-ok', 1)).messageCount, 1);
  assert.equal((await client.expect('basic.ack', 1)).deliveryTag, 1);
  const closing = frontEnd.close();
  assert.equal((await client.expect('connection.close', 0)).replyCode, 320);
  client.send(0, { kind: 'connection.close-ok' });
  await closing;
  assert.equal(frontEnd.stats().connections, 0);
});

test('session: frames pipelined behind start-ok wait for the password check, then run in order', async () => {
  const { client } = session();
  client.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  await client.expect('connection.start', 0);
  // One write: start-ok, tune-ok, open and a channel, as a client that does not wait for tune.
  client.write(
    methodFrame(0, {
      kind: 'connection.start-ok',
      clientProperties: {},
      mechanism: 'PLAIN',
      response: Buffer.from('\0guest\0guest'),
      locale: 'en_US',
    }),
    methodFrame(0, { kind: 'connection.tune-ok', channelMax: 16, frameMax: 131072, heartbeat: 0 }),
    methodFrame(0, { kind: 'connection.open', virtualHost: '/' }),
    methodFrame(1, { kind: 'channel.open' }),
  );
  await client.expect('connection.tune', 0);
  await client.expect('connection.open-ok', 0);
  await client.expect('channel.open-ok', 1);
});
