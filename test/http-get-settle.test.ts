/**
 * REST gets settle only what reached the client (docs/http.md, "Get and ack"): an auto-ack get is
 * a POST (a GET that would settle is 405), its messages are acknowledged once the answer has been
 * written whole, a client that goes away mid-answer loses nothing, and an answer is capped at
 * http.getMaxBytes with the rest left in the queue, in order.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { WAIT_MS } from './support/wait.js';

const CAP = 4096;
let b: TestBroker;
let base: string;
let conn: ChannelModel;
let ch: Channel;

before(async () => {
  b = await startTestBroker({}, undefined, { http: { port: 0, getMaxBytes: CAP } });
  base = `http://127.0.0.1:${b.server.http!.address.port}/api/v1/vhosts/%2F`;
  conn = await amqp.connect(b.url);
  ch = await conn.createChannel();
});

after(async () => {
  await conn.close();
  await b.close();
});

async function queueWith(bodies: readonly string[]): Promise<string> {
  const q = uniq('settle');
  await ch.assertQueue(q, { durable: false });
  for (const body of bodies) ch.sendToQueue(q, Buffer.from(body));
  // A round trip on the channel: every publish before it has been routed.
  await ch.checkQueue(q);
  return q;
}

async function depth(q: string): Promise<number> {
  return (await ch.checkQueue(q)).messageCount;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('http get: a GET that would settle is 405 saying to POST; a manual GET still works', async () => {
  const q = await queueWith(['a', 'b']);
  for (const query of ['', '?ack=auto', '?count=2']) {
    const r = await fetch(`${base}/queues/${q}/messages${query}`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    const body = (await r.json()) as { code: string; message: string };
    assert.equal(body.code, 'COMMAND_INVALID');
    assert.match(body.message, /POST/);
  }
  assert.equal(await depth(q), 2, 'the refused GETs took nothing');
  const manual = await fetch(`${base}/queues/${q}/messages?ack=manual`);
  assert.equal(manual.status, 200);
  const [m] = (await manual.json()) as { id: string; body: string }[];
  assert.equal(m!.body, 'a');
  const ack = await fetch(`${base}/queues/${q}/ack`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ids: [m!.id] }),
  });
  assert.equal(ack.status, 200);
  assert.equal(await depth(q), 1);
});

test('http get: a POST takes the messages once written; a body other than empty or {} is 400', async () => {
  const q = await queueWith(['one', 'two']);
  const r = await fetch(`${base}/queues/${q}/messages?count=5`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(r.status, 200);
  assert.deepEqual(
    ((await r.json()) as { body: string; redelivered: boolean }[]).map((m) => [m.body, m.redelivered]),
    [
      ['one', false],
      ['two', false],
    ],
  );
  await until('the queue is empty', async () => (await depth(q)) === 0);
  const bad = await fetch(`${base}/queues/${q}/messages`, { method: 'POST', body: '{"count": 3}' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { message: string }).message, /query/);
});

test('http get: the answer stops at http.getMaxBytes; the rest stays in the queue, in order', async () => {
  const bodies = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(1000, '.'));
  const q = await queueWith(bodies);
  const r = await fetch(`${base}/queues/${q}/messages?count=10`, { method: 'POST' });
  const text = await r.text();
  assert.ok(Buffer.byteLength(text) <= CAP, `${Buffer.byteLength(text)} bytes`);
  const got = (JSON.parse(text) as { body: string }[]).map((m) => m.body);
  assert.ok(got.length >= 2 && got.length < 10, `${got.length} messages`);
  assert.deepEqual(got, bodies.slice(0, got.length));
  await until('the rest is ready', async () => (await depth(q)) === 10 - got.length);
  const next = (await (await fetch(`${base}/queues/${q}/messages?count=10`, { method: 'POST' })).json()) as {
    body: string;
  }[];
  assert.equal(next[0]!.body, bodies[got.length], 'the next get goes on where the first stopped');
  // One message larger than the cap still goes (else it would block its queue for gets).
  const big = await queueWith(['x'.repeat(CAP * 2), 'small']);
  const one = (await (await fetch(`${base}/queues/${big}/messages?count=2`, { method: 'POST' })).json()) as {
    body: string;
  }[];
  assert.equal(one.length, 1);
  assert.equal(one[0]!.body.length, CAP * 2);
  await until('the small one stays', async () => (await depth(big)) === 1);
});

/**
 * Asks for messages over a raw socket that never reads, and resets the connection once the
 * broker has taken them and had time to start its answer: the answer, far larger than the
 * socket buffers, cannot have been written whole.
 */
async function getAndVanish(port: number, path: string, taken: () => Promise<boolean>): Promise<void> {
  const s = connect(port, '127.0.0.1');
  s.pause();
  s.on('error', () => s.destroy());
  s.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 0\r\n\r\n`);
  await until('the broker took the messages', taken);
  await new Promise((r) => setTimeout(r, 1500));
  s.resetAndDestroy();
}

test('http get: a client that goes away mid-answer loses nothing (auto and manual)', async () => {
  // 16 MiB of answer: more than the socket buffers hold when the client does not read.
  const big = await startTestBroker({}, undefined, { http: { port: 0, getMaxBytes: 64 << 20 } });
  const c = await amqp.connect(big.url);
  try {
    const bc = await c.createChannel();
    const port = big.server.http!.address.port;
    const path = (q: string, ack: string) => `/api/v1/vhosts/%2F/queues/${q}/messages?count=16&ack=${ack}`;
    const count = async (q: string) => (await bc.checkQueue(q)).messageCount;
    for (const ack of ['auto', 'manual']) {
      const q = uniq('vanish');
      await bc.assertQueue(q, { durable: false });
      const body = Buffer.alloc(1 << 20, 'm');
      for (let i = 0; i < 16; i++) bc.sendToQueue(q, body);
      await until('the messages are in', async () => (await count(q)) === 16);
      await getAndVanish(port, path(q, ack), async () => (await count(q)) === 0);
      await until(`every message is back (${ack})`, async () => (await count(q)) === 16);
      // And they are all there to be taken, once.
      const r = await fetch(`http://127.0.0.1:${port}${path(q, 'auto')}`, { method: 'POST' });
      const got = (await r.json()) as { redelivered: boolean }[];
      assert.equal(got.length, 16);
      assert.ok(
        got.every((m) => m.redelivered),
        'requeued: marked redelivered',
      );
      await until('the queue is empty', async () => (await count(q)) === 0);
    }
  } finally {
    await c.close();
    await big.close();
  }
});
