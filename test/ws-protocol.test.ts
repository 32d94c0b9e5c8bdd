/**
 * The native WebSocket protocol at /ws (docs/websocket-protocol.md) end to end with the `ws`
 * client: publish and confirms, subscriptions (queue and exchange), acks, credit, the binary
 * form, every error frame, authentication at the upgrade, flow control, server pings, and the
 * same messages crossing to and from amqplib and MQTT.js.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import type { CoreConnection } from '../src/core/index.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { WAIT_MS } from './support/wait.js';

type Frame = Record<string, unknown>;

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A test client: every frame it receives is kept until a test takes it with next(). */
class Client {
  private readonly inbox: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const f = isBinary ? binaryFrame(data as Buffer) : (JSON.parse(data.toString()) as Frame);
      const i = this.waiters.findIndex((w) => w.match(f));
      if (i < 0) this.inbox.push(f);
      else this.waiters.splice(i, 1)[0]!.resolve(f);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async open(b: TestBroker, opts: ClientOptions = {}): Promise<Client> {
    const ws = connect(b, opts);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  send(f: Frame): void {
    this.ws.send(JSON.stringify(f));
  }

  /** The first frame (received or still to come) that matches. */
  next(match: Frame | ((f: Frame) => boolean), ms = WAIT_MS): Promise<Frame> {
    const pred = typeof match === 'function' ? match : (f: Frame) => matches(f, match);
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = {
        match: pred,
        resolve: (f: Frame) => {
          clearTimeout(t);
          resolve(f);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(`timed out waiting for ${JSON.stringify(match)}; inbox ${JSON.stringify(this.inbox)}`),
        );
      }, ms);
      this.waiters.push(w);
    });
  }

  /** The next `n` deliveries of `sub`, in order. */
  async deliveries(sub: string, n: number): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next({ op: 'deliver', sub }));
    return out;
  }

  /** Frames not taken yet that match. */
  pending(match: Frame): Frame[] {
    return this.inbox.filter((f) => matches(f, match));
  }

  /** A round trip: every frame the server sent before the pong has arrived when this resolves. */
  async sync(): Promise<void> {
    const id = uniq('sync');
    this.send({ op: 'ping', id });
    await this.next({ op: 'pong', id });
  }

  async subscribe(f: Frame): Promise<Frame> {
    this.send({ op: 'subscribe', ...f });
    return this.next((x) => (x.op === 'subscribed' || x.op === 'error') && x.sub === f.sub);
  }

  async publish(f: Frame): Promise<Frame> {
    const id = uniq('p');
    this.send({ op: 'publish', id, ...f });
    return this.next((x) => (x.op === 'confirm' || x.op === 'error') && x.id === id);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

interface ClientOptions {
  readonly protocols?: string[];
  readonly headers?: Record<string, string>;
  readonly query?: string;
  readonly autoPong?: boolean;
}

function connect(b: TestBroker, opts: ClientOptions): WebSocket {
  return new WebSocket(
    `ws://127.0.0.1:${b.server.http!.address.port}/ws${opts.query ?? ''}`,
    opts.protocols ?? ['switchyard.v1'],
    { headers: opts.headers ?? {}, autoPong: opts.autoPong ?? true },
  );
}

function matches(f: Frame, want: Frame): boolean {
  return Object.entries(want).every(([k, v]) => f[k] === v);
}

/** A binary delivery, decoded as docs/websocket-protocol.md lays it out. */
function binaryFrame(buf: Buffer): Frame {
  const len = buf.readUInt32BE(1);
  const header = JSON.parse(buf.subarray(5, 5 + len).toString()) as Frame;
  return {
    ...header,
    op: buf[0] === 0x02 ? 'deliver' : `binary-${buf[0]}`,
    binary: true,
    raw: buf.subarray(5 + len),
  };
}

function binaryPublish(header: Frame, body: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(5);
  prefix[0] = 0x01;
  prefix.writeUInt32BE(h.length, 1);
  return Buffer.concat([prefix, h, body]);
}

/** The upgrade refused: its status and JSON body. */
function refused(b: TestBroker, opts: ClientOptions): Promise<{ status: number; body: Frame }> {
  const ws = connect(b, opts);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Frame }));
    });
  });
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const authProtocol = (user: string, password: string) =>
  `auth.${Buffer.from(`${user}:${password}`).toString('base64url')}`;

let b: TestBroker;
let admin: CoreConnection;
const clients: Client[] = [];

async function open(opts: ClientOptions = {}): Promise<Client> {
  const c = await Client.open(b, opts);
  clients.push(c);
  return c;
}

