/**
 * What the gateway exposes to browsers and for how long (docs/gateway.md): gRPC-Web/Connect only
 * for the methods an upstream lists in `grpcWeb` (none by default; REST routes unaffected), and
 * a client's deadline cut to gateway.maxTimeoutMs on REST, WebSocket-free calls and
 * gRPC-Web/Connect alike.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { catalogUpstream, startUpstream, type TestUpstream } from './fixtures/gateway/upstream.js';
import { startTestBroker, type TestBroker } from './helpers.js';

type AnyClient = Record<string, (...args: unknown[]) => Promise<Record<string, unknown>>>;

let upstream: TestUpstream;
before(async () => {
  upstream = await startUpstream();
});
after(() => upstream.close());

async function withGateway(extra: Record<string, unknown>, gateway: Record<string, unknown>) {
  const b = await startTestBroker({}, undefined, {
    gateway: { upstreams: [catalogUpstream(upstream.address, extra)], ...gateway },
  });
  return { b, base: `http://127.0.0.1:${b.server.http!.address.port}` };
}

function clients(base: string): [string, AnyClient][] {
  const t: [string, Transport][] = [
    ['gRPC-Web', createGrpcWebTransport({ baseUrl: base })],
    ['Connect', createConnectTransport({ baseUrl: base })],
  ];
  return t.map(([n, tr]) => [n, createClient(upstream.service as DescService, tr) as unknown as AnyClient]);
}

describe('gateway exposure: gRPC-Web/Connect', () => {
  test('gateway exposure: by default no method is served over gRPC-Web or Connect; REST still is', async (t) => {
    const { b, base } = await withGateway({}, {});
    t.after(() => b.close());
    for (const [name, client] of clients(base)) {
      await assert.rejects(client.getItem!({ sku: 'w1' }), (e: unknown) => {
        const err = ConnectError.from(e);
        assert.equal(err.code, Code.Unimplemented, `${name}: ${err.message}`);
        assert.match(err.rawMessage, /grpcWeb of upstream catalog/);
        return true;
      });
    }
    assert.equal(upstream.log.headers.filter((h) => h.method === 'GetItem').length, 0);
    const rest = await fetch(`${base}/v1/items/w1`);
    assert.equal(rest.status, 200);
    assert.equal(((await rest.json()) as { sku: string }).sku, 'w1');
  });

  test('gateway exposure: only the listed methods are served', async (t) => {
    const { b, base } = await withGateway({ grpcWeb: ['gwtest.v1.Catalog/GetItem'] }, {});
    t.after(() => b.close());
    for (const [name, client] of clients(base)) {
      assert.equal((await client.getItem!({ sku: 'w2' })).sku, 'w2', name);
      await assert.rejects(client.putItem!({ sku: 'w2' }), (e: unknown) => {
        assert.equal(ConnectError.from(e).code, Code.Unimplemented, name);
        return true;
      });
    }
  });
});

describe('gateway exposure: deadlines', () => {
  const CAP = 300;
  let b: TestBroker;
  let base: string;
  before(async () => {
    ({ b, base } = await withGateway({ grpcWeb: ['*'], timeoutMs: 60_000 }, { maxTimeoutMs: CAP }));
  });
  after(() => b.close());

  /** The grpc-timeout the upstream saw on its last call of Slow, in ms. */
  function lastSlowTimeoutMs(): number {
    const h = upstream.log.headers.filter((x) => x.method === 'Slow').at(-1)!.headers;
    const v = h.get('grpc-timeout') ?? '';
    const m = /^(\d+)([HMSmun])$/.exec(v);
    assert.ok(m, `grpc-timeout ${v}`);
    const unit = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
    return Number(m[1]) * unit;
  }

  test('gateway exposure: a REST client asking for hours gets maxTimeoutMs', async () => {
    for (const headers of [{ 'grpc-timeout': '5H' }, { 'x-timeout': '3600000' }]) {
      const t0 = Date.now();
      const r = await fetch(`${base}/gwtest.v1.Catalog/Slow`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ delayMs: 20_000, key: 'cap' }),
      });
      assert.equal(r.status, 504, await r.text());
      assert.ok(Date.now() - t0 < 10_000, 'answered at the cap, not after the upstream finished');
      assert.ok(lastSlowTimeoutMs() <= CAP, `${lastSlowTimeoutMs()} ms`);
    }
  });

  test('gateway exposure: a shorter deadline than the cap is kept', async () => {
    const r = await fetch(`${base}/gwtest.v1.Catalog/Slow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'grpc-timeout': '100m' },
      body: JSON.stringify({ delayMs: 20_000, key: 'short' }),
    });
    assert.equal(r.status, 504);
    assert.ok(lastSlowTimeoutMs() <= 100, `${lastSlowTimeoutMs()} ms`);
  });

  test('gateway exposure: gRPC-Web and Connect clients asking for an hour get maxTimeoutMs', async () => {
    for (const [name, client] of clients(base)) {
      const t0 = Date.now();
      await assert.rejects(
        client.slow!({ delayMs: 20_000, key: name }, { timeoutMs: 3_600_000 }),
        (e: unknown) => {
          assert.equal(ConnectError.from(e).code, Code.DeadlineExceeded, name);
          return true;
        },
      );
      assert.ok(Date.now() - t0 < 10_000, name);
      assert.ok(lastSlowTimeoutMs() <= CAP, `${name}: ${lastSlowTimeoutMs()} ms`);
    }
  });
});
