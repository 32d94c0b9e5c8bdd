/**
 * Server-Sent Events (docs/http.md) over a real listener: EventSource subscribers of a queue and
 * of an exchange receive AMQP- and MQTT-published messages in order, with ids; Last-Event-ID
 * resume on a durable queue; heartbeats; a client that stops reading stalls no one else; a
 * client that goes away takes its consumer with it; and a fuzz of random requests.
 */
import assert from 'node:assert/strict';
import { type ClientRequest, get, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { EventSource } from 'eventsource';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { poll, WAIT_MS } from './support/wait.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/**
 * A raw SSE client (node:http): sees comments and `retry:`, sends any headers, can stop reading
 * (pause) or stop after `limit` events as if the rest never arrived.
 */
class RawSse {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  status = 0;
  ended = false;
  private res: IncomingMessage | undefined;
  private readonly req: ClientRequest;
  private text = '';
  private waiters: { ok: () => boolean; resolve: () => void }[] = [];

  constructor(
    url: string,
    headers: Record<string, string> = {},
    private readonly limit = Number.POSITIVE_INFINITY,
  ) {
    this.req = get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (c: string) => this.onData(c));
      res.on('end', () => {
        this.ended = true;
        this.check();
      });
      res.on('error', () => {});
      this.check();
    });
    this.req.on('error', () => {});
  }

  /** Waits (bounded) until `ok()` holds. */
  until(ok: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (ok()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: ${this.events.length} events`)),
        ms,
      );
      this.waiters.push({
        ok,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  untilEvents(n: number): Promise<void> {
    return this.until(() => this.events.length >= n, `${n} events`);
  }

  get bodies(): string[] {
    return this.events.map((e) => (JSON.parse(e.data) as { body: string }).body);
  }

  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  destroy(): void {
    this.req.destroy();
  }

  private onData(chunk: string): void {
    this.text += chunk;
    let end = this.text.indexOf('\n\n');
    while (end >= 0 && this.events.length < this.limit) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      const ev: SseEvent = { event: 'message', id: undefined, data: '' };
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
        else if (line.startsWith('event: ')) ev.event = line.slice(7);
        else if (line.startsWith('id: ')) ev.id = line.slice(4);
        else if (line.startsWith('data: ')) {
          ev.data = line.slice(6);
          isEvent = true;
        }
      }
      if (isEvent) this.events.push(ev);
      end = this.text.indexOf('\n\n');
    }
    // Past the limit, the client acts as if the connection died right there.
    if (this.events.length >= this.limit) this.destroy();
    this.check();
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.ok()) return true;
      w.resolve();
      return false;
    });
  }
}

/** Polls a broker-side condition with a bound: there is no client-side event for "the server noticed". */
const eventually = (ok: () => boolean | Promise<boolean>, what: string) => poll(ok, what, undefined, 10);

/** Collects EventSource messages; next(n) waits for n in total. */
function inbox(es: EventSource): { got: MessageEvent[]; until(n: number): Promise<MessageEvent[]> } {
  const got: MessageEvent[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  es.onmessage = (e) => {
    got.push(e);
    if (waiter !== undefined && got.length >= waiter.n) waiter.resolve();
  };
  return {
    got,
    until: (n) =>
      got.length >= n
        ? Promise.resolve(got)
        : new Promise((resolve, reject) => {
            const t = setTimeout(
              () => reject(new Error(`timed out with ${got.length} of ${n} events`)),
              WAIT_MS,
            );
            waiter = {
              n,
              resolve: () => {
                clearTimeout(t);
                resolve(got);
              },
            };
          }),
  };
}

function opened(es: EventSource): Promise<void> {
  return new Promise((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (e) => reject(new Error(`EventSource error: ${e.message ?? e.code}`));
  });
}

let b: TestBroker;
let port: number;
let base: string;
let conn: ChannelModel;
let ch: Channel;
let pub: ConfirmChannel;

before(async () => {
  b = await startTestBroker({}, undefined, { http: { port: 0, sseHeartbeat: 200 } });
  port = b.server.http!.address.port;
  base = `http://127.0.0.1:${port}/api/v1/vhosts/%2F`;
  conn = await amqp.connect(b.url);
  ch = await conn.createChannel();
  pub = await conn.createConfirmChannel();
});

