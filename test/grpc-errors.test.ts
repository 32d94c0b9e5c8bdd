/**
 * Status codes and bad input of the gRPC front end, over every transport: each failure gets its
 * gRPC status with a readable message, and affects only its own call: the server and the other
 * calls (an open Subscribe stream here) go on. Random request bodies (fuzz) end each call with
 * some status, never a crash.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:http2';
import { createConnection } from 'node:net';
import { after, describe, test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import amqp from 'amqplib';
import fc from 'fast-check';
import {
  Broker,
  SessionRequestSchema,
  type SessionResponse,
  SubscribeRequestSchema,
} from '../src/gen/switchyard/v1/broker_pb.js';
import { startTestBroker, uniq } from './helpers.js';

const MAX = 4096;
const b = await startTestBroker({}, undefined, {
  grpc: { port: 0, maxMessageSize: MAX, anonymous: 'never' },
  http: { port: 0, anonymous: 'never' },
  vhosts: ['/', 'other'],
});
after(() => b.close());
const grpcPort = b.server.grpc!.address.port;
const httpPort = b.server.http!.address.port;
const grpcUrl = `http://127.0.0.1:${grpcPort}`;
const httpUrl = `http://127.0.0.1:${httpPort}`;
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
const auth = { authorization: GUEST };

const transports: [string, Transport][] = [
  ['grpc', createGrpcTransport({ baseUrl: grpcUrl })],
  ['grpc-web', createGrpcWebTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
  ['connect', createConnectTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
];
const native = createClient(Broker, transports[0]![1]);

async function status(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail('the call succeeded');
}

async function expectCode(p: Promise<unknown>, code: Code, message?: RegExp): Promise<ConnectError> {
  const e = await status(p);
  assert.equal(e.code, code, `${Code[e.code]}: ${e.rawMessage}`);
  if (message !== undefined) assert.match(e.rawMessage, message);
  return e;
}

/** The first response of a stream (or its error). */
async function first<T>(stream: AsyncIterable<T>): Promise<T> {
  for await (const r of stream) return r;
  assert.fail('stream ended without a response');
}

function frame(m: Uint8Array, flag = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(m.length, 1);
  return Buffer.concat([h, Buffer.from(m)]);
}

/** One raw HTTP/2 call; resolves with its grpc-status (trailers or Trailers-Only headers). */
function raw(
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: string | undefined; message: string | undefined; http: number | undefined }> {
  return new Promise((resolve, reject) => {
    const s = connect(grpcUrl);
    s.on('error', reject);
    const st = s.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...auth,
      ...headers,
    });
    let h: Record<string, unknown> = {};
    let t: Record<string, unknown> = {};
    st.on('response', (x) => (h = x));
    st.on('trailers', (x) => (t = x));
    st.on('data', () => {});
    st.on('error', () => {});
    st.on('close', () => {
      s.close();
      resolve({
        status: (t['grpc-status'] ?? h['grpc-status']) as string | undefined,
        message: (t['grpc-message'] ?? h['grpc-message']) as string | undefined,
        http: h[':status'] as number | undefined,
      });
    });
    st.end(body);
  });
}

/** An open Subscribe stream that must keep working whatever the other tests do. */
const witnessQueue = uniq('grpc-witness');
await native.declareQueue({ name: witnessQueue }, { headers: auth });
const witness = native
  .subscribe({ source: { case: 'queue', value: witnessQueue }, autoAck: true }, { headers: auth })
  [Symbol.asyncIterator]();
assert.equal((await witness.next()).value?.event.case, 'started');
let witnessed = 0;
async function witnessStillWorks(): Promise<void> {
  const body = `w${++witnessed}`;
  await native.publish({ routingKey: witnessQueue, message: { body: Buffer.from(body) } }, { headers: auth });
  const r = await witness.next();
  assert.equal(r.value?.event.case, 'delivery');
  assert.equal(Buffer.from(r.value.event.value.message!.body).toString(), body);
}

