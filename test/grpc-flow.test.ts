/**
 * Flow control, cancellation, deadlines and shutdown of the gRPC front end, observed from
 * outside: a client that does not read holds a bounded number of deliveries (the rest stay in
 * the queue) and stalls no one else; a cancelled call removes its consumer; a call past its
 * deadline ends with DEADLINE_EXCEEDED from the server itself; shutdown ends calls UNAVAILABLE.
 * Raw HTTP/2 clients are used where the test must control reading and flow-control windows.
 */
import assert from 'node:assert/strict';
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { Health, HealthCheckResponse_ServingStatus } from '../src/gen/grpc/health/v1/health_pb.js';
import {
  Broker,
  PublishRequestSchema,
  SessionRequestSchema,
  SessionResponseSchema,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
} from '../src/gen/switchyard/v1/broker_pb.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { poll } from './support/wait.js';

const b = await startTestBroker();
after(() => b.close());
const grpcPort = b.server.grpc!.address.port;
const grpcUrl = `http://127.0.0.1:${grpcPort}`;
const httpUrl = `http://127.0.0.1:${b.server.http!.address.port}`;
const native = createClient(Broker, createGrpcTransport({ baseUrl: grpcUrl }));

function frame(m: Uint8Array, compressed = false): Buffer {
  const body = compressed ? gzipSync(m) : Buffer.from(m);
  const h = Buffer.alloc(5);
  h[0] = compressed ? 1 : 0;
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

/** Polls `cond` (an outside observer has no event to await). */
const waitFor = (cond: () => Promise<boolean> | boolean, what: string) => poll(cond, what);

/**
 * Polls the queue until deliveries have begun (its count went below `from`) and then until the
 * count holds still for 5 polls; returns that count.
 */
async function settledCount(q: string, from: number): Promise<number> {
  await waitFor(
    async () => (await native.inspectQueue({ name: q })).messageCount < from,
    'deliveries to begin',
  );
  let last = -1;
  let same = 0;
  for (let i = 0; i < 200 && same < 5; i++) {
    const n = (await native.inspectQueue({ name: q })).messageCount;
    same = n === last ? same + 1 : 0;
    last = n;
    await new Promise((r) => setTimeout(r, 20));
  }
  return last;
}

async function fill(q: string, n: number, size: number): Promise<void> {
  const body = Buffer.alloc(size, 120);
  async function* msgs() {
    for (let i = 0; i < n; i++) {
      const m = Buffer.from(body);
      m.writeUInt32BE(i, 0);
      yield create(PublishRequestSchema, { routingKey: q, message: { body: m } });
    }
  }
  assert.equal((await native.publishStream(msgs())).confirmed, BigInt(n));
}

/** A raw gRPC call on its own HTTP/2 connection: the test decides when data is read. */
class RawCall {
  readonly session: ClientHttp2Session;
  readonly stream: ClientHttp2Stream;
  readonly messages: Buffer[] = [];
  headers: Record<string, unknown> = {};
  trailers: Record<string, unknown> = {};
  readonly closed: Promise<void>;
  private pending = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  constructor(port: number, path: string, extra: Record<string, string> = {}, windowSize?: number) {
    this.session = connect(
      `http://127.0.0.1:${port}`,
      windowSize === undefined ? {} : { settings: { initialWindowSize: windowSize } },
    );
    this.session.on('error', () => {});
    this.stream = this.session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    this.stream.on('error', () => {});
    this.stream.on('response', (h) => (this.headers = h));
    this.stream.on('trailers', (t) => (this.trailers = t));
    this.stream.on('data', (c: Buffer) => this.data(c));
    this.closed = new Promise((r) => this.stream.once('close', () => r()));
  }

  /** grpc-status of the call (trailers, or the headers of a Trailers-Only response). */
  get status(): string | undefined {
    return (this.trailers['grpc-status'] ?? this.headers['grpc-status']) as string | undefined;
  }

  async until(n: number, what = `${n} messages`): Promise<void> {
    while (this.messages.length < n) {
      await Promise.race([
        new Promise<void>((r) => this.waiters.push(r)),
        this.closed.then(() =>
          assert.ok(this.messages.length >= n, `call ended (grpc-status ${this.status}) before ${what}`),
        ),
      ]);
    }
  }

  close(): void {
    this.stream.close();
    this.session.close();
  }

  private data(c: Buffer): void {
    this.pending = Buffer.concat([this.pending, c]);
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) break;
      this.messages.push(this.pending.subarray(5, 5 + len));
      this.pending = this.pending.subarray(5 + len);
    }
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

function subscribeRequest(q: string, extra: Record<string, unknown> = {}): Uint8Array {
  return toBinary(
    SubscribeRequestSchema,
    create(SubscribeRequestSchema, { source: { case: 'queue', value: q }, autoAck: true, ...extra }),
  );
}

describe('gRPC flow control', () => {
  for (const [name, compressed] of [
    ['native path', false],
    ['connect path (compressed request)', true],
  ] as const) {
    test(`Subscribe (${name}): a client that does not read holds a bounded number; then gets them all, in order`, async () => {
      const q = uniq('grpc-bp');
      await native.declareQueue({ name: q });
      const n = 3000;
      await fill(q, n, 1024);
      const c = new RawCall(
        grpcPort,
        '/switchyard.v1.Broker/Subscribe',
        compressed ? { 'grpc-encoding': 'gzip' } : {},
      );
      c.stream.end(frame(subscribeRequest(q), compressed));
      c.stream.pause();
      const left = await settledCount(q, n);
      // The HTTP/2 windows (64 KiB each way), the stream's buffer and at most one write batch or
      // the Outbox (256) are in flight; everything else waits in the queue.
      assert.ok(left >= n - 700, `only ${left} of ${n} left in the queue`);
      assert.ok(left < n, 'some were delivered');
      c.stream.resume();
      await c.until(n + 1);
      const ids = c.messages.slice(1).map((m) => {
        const r = fromBinary(SubscribeResponseSchema, m);
        assert.equal(r.event.case, 'delivery');
        return Buffer.from((r.event.value as { message: { body: Uint8Array } }).message.body).readUInt32BE(0);
      });
      assert.deepEqual(ids, [...Array(n).keys()]);
      c.close();
    });
  }

  test('Session: a consumer that does not read stalls no one else', async () => {
    const slowQ = uniq('grpc-slow');
    const fastQ = uniq('grpc-fast');
    await native.declareQueue({ name: slowQ });
    await native.declareQueue({ name: fastQ });
    const slow = new RawCall(grpcPort, '/switchyard.v1.Broker/Session');
    slow.stream.write(
      frame(
        toBinary(
          SessionRequestSchema,
          create(SessionRequestSchema, {
            request: {
              case: 'subscribe',
              value: {
                subscription: 's',
                source: { case: 'queue', value: slowQ },
                autoAck: true,
                credit: 1 << 30,
              },
            },
          }),
        ),
      ),
    );
    await slow.until(1, 'subscribed');
    slow.stream.pause();
    // Another client publishes to both queues and consumes the fast one in a Session.
    const n = 2000;
    const body = Buffer.alloc(1024, 1);
    async function* requests() {
      yield create(SessionRequestSchema, {
        request: {
          case: 'subscribe',
          value: { subscription: 'f', source: { case: 'queue', value: fastQ }, autoAck: true, credit: n },
        },
      });
      for (let i = 0; i < n; i++) {
        yield create(SessionRequestSchema, {
          request: {
            case: 'publish',
            value: { publishId: BigInt(2 * i), routingKey: slowQ, message: { body } },
          },
        });
        yield create(SessionRequestSchema, {
          request: {
            case: 'publish',
            value: { publishId: BigInt(2 * i + 1), routingKey: fastQ, message: { body } },
          },
        });
      }
    }
    let confirms = 0;
    let deliveries = 0;
    const done = new AbortController();
    for await (const r of native.session(requests(), { signal: done.signal })) {
      if (r.response.case === 'confirm') confirms++;
      else if (r.response.case === 'delivery') deliveries++;
      else assert.equal(r.response.case, 'subscribed');
      if (confirms === 2 * n && deliveries === n) break;
    }
    done.abort();
    assert.deepEqual([confirms, deliveries], [2 * n, n]);
    assert.ok((await native.inspectQueue({ name: slowQ })).messageCount > n - 700);
    slow.stream.resume();
    await slow.until(n + 1);
    slow.close();
  });
});

describe('gRPC cancellation', () => {
  const transports = [
    ['grpc', createGrpcTransport({ baseUrl: grpcUrl })],
    ['grpc-web', createGrpcWebTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
    ['connect', createConnectTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
  ] as const;
  for (const [name, t] of transports) {
    test(`Subscribe over ${name}: cancelling removes the consumer; unsettled go back`, async () => {
      const c = createClient(Broker, t);
      const q = uniq('grpc-cancel');
      await c.declareQueue({ name: q });
      await c.publish({ routingKey: q, message: { body: Buffer.from('x') } });
      const ac = new AbortController();
      const it = c
        .subscribe({ source: { case: 'queue', value: q } }, { signal: ac.signal })
        [Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.event.case, 'started');
      assert.equal((await it.next()).value?.event.case, 'delivery');
      assert.equal((await c.inspectQueue({ name: q })).consumerCount, 1);
      ac.abort();
      await assert.rejects(it.next(), (e: unknown) => ConnectError.from(e).code === Code.Canceled);
      await waitFor(
        async () => (await c.inspectQueue({ name: q })).consumerCount === 0,
        'the consumer to go',
      );
      assert.equal((await c.inspectQueue({ name: q })).messageCount, 1);
    });
  }

  test('Session: cancelling removes every subscription', async () => {
    const q = uniq('grpc-cancel-s');
    await native.declareQueue({ name: q });
    const ac = new AbortController();
    async function* requests() {
      yield create(SessionRequestSchema, {
        request: {
          case: 'subscribe',
          value: { subscription: 'a', source: { case: 'queue', value: q }, credit: 1 },
        },
      });
      await new Promise(() => {}); // keeps the request stream open until the call is cancelled
    }
    const it = native.session(requests(), { signal: ac.signal })[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.response.case, 'subscribed');
    assert.equal((await native.inspectQueue({ name: q })).consumerCount, 1);
    ac.abort();
    await assert.rejects(it.next());
    await waitFor(
      async () => (await native.inspectQueue({ name: q })).consumerCount === 0,
      'the consumer to go',
    );
  });
});

describe('gRPC deadlines', () => {
  test('a Publish that cannot be confirmed in time ends DEADLINE_EXCEEDED (from the server)', async () => {
    const q = uniq('grpc-deadline');
    await native.declareQueue({ name: q, durable: true });
    const store = b.server.broker.store!;
    const held: (() => void)[] = [];
    const original = store.whenDurable.bind(store);
    // The disk never answers: the confirm of a persistent message cannot come.
    store.whenDurable = (epoch, cb) => void held.push(() => original(epoch, cb));
    try {
      const c = new RawCall(grpcPort, '/switchyard.v1.Broker/Publish', { 'grpc-timeout': '200m' });
      c.stream.end(
        frame(
          toBinary(
            PublishRequestSchema,
            create(PublishRequestSchema, { routingKey: q, message: { persistent: true } }),
          ),
        ),
      );
      await c.closed;
      assert.equal(c.status, String(Code.DeadlineExceeded));
      c.close();
      // Other calls go on meanwhile.
      assert.equal((await native.publish({ routingKey: q })).routedQueues, 1);
    } finally {
      store.whenDurable = original;
      for (const h of held) h();
    }
  });

  for (const [name, compressed] of [
    ['native path', false],
    ['connect path', true],
  ] as const) {
    test(`a Subscribe past its deadline ends DEADLINE_EXCEEDED and its consumer goes (${name})`, async () => {
      const q = uniq('grpc-deadline-s');
      await native.declareQueue({ name: q });
      const c = new RawCall(grpcPort, '/switchyard.v1.Broker/Subscribe', {
        // Long enough that the 'started' message always comes first, even on a busy machine.
        'grpc-timeout': '1000m',
        ...(compressed ? { 'grpc-encoding': 'gzip' } : {}),
      });
      c.stream.end(frame(subscribeRequest(q), compressed));
      await c.until(1, 'started');
      await c.closed;
      assert.equal(c.status, String(Code.DeadlineExceeded));
      c.close();
      await waitFor(
        async () => (await native.inspectQueue({ name: q })).consumerCount === 0,
        'the consumer to go',
      );
    });
  }

  test('a malformed grpc-timeout is INVALID_ARGUMENT', async () => {
    for (const path of ['/switchyard.v1.Broker/Session', '/switchyard.v1.Broker/InspectQueue']) {
      const c = new RawCall(grpcPort, path, { 'grpc-timeout': 'soon' });
      c.stream.end();
      await c.closed;
      assert.equal(c.status, String(Code.InvalidArgument), path);
      c.close();
    }
  });
});

describe('gRPC shutdown', () => {
  test('open calls end UNAVAILABLE; health watchers hear NOT_SERVING', async () => {
    const b2: TestBroker = await startTestBroker();
    const port = b2.server.grpc!.address.port;
    const c = createClient(Broker, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const h = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    const q = uniq('grpc-shutdown');
    await c.declareQueue({ name: q });
    const sub = new RawCall(port, '/switchyard.v1.Broker/Subscribe');
    sub.stream.end(frame(subscribeRequest(q)));
    await sub.until(1, 'started');
    const sess = new RawCall(port, '/switchyard.v1.Broker/Session');
    sess.stream.write(
      frame(
        toBinary(
          SessionRequestSchema,
          create(SessionRequestSchema, { request: { case: 'credit', value: { subscription: 'x', n: 1 } } }),
        ),
      ),
    );
    await sess.until(1, 'an error response');
    assert.equal(fromBinary(SessionResponseSchema, sess.messages[0]!).response.case, 'error');
    const watch = h.watch({ service: 'switchyard.v1.Broker' })[Symbol.asyncIterator]();
    assert.equal((await watch.next()).value?.status, HealthCheckResponse_ServingStatus.SERVING);
    const viaConnect = c.subscribe({ source: { case: 'queue', value: q } })[Symbol.asyncIterator]();
    assert.equal((await viaConnect.next()).value?.event.case, 'started');
    await b2.close();
    await Promise.all([sub.closed, sess.closed]);
    assert.equal(sub.status, String(Code.Unavailable));
    assert.equal(sess.status, String(Code.Unavailable));
    await assert.rejects(viaConnect.next(), (e: unknown) => ConnectError.from(e).code === Code.Unavailable);
    const last = await watch.next();
    assert.equal(last.value?.status, HealthCheckResponse_ServingStatus.NOT_SERVING);
    sub.close();
    sess.close();
  });
});
