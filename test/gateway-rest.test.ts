/**
 * The gateway through real listeners: a real upstream gRPC server, a broker with a gateway in
 * front of it, and plain fetch against the broker's HTTP port. Unary transcoding, the error
 * mappings, deadlines, retries, cancellation and the headers allow-lists.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from './helpers.js';
import { CATALOG_PROTO, FIXTURE_DIR, startUpstream, type TestUpstream } from './fixtures/gateway/upstream.js';
import { poll } from './support/wait.js';

/** A parsed JSON response, read field by field in the assertions. */
type Json = ReturnType<typeof JSON.parse>;

let upstream: TestUpstream;
let broker: TestBroker;
let base: string;

before(async () => {
  upstream = await startUpstream();
  broker = await startTestBroker({}, undefined, {
    http: { port: 0, maxBodySize: 4096 },
    gateway: {
      upstreams: [
        {
          name: 'catalog',
          address: upstream.address,
          protoFiles: [CATALOG_PROTO],
          importPaths: [FIXTURE_DIR],
          timeoutMs: 5000,
          retry: {
            maxAttempts: 3,
            initialBackoffMs: 1,
            maxBackoffMs: 5,
            backoffMultiplier: 2,
            retryableStatusCodes: ['UNAVAILABLE'],
          },
          idempotent: ['gwtest.v1.Catalog/Flaky'],
        },
      ],
      forwardHeaders: ['authorization', 'x-request-id'],
      returnHeaders: ['x-request-id'],
    },
  });
  base = `http://127.0.0.1:${broker.server.http!.address.port}`;
});

after(async () => {
  await broker.close();
  await upstream.close();
});