function declareQueue(name = uniq('q'), durable = false): string {
  admin.declareQueue(name, { passive: false, durable, exclusive: false, autoDelete: false, args: {} });
  return name;
}

function depth(queue: string): number {
  return admin.declareQueue(queue, {
    passive: true,
    durable: false,
    exclusive: false,
    autoDelete: false,
    args: {},
  }).messageCount;
}

before(async () => {
  b = await startTestBroker({}, undefined, { vhosts: ['/', 'other'] });
  admin = b.server.broker.connect({
    protocol: 'test',
    remoteAddress: '127.0.0.1',
    user: 'guest',
    vhost: '/',
  });
});

after(async () => {
  for (const c of clients) await c.close();
  admin.close();
  await b.close();
});

describe('ws: publish', () => {
  test('ws: a publish with an id is confirmed with the number of queues it reached', async () => {
    const q1 = declareQueue();
    const q2 = declareQueue();
    const key = uniq('two');
    admin.bindQueue(q1, 'amq.direct', key, {});
    admin.bindQueue(q2, 'amq.direct', key, {});
    const c = await open();
    const r = await c.publish({ exchange: 'amq.direct', routingKey: key, body: 'x' });
    assert.equal(r.op, 'confirm');
    assert.equal(r.routed, 2);
    assert.equal(depth(q1), 1);
    assert.equal(depth(q2), 1);
    const none = await c.publish({ exchange: 'amq.direct', routingKey: uniq('nobody'), body: 'x' });
    assert.deepEqual([none.op, none.routed], ['confirm', 0]);
  });

  test('ws: a persistent message into a durable queue is confirmed (after the store flush)', async () => {
    const q = declareQueue(uniq('durable'), true);
    const c = await open();
    const r = await c.publish({ routingKey: q, body: 'kept', properties: { deliveryMode: 2 } });
    assert.deepEqual([r.op, r.routed], ['confirm', 1]);
    assert.equal(depth(q), 1);
    admin.deleteQueue(q, false, false);
  });

  test('ws: a publish without an id gets no confirm, but its errors are still reported', async () => {
    const q = declareQueue();
    const c = await open();
    c.send({ op: 'publish', routingKey: q, body: 'fire and forget' });
    await c.sync();
    assert.deepEqual(c.pending({ op: 'confirm' }), []);
    assert.equal(depth(q), 1);
    c.send({ op: 'publish', exchange: uniq('missing'), body: 'x' });
    const err = await c.next({ op: 'error' });
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(err.request, 'publish');
    assert.equal('id' in err, false);
  });

  test('ws: mandatory and unroutable is NO_ROUTE (404)', async () => {
    const c = await open();
    const r = await c.publish({
      exchange: 'amq.direct',
      routingKey: uniq('nobody'),
      body: 'x',
      mandatory: true,
    });
    assert.deepEqual([r.op, r.code, r.status], ['error', 'NO_ROUTE', 404]);
  });
});

