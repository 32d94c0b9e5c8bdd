/**
 * An SSE stream's timing on a ManualClock, over an in-memory duplex pair (no sockets): the
 * heartbeat comment every interval, and the late settling of a durable queue's resume window,
 * whose events are acknowledged only once two heartbeats have passed since they were written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { duplexPair } from '../../../test/support/duplex-pair.js';
import { ManualClock } from '../../../test/support/manual-clock.js';
import { Broker, type CoreConnection, publishConfirmed } from '../../core/index.js';
import { MessageLog } from '../../store/log/index.js';
import { LogMessageStore } from '../../store/message-store.js';
import { HttpFrontEnd } from '../index.js';

const HEARTBEAT_MS = 1000;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-sse-clock-'));
const { log } = await MessageLog.open(dir);
after(async () => {
  await log.close();
  rmSync(dir, { recursive: true, force: true });
});

const clock = new ManualClock();
const broker = new Broker({ clock, store: new LogMessageStore(log) });
const fe = new HttpFrontEnd(broker, {
  anonymous: 'always',
  maxBodySize: 1 << 20,
  getMaxBytes: 1 << 20,
  sseBuffer: 100,
  sseHeartbeat: HEARTBEAT_MS,
});
const server = createServer((req, res) => {
  if (!fe.http.handle(req, res)) res.writeHead(404).end();
});
const admin: CoreConnection = broker.connect({
  protocol: 'test',
  remoteAddress: '',
  user: 'guest',
  vhost: '/',
});

/** An SSE response over a fresh duplex pair, and what it received so far. */
async function stream(queue: string) {
  const [client, serverSide] = duplexPair();
  server.emit('connection', serverSide);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    get(
      `http://broker/api/v1/vhosts/%2F/queues/${queue}/events`,
      { createConnection: () => client as never },
      resolve,
    ).on('error', reject);
  });
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => (text += c));
  res.on('error', () => {});
  return {
    status: res.statusCode,
    get text() {
      return text;
    },
    heartbeats: () => text.split(': hb\n\n').length - 1,
    events: () => text.split('event: message\n').length - 1,
    close: () => client.destroy(),
  };
}

/** Lets the in-memory streams carry what is in flight. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

const depth = (q: string) =>
  admin.declareQueue(q, { passive: true, durable: false, exclusive: false, autoDelete: false, args: {} })
    .messageCount;

/** Waits (bounded) for the broker to see a stream close. */
async function consumersGone(q: string): Promise<void> {
  for (let i = 0; i < 100 && broker.vhosts.get('/')!.queues.get(q)!.consumerCount > 0; i++) await settle();
}

test('sse clock: a heartbeat every interval; events settle two heartbeats after they were written', async () => {
  const q = 'durable';
  await admin.declareQueue(q, {
    passive: false,
    durable: true,
    exclusive: false,
    autoDelete: false,
    args: {},
  }).written;
  for (const body of ['a', 'b', 'c']) {
    await publishConfirmed(admin, {
      exchange: '',
      routingKey: q,
      body: Buffer.from(body),
      properties: { deliveryMode: 2 },
    });
  }

  // Closed after one heartbeat: the three events are still in the window and go back.
  const first = await stream(q);
  assert.equal(first.status, 200);
  await settle();
  assert.match(first.text, /^retry: 2000\n\n/);
  assert.equal(first.events(), 3);
  clock.advance(HEARTBEAT_MS - 1);
  await settle();
  assert.equal(first.heartbeats(), 0, 'not before the interval');
  clock.advance(1);
  await settle();
  assert.equal(first.heartbeats(), 1);
  first.close();
  await consumersGone(q);
  assert.equal(depth(q), 3, 'written but not yet settled: back in the queue');

  // Left open for two heartbeats: the window is settled, nothing goes back.
  const second = await stream(q);
  await settle();
  assert.equal(second.events(), 3);
  clock.advance(HEARTBEAT_MS);
  await settle();
  clock.advance(HEARTBEAT_MS);
  await settle();
  assert.equal(second.heartbeats(), 2);
  second.close();
  await consumersGone(q);
  assert.equal(depth(q), 0, 'settled after two heartbeats');
  assert.equal(second.text.split('retry: ').length - 1, 1, 'retry is sent once');
  await fe.close();
});