async function call(
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return {
    status: res.status,
    body: text === '' ? undefined : (JSON.parse(text) as Json),
    headers: res.headers,
  };
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  call(path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

test('gateway: GET with a path variable and typed query parameters', async () => {
  const r = await call(
    '/v1/items/abc?kind=KIND_BOOK&urgent=true&tags=a&tags=b&nested.level=7&big=9007199254740993',
  );
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.sku, 'abc');
  assert.equal(r.body.kind, 'KIND_BOOK');
  assert.equal(r.body.urgent, true);
  assert.deepEqual(r.body.tags, ['a', 'b']);
  assert.equal(r.body.nested.level, 7);
  assert.equal(r.body.big, '9007199254740993');
  // Implicit zero values are written.
  assert.equal(r.body.price, 0);
});

test('gateway: enums by number, percent-encoded path values', async () => {
  const r = await call('/v1/items/a%20b%2Fc?kind=2');
  assert.equal(r.status, 200);
  assert.equal(r.body.sku, 'a b/c');
  assert.equal(r.body.kind, 'KIND_GAME');
});

test('gateway: additional binding with a nested field and a multi-segment variable', async () => {
  const r = await call('/v1/shelves/top/items/books/x/y');
  assert.equal(r.status, 200);
  assert.equal(r.body.sku, 'books/x/y');
  assert.equal(r.body.nested.note, 'top');
});

test('gateway: body "*" with the path variable taking precedence', async () => {
  const r = await call('/v1/items/p1', {
    method: 'PUT',
    body: JSON.stringify({ sku: 'ignored', quantity: 5, tags: ['t'], price: 1.5 }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.body.sku, 'p1');
  assert.equal(r.body.quantity, 5);
  assert.equal(r.body.price, 1.5);
});

test('gateway: body field, response_body and a :verb', async () => {
  const r = await post('/v1/items/s1:annotate', { note: 'hello', level: 2 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { note: 'hello', level: 2 });
});

test('gateway: a method without annotation at POST /pkg.Service/Method', async () => {
  const r = await post('/gwtest.v1.Catalog/Slow', { delayMs: 0, key: 'k' });
  assert.equal(r.status, 200);
  assert.equal(r.body.sku, 'k');
});

test('gateway: malformed JSON → 400', async () => {
  const r = await post('/gwtest.v1.Catalog/Slow', '{"delayMs": ');
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 3);
  assert.match(r.body.message, /not valid JSON/);
});

test('gateway: a wrong field type → 400 naming the field path', async () => {
  const r = await call('/v1/items/p1', {
    method: 'PUT',
    body: JSON.stringify({ nested: { level: 'high' } }),
  });
  assert.equal(r.status, 400);
  assert.match(r.body.message, /nested\.level/);
  const q = await call('/v1/items/p1?urgent=maybe');
  assert.equal(q.status, 400);
  assert.match(q.body.message, /urgent/);
  const list = await call('/v1/items/p1', { method: 'PUT', body: JSON.stringify({ tags: ['ok', 5] }) });
  assert.equal(list.status, 400);
  assert.match(list.body.message, /tags\[1\]/);
});

test('gateway: oversize body → 413', async () => {
  const r = await post('/gwtest.v1.Catalog/Slow', { key: 'x'.repeat(5000) });
  assert.equal(r.status, 413);
});

test('gateway: gRPC status → HTTP status, with {code, message, details}', async () => {
  const table: [number, number][] = [
    [1, 499],
    [2, 500],
    [3, 400],
    [4, 504],
    [5, 404],
    [6, 409],
    [7, 403],
    [8, 429],
    [9, 400],
    [10, 409],
    [11, 400],
    [12, 501],
    [13, 500],
    [14, 503],
    [15, 500],
    [16, 401],
  ];
  for (const [code, http] of table) {
    const r = await call(`/v1/fail/${code}?message=m${code}`);
    assert.equal(r.status, http, `code ${code}`);
    assert.equal(r.body.code, code);
    assert.equal(r.body.message, `m${code}`);
    assert.deepEqual(r.body.details, [
      { '@type': 'type.googleapis.com/gwtest.v1.Nested', note: 'why', level: 3 },
    ]);
  }
});

test('gateway: unknown routes are left to the next handler (404)', async () => {
  const r = await call('/v1/nothing/here');
  assert.equal(r.status, 404);
  const m = await call('/v1/items/x', { method: 'DELETE' });
  assert.equal(m.status, 404);
});

test('gateway: deadline from grpc-timeout or x-timeout → 504, and the upstream call is cancelled', async () => {
  const before = upstream.log.aborted;
  const slowCalls = () => upstream.log.headers.filter((h) => h.method === 'Slow').length;
  const seenBefore = slowCalls();
  // 500 ms: time for the call to reach the upstream first, even on a busy machine.
  const r = await post('/gwtest.v1.Catalog/Slow', { delayMs: 5000 }, { 'grpc-timeout': '500m' });
  assert.equal(r.status, 504);
  assert.equal(r.body.code, 4);
  const x = await post('/gwtest.v1.Catalog/Slow', { delayMs: 5000 }, { 'x-timeout': '500' });
  assert.equal(x.status, 504);
  const bad = await post('/gwtest.v1.Catalog/Slow', { delayMs: 0 }, { 'grpc-timeout': 'soon' });
  assert.equal(bad.status, 400);
  // Every call that reached the upstream is cancelled there (and at least one did).
  await waitFor(() => slowCalls() > seenBefore && upstream.log.aborted - before === slowCalls() - seenBefore);
});

test('gateway: the HTTP client going away cancels the upstream call', async () => {
  const before = upstream.log.aborted;
  const seen = upstream.log.headers.length;
  const ac = new AbortController();
  const pending = fetch(`${base}/gwtest.v1.Catalog/Slow`, {
    method: 'POST',
    body: JSON.stringify({ delayMs: 10000, key: 'cancel' }),
    signal: ac.signal,
  });
  await waitFor(() => upstream.log.headers.length > seen);
  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  await waitFor(() => upstream.log.aborted > before);
});

test('gateway: idempotent methods are retried on UNAVAILABLE, others are not', async () => {
  const ok = await post('/gwtest.v1.Catalog/Flaky', { key: 'r1', failures: 2 });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.attempts, 3);
  const exhausted = await post('/gwtest.v1.Catalog/Flaky', { key: 'r2', failures: 5 });
  assert.equal(exhausted.status, 503);
  assert.equal(upstream.log.attempts.get('Flaky:r2'), 3);
  const write = await post('/gwtest.v1.Catalog/FlakyWrite', { key: 'w1', failures: 1 });
  assert.equal(write.status, 503);
  assert.equal(upstream.log.attempts.get('FlakyWrite:w1'), 1);
});

test('gateway: forwarded and returned headers follow the allow-lists', async () => {
  const seen = upstream.log.headers.length;
  const r = await call('/v1/items/h', {
    headers: {
      authorization: 'Bearer t',
      'x-request-id': 'rid-1',
      cookie: 'secret=1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    },
  });
  assert.equal(r.status, 200);
  const h = upstream.log.headers[seen]!.headers;
  assert.equal(h.get('authorization'), 'Bearer t');
  assert.equal(h.get('x-request-id'), 'rid-1');
  assert.equal(h.get('cookie'), null);
  assert.match(h.get('traceparent') ?? '', /^00-0af7651916cd43dd8448eb211c80319c-/);
  // The header and the trailer come back; other upstream headers and grpc-* do not.
  assert.equal(r.headers.get('x-request-id'), 'rid-1, trailer');
  assert.equal(r.headers.get('x-secret'), null);
  assert.equal(r.headers.get('grpc-status'), null);
});

test('gateway: bad requests never take the gateway down', async () => {
  const bodies = [
    '',
    'null',
    '[]',
    '"s"',
    '{"key": {}}',
    '{"delayMs": 1e400}',
    '{"nope": 1}',
    '\u0000\u00ff',
  ];
  for (const b of bodies) {
    const r = await fetch(`${base}/gwtest.v1.Catalog/Slow`, { method: 'POST', body: b });
    assert.ok(r.status === 200 || r.status === 400, `${JSON.stringify(b)} → ${r.status}`);
    await r.text();
  }
  const r = await call('/v1/items/%E0%A4%A');
  assert.equal(r.status, 400);
  const alive = await call('/v1/items/ok');
  assert.equal(alive.status, 200);
});

async function waitFor(cond: () => boolean): Promise<void> {
  // A few turns of the event loop are usually enough; then poll.
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setImmediate(r));
  await poll(cond, 'the condition');
}