for (const [name, t] of transports) {
  describe(`gRPC status codes over ${name}`, () => {
    const c = createClient(Broker, t);

    test('UNAUTHENTICATED: no credentials (anonymous never), wrong password, malformed header', async () => {
      await expectCode(
        c.inspectExchange({ name: 'amq.topic' }),
        Code.Unauthenticated,
        /credentials required/,
      );
      const wrong = `Basic ${Buffer.from('guest:nope').toString('base64')}`;
      const e = await expectCode(
        c.inspectExchange({ name: 'amq.topic' }, { headers: { authorization: wrong } }),
        Code.Unauthenticated,
        /refused/,
      );
      assert.equal(e.metadata.get('switchyard-error'), 'AUTHENTICATION_FAILED');
      await expectCode(
        c.inspectExchange({ name: 'amq.topic' }, { headers: { authorization: 'Bearer x' } }),
        Code.Unauthenticated,
        /malformed/,
      );
      assert.equal((await c.inspectExchange({ name: 'amq.topic' }, { headers: auth })).type, 'topic');
    });

    test('PERMISSION_DENIED: an internal exchange, an unknown vhost', async () => {
      const x = uniq('grpc-internal');
      await c.declareExchange({ name: x, type: 'fanout', internal: true }, { headers: auth });
      await expectCode(
        c.publish({ exchange: x }, { headers: auth }),
        Code.PermissionDenied,
        /internal exchange/,
      );
      await expectCode(
        c.declareQueue({ name: 'q' }, { headers: { ...auth, 'switchyard-vhost': 'nope' } }),
        Code.PermissionDenied,
        /vhost nope/,
      );
    });

    test('switchyard-vhost picks the virtual host', async () => {
      const q = uniq('grpc-vhost');
      await c.declareQueue({ name: q }, { headers: { ...auth, 'switchyard-vhost': 'other' } });
      assert.equal(
        (await c.inspectQueue({ name: q }, { headers: { ...auth, 'switchyard-vhost': 'other' } })).name,
        q,
      );
      await expectCode(
        c.inspectQueue({ name: q }, { headers: auth }),
        Code.NotFound,
        /no queue .* in vhost '\/'/,
      );
    });

    test('NOT_FOUND: a missing exchange, queue, unroutable mandatory message', async () => {
      await expectCode(
        c.publish({ exchange: uniq('nope') }, { headers: auth }),
        Code.NotFound,
        /no exchange/,
      );
      const sub = await expectCode(
        first(c.subscribe({ source: { case: 'queue', value: uniq('nope') } }, { headers: auth })),
        Code.NotFound,
        /no queue/,
      );
      assert.equal(sub.metadata.get('switchyard-error'), 'NOT_FOUND');
      const e = await expectCode(
        c.publish({ routingKey: uniq('nobody'), mandatory: true }, { headers: auth }),
        Code.NotFound,
      );
      assert.equal(e.metadata.get('switchyard-error'), 'NO_ROUTE');
    });

    test('INVALID_ARGUMENT: bad fields and missing names', async () => {
      const q = uniq('grpc-inv');
      await c.declareQueue({ name: q }, { headers: auth });
      await expectCode(
        c.publish({ routingKey: q, message: { expiration: '-5' } }, { headers: auth }),
        Code.InvalidArgument,
        /expiration/,
      );
      await expectCode(
        c.publish({ routingKey: q, message: { priority: 1000 } }, { headers: auth }),
        Code.InvalidArgument,
        /priority/,
      );
      await expectCode(c.inspectQueue({ name: '' }, { headers: auth }), Code.InvalidArgument, /queue name/);
      await expectCode(c.purgeQueue({ name: '' }, { headers: auth }), Code.InvalidArgument);
      await expectCode(c.deleteQueue({ name: '' }, { headers: auth }), Code.InvalidArgument);
      await expectCode(
        c.declareExchange({ name: uniq('x') }, { headers: auth }),
        Code.InvalidArgument,
        /type/,
      );
      await expectCode(
        c.declareExchange({ name: uniq('x'), type: 'weird' }, { headers: auth }),
        Code.InvalidArgument,
        /exchange type/,
      );
      await expectCode(
        c.bind({ exchange: 'amq.topic' }, { headers: auth }),
        Code.InvalidArgument,
        /destination/,
      );
      await expectCode(
        first(c.subscribe({}, { headers: auth })),
        Code.InvalidArgument,
        /queue or to an exchange/,
      );
      await expectCode(
        first(c.subscribe({ source: { case: 'queue', value: '' } }, { headers: auth })),
        Code.InvalidArgument,
      );
      await expectCode(c.ack({ subscriptionId: 'x', deliveryId: 1n }, { headers: auth }), Code.NotFound);
    });

    test('RESOURCE_EXHAUSTED: a message over grpc.maxMessageSize; blocked publishers', async () => {
      const q = uniq('grpc-big');
      await c.declareQueue({ name: q }, { headers: auth });
      await expectCode(
        c.publish({ routingKey: q, message: { body: Buffer.alloc(MAX + 1) } }, { headers: auth }),
        Code.ResourceExhausted,
      );
      assert.equal(
        (await c.publish({ routingKey: q, message: { body: Buffer.alloc(MAX - 64) } }, { headers: auth }))
          .routedQueues,
        1,
      );
      b.server.broker.setAlarm('disk', true);
      try {
        const e = await expectCode(
          c.publish({ routingKey: q }, { headers: auth }),
          Code.ResourceExhausted,
          /blocked.*disk/,
        );
        assert.equal(e.metadata.get('switchyard-error'), 'RESOURCE_ERROR');
      } finally {
        b.server.broker.setAlarm('disk', false);
      }
      assert.equal((await c.publish({ routingKey: q }, { headers: auth })).routedQueues, 1);
      await witnessStillWorks();
    });
  });
}

