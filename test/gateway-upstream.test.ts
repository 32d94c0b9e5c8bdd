/**
 * Upstream connections: a TLS upstream (https:// address) is verified against tls.caFile under
 * tls.serverName, an untrusted one refused unless insecureSkipVerify; an upstream that cannot be
 * reached is a 503.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from './helpers.js';
import { CATALOG_PROTO, FIXTURE_DIR, startUpstream, type TestUpstream } from './fixtures/gateway/upstream.js';

const TLS_DIR = `${FIXTURE_DIR}/tls`;
let upstream: TestUpstream;

before(async () => {
  upstream = await startUpstream({
    tls: { key: readFileSync(`${TLS_DIR}/server-key.pem`), cert: readFileSync(`${TLS_DIR}/server.pem`) },
  });
});

after(() => upstream.close());

async function withGateway(
  tls: Record<string, unknown> | undefined,
  fn: (base: string) => Promise<void>,
  address = upstream.address,
): Promise<void> {
  const broker: TestBroker = await startTestBroker({}, undefined, {
    gateway: {
      upstreams: [
        {
          name: 'tls',
          address,
          ...(tls === undefined ? {} : { tls }),
          protoFiles: [CATALOG_PROTO],
          importPaths: [FIXTURE_DIR],
        },
      ],
    },
  });
  try {
    await fn(`http://127.0.0.1:${broker.server.http!.address.port}`);
  } finally {
    await broker.close();
  }
}

test('gateway tls: a trusted upstream certificate', async () => {
  await withGateway({ caFile: `${TLS_DIR}/ca.pem`, serverName: 'gateway-test.local' }, async (base) => {
    const res = await fetch(`${base}/v1/items/t1`);
    assert.equal(res.status, 200);
    assert.equal((await res.json()).sku, 't1');
  });
});

test('gateway tls: an untrusted certificate is refused (503), unless insecureSkipVerify', async () => {
  await withGateway({ serverName: 'gateway-test.local' }, async (base) => {
    const res = await fetch(`${base}/v1/items/t2`);
    assert.equal(res.status, 503);
    assert.equal((await res.json()).code, 14);
  });
  await withGateway({ insecureSkipVerify: true }, async (base) => {
    const res = await fetch(`${base}/v1/items/t3`);
    assert.equal(res.status, 200);
  });
});

test('gateway upstream: nothing listening → 503 UNAVAILABLE', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  await withGateway(
    undefined,
    async (base) => {
      const res = await fetch(`${base}/v1/items/x`);
      assert.equal(res.status, 503);
      assert.equal((await res.json()).code, 14);
    },
    `http://127.0.0.1:${port}`,
  );
});

test('gateway upstream: a connection the upstream accepts and drops → 503 UNAVAILABLE', async () => {
  // An HTTP/2 client sees the stream end without a status: gRPC calls that UNAVAILABLE.
  const dropper = createServer((socket) => socket.once('data', () => socket.destroy()));
  await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
  const port = (dropper.address() as AddressInfo).port;
  try {
    await withGateway(
      undefined,
      async (base) => {
        const res = await fetch(`${base}/v1/items/x`);
        assert.equal(res.status, 503);
        assert.equal((await res.json()).code, 14);
      },
      `http://127.0.0.1:${port}`,
    );
  } finally {
    await new Promise<void>((r) => dropper.close(() => r()));
  }
});