after(async () => {
  await conn.close();
  await b.close();
});

async function send(q: string, bodies: string[], persistent = false): Promise<void> {
  for (const s of bodies) pub.sendToQueue(q, Buffer.from(s), { persistent });
  await pub.waitForConfirms();
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

describe('EventSource', () => {
  test('on a queue: AMQP and MQTT publishes in order, with ids, trace context on top', async () => {
    const q = uniq('sse-q');
    await ch.assertQueue(q, { durable: false });
    await ch.bindQueue(q, 'amq.topic', `${q}.#`);
    const es = new EventSource(`${base}/queues/${q}/events`);
    const box = inbox(es);
    await opened(es);
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    try {
      pub.sendToQueue(q, Buffer.from('amqp-1'), { headers: { traceparent: TP } });
      await pub.waitForConfirms();
      await m.publishAsync(`${q}/room1/temp`, 'mqtt-2', { qos: 1 });
      pub.publish('amq.topic', `${q}.x`, Buffer.from('amqp-3'));
      await pub.waitForConfirms();
      await m.publishAsync(`${q}/y`, Buffer.from([0xff, 0xfe]), { qos: 1 });
      const got = await box.until(4);
      const data = got.map((e) => JSON.parse(e.data as string) as Record<string, unknown>);
      assert.deepEqual(
        data.map((d) => d.body),
        ['amqp-1', 'mqtt-2', 'amqp-3', '//4='],
      );
      assert.deepEqual(
        got.map((e) => e.lastEventId),
        ['1', '2', '3', '4'],
      );
      assert.deepEqual(
        data.map((d) => d.id),
        ['1', '2', '3', '4'],
      );
      assert.equal(data[0]!.traceparent, TP);
      assert.equal(data[1]!.routingKey, `${q}.room1.temp`);
      assert.equal(data[1]!.exchange, 'amq.topic');
      assert.equal(data[3]!.bodyEncoding, 'base64');
      assert.equal(data[0]!.queue, q);
    } finally {
      es.close();
      await m.endAsync();
    }
  });

  test('on an exchange with a binding key: only matching AMQP and MQTT publishes', async () => {
    const key = uniq('sensors').replace(/[^a-z0-9]/g, '');
    const es = new EventSource(`${base}/exchanges/amq.topic/events?key=${key}.*.temp`);
    const box = inbox(es);
    await opened(es);
    const m = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
      reconnectPeriod: 0,
    });
    try {
      await m.publishAsync(`${key}/a/temp`, '21.5', { qos: 1 });
      await m.publishAsync(`${key}/a/humidity`, '40', { qos: 1 });
      pub.publish('amq.topic', `${key}.b.temp`, Buffer.from('19.0'), { headers: { traceparent: TP } });
      await pub.waitForConfirms();
      await m.publishAsync(`${key}/c/temp`, '18.0', { qos: 0 });
      const got = await box.until(3);
      const data = got.map((e) => JSON.parse(e.data as string) as Record<string, unknown>);
      assert.deepEqual(
        data.map((d) => [d.routingKey, d.body]),
        [
          [`${key}.a.temp`, '21.5'],
          [`${key}.b.temp`, '19.0'],
          [`${key}.c.temp`, '18.0'],
        ],
      );
      assert.deepEqual(
        got.map((e) => e.lastEventId),
        ['1', '2', '3'],
      );
      assert.equal(data[1]!.traceparent, TP);
    } finally {
      es.close();
      await m.endAsync();
    }
  });
});