describe('ws: subscriptions', () => {
  test('ws: subscribe to a queue with auto ack: deliveries in order, the queue empties', async () => {
    const q = declareQueue();
    const c = await open();
    assert.deepEqual(await c.subscribe({ sub: 's1', queue: q }), { op: 'subscribed', sub: 's1', queue: q });
    for (let i = 0; i < 3; i++) await c.publish({ routingKey: q, body: `m${i}` });
    const got = await c.deliveries('s1', 3);
    assert.deepEqual(
      got.map((d) => [d.id, d.redelivered, d.queue, d.exchange, d.routingKey, d.body, d.bodyEncoding]),
      [0, 1, 2].map((i) => [i + 1, false, q, '', q, `m${i}`, 'utf8']),
    );
    assert.equal(depth(q), 0);
  });

  test('ws: subscribe to an exchange with a binding key gets only matching messages', async () => {
    const c = await open();
    const key = uniq('sensors');
    const r = await c.subscribe({ sub: 'x', exchange: 'amq.topic', key: `${key}.#` });
    assert.equal(r.op, 'subscribed');
    assert.match(String(r.queue), /^amq\.gen-/);
    await c.publish({ exchange: 'amq.topic', routingKey: `${key}.a.temp`, body: 'hit' });
    await c.publish({ exchange: 'amq.topic', routingKey: `other.${key}`, body: 'miss' });
    await c.sync();
    const d = await c.next({ op: 'deliver', sub: 'x' });
    assert.equal(d.routingKey, `${key}.a.temp`);
    assert.equal(d.body, 'hit');
    assert.deepEqual(c.pending({ op: 'deliver' }), []);
  });

  test('ws: manual ack, nack with requeue (redelivered), nack without requeue, ack multiple', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'm', queue: q, ack: 'manual' });
    await c.publish({ routingKey: q, body: 'a' });
    await c.publish({ routingKey: q, body: 'b' });
    const [a, bb] = await c.deliveries('m', 2);
    c.send({ op: 'ack', sub: 'm', id: a!.id });
    c.send({ op: 'nack', sub: 'm', id: bb!.id, requeue: true });
    const again = await c.next({ op: 'deliver', sub: 'm' });
    assert.deepEqual([again.body, again.redelivered], ['b', true]);
    c.send({ op: 'nack', sub: 'm', id: again.id, requeue: false });
    await c.sync();
    assert.equal(depth(q), 0);
    for (let i = 0; i < 3; i++) await c.publish({ routingKey: q, body: `n${i}` });
    const three = await c.deliveries('m', 3);
    c.send({ op: 'ack', sub: 'm', id: three[2]!.id, multiple: true });
    c.send({ op: 'unsubscribe', sub: 'm' });
    await c.next({ op: 'unsubscribed', sub: 'm' });
    assert.equal(depth(q), 0, 'acked with multiple, nothing went back');
  });

  test('ws: prefetch bounds unsettled deliveries of a manual-ack subscription', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'p', queue: q, ack: 'manual', prefetch: 2 });
    for (let i = 0; i < 4; i++) await c.publish({ routingKey: q, body: `m${i}` });
    await c.sync();
    assert.equal(c.pending({ op: 'deliver' }).length, 2);
    const [first] = await c.deliveries('p', 2);
    c.send({ op: 'ack', sub: 'p', id: first!.id });
    assert.equal((await c.next({ op: 'deliver', sub: 'p' })).body, 'm2');
  });

  test('ws: credit gives exactly N deliveries, then more after a credit frame', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'c', queue: q, credit: 2 });
    for (let i = 0; i < 6; i++) await c.publish({ routingKey: q, body: `m${i}` });
    await c.sync();
    assert.deepEqual(
      c.pending({ op: 'deliver' }).map((d) => d.body),
      ['m0', 'm1'],
    );
    assert.equal(depth(q), 4);
    c.send({ op: 'credit', sub: 'c', n: 3 });
    await c.sync();
    assert.deepEqual(
      c.pending({ op: 'deliver' }).map((d) => d.body),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    );
    assert.equal(depth(q), 1);
  });

  test('ws: credit 0 delivers nothing until credit is granted', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'z', queue: q, credit: 0 });
    await c.publish({ routingKey: q, body: 'wait' });
    await c.sync();
    assert.deepEqual(c.pending({ op: 'deliver' }), []);
    c.send({ op: 'credit', sub: 'z', n: 1 });
    assert.equal((await c.next({ op: 'deliver', sub: 'z' })).body, 'wait');
  });

  test('ws: unsubscribe stops deliveries and returns unsettled ones to the queue', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'u', queue: q, ack: 'manual' });
    await c.publish({ routingKey: q, body: 'held' });
    await c.next({ op: 'deliver', sub: 'u' });
    c.send({ op: 'unsubscribe', sub: 'u' });
    assert.deepEqual(await c.next({ op: 'unsubscribed' }), { op: 'unsubscribed', sub: 'u' });
    assert.equal(depth(q), 1);
    await c.publish({ routingKey: q, body: 'later' });
    await c.sync();
    assert.deepEqual(c.pending({ op: 'deliver' }), []);
    assert.equal(depth(q), 2);
  });

  test('ws: a queue deleted under a subscription sends cancelled; the name is free again', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'k', queue: q });
    admin.deleteQueue(q, false, false);
    const f = await c.next({ op: 'cancelled' });
    assert.equal(f.sub, 'k');
    assert.match(String(f.reason), new RegExp(q));
    c.send({ op: 'credit', sub: 'k', n: 1 });
    assert.equal((await c.next({ op: 'error', sub: 'k' })).code, 'SYNTAX_ERROR');
    const q2 = declareQueue();
    assert.equal((await c.subscribe({ sub: 'k', queue: q2 })).op, 'subscribed');
  });

  test('ws: closing the WebSocket returns unsettled deliveries to the queue', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'h', queue: q, ack: 'manual' });
    await c.publish({ routingKey: q, body: 'back' });
    await c.next({ op: 'deliver' });
    await c.close();
    const c2 = await open();
    await c2.subscribe({ sub: 'h', queue: q, ack: 'manual' });
    const d = await c2.next({ op: 'deliver' });
    assert.deepEqual([d.body, d.redelivered], ['back', true]);
  });
});

