/**
 * gRPC-Web and Connect through the gateway: @connectrpc/connect-web's transports (fetch, as in
 * a browser) call the broker's HTTP port, and the gateway forwards to the native gRPC upstream.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { create, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { startTestBroker, type TestBroker } from './helpers.js';
import { catalogUpstream, startUpstream, type TestUpstream } from './fixtures/gateway/upstream.js';

let upstream: TestUpstream;
let broker: TestBroker;
let base: string;

before(async () => {
  upstream = await startUpstream();
  broker = await startTestBroker({}, undefined, {
    gateway: {
      upstreams: [catalogUpstream(upstream.address, { grpcWeb: ['*'] })],
      forwardHeaders: ['x-request-id'],
      returnHeaders: ['x-request-id'],
    },
  });
  base = `http://127.0.0.1:${broker.server.http!.address.port}`;
});

after(async () => {
  await broker.close();
  await upstream.close();
});

/** The client of a runtime-loaded service: its methods are known only at run time. */
type AnyClient = Record<string, (...args: unknown[]) => ReturnType<typeof JSON.parse>>;

const transports: [string, () => Transport][] = [
  ['gRPC-Web binary', () => createGrpcWebTransport({ baseUrl: base })],
  ['gRPC-Web JSON', () => createGrpcWebTransport({ baseUrl: base, useBinaryFormat: false })],
  ['Connect JSON', () => createConnectTransport({ baseUrl: base })],
  ['Connect binary', () => createConnectTransport({ baseUrl: base, useBinaryFormat: true })],
];

for (const [name, make] of transports) {
  test(`gateway web: ${name} unary, server streaming, headers and errors`, async () => {
    const client = createClient(upstream.service as DescService, make()) as unknown as AnyClient;
    const headers: Headers[] = [];
    const item = await client.getItem!(
      { sku: 'w1', kind: 1 },
      { headers: { 'x-request-id': 'web-1' }, onHeader: (h: Headers) => headers.push(h) },
    );
    assert.equal(item.sku, 'w1');
    assert.equal(item.kind, 1);
    assert.equal(headers[0]!.get('x-request-id'), 'web-1');
    assert.equal(headers[0]!.get('x-secret'), null);
    const skus: string[] = [];
    for await (const m of client.list!({ count: 3 })) skus.push(m.sku);
    assert.deepEqual(skus, ['sku-0', 'sku-1', 'sku-2']);
    await assert.rejects(client.fail!({ code: Code.NotFound, message: 'nope' }), (e: unknown) => {
      const err = ConnectError.from(e);
      return err.code === Code.NotFound && err.rawMessage === 'nope';
    });
    await assert.rejects(client.slow!({ delayMs: 5000 }, { timeoutMs: 50 }), (e: unknown) => {
      const code = ConnectError.from(e).code;
      return code === Code.DeadlineExceeded;
    });
  });
}

test('gateway web: Connect client streaming is refused by fetch transports, but REST works', async () => {
  // Browsers' fetch cannot stream request bodies; connect-web says so before sending anything.
  const client = createClient(
    upstream.service as DescService,
    createConnectTransport({ baseUrl: base }),
  ) as unknown as AnyClient;
  const inputs = (async function* () {
    yield create(upstream.defs.registry.getMessage('gwtest.v1.Item')!, { quantity: 1 });
  })();
  await assert.rejects(client.sum!(inputs));
});

test('gateway web: a plain JSON POST to the same path is REST, not Connect', async () => {
  const res = await fetch(`${base}/gwtest.v1.Catalog/Slow`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'rest' }),
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).sku, 'rest');
});

test("gateway web: the broker's own services stay with the gRPC front end", async () => {
  const res = await fetch(`${base}/grpc.health.v1.Health/Check`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'connect-protocol-version': '1' },
    body: '{}',
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).status, 'SERVING');
});
