/**
 * The gateway's streaming forms through real listeners: server streaming as NDJSON and SSE,
 * client streaming from an NDJSON body, bidirectional streaming over a WebSocket and over a
 * plain HTTP request.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { startTestBroker, type TestBroker } from './helpers.js';
import { catalogUpstream, startUpstream, type TestUpstream } from './fixtures/gateway/upstream.js';
import { poll } from './support/wait.js';

let upstream: TestUpstream;
let broker: TestBroker;
let base: string;

before(async () => {
  upstream = await startUpstream();
  broker = await startTestBroker({}, undefined, {
    http: { port: 0, maxBodySize: 1024 },
    gateway: {
      upstreams: [catalogUpstream(upstream.address)],
    },
  });
  base = `http://127.0.0.1:${broker.server.http!.address.port}`;
});

after(async () => {
  await broker.close();
  await upstream.close();
});

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));

test('gateway streams: server streaming as NDJSON by default', async () => {
  const res = await fetch(`${base}/v1/items?count=3`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const got = lines(await res.text());
  assert.deepEqual(
    got.map((m) => [m.sku, m.quantity]),
    [
      ['sku-0', 0],
      ['sku-1', 1],
      ['sku-2', 2],
    ],
  );
});

test('gateway streams: an error mid-stream is a last NDJSON line {"error": ...}', async () => {
  const res = await fetch(`${base}/v1/items?count=2&failCode=9`);
  assert.equal(res.status, 200);
  const got = lines(await res.text());
  assert.equal(got.length, 3);
  assert.deepEqual(got[2], { error: { code: 9, message: 'stream failed', details: [] } });
});

test('gateway streams: an error before the first message is a plain HTTP error', async () => {
  const res = await fetch(`${base}/v1/items?count=0&failCode=5`);
  assert.equal(res.status, 404);
  assert.equal((await res.json()).code, 5);
});

test('gateway streams: SSE with a final status event', async () => {
  const res = await fetch(`${base}/v1/items?count=2&failCode=10`, {
    headers: { accept: 'text/event-stream' },
  });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const text = await res.text();
  assert.equal(
    text,
    'data: {"sku":"sku-0","quantity":0,"kind":"KIND_UNSPECIFIED","urgent":false,"tags":[],"big":"0","price":0}\n\n' +
      'data: {"sku":"sku-1","quantity":1,"kind":"KIND_UNSPECIFIED","urgent":false,"tags":[],"big":"0","price":0}\n\n' +
      'event: status\ndata: {"code":10,"message":"stream failed","details":[]}\n\n',
  );
});

test('gateway streams: an EventSource receives the messages and the OK status', async () => {
  const es = new EventSource(`${base}/v1/items?count=2`);
  const got: string[] = [];
  const status = await new Promise<string>((resolve, reject) => {
    es.onmessage = (e) => got.push(JSON.parse(e.data).sku);
    es.addEventListener('status', (e) => resolve(e.data));
    es.onerror = () => reject(new Error('EventSource error'));
  });
  es.close();
  assert.deepEqual(got, ['sku-0', 'sku-1']);
  assert.deepEqual(JSON.parse(status), { code: 0, message: '', details: [] });
});

test('gateway streams: the client leaving ends the upstream stream', async () => {
  const before = upstream.log.aborted;
  const ac = new AbortController();
  const res = await fetch(`${base}/v1/items?count=1&hold=true`, { signal: ac.signal });
  const reader = res.body!.getReader();
  await reader.read();
  ac.abort();
  // The read side ends with the abort's error: that it ends is what matters here.
  await assert.rejects(reader.closed);
  await poll(() => upstream.log.aborted > before, 'the upstream stream to be aborted');
});

test('gateway streams: client streaming from an NDJSON body', async () => {
  const body = '{"quantity": 1}\n\n{"quantity": 2}\n{"quantity": 39}';
  const res = await fetch(`${base}/v1/sum`, { method: 'POST', body });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { total: 42, count: 3 });
});

test('gateway streams: a bad NDJSON line is a 400 naming the line', async () => {
  const res = await fetch(`${base}/v1/sum`, { method: 'POST', body: '{"quantity": 1}\n{"quantity": "x"}\n' });
  assert.equal(res.status, 400);
  assert.match((await res.json()).message, /line 2.*quantity/);
  const long = await fetch(`${base}/v1/sum`, { method: 'POST', body: `{"sku": "${'x'.repeat(2000)}"}\n` });
  assert.equal(long.status, 413);
  await long.text();
});

test('gateway streams: bidi over plain HTTP, NDJSON both ways', async () => {
  const res = await fetch(`${base}/gwtest.v1.Catalog/Chat`, {
    method: 'POST',
    body: '{"sku":"a","quantity":1}\n{"sku":"b","quantity":2}\n',
  });
  assert.equal(res.status, 200);
  assert.deepEqual(
    lines(await res.text()).map((m) => [m.sku, m.quantity]),
    [
      ['echo:a', 2],
      ['echo:b', 4],
    ],
  );
});

function openSocket(path: string): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${broker.server.http!.address.port}${path}`);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ sku: string; quantity: number }> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
}

function closed(ws: WebSocket): Promise<[number, string]> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, String(reason)])));
}

test('gateway streams: bidi over a WebSocket, one JSON message per frame, half-close by an empty frame', async () => {
  const ws = await openSocket('/gwtest.v1.Catalog/Chat');
  const end = closed(ws);
  ws.send(JSON.stringify({ sku: 'x', quantity: 3 }));
  assert.deepEqual([(await nextMessage(ws)).sku], ['echo:x']);
  ws.send(JSON.stringify({ sku: 'y', quantity: 4 }));
  assert.equal((await nextMessage(ws)).quantity, 8);
  ws.send('');
  assert.deepEqual(await end, [1000, 'OK']);
});

test('gateway streams: a WebSocket call ends with 4000 + the gRPC code', async () => {
  const ws = await openSocket('/gwtest.v1.Catalog/Chat');
  const end = closed(ws);
  ws.send(JSON.stringify({ sku: 'boom' }));
  assert.deepEqual(await end, [4009, 'boom']);
  const bad = await openSocket('/gwtest.v1.Catalog/Chat');
  const badEnd = closed(bad);
  bad.send('{"quantity": "many"}');
  const [code, reason] = await badEnd;
  assert.equal(code, 4003);
  assert.match(reason, /quantity/);
});