describe('ws: binary form', () => {
  const BYTES = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0xc3]);

  test('ws: a binary publish of non-UTF-8 bytes reaches JSON (base64) and binary subscribers', async () => {
    const key = uniq('bin');
    const c = await open();
    await c.subscribe({ sub: 'json', exchange: 'amq.topic', key });
    await c.subscribe({ sub: 'bin', exchange: 'amq.topic', key, binary: true });
    c.ws.send(
      binaryPublish(
        {
          id: 9,
          exchange: 'amq.topic',
          routingKey: key,
          properties: { contentType: 'application/x-raw' },
          traceparent: TRACEPARENT,
        },
        BYTES,
      ),
    );
    assert.deepEqual(await c.next({ op: 'confirm', id: 9 }), { op: 'confirm', id: 9, routed: 2 });
    const j = await c.next({ op: 'deliver', sub: 'json' });
    assert.equal(j.bodyEncoding, 'base64');
    assert.deepEqual(Buffer.from(String(j.body), 'base64'), BYTES);
    assert.equal(j.traceparent, TRACEPARENT);
    const bin = await c.next({ op: 'deliver', sub: 'bin' });
    assert.deepEqual(bin.raw, BYTES);
    assert.equal(bin.routingKey, key);
    assert.equal(bin.id, 1);
    assert.equal(bin.redelivered, false);
    assert.equal(bin.traceparent, TRACEPARENT);
    assert.deepEqual(bin.properties, {
      contentType: 'application/x-raw',
      headers: { traceparent: TRACEPARENT },
    });
    assert.equal('body' in bin, false);
  });

  test('ws: large bodies cross the binary form byte for byte both ways', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'big', queue: q, binary: true });
    const bodies = [Buffer.alloc(0), randomBytes(100), randomBytes(16 * 1024), randomBytes(200_000)];
    for (const body of bodies) c.ws.send(binaryPublish({ routingKey: q }, body));
    c.send({ op: 'publish', routingKey: q, body: bodies[3]!.toString('base64'), bodyEncoding: 'base64' });
    const got = await c.deliveries('big', 5);
    assert.deepEqual(
      got.map((d) => d.raw),
      [...bodies, bodies[3]],
    );
  });

  test('ws: malformed binary frames get SYNTAX_ERROR and the connection stays open', async () => {
    const c = await open();
    const bad: [Buffer, RegExp][] = [
      [Buffer.from([1, 0, 0]), /at least 5 bytes/],
      [Buffer.from([1, 0, 0, 0, 9, 0x7b, 0x7d]), /exceeds/],
      [Buffer.from([1, 0, 0, 0, 2, 0xff, 0xfe]), /UTF-8/],
      [Buffer.from([1, 0, 0, 0, 1, 0x7b]), /not JSON/],
      [binaryPublish({ routingKey: 'x', body: 'no' }, Buffer.alloc(0)), /unknown field "body"/],
      [Buffer.concat([Buffer.from([2, 0, 0, 0, 2]), Buffer.from('{}')]), /only publishes/],
      [Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), Buffer.from('[]')]), /JSON object/],
    ];
    for (const [frame, message] of bad) {
      c.ws.send(frame);
      const e = await c.next({ op: 'error' });
      assert.equal(e.code, 'SYNTAX_ERROR');
      assert.equal(e.status, 400);
      assert.match(String(e.message), message);
    }
    await c.sync();
  });
});

