/**
 * Sessions of the native WebSocket protocol over an in-memory duplex pair, no sockets: the real
 * front end and the real `ws` client, joined by test/support/duplex-pair.ts through public APIs
 * only (an http.Server takes any Duplex through its 'connection' event; ws's client takes one
 * through `createConnection`). Time is a ManualClock: pings, the shutdown grace period.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import WebSocket from 'ws';
import { duplexPair } from '../../test/support/duplex-pair.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { Client } from '../../test/ws-client.js';
import { Broker, type CoreConnection } from '../core/index.js';
import { WsFrontEnd, type WsSettings } from './index.js';

const AUTH = `Basic ${Buffer.from('u:p').toString('base64')}`;

/** A broker with user u:p, its /ws front end, and an HTTP server fed duplex streams. */
function harness(settings: Partial<WsSettings> = {}) {
  const clock = new ManualClock();
  const broker = new Broker({
    users: { u: 'p' },
    loopbackUsers: [],
    permissions: [{ user: 'u', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    clock,
  });
  const fe = new WsFrontEnd(broker, {
    anonymous: 'never',
    maxPayload: 1 << 20,
    pingInterval: 0,
    ...settings,
  });
  const server: Server = createServer();
  server.on('upgrade', (req, socket, head) => fe.http.upgrades.get('/ws')!(req, socket, head));
  const admin: CoreConnection = broker.connect({
    protocol: 'test',
    remoteAddress: '',
    user: 'u',
    vhost: '/',
  });
  const queue = (name: string) =>
    admin.declareQueue(name, {
      passive: false,
      durable: false,
      exclusive: false,
      autoDelete: false,
      args: {},
    });
  const depth = (name: string) =>
    admin.declareQueue(name, { passive: true, durable: false, exclusive: false, autoDelete: false, args: {} })
      .messageCount;
  /** A client over a fresh duplex pair. */
  async function open(opts: WebSocket.ClientOptions = {}): Promise<Client> {
    const [client, serverSide] = duplexPair();
    server.emit('connection', serverSide);
    const ws = new WebSocket('ws://broker/ws', ['switchyard.v1'], {
      ...opts,
      headers: { authorization: AUTH },
      createConnection: () => client as never,
    });
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }
  return { clock, broker, fe, queue, depth, open };
}

/** Lets the in-memory streams carry what is in flight (a few event-loop turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

test('ws session: publish, confirm, subscribe and deliver over a duplex pair', async () => {
  const h = harness();
  h.queue('q');
  const c = await h.open();
  for (const body of ['one', 'two']) {
    const r = await c.publish({ routingKey: 'q', body });
    assert.deepEqual([r.op, r.routed], ['confirm', 1]);
  }
  assert.equal((await c.subscribe({ sub: 's', queue: 'q' })).op, 'subscribed');
  const got = await c.deliveries('s', 2);
  assert.deepEqual(
    got.map((d) => d.body),
    ['one', 'two'],
  );
  assert.equal(h.depth('q'), 0);
  assert.equal(h.fe.stats().connections, 1);
  await c.close();
  await h.fe.close();
  assert.equal(h.fe.stats().connections, 0);
});

test('ws session: the server pings every interval and drops a client that misses two pongs', async () => {
  const h = harness({ pingInterval: 1000 });
  const live = await h.open();
  const dead = await h.open({ autoPong: false });
  let pings = 0;
  live.ws.on('ping', () => pings++);
  let deadPings = 0;
  dead.ws.on('ping', () => deadPings++);
  for (let i = 1; i <= 2; i++) {
    h.clock.advance(999);
    await settle();
    assert.equal(pings, i - 1, 'not before the interval');
    h.clock.advance(1);
    await settle();
    assert.equal(pings, i);
    assert.equal(deadPings, i);
  }
  // The third tick finds two pings unanswered: that client is cut off, without a close frame.
  h.clock.advance(1000);
  assert.equal((await dead.closed).code, 1006);
  assert.equal(live.ws.readyState, WebSocket.OPEN);
  await live.sync();
  assert.equal(h.fe.stats().connections, 1);
  await live.close();
  await h.fe.close();
});

test('ws session: shutdown closes with 1001; a client that does not answer is cut off after the grace', async () => {
  const h = harness();
  const polite = await h.open();
  const deaf = await h.open();
  deaf.ws.pause(); // reads nothing, so never answers the close
  const closed = h.fe.close();
  assert.deepEqual(await polite.closed, { code: 1001, reason: 'broker shutting down' });
  let done = false;
  void closed.then(() => (done = true));
  await settle();
  h.clock.advance(999);
  await settle();
  assert.equal(done, false, 'close() waits for the last connection');
  h.clock.advance(1);
  await closed;
  assert.equal(h.fe.stats().connections, 0);
  deaf.ws.resume();
  await deaf.closed;
});

test('ws session: a resource alarm stops reading publishers only; they go on when it clears', async () => {
  const h = harness();
  h.queue('q');
  const pub = await h.open();
  const consumer = await h.open();
  const late = await h.open();
  assert.equal((await pub.publish({ routingKey: 'q', body: 'before' })).op, 'confirm');
  assert.equal((await consumer.subscribe({ sub: 's', queue: 'q', ack: 'manual' })).op, 'subscribed');
  const first = await consumer.next({ op: 'deliver' });

  h.broker.setAlarm('disk', true);
  pub.send({ op: 'publish', id: 'held', routingKey: 'q', body: 'held' });
  // A connection that had not published is read: its first publish is accepted (what was read
  // goes through, as RabbitMQ does), and from then on it is held like the others.
  const accepted = await late.publish({ routingKey: 'q', body: 'accepted' });
  assert.deepEqual([accepted.op, accepted.routed], ['confirm', 1]);
  late.send({ op: 'publish', id: 'late-held', routingKey: 'q', body: 'late-held' });
  // The consumer is not blocked: it acks and round-trips freely.
  consumer.send({ op: 'ack', sub: 's', id: first.id });
  await consumer.sync();
  await settle();
  assert.deepEqual(pub.pending({ op: 'confirm' }), []);
  assert.deepEqual(late.pending({ op: 'confirm' }), []);
  assert.equal(h.depth('q'), 0, "only 'accepted' was routed, and it is delivered");
  assert.equal((await consumer.next({ op: 'deliver' })).body, 'accepted');

  h.broker.setAlarm('disk', false);
  assert.equal((await pub.next({ op: 'confirm', id: 'held' })).routed, 1);
  assert.equal((await late.next({ op: 'confirm', id: 'late-held' })).routed, 1);
  const rest = [await consumer.next({ op: 'deliver' }), await consumer.next({ op: 'deliver' })];
  assert.deepEqual(rest.map((d) => d.body).sort(), ['held', 'late-held']);
  for (const c of [pub, consumer, late]) await c.close();
  await h.fe.close();
});
