/**
 * Heartbeats, the handshake timeout and the close timeout, on a ManualClock: connections run
 * over in-memory duplex pairs under an AmqpFrontEnd whose one-second tick the test moves, so
 * every assertion is at an exact time instead of within a window of real time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AmqpTestClient, frame } from '../../test/support/amqp-client.js';
import { duplexPair } from '../../test/support/duplex-pair.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { Broker } from '../core/index.js';
import { FrameType, PROTOCOL_HEADER } from './codec/index.js';
import { AmqpFrontEnd } from './index.js';
import type { AmqpSettings } from './settings.js';

function frontEnd(settings: Partial<AmqpSettings> = {}) {
  const clock = new ManualClock();
  const fe = new AmqpFrontEnd(new Broker({ clock }), settings);
  const connect = () => {
    const [clientEnd, serverEnd] = duplexPair();
    fe.accept(serverEnd, '127.0.0.1');
    return new AmqpTestClient(clientEnd);
  };
  return { clock, fe, connect };
}

/** Lets the event loop run what a timer started (a flush, a stream's end). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

test('amqp heartbeats: sent after half an interval without writes; two silent intervals drop the client', async () => {
  const { clock, fe, connect } = frontEnd();
  const client = connect();
  await client.handshake({ heartbeat: 2 });

  // Nothing written for 1 s (half the 2 s interval): the server sends a heartbeat.
  clock.advance(999);
  await settle();
  assert.equal(client.received.length, 0);
  clock.advance(1);
  await client.heartbeat();

  // The client's own heartbeat at t = 1 s is the last byte it sends.
  client.write(frame(FrameType.HEARTBEAT, 0, Buffer.alloc(0)));
  await settle();
  // Two intervals (4 s) after it, at t = 5 s, the client is still there; the next tick drops it.
  clock.advance(4000);
  await settle();
  assert.equal(fe.stats().connections, 1);
  assert.equal(client.ended, false);
  clock.advance(1000);
  await client.closed();
  assert.equal(fe.stats().connections, 0);
  // RabbitMQ drops a dead peer without a close method.
  assert.deepEqual(client.unread(), []);
});

test('amqp heartbeats: off when the client asks for 0, however long the connection is idle', async () => {
  const { clock, fe, connect } = frontEnd();
  const client = connect();
  await client.handshake({ heartbeat: 0 });
  clock.advance(3_600_000);
  await settle();
  assert.deepEqual(client.received, []);
  assert.equal(fe.stats().connections, 1);
  const closing = fe.close();
  await client.expect('connection.close', 0);
  client.send(0, { kind: 'connection.close-ok' });
  await closing;
});

test('amqp handshake timeout: a client that has not opened the connection in time is dropped', async () => {
  const { clock, fe, connect } = frontEnd({ handshakeTimeout: 1000 });
  const silent = connect();
  const headerOnly = connect();
  const opened = connect();
  headerOnly.write(PROTOCOL_HEADER);
  await headerOnly.expect('connection.start', 0);
  await opened.handshake();

  // The timeout has just run out at the first tick (t = 1 s): it must be exceeded.
  clock.advance(1000);
  await settle();
  assert.equal(fe.stats().connections, 3);
  clock.advance(1000);
  await silent.closed();
  await headerOnly.closed();
  assert.deepEqual([silent.unread(), headerOnly.unread()], [[], []], 'no close method');
  // The connection that was opened in time stays.
  assert.equal(fe.stats().connections, 1);
  assert.equal(opened.ended, false);
});

test('amqp close timeout: a client that never answers connection.close is dropped after 3 s', async () => {
  const { clock, fe, connect } = frontEnd();
  const client = connect();
  await client.handshake();
  let closed = false;
  const closing = fe.close().then(() => {
    closed = true;
  });
  const close = await client.expect('connection.close', 0);
  assert.deepEqual([close.replyCode, close.replyText], [320, 'CONNECTION_FORCED - broker shutdown']);
  clock.advance(2999);
  await settle();
  assert.deepEqual([client.ended, closed], [false, false]);
  clock.advance(1);
  await client.closed();
  await closing;
  assert.equal(fe.stats().connections, 0);
});

test('amqp close timeout: a client that failed the handshake is dropped 100 ms after the close', async () => {
  const { clock, connect } = frontEnd();
  const client = connect();
  client.write(PROTOCOL_HEADER);
  await client.expect('connection.start', 0);
  client.send(0, {
    kind: 'connection.start-ok',
    clientProperties: { capabilities: { authentication_failure_close: true } },
    mechanism: 'PLAIN',
    response: Buffer.from('\0guest\0wrong'),
    locale: 'en_US',
  });
  // A wrong password is answered after the failure delay (1 s), on the broker's clock.
  await settle();
  assert.equal(client.ended, false);
  clock.advance(1000);
  const close = await client.expect('connection.close', 0);
  assert.equal(close.replyCode, 403);
  clock.advance(99);
  await settle();
  assert.equal(client.ended, false);
  clock.advance(1);
  await client.closed();
});