describe('ws: errors', () => {
  test('ws: every error frame names its code, HTTP status and request; the connection stays open', async () => {
    const c = await open();
    const q = declareQueue();
    const cases: [Frame | string, Frame, RegExp][] = [
      ['{"op":', { code: 'SYNTAX_ERROR', status: 400 }, /not JSON/],
      ['[1,2]', { code: 'SYNTAX_ERROR' }, /JSON object/],
      [{ op: 'teleport' }, { code: 'SYNTAX_ERROR' }, /unknown op "teleport"/],
      [{ nop: 1 }, { code: 'SYNTAX_ERROR' }, /missing "op"/],
      [{ op: 'subscribe', queue: q }, { code: 'SYNTAX_ERROR', request: 'subscribe' }, /"sub"/],
      [{ op: 'subscribe', sub: 'a' }, { code: 'SYNTAX_ERROR', sub: 'a' }, /"queue" or "exchange"/],
      [{ op: 'subscribe', sub: 'a', queue: q, ack: 'sometimes' }, { code: 'SYNTAX_ERROR' }, /"ack"/],
      [{ op: 'publish', id: 1, routingKey: q }, { code: 'SYNTAX_ERROR', id: 1 }, /body/],
      [
        { op: 'publish', id: 2, routingKey: q, body: 'x', colour: 1 },
        { code: 'SYNTAX_ERROR', id: 2 },
        /"colour"/,
      ],
      [
        { op: 'publish', id: 3, routingKey: q, body: 'x', properties: { colour: 'red' } },
        { code: 'SYNTAX_ERROR', id: 3 },
        /unknown property 'colour'/,
      ],
      [
        { op: 'publish', id: 4, routingKey: q, body: 'x', properties: { priority: 'high' } },
        { code: 'SYNTAX_ERROR', id: 4 },
        /'priority' must be a number/,
      ],
      [
        { op: 'publish', id: 5, body: '%%%', bodyEncoding: 'base64' },
        { code: 'SYNTAX_ERROR', id: 5 },
        /base64/,
      ],
      [
        { op: 'publish', id: 6, body: 'x', bodyEncoding: 'hex' },
        { code: 'SYNTAX_ERROR', id: 6 },
        /bodyEncoding/,
      ],
      [
        { op: 'publish', id: 7, body: 'x', routingKey: 'k'.repeat(256) },
        { code: 'NAME_TOO_LONG', status: 400 },
        /255 bytes/,
      ],
      [
        { op: 'publish', id: 8, routingKey: q, body: 'x', properties: { expiration: 'soon' } },
        { code: 'PRECONDITION_FAILED', status: 409, id: 8 },
        /expiration/,
      ],
      [
        { op: 'publish', id: 9, exchange: 'no-such-exchange', body: 'x' },
        { code: 'NOT_FOUND', status: 404 },
        /no-such/,
      ],
      [
        { op: 'subscribe', sub: 'nq', queue: uniq('missing') },
        { code: 'NOT_FOUND', status: 404, sub: 'nq' },
        /missing/,
      ],
      [
        { op: 'subscribe', sub: 'nx', exchange: uniq('missing'), key: '#' },
        { code: 'NOT_FOUND', status: 404, sub: 'nx' },
        /missing/,
      ],
      [
        { op: 'publish', id: 10, body: 'x', properties: { priority: 256 } },
        { code: 'SYNTAX_ERROR', id: 10 },
        /'priority' must be an integer from 0 to 255/,
      ],
      [
        { op: 'publish', id: 11, body: 'x', properties: { contentType: 't'.repeat(256) } },
        { code: 'SYNTAX_ERROR', id: 11 },
        /'contentType' is longer than 255 bytes/,
      ],
      [
        { op: 'publish', id: 12, body: 'x', properties: { headers: { when: { $date: 'soon' } } } },
        { code: 'SYNTAX_ERROR', id: 12 },
        /headers\.when/,
      ],
      [
        { op: 'publish', id: 13, body: 'x', properties: { headers: { n: { $bigint: '1e99' } } } },
        { code: 'SYNTAX_ERROR', id: 13 },
        /BigInt/,
      ],
      [
        { op: 'publish', id: 14, body: 'x', properties: { headers: { d: { $decimal: [300, 1] } } } },
        { code: 'SYNTAX_ERROR', id: 14 },
        /\$decimal/,
      ],
      [
        { op: 'ack', sub: 'nobody', id: 1 },
        { code: 'SYNTAX_ERROR', sub: 'nobody', id: 1 },
        /no subscription/,
      ],
      [{ op: 'ack', sub: 'nobody', id: 0 }, { code: 'SYNTAX_ERROR' }, /"id"/],
      [{ op: 'credit', sub: 'nobody', n: 0 }, { code: 'SYNTAX_ERROR' }, /"n"/],
    ];
    for (const [frame, want, message] of cases) {
      c.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      const e = await c.next({ op: 'error' });
      for (const [k, v] of Object.entries(want)) assert.equal(e[k], v, `${JSON.stringify(frame)}: ${k}`);
      assert.match(String(e.message), message, JSON.stringify(frame));
    }
    // Errors that need a live subscription.
    await c.subscribe({ sub: 'live', queue: q });
    const dup = await c.subscribe({ sub: 'live', queue: q });
    assert.deepEqual([dup.code, dup.status], ['COMMAND_INVALID', 400]);
    c.send({ op: 'credit', sub: 'live', n: 5 });
    assert.equal((await c.next({ op: 'error', sub: 'live' })).code, 'COMMAND_INVALID');
    c.send({ op: 'ack', sub: 'live', id: 99 });
    const unknownTag = await c.next({ op: 'error', sub: 'live' });
    assert.deepEqual([unknownTag.code, unknownTag.status, unknownTag.id], ['PRECONDITION_FAILED', 409, 99]);
    assert.equal((await c.publish({ routingKey: q, body: 'still here' })).op, 'confirm');
  });

  test("ws: access refused (an internal exchange) and resource locked (another connection's exclusive queue)", async () => {
    const x = uniq('internal');
    admin.declareExchange(x, {
      type: 'topic',
      passive: false,
      durable: false,
      autoDelete: false,
      internal: true,
      args: {},
    });
    const mine = uniq('exclusive');
    admin.declareQueue(mine, {
      passive: false,
      durable: false,
      exclusive: true,
      autoDelete: false,
      args: {},
    });
    const c = await open();
    const r = await c.publish({ exchange: x, routingKey: 'k', body: 'x' });
    assert.deepEqual([r.code, r.status], ['ACCESS_REFUSED', 403]);
    const s = await c.subscribe({ sub: 'e', queue: mine });
    assert.equal(s.op, 'error');
    // As RabbitMQ: another connection's exclusive queue is locked, not forbidden.
    assert.deepEqual([s.code, s.status], ['RESOURCE_LOCKED', 409]);
    admin.deleteQueue(mine, false, false);
    admin.deleteExchange(x, false);
  });

  test('ws: a resource alarm refuses publishes with RESOURCE_ERROR (503) until it clears', async () => {
    const q = declareQueue();
    const c = await open();
    b.server.broker.setAlarm('test', true);
    try {
      const r = await c.publish({ routingKey: q, body: 'blocked' });
      assert.deepEqual([r.code, r.status], ['RESOURCE_ERROR', 503]);
    } finally {
      b.server.broker.setAlarm('test', false);
    }
    assert.equal((await c.publish({ routingKey: q, body: 'flows' })).op, 'confirm');
  });

  test('ws: ping is answered with pong (echoing an id)', async () => {
    const c = await open();
    c.send({ op: 'ping' });
    assert.deepEqual(await c.next({ op: 'pong' }), { op: 'pong' });
    c.send({ op: 'ping', id: 'rtt-1' });
    assert.deepEqual(await c.next({ op: 'pong' }), { op: 'pong', id: 'rtt-1' });
  });

  test('ws: invalid UTF-8 in a text frame closes that connection with 1007', async () => {
    const c = await open();
    const other = await open();
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await c.closed).code, 1007);
    await other.sync();
  });
});