describe('resume with Last-Event-ID on a durable queue', () => {
  test('a client that read 8 of 20 events and came back gets the other 12 and what follows, once', async () => {
    const q = uniq('sse-durable');
    await ch.assertQueue(q, { durable: true });
    await send(q, range(0, 20), true);
    const first = new RawSse(`${base}/queues/${q}/events`, {}, 8);
    await first.untilEvents(8);
    assert.deepEqual(first.bodies, range(0, 8));
    const ids = first.events.map((e) => e.id);
    assert.ok(
      ids.every((id) => /^\d+$/.test(id!)),
      'persistent messages carry their store ids',
    );
    assert.deepEqual(
      ids.map(Number),
      [...ids.map(Number)].sort((x, y) => x - y),
    );

    const second = new RawSse(`${base}/queues/${q}/events`, { 'last-event-id': ids[7]! });
    await second.untilEvents(12);
    assert.deepEqual(second.bodies, range(8, 20), 'nothing lost, nothing the client had');
    await send(q, range(20, 25), true);
    await second.untilEvents(17);
    assert.deepEqual(second.bodies, range(8, 25));
    assert.equal((await ch.checkQueue(q)).messageCount, 0, 'every message is with the stream');

    // The first client's 8 were acknowledged by its Last-Event-ID; the second stream's own
    // unsettled window goes back to the queue when it closes (its client may come back too).
    second.destroy();
    await eventually(async () => (await ch.checkQueue(q)).consumerCount === 0, 'the stream to close');
    const left: string[] = [];
    for (let m = await ch.get(q, { noAck: true }); m !== false; m = await ch.get(q, { noAck: true })) {
      left.push(m.content.toString());
    }
    assert.deepEqual(left, range(8, 25));
    await ch.deleteQueue(q);
  });

  test('a reconnect that arrives while the old stream is still open takes its place', async () => {
    const q = uniq('sse-takeover');
    await ch.assertQueue(q, { durable: true });
    await send(q, range(0, 10), true);
    const first = new RawSse(`${base}/queues/${q}/events`);
    await first.untilEvents(10);
    const lastSeen = first.events[3]!.id!;
    // The old client stops reading: to the server its connection is still open.
    first.pause();
    const second = new RawSse(`${base}/queues/${q}/events`, { 'last-event-id': lastSeen });
    await second.untilEvents(6);
    assert.deepEqual(second.bodies, range(4, 10));
    first.resume();
    await first.until(() => first.ended, 'the old stream to be ended');
    second.destroy();
    await ch.deleteQueue(q);
  });

  test('an unknown Last-Event-ID, and a non-durable queue, get everything again (at least once)', async () => {
    const q = uniq('sse-unknown');
    await ch.assertQueue(q, { durable: true });
    await send(q, range(0, 3), true);
    const s = new RawSse(`${base}/queues/${q}/events`, { 'last-event-id': '999999999' });
    await s.untilEvents(3);
    assert.deepEqual(s.bodies, range(0, 3));
    s.destroy();

    const t = uniq('sse-transient');
    await ch.assertQueue(t, { durable: false });
    await send(t, range(0, 3));
    const a = new RawSse(`${base}/queues/${t}/events`, {}, 1);
    await a.untilEvents(1);
    assert.equal(a.events[0]!.id, '1', 'a per-stream number');
    await eventually(async () => (await ch.checkQueue(t)).consumerCount === 0, 'the stream to close');
    // At most once: what the first stream was sent is gone, whatever the client read.
    assert.equal((await ch.checkQueue(t)).messageCount, 0);
    const c = new RawSse(`${base}/queues/${t}/events`, { 'last-event-id': '1' });
    await c.until(() => c.status === 200, 'the stream');
    await send(t, ['m3']);
    await c.untilEvents(1);
    assert.deepEqual(c.bodies, ['m3']);
    assert.equal(c.events[0]!.id, '1');
    c.destroy();
    await ch.deleteQueue(q);
    await ch.deleteQueue(t);
  });
});

test('resume window: at most sseBuffer written events stay unsettled; batches pause at sseBuffer', async () => {
  const small = await startTestBroker({}, undefined, { http: { port: 0, sseBuffer: 5 } });
  const c = await amqp.connect(small.url);
  try {
    const sch = await c.createConfirmChannel();
    const q = uniq('sse-window');
    await sch.assertQueue(q, { durable: true });
    for (const m of range(0, 40)) sch.sendToQueue(q, Buffer.from(m), { persistent: true });
    await sch.waitForConfirms();
    const url = `http://127.0.0.1:${small.server.http!.address.port}/api/v1/vhosts/%2F/queues/${q}/events`;
    const s = new RawSse(url);
    await s.untilEvents(40);
    assert.deepEqual(s.bodies, range(0, 40));
    s.destroy();
    await eventually(async () => (await sch.checkQueue(q)).consumerCount === 0, 'the stream to close');
    // The last five were written but not yet settled: they went back to the queue.
    assert.equal((await sch.checkQueue(q)).messageCount, 5);
    const back = new RawSse(url, { 'last-event-id': s.events[37]!.id! });
    await back.untilEvents(2);
    assert.deepEqual(back.bodies, ['m38', 'm39']);
    back.destroy();
  } finally {
    await c.close();
    await small.close();
  }
});