describe('gRPC bad input', () => {
  test('an unknown method or service: UNIMPLEMENTED (gRPC, gRPC-Web), 404 (Connect)', async () => {
    for (const path of ['/switchyard.v1.Broker/Nope', '/no.Such/Thing']) {
      const r = await raw(path, frame(Buffer.alloc(0)));
      assert.equal(r.status, String(Code.Unimplemented), path);
      assert.match(decodeURIComponent(r.message ?? ''), /unknown method/);
    }
    const web = await fetch(`${httpUrl}/switchyard.v1.Broker/Nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/grpc-web+proto', authorization: GUEST },
      body: new Uint8Array(frame(Buffer.alloc(0))),
    });
    assert.equal(web.status, 200);
    assert.equal(web.headers.get('grpc-status'), String(Code.Unimplemented));
    const cn = await fetch(`${httpUrl}/switchyard.v1.Broker/Nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: GUEST },
      body: '{}',
    });
    assert.equal(cn.status, 404);
    assert.equal(((await cn.json()) as { code: string }).code, 'unimplemented');
    await witnessStillWorks();
  });

  test('a body that is not protobuf: INTERNAL, on the connect and the native paths', async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a]);
    for (const path of [
      '/switchyard.v1.Broker/Publish',
      '/switchyard.v1.Broker/Session',
      '/switchyard.v1.Broker/Subscribe',
    ]) {
      const r = await raw(path, frame(garbage));
      assert.equal(r.status, String(Code.Internal), path);
    }
    // A frame cut short, and a compressed one without an encoding.
    assert.equal(
      (await raw('/switchyard.v1.Broker/Session', frame(Buffer.from('abcdef')).subarray(0, 7))).status,
      String(Code.Internal),
    );
    assert.equal(
      (await raw('/switchyard.v1.Broker/Session', frame(Buffer.from('x'), 1))).status,
      String(Code.Internal),
    );
    await witnessStillWorks();
  });

  test('an oversize message on the native Session and a too big delivery: RESOURCE_EXHAUSTED', async () => {
    const publish = create(SessionRequestSchema, {
      request: { case: 'publish', value: { message: { body: Buffer.alloc(MAX + 10) } } },
    });
    assert.equal(
      (await raw('/switchyard.v1.Broker/Session', frame(toBinary(SessionRequestSchema, publish)))).status,
      String(Code.ResourceExhausted),
    );
    // AMQP has its own (larger) limit: a message gRPC cannot carry ends the gRPC consumer's call.
    const q = uniq('grpc-big-delivery');
    await native.declareQueue({ name: q }, { headers: auth });
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
    try {
      const ch = await conn.createConfirmChannel();
      ch.sendToQueue(q, Buffer.alloc(MAX * 2));
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const r = await raw(
      '/switchyard.v1.Broker/Subscribe',
      frame(
        toBinary(
          SubscribeRequestSchema,
          create(SubscribeRequestSchema, { source: { case: 'queue', value: q } }),
        ),
      ),
    );
    assert.equal(r.status, String(Code.ResourceExhausted));
    await witnessStillWorks();
  });

  test('the native path refuses bad credentials before reading', async () => {
    for (const path of ['/switchyard.v1.Broker/Session', '/switchyard.v1.Broker/Subscribe']) {
      const r = await raw(path, Buffer.alloc(0), { authorization: 'Basic Z3Vlc3Q6bm9wZQ==' });
      assert.equal(r.status, String(Code.Unauthenticated), path);
      const v = await raw(path, Buffer.alloc(0), { 'switchyard-vhost': 'nope' });
      assert.equal(v.status, String(Code.PermissionDenied), path);
    }
  });

  test('a Session request with nothing set is an error response; the session goes on', async () => {
    const requests = (async function* () {
      yield create(SessionRequestSchema, {});
      yield create(SessionRequestSchema, {
        request: { case: 'publish', value: { publishId: 7n, routingKey: witnessQueue } },
      });
    })();
    const got: SessionResponse[] = [];
    for await (const r of native.session(requests, { headers: auth })) got.push(r);
    assert.equal(got[0]!.response.case, 'error');
    assert.match((got[0]!.response.value as { message: string }).message, /empty request/);
    assert.equal(got[1]!.response.case, 'confirm');
    await witness.next(); // the publish above reached the witness queue
  });

  test('bytes that are not HTTP/2 on the gRPC port close that connection only', async () => {
    await new Promise<void>((resolve) => {
      const s = createConnection(grpcPort, '127.0.0.1', () => s.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    await witnessStillWorks();
  });

  test('random request bodies end each call with a status (fuzz)', async () => {
    const paths = [
      '/switchyard.v1.Broker/Publish',
      '/switchyard.v1.Broker/Session',
      '/switchyard.v1.Broker/Subscribe',
      '/switchyard.v1.Broker/DeclareQueue',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.uint8Array({ maxLength: 200 }),
        fc.boolean(),
        async (path, bytes, framed) => {
          const r = await raw(path, framed ? frame(bytes) : Buffer.from(bytes), { 'grpc-timeout': '2S' });
          assert.ok(
            r.status !== undefined && /^\d+$/.test(r.status),
            `${path}: no grpc-status (HTTP ${r.http})`,
          );
        },
      ),
      { numRuns: 60 },
    );
    await witnessStillWorks();
  });
});