describe('ws: authentication and vhosts at the upgrade', () => {
  test('ws: Basic credentials: good opens, bad is 401 with a JSON body', async () => {
    const ok = await open({ headers: { authorization: basic('guest', 'guest') } });
    assert.equal(ok.ws.protocol, 'switchyard.v1');
    await ok.sync();
    const r = await refused(b, { headers: { authorization: basic('guest', 'wrong') } });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'AUTHENTICATION_FAILED');
    assert.match(String(r.body.message), /guest/);
    const m = await refused(b, { headers: { authorization: 'Bearer abc' } });
    assert.equal(m.status, 401);
  });

  test('ws: credentials in an auth.* subprotocol, which is never echoed back', async () => {
    const ok = await open({ protocols: ['switchyard.v1', authProtocol('guest', 'guest')] });
    assert.equal(ok.ws.protocol, 'switchyard.v1');
    await ok.sync();
    const bad = await refused(b, { protocols: ['switchyard.v1', authProtocol('guest', 'nope')] });
    assert.equal(bad.status, 401);
    const garbage = await refused(b, { protocols: ['switchyard.v1', 'auth.bm9jb2xvbg'] });
    assert.equal(garbage.status, 401);
  });

  test('ws: no credentials from loopback is anonymous; no subprotocol is accepted; others are 400', async () => {
    const anon = await open();
    await anon.sync();
    const plain = await open({ protocols: [] });
    assert.equal(plain.ws.protocol, '');
    await plain.sync();
    const other = await refused(b, { protocols: ['mqtt'] });
    assert.equal(other.status, 400);
    assert.match(String(other.body.message), /switchyard\.v1/);
  });

  test('ws: vhost from the query; an unknown vhost is 404', async () => {
    const r = await refused(b, { query: `?vhost=${uniq('nowhere')}` });
    assert.deepEqual([r.status, r.body.code], [404, 'NOT_FOUND']);
    const c = await open({ query: '?vhost=other' });
    const key = uniq('v');
    await c.subscribe({ sub: 'v', exchange: 'amq.topic', key });
    await c.publish({ exchange: 'amq.topic', routingKey: key, body: 'in other' });
    assert.equal((await c.next({ op: 'deliver' })).body, 'in other');
    // Not visible in '/'.
    const q = declareQueue();
    const r2 = await c.subscribe({ sub: 'w', queue: q });
    assert.equal(r2.code, 'NOT_FOUND');
  });

  test('ws: with http.anonymous "never", no credentials is 401', async () => {
    const b2 = await startTestBroker({}, undefined, { http: { port: 0, anonymous: 'never' } });
    try {
      const r = await refused(b2, {});
      assert.deepEqual([r.status, r.body.code], [401, 'AUTHENTICATION_FAILED']);
      const c = await Client.open(b2, { headers: { authorization: basic('guest', 'guest') } });
      await c.sync();
      await c.close();
    } finally {
      await b2.close();
    }
  });
});

