/**
 * Cross-origin browsers (http.corsOrigins): preflights answered, responses of REST, SSE and
 * gRPC-Web carry the CORS headers for a listed origin (with credentials) or for '*' (without),
 * and an origin not listed gets none (its preflight a 403).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestBroker, type TestBroker } from './helpers.js';

const APP = 'http://app.example:3000';
const publishPath = '/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=cors.test';

describe('CORS with a listed origin', () => {
  let b: TestBroker;
  let base: string;
  before(async () => {
    b = await startTestBroker({}, undefined, { http: { port: 0, corsOrigins: [APP] } });
    base = `http://127.0.0.1:${b.server.http!.address.port}`;
  });
  after(() => b.close());

  test('a preflight is answered 204 with the methods, the asked headers and a max age', async () => {
    const r = await fetch(base + publishPath, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, x-correlation-id',
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(
      r.headers.get('access-control-allow-headers'),
      'authorization, content-type, x-correlation-id',
    );
    assert.equal(r.headers.get('access-control-max-age'), '7200');
    assert.equal(r.headers.get('vary'), 'Origin');
  });

  test('a REST publish answers with the origin allowed and the error headers exposed', async () => {
    const r = await fetch(base + publishPath, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(r.status, 200, await r.text());
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-expose-headers') ?? '', /grpc-status.*retry-after/);
  });

  test('gRPC-Web answers carry the CORS headers too (grpc-status exposed)', async () => {
    // grpc.health.v1.Health/Check with an empty request: one gRPC-Web frame of length 0.
    const r = await fetch(`${base}/grpc.health.v1.Health/Check`, {
      method: 'POST',
      headers: { origin: APP, 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.match(r.headers.get('access-control-expose-headers') ?? '', /grpc-status/);
  });

  test('an origin not listed gets no CORS headers, and its preflight is refused', async () => {
    const other = 'http://evil.example';
    const r = await fetch(base + publishPath, {
      method: 'POST',
      headers: { origin: other, 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const pre = await fetch(base + publishPath, {
      method: 'OPTIONS',
      headers: { origin: other, 'access-control-request-method': 'POST' },
    });
    assert.equal(pre.status, 403);
    assert.equal((await pre.json()).code, 'ACCESS_REFUSED');
  });

  test('requests without an Origin are untouched', async () => {
    const r = await fetch(base + publishPath, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });
});

test("CORS with '*': any origin, never with credentials", async () => {
  const b = await startTestBroker({}, undefined, { http: { port: 0, corsOrigins: ['*'] } });
  try {
    const base = `http://127.0.0.1:${b.server.http!.address.port}`;
    const r = await fetch(`${base}/api/v1/vhosts/%2F/exchanges/amq.fanout/events`, {
      headers: { origin: 'http://anywhere.example', accept: 'text/event-stream' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal(r.headers.get('access-control-allow-credentials'), null);
    await r.body?.cancel();
  } finally {
    await b.close();
  }
});

test('http.corsOrigins refuses what is not an origin', async () => {
  await assert.rejects(
    startTestBroker({}, undefined, { http: { port: 0, corsOrigins: ['app.example'] } }),
    /corsOrigins/,
  );
});