describe('stream behaviour', () => {
  test('retry is sent once, heartbeats arrive, and written events are settled after two of them', async () => {
    const q = uniq('sse-hb');
    await ch.assertQueue(q, { durable: true });
    await send(q, range(0, 3), true);
    const s = new RawSse(`${base}/queues/${q}/events`);
    await s.untilEvents(3);
    assert.equal(s.retry, 2000);
    await s.until(() => s.comments.filter((c) => c === 'hb').length >= 2, 'two heartbeats');
    s.destroy();
    await eventually(async () => (await ch.checkQueue(q)).consumerCount === 0, 'the stream to close');
    assert.equal((await ch.checkQueue(q)).messageCount, 0, 'nothing requeued: the window was settled');
    await ch.deleteQueue(q);
  });

  test('a client that stops reading stalls neither the publisher nor other consumers', async () => {
    const x = uniq('sse-fan');
    const slowQ = uniq('sse-slow');
    const fastQ = uniq('sse-fast');
    await ch.assertExchange(x, 'fanout', { durable: false, autoDelete: false });
    for (const q of [slowQ, fastQ]) {
      await ch.assertQueue(q, { durable: false });
      await ch.bindQueue(q, x, '');
    }
    const slow = new RawSse(`${base}/queues/${slowQ}/events`);
    await slow.until(() => slow.status === 200, 'the stream');
    slow.pause();
    const fastConn = await amqp.connect(b.url);
    const fast = await fastConn.createChannel();
    const N = 4000;
    let fastGot = 0;
    const allFast = new Promise<void>((resolve) => {
      void fast.consume(
        fastQ,
        () => {
          if (++fastGot === N) resolve();
        },
        { noAck: true },
      );
    });
    const body = Buffer.alloc(8192, 'a');
    for (let i = 0; i < N; i++) pub.publish(x, '', body);
    await pub.waitForConfirms();
    await allFast;
    const stuck = (await ch.checkQueue(slowQ)).messageCount;
    assert.ok(stuck > 0, 'the slow subscriber stopped taking messages: they wait in its queue');

    // A competing consumer on the slow stream's queue gets what the stream does not take.
    let competing = 0;
    void fast.consume(slowQ, () => competing++, { noAck: true });
    await eventually(async () => (await ch.checkQueue(slowQ)).messageCount === 0, 'the queue to drain');
    assert.ok(competing > 0);
    // And the slow client, reading again, gets the rest of what it was sent.
    slow.resume();
    await slow.until(() => slow.events.length + competing === N, 'the slow client to catch up');
    assert.equal(slow.events.length + competing, N);
    slow.destroy();
    await fastConn.close();
    await ch.deleteExchange(x);
  });

  test('a client that goes away takes its consumer (and an exchange stream its queue) with it', async () => {
    const q = uniq('sse-gone');
    await ch.assertQueue(q, { durable: false });
    const es = new EventSource(`${base}/queues/${q}/events`);
    await opened(es);
    assert.equal((await ch.checkQueue(q)).consumerCount, 1);
    es.close();
    await eventually(async () => (await ch.checkQueue(q)).consumerCount === 0, 'the consumer to go');

    const vhost = b.server.broker.vhosts.get('/')!;
    const queuesBefore = new Set(vhost.queues.keys());
    const conns = b.server.broker.connections.size;
    const xs = new EventSource(`${base}/exchanges/amq.fanout/events`);
    await opened(xs);
    const made = [...vhost.queues.keys()].filter((n) => !queuesBefore.has(n));
    assert.equal(made.length, 1);
    assert.match(made[0]!, /^amq\.gen-/);
    xs.close();
    await eventually(() => !vhost.queues.has(made[0]!), 'the server-named queue to go');
    await eventually(() => b.server.broker.connections.size === conns, 'the core connection to close');
  });

  test('a deleted queue ends its stream with an error event', async () => {
    const q = uniq('sse-deleted');
    await ch.assertQueue(q, { durable: false });
    const s = new RawSse(`${base}/queues/${q}/events`);
    await s.until(() => s.status === 200, 'the stream');
    await ch.deleteQueue(q);
    await s.until(() => s.ended, 'the end of the stream');
    const err = s.events.find((e) => e.event === 'error');
    assert.equal((JSON.parse(err!.data) as { code: string }).code, 'NOT_FOUND');
  });
});