describe('ws: limits, pings and shutdown', () => {
  test('ws: a frame over wsMaxPayload closes that connection with 1009; others carry on', async () => {
    const b2 = await startTestBroker({}, undefined, { http: { port: 0, wsMaxPayload: 1024 } });
    try {
      const good = await Client.open(b2);
      const big = await Client.open(b2);
      const key = uniq('k');
      await good.subscribe({ sub: 'g', exchange: 'amq.topic', key });
      big.send({ op: 'publish', exchange: 'amq.topic', routingKey: key, body: 'x'.repeat(2000) });
      assert.equal((await big.closed).code, 1009);
      await good.publish({ exchange: 'amq.topic', routingKey: key, body: 'small' });
      assert.equal((await good.next({ op: 'deliver' })).body, 'small');
      await good.close();
    } finally {
      await b2.close();
    }
  });

  test('ws: the server pings, and drops a client that misses two pongs', async () => {
    const b2 = await startTestBroker({}, undefined, { http: { port: 0, wsPingInterval: 50 } });
    try {
      const live = await Client.open(b2);
      let pings = 0;
      live.ws.on('ping', () => pings++);
      const dead = await Client.open(b2, { autoPong: false });
      const closed = await dead.closed;
      assert.equal(closed.code, 1006, 'terminated without a close frame');
      assert.ok(pings >= 2, `pings seen: ${pings}`);
      assert.equal(live.ws.readyState, WebSocket.OPEN);
      await live.sync();
      await live.close();
    } finally {
      await b2.close();
    }
  });

  test('ws: broker shutdown closes clients with 1001', async () => {
    const b2 = await startTestBroker();
    const c = await Client.open(b2);
    await c.sync();
    await b2.close();
    assert.equal((await c.closed).code, 1001);
  });
});

describe('ws: flow control', () => {
  test('ws: a consumer with no credit does not stall a consumer of another queue', async () => {
    const slowQ = declareQueue();
    const fastQ = declareQueue();
    const slow = await open();
    const fast = await open();
    const pub = await open();
    await slow.subscribe({ sub: 's', queue: slowQ, credit: 0 });
    await fast.subscribe({ sub: 'f', queue: fastQ });
    for (let i = 0; i < 100; i++) {
      pub.send({ op: 'publish', routingKey: slowQ, body: `s${i}` });
      pub.send({ op: 'publish', routingKey: fastQ, body: `f${i}` });
    }
    await pub.sync();
    const got = await fast.deliveries('f', 100);
    assert.deepEqual(
      got.map((d) => d.body),
      Array.from({ length: 100 }, (_, i) => `f${i}`),
    );
    await slow.sync();
    assert.deepEqual(slow.pending({ op: 'deliver' }), []);
    assert.equal(depth(slowQ), 100);
  });

  test('ws: a consumer that stops reading is paused at the high-water mark; others keep receiving, nothing is lost', async () => {
    const slowQ = declareQueue();
    const fastQ = declareQueue();
    const slow = await open();
    const fast = await open();
    const pub = await open();
    await slow.subscribe({ sub: 's', queue: slowQ, binary: true });
    await fast.subscribe({ sub: 'f', queue: fastQ });
    slow.ws.pause(); // stops reading its socket: the TCP window closes, the server's buffer fills
    const N = 600;
    const body = randomBytes(64 * 1024);
    for (let i = 0; i < N; i++) {
      body.writeUInt32BE(i, 0);
      pub.ws.send(binaryPublish({ routingKey: slowQ }, body));
      pub.send({ op: 'publish', routingKey: fastQ, body: `f${i}` });
    }
    await pub.sync();
    const got = await fast.deliveries('f', N);
    assert.equal(got.at(-1)!.body, `f${N - 1}`);
    // 38 MiB were published for the slow consumer; only its bounded socket buffer (and the
    // kernel's) holds any of it: the rest waits in the queue.
    assert.ok(depth(slowQ) > 0, `queue depth ${depth(slowQ)}`);
    slow.ws.resume();
    const all = await slow.deliveries('s', N);
    assert.deepEqual(
      all.map((d) => (d.raw as Buffer).readUInt32BE(0)),
      Array.from({ length: N }, (_, i) => i),
    );
    assert.equal(depth(slowQ), 0);
  });
});

