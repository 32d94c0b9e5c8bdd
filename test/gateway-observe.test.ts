/**
 * What an operator sees of the gateway: GET /metrics (per-method counts by status and latency
 * histograms, Prometheus text) and the access log (gateway.accessLog: 'stdout', one JSON line a
 * finished upstream call).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../src/config/schema.js';
import { startServer } from '../src/server/index.js';
import { catalogUpstream, startUpstream } from './fixtures/gateway/upstream.js';
import { tempDir } from './support/temp.js';

test('gateway: /metrics counts calls by method and status; the access log has a line per call', async () => {
  const upstream = await startUpstream();
  const lines: string[] = [];
  const server = await startServer(
    configSchema.parse({
      host: '127.0.0.1',
      dataDir: tempDir('switchyard-test-'),
      amqp: { port: 'off' },
      mqtt: { port: 'off' },
      grpc: { port: 'off' },
      http: { port: 0 },
      gateway: {
        upstreams: [catalogUpstream(upstream.address)],
        accessLog: 'stdout',
      },
    }),
    'test',
    { accessLog: (line) => lines.push(line) },
  );
  try {
    const base = `http://127.0.0.1:${server.http!.address.port}`;
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${base}/v1/items/abc`)).status, 200);
    const metrics = await fetch(`${base}/metrics`, {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
    });
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    const handled = text
      .split('\n')
      .find((l) => l.startsWith('grpc_client_handled_total{') && l.includes('OK'));
    assert.ok(handled?.includes('gwtest.v1.Catalog'), text);
    assert.match(handled!, / 3$/);
    assert.match(text, /grpc_client_handling_seconds_bucket\{/);

    assert.equal(lines.length, 3);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.upstream, 'catalog');
    assert.match(entry.method, /^gwtest\.v1\.Catalog\//);
    assert.equal(entry.code, 'OK');
    assert.equal(typeof entry.durationMs, 'number');
    assert.ok(!Number.isNaN(Date.parse(entry.time)));
    assert.ok(lines.every((l) => l.endsWith('\n')));

    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    await server.close();
    await upstream.close();
  }
});