test('fuzz: random methods, paths and headers never crash the server and always get JSON or a stream', async () => {
  const q = uniq('fuzz');
  await ch.assertQueue(q, { durable: true });
  const conns = b.server.broker.connections.size;
  const root = `http://127.0.0.1:${port}`;
  const seg = fc.constantFrom(
    'vhosts',
    '%2F',
    '%2f',
    'nope',
    '%ZZ',
    '%E0%A4%A',
    'queues',
    'exchanges',
    q,
    'amq.default',
    'amq.topic',
    '',
    '..',
    'publish',
    'events',
    'messages',
    'ack',
    '%00',
  );
  const path = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(seg, seg, seg, seg, seg).map((p) => `/api/v1/${p.join('/')}`) },
    { weight: 1, arbitrary: fc.array(seg, { maxLength: 7 }).map((p) => `/api/v1/${p.join('/')}`) },
  );
  const query = fc.constantFrom(
    '',
    `?routingKey=${q}`,
    '?count=3&ack=manual',
    '?count=-1',
    '?ack=auto&count=1000',
    '?mandatory=true',
    '?mandatory=x',
    '?key=%23',
    '?%%',
  );
  const byteString = fc
    .array(fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff })), {
      maxLength: 24,
    })
    .map((a) => String.fromCharCode(...a).trim());
  const headerName = fc.constantFrom(
    'authorization',
    'content-type',
    'x-priority',
    'x-persistent',
    'x-expiration',
    'x-timestamp',
    'x-header-a',
    'x-routing-key',
    'traceparent',
    'last-event-id',
  );
  const headerValue = fc.oneof(
    byteString,
    fc.constantFrom(
      'Basic Z3Vlc3Q6Z3Vlc3Q=',
      'Basic Z3Vlc3Q6d3Jvbmc=',
      'Basic',
      'application/vnd.switchyard.message+json',
      'true',
      '7',
      '1',
    ),
  );
  const body = fc.oneof(
    fc.constant(undefined),
    byteString,
    fc.json(),
    fc.constantFrom('{"ids":["x-1"]}', '{"body":"x","properties":{"priority":1}}', '{"body":1}'),
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  );
  let requests = 0;
  /** Manual gets that took messages: each holds its core connection until its lease ends. */
  let leases = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
      path,
      query,
      fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
      body,
      async (method, p, qs, headers, payload) => {
        requests++;
        const abort = new AbortController();
        const withBody = method !== 'GET' && method !== 'HEAD' && payload !== undefined;
        const r = await fetch(`${root}${p}${qs}`, {
          method,
          headers,
          signal: abort.signal,
          ...(withBody ? { body: payload } : {}),
        });
        const type = r.headers.get('content-type') ?? '';
        if (type.startsWith('text/event-stream')) {
          assert.equal(r.status, 200);
          abort.abort();
          return;
        }
        if (method === 'HEAD') {
          await r.body?.cancel();
          return;
        }
        assert.match(type, /^application\/json/, `${method} ${p}${qs} → ${r.status} ${type}`);
        const j = (await r.json()) as Record<string, unknown>;
        if (r.status >= 400) {
          assert.equal(typeof j.code, 'string');
          assert.equal(typeof j.message, 'string');
        } else {
          assert.equal(r.status, 200);
          if (Array.isArray(j) && j.length > 0 && typeof j[0].id === 'string') leases++;
        }
      },
    ),
    { numRuns: 2500 },
  );
  assert.ok(requests >= 2000);
  // The server is fine: a normal request works, and every request's core connection is gone
  // (streams aborted by the client close asynchronously; manual gets hold theirs until acked).
  const ok = await fetch(`${base}/queues/${q}/messages?count=1`);
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  await eventually(() => b.server.broker.connections.size === conns + leases, 'request connections to close');
});