describe('ws: across protocols', () => {
  test('ws: amqplib publish → WebSocket subscriber: properties, headers, traceparent at the top level', async () => {
    const c = await open();
    const key = uniq('from-amqp');
    await c.subscribe({ sub: 'a', exchange: 'amq.topic', key });
    const conn = await amqplib.connect(b.url);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('amq.topic', key, Buffer.from('hello from amqp'), {
        contentType: 'text/plain',
        contentEncoding: 'identity',
        correlationId: 'corr-1',
        replyTo: 'replies',
        expiration: '60000',
        messageId: 'mid-1',
        timestamp: 1_700_000_000,
        type: 'greeting',
        appId: 'tests',
        priority: 3,
        persistent: true,
        headers: { n: 42, s: 'text', traceparent: TRACEPARENT },
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const d = await c.next({ op: 'deliver', sub: 'a' });
    assert.equal(d.body, 'hello from amqp');
    assert.equal(d.traceparent, TRACEPARENT);
    assert.deepEqual(d.properties, {
      contentType: 'text/plain',
      contentEncoding: 'identity',
      headers: { n: 42, s: 'text', traceparent: TRACEPARENT },
      deliveryMode: 2,
      priority: 3,
      correlationId: 'corr-1',
      replyTo: 'replies',
      expiration: '60000',
      messageId: 'mid-1',
      timestamp: 1_700_000_000,
      type: 'greeting',
      appId: 'tests',
    });
  });

  test('ws: WebSocket publish → amqplib consumer: properties, headers, traceparent header', async () => {
    const conn = await amqplib.connect(b.url);
    try {
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      const key = uniq('to-amqp');
      await ch.bindQueue(queue, 'amq.topic', key);
      const got = new Promise<amqplib.ConsumeMessage>((resolve) => {
        void ch.consume(queue, (m) => m !== null && resolve(m), { noAck: true });
      });
      const c = await open();
      const body = Buffer.from([0, 1, 2, 0xff]);
      const r = await c.publish({
        exchange: 'amq.topic',
        routingKey: key,
        body: body.toString('base64'),
        bodyEncoding: 'base64',
        properties: {
          contentType: 'application/octet-stream',
          correlationId: 'c-9',
          replyTo: 'rq',
          messageId: 'm-9',
          deliveryMode: 2,
          priority: 7,
          timestamp: 1_700_000_123,
          type: 't',
          appId: 'ws-test',
          expiration: '60000',
          headers: { kind: 'sample', n: 5 },
        },
        traceparent: TRACEPARENT,
      });
      assert.equal(r.op, 'confirm');
      const m = await got;
      assert.deepEqual(m.content, body);
      const p = m.properties;
      assert.equal(p.contentType, 'application/octet-stream');
      assert.equal(p.correlationId, 'c-9');
      assert.equal(p.replyTo, 'rq');
      assert.equal(p.messageId, 'm-9');
      assert.equal(p.deliveryMode, 2);
      assert.equal(p.priority, 7);
      assert.equal(p.timestamp, 1_700_000_123);
      assert.equal(p.type, 't');
      assert.equal(p.appId, 'ws-test');
      assert.equal(p.expiration, '60000');
      assert.deepEqual(p.headers, { kind: 'sample', n: 5, traceparent: TRACEPARENT });
    } finally {
      await conn.close();
    }
  });

  test('ws: MQTT.js (v5) publish on a/b → WebSocket subscriber on amq.topic key a.b', async () => {
    const c = await open();
    const level = uniq('lvl').replaceAll('-', '_');
    await c.subscribe({ sub: 'm', exchange: 'amq.topic', key: `${level}.b` });
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      await m.publishAsync(`${level}/b`, 'from mqtt', {
        qos: 1,
        properties: { contentType: 'text/plain', userProperties: { traceparent: TRACEPARENT, x: 'y' } },
      });
    } finally {
      await m.endAsync();
    }
    const d = await c.next({ op: 'deliver', sub: 'm' });
    assert.equal(d.body, 'from mqtt');
    assert.equal(d.routingKey, `${level}.b`);
    assert.equal(d.traceparent, TRACEPARENT);
    const p = d.properties as { contentType?: string; headers?: Record<string, unknown> };
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.headers?.x, 'y');
  });
});
