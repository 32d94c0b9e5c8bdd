/**
 * The REST data plane (docs/http.md) over a real listener: publish raw and JSON with properties
 * an AMQP consumer (amqplib) sees, get with auto and manual acknowledgement, ack/requeue/reject,
 * every error status with its JSON body, body limits, blocked publishers, Basic auth.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const ENVELOPE = 'application/vnd.switchyard.message+json';
const LIMIT = 4096;
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let b: TestBroker;
let base: string;
let conn: ChannelModel;
let ch: Channel;

before(async () => {
  b = await startTestBroker({}, undefined, { http: { port: 0, maxBodySize: LIMIT } });
  base = `http://127.0.0.1:${b.server.http!.address.port}/api/v1/vhosts/%2F`;
  conn = await amqp.connect(b.url);
  ch = await conn.createChannel();
});

after(async () => {
  await conn.close();
  await b.close();
});

async function queue(durable = false): Promise<string> {
  const q = uniq('rest');
  await ch.assertQueue(q, { durable });
  return q;
}

/** The next message an amqplib consumer of `q` receives. */
async function consumeOne(q: string): Promise<ConsumeMessage> {
  let tag = '';
  const m = await new Promise<ConsumeMessage>((resolve) => {
    void ch
      .consume(q, (msg) => msg !== null && resolve(msg), { noAck: true })
      .then((ok) => {
        tag = ok.consumerTag;
      });
  });
  await ch.cancel(tag);
  return m;
}

async function json(r: Response): Promise<unknown> {
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return r.json();
}

/** Expects an error reply: the status, and a JSON body with the code and a message matching `re`. */
async function fails(
  r: Response | Promise<Response>,
  status: number,
  code: string,
  re?: RegExp,
): Promise<Response> {
  const res = await r;
  const body = (await json(res)) as { code: string; message: string };
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  if (re !== undefined) assert.match(body.message, re);
  return res;
}

const publish = (exchange: string, init: RequestInit, query = '') =>
  fetch(`${base}/exchanges/${exchange}/publish${query}`, { method: 'POST', ...init });

const getMessages = async (q: string, query = '') => {
  const r = await fetch(`${base}/queues/${q}/messages${query}`, { method: 'POST' });
  const body = await json(r);
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(r.headers.get('cache-control'), 'no-store', 'a get takes messages: never cached');
  return body as Record<string, unknown>[];
};

const ackIds = (q: string, body: unknown) =>
  fetch(`${base}/queues/${q}/ack`, { method: 'POST', body: JSON.stringify(body) });

describe('publish', () => {
  test('raw body: headers become properties an AMQP consumer sees, after the confirm', async () => {
    const q = await queue();
    const r = await publish(
      'amq.default',
      {
        body: 'hello über',
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          'content-encoding': 'identity',
          'x-correlation-id': 'corr-1',
          'x-reply-to': 'replies',
          'x-expiration': '60000',
          'x-message-id': 'msg-1',
          'x-priority': '5',
          'x-persistent': 'true',
          'x-timestamp': '1700000000',
          'x-type': 'greeting',
          'x-app-id': 'tests',
          'x-header-region': 'eu',
          'x-header-Tenant': 'acme',
          traceparent: TP,
          tracestate: 'vendor=1',
        },
      },
      `?routingKey=${q}`,
    );
    assert.deepEqual(await json(r), { routed: 1 });
    const m = await consumeOne(q);
    assert.equal(m.content.toString(), 'hello über');
    assert.equal(m.fields.exchange, '');
    assert.equal(m.fields.routingKey, q);
    const p = m.properties;
    assert.equal(p.contentType, 'text/plain; charset=utf-8');
    assert.equal(p.contentEncoding, 'identity');
    assert.equal(p.correlationId, 'corr-1');
    assert.equal(p.replyTo, 'replies');
    assert.equal(p.expiration, '60000');
    assert.equal(p.messageId, 'msg-1');
    assert.equal(p.priority, 5);
    assert.equal(p.deliveryMode, 2);
    assert.equal(p.timestamp, 1700000000);
    assert.equal(p.type, 'greeting');
    assert.equal(p.appId, 'tests');
    assert.deepEqual(p.headers, { region: 'eu', tenant: 'acme', traceparent: TP, tracestate: 'vendor=1' });
  });

  test('raw body: routing key from x-routing-key; the empty exchange segment is the default exchange', async () => {
    const q = await queue();
    const r = await publish('', { body: Buffer.from([1, 2, 3]), headers: { 'x-routing-key': q } });
    assert.deepEqual(await json(r), { routed: 1 });
    const m = await consumeOne(q);
    assert.deepEqual([...m.content], [1, 2, 3]);
    assert.equal(m.properties.deliveryMode, undefined);
  });

  test('JSON envelope: body (base64), properties, routing key and trace context', async () => {
    const q = await queue();
    await ch.bindQueue(q, 'amq.topic', 'orders.*');
    const r = await publish('amq.topic', {
      headers: { 'content-type': ENVELOPE, traceparent: TP },
      body: JSON.stringify({
        routingKey: 'orders.created',
        body: Buffer.from([0xff, 0x00, 0x7f]).toString('base64'),
        bodyEncoding: 'base64',
        properties: { contentType: 'application/octet-stream', correlationId: 'c9', headers: { n: 42 } },
        mandatory: true,
      }),
    });
    assert.deepEqual(await json(r), { routed: 1 });
    const m = await consumeOne(q);
    assert.deepEqual([...m.content], [0xff, 0x00, 0x7f]);
    assert.equal(m.fields.exchange, 'amq.topic');
    assert.equal(m.fields.routingKey, 'orders.created');
    assert.equal(m.properties.contentType, 'application/octet-stream');
    assert.equal(m.properties.correlationId, 'c9');
    assert.deepEqual(m.properties.headers, { n: 42, traceparent: TP });
  });

  test('unroutable: routed 0, or 404 NO_ROUTE when mandatory', async () => {
    assert.deepEqual(await json(await publish('amq.direct', { body: 'x' }, '?routingKey=nowhere')), {
      routed: 0,
    });
    await fails(publish('amq.direct', { body: 'x' }, '?routingKey=nowhere&mandatory=true'), 404, 'NO_ROUTE');
    await fails(
      publish('amq.direct', {
        body: JSON.stringify({ body: 'x', mandatory: true }),
        headers: { 'content-type': ENVELOPE },
      }),
      404,
      'NO_ROUTE',
    );
  });
});

describe('get and ack', () => {
  async function fill(q: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const r = await publish('amq.default', { body: `m${i}` }, `?routingKey=${q}`);
      assert.equal(r.status, 200);
    }
  }

  test('auto: up to count, in order, then []; never waits', async () => {
    const q = await queue();
    assert.deepEqual(await getMessages(q), []);
    await fill(q, 3);
    const two = await getMessages(q, '?count=2&ack=auto');
    assert.deepEqual(
      two.map((m) => m.body),
      ['m0', 'm1'],
    );
    assert.deepEqual(Object.keys(two[0]!), [
      'redelivered',
      'queue',
      'exchange',
      'routingKey',
      'body',
      'bodyEncoding',
      'properties',
    ]);
    assert.deepEqual(
      (await getMessages(q, '?count=1000')).map((m) => m.body),
      ['m2'],
    );
    assert.deepEqual(await getMessages(q), []);
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
  });

  test('a body that is not UTF-8 comes back base64; trace context at the top level', async () => {
    const q = await queue();
    ch.sendToQueue(q, Buffer.from([0xc3, 0x28, 0xff]), { headers: { traceparent: TP } });
    await ch.checkQueue(q);
    const [m] = await getMessages(q);
    assert.equal(m!.bodyEncoding, 'base64');
    assert.deepEqual([...Buffer.from(m!.body as string, 'base64')], [0xc3, 0x28, 0xff]);
    assert.equal(m!.traceparent, TP);
    assert.deepEqual((m!.properties as { headers: unknown }).headers, { traceparent: TP });
  });

  test('manual: messages stay unacked until acked; requeue returns them redelivered; reject drops them', async () => {
    const q = await queue();
    await fill(q, 3);
    const got = await getMessages(q, '?count=3&ack=manual');
    const ids = got.map((m) => m.id as string);
    assert.equal(new Set(ids).size, 3);
    for (const id of ids) assert.match(id, /^[0-9a-f]{12}-\d+$/);
    let info = await ch.checkQueue(q);
    assert.equal(info.messageCount, 0, 'held by the lease');

    assert.deepEqual(await json(await ackIds(q, { ids: [ids[0]] })), { settled: 1 });
    assert.deepEqual(await json(await ackIds(q, { ids: [ids[1]], requeue: true })), { settled: 1 });
    const again = await getMessages(q, '?ack=manual');
    assert.equal(again[0]!.body, 'm1');
    assert.equal(again[0]!.redelivered, true);
    assert.deepEqual(await json(await ackIds(q, { ids: [ids[2], again[0]!.id], reject: true })), {
      settled: 2,
    });
    info = await ch.checkQueue(q);
    assert.equal(info.messageCount, 0);
    assert.deepEqual(await getMessages(q), []);
  });

  test('manual: unknown, already settled or other-queue ids are refused and nothing is settled', async () => {
    const q = await queue();
    const other = await queue();
    await fill(q, 2);
    const [a, c] = (await getMessages(q, '?count=2&ack=manual')).map((m) => m.id as string);
    await fails(
      ackIds(q, { ids: [a, 'ffffffffffff-1'] }),
      409,
      'PRECONDITION_FAILED',
      /unknown delivery id 'ffffffffffff-1'/,
    );
    await fails(ackIds(other, { ids: [a] }), 409, 'PRECONDITION_FAILED');
    const asOther = await fetch(`${base}/queues/${q}/ack`, {
      method: 'POST',
      body: JSON.stringify({ ids: [a] }),
      headers: { authorization: basic('guest', 'guest') },
    });
    await fails(asOther, 409, 'PRECONDITION_FAILED', /another user/);
    assert.deepEqual(await json(await ackIds(q, { ids: [a, c] })), { settled: 2 });
    await fails(ackIds(q, { ids: [a] }), 409, 'PRECONDITION_FAILED', /settled already/);
  });
});

describe('errors', () => {
  test('400: bad JSON, bad properties, bad count and ack mode, bad ack bodies', async () => {
    const q = await queue();
    const env = { 'content-type': ENVELOPE };
    await fails(publish('amq.default', { body: '{', headers: env }), 400, 'SYNTAX_ERROR', /not valid JSON/);
    await fails(
      publish('amq.default', {
        body: JSON.stringify({ body: 'x', properties: { priority: 'high' } }),
        headers: env,
      }),
      400,
      'SYNTAX_ERROR',
      /priority/,
    );
    await fails(
      publish('amq.default', { body: 'x', headers: { 'x-priority': 'high' } }),
      400,
      'SYNTAX_ERROR',
      /x-priority/,
    );
    await fails(
      publish('amq.default', { body: 'x', headers: { 'x-persistent': 'yes' } }),
      400,
      'SYNTAX_ERROR',
    );
    await fails(
      publish('amq.default', { body: 'x', headers: { 'x-expiration': '-5' } }),
      400,
      'SYNTAX_ERROR',
    );
    for (const c of ['0', '1001', 'abc', '1.5', '']) {
      await fails(fetch(`${base}/queues/${q}/messages?count=${c}`), 400, 'SYNTAX_ERROR', /count/);
    }
    await fails(fetch(`${base}/queues/${q}/messages?ack=maybe`), 400, 'SYNTAX_ERROR', /ack/);
    for (const body of [
      {},
      { ids: [] },
      { ids: [1] },
      { ids: ['a'], requeue: 'yes' },
      { ids: ['a'], x: 1 },
    ]) {
      await fails(ackIds(q, body), 400, 'SYNTAX_ERROR');
    }
    await fails(fetch(`${base}/queues/${q}/ack`, { method: 'POST', body: 'nope' }), 400, 'SYNTAX_ERROR');
    await fails(fetch(`${base.replace('%2F', '%E0%A4%A')}/queues/q/messages`), 400, 'SYNTAX_ERROR');
  });

  test('403: an internal exchange', async () => {
    const x = uniq('internal');
    await ch.assertExchange(x, 'fanout', { internal: true, durable: false });
    await fails(publish(x, { body: 'x' }), 403, 'ACCESS_REFUSED', /internal/);
  });

  test('404: unknown vhost, queue, exchange, route; 405 with Allow for a wrong method', async () => {
    const port = b.server.http!.address.port;
    await fails(
      fetch(`http://127.0.0.1:${port}/api/v1/vhosts/nope/queues/q/messages`, { method: 'POST' }),
      404,
      'NOT_FOUND',
      /vhost 'nope'/,
    );
    await fails(
      fetch(`${base}/queues/${uniq('none')}/messages`, { method: 'POST' }),
      404,
      'NOT_FOUND',
      /no queue/,
    );
    await fails(fetch(`${base}/queues/${uniq('none')}/events`), 404, 'NOT_FOUND', /no queue/);
    await fails(publish(uniq('none'), { body: 'x' }), 404, 'NOT_FOUND', /exchange/);
    await fails(fetch(`${base}/exchanges/${uniq('none')}/events`), 404, 'NOT_FOUND');
    await fails(fetch(`http://127.0.0.1:${port}/api/v1/vhosts`), 404, 'NOT_FOUND', /no route/);
    await fails(fetch(`http://127.0.0.1:${port}/api/v1/`), 404, 'NOT_FOUND');
    const r = await fails(fetch(`${base}/exchanges/amq.direct/publish`), 405, 'COMMAND_INVALID');
    assert.equal(r.headers.get('allow'), 'POST');
    const r2 = await fails(fetch(`${base}/queues/q/messages`, { method: 'DELETE' }), 405, 'COMMAND_INVALID');
    assert.equal(r2.headers.get('allow'), 'GET, POST');
  });

  test('413: a declared length over the limit is refused before the body is read', async () => {
    // Declares far more than it sends: only a reply from the headers alone can arrive.
    const status = await new Promise<{ status: number; body: string; connection: string | undefined }>(
      (resolve, reject) => {
        const req = request(`${base}/exchanges/amq.default/publish?routingKey=x`, {
          method: 'POST',
          headers: { 'content-length': String(100 * 1024 * 1024) },
        });
        req.on('response', (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.write(Buffer.alloc(100));
      },
    );
    assert.equal(status.status, 413);
    assert.equal(status.connection, 'close');
    assert.equal(JSON.parse(status.body).code, 'CONTENT_TOO_LARGE');
    await fails(publish('amq.default', { body: Buffer.alloc(LIMIT + 1) }), 413, 'CONTENT_TOO_LARGE');
  });

  test('413: a chunked body is counted as it streams', async () => {
    const q = await queue();
    const chunks = (n: number) =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < n; i++) c.enqueue(new Uint8Array(1024));
          c.close();
        },
      });
    const init = (n: number) => ({ body: chunks(n), duplex: 'half' }) as RequestInit;
    await fails(publish('amq.default', init(5), `?routingKey=${q}`), 413, 'CONTENT_TOO_LARGE', /4096/);
    assert.deepEqual(await json(await publish('amq.default', init(4), `?routingKey=${q}`)), { routed: 1 });
    assert.equal((await getMessages(q))[0]!.body, Buffer.alloc(LIMIT).toString());
  });

  test('503 with Retry-After while publishers are blocked; gets keep working', async () => {
    const q = await queue();
    b.server.broker.setAlarm('disk', true);
    try {
      const r = await fails(
        publish('amq.default', { body: 'x' }, `?routingKey=${q}`),
        503,
        'RESOURCE_ERROR',
        /disk/,
      );
      assert.equal(r.headers.get('retry-after'), '5');
      assert.deepEqual(await getMessages(q), []);
    } finally {
      b.server.broker.setAlarm('disk', false);
    }
    assert.deepEqual(await json(await publish('amq.default', { body: 'x' }, `?routingKey=${q}`)), {
      routed: 1,
    });
  });
});

describe('authentication', () => {
  test('Basic: good credentials pass; bad and malformed ones get 401 with a challenge', async () => {
    const q = await queue();
    const ok = await fetch(`${base}/queues/${q}/messages`, {
      method: 'POST',
      headers: { authorization: basic('guest', 'guest') },
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    for (const authorization of [basic('guest', 'wrong'), basic('nobody', 'x'), 'Basic !!!', 'Bearer abc']) {
      const r = await fails(
        fetch(`${base}/queues/${q}/messages`, { method: 'POST', headers: { authorization } }),
        401,
        'AUTHENTICATION_FAILED',
      );
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="switchyard"');
    }
  });

  test("anonymous 'never': no credentials is 401; guest from loopback works", async () => {
    const strict = await startTestBroker({}, undefined, { http: { port: 0, anonymous: 'never' } });
    try {
      const url = `http://127.0.0.1:${strict.server.http!.address.port}/api/v1/vhosts/%2F/exchanges/amq.direct/publish`;
      const r = await fails(
        fetch(url, { method: 'POST', body: 'x' }),
        401,
        'AUTHENTICATION_FAILED',
        /credentials/,
      );
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="switchyard"');
      const ok = await fetch(url, {
        method: 'POST',
        body: 'x',
        headers: { authorization: basic('guest', 'guest') },
      });
      assert.deepEqual(await json(ok), { routed: 0 });
    } finally {
      await strict.close();
    }
  });

  test('nothing outside /api/v1/ is taken: it falls through to the next handler', async () => {
    const r = await fetch(
      `http://127.0.0.1:${b.server.http!.address.port}/api/v2/vhosts/%2F/queues/q/messages`,
    );
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { message: string }).message, /no route for GET \/api\/v2/);
  });
});

test('each request is one core connection, closed when it ends', async () => {
  const q = await queue();
  const before = b.server.broker.connections.size;
  await publish('amq.default', { body: 'x' }, `?routingKey=${q}`);
  await getMessages(q);
  await fetch(`${base}/queues/${uniq('none')}/messages`, { method: 'POST' }).then((r) => r.body?.cancel());
  assert.equal(b.server.broker.connections.size, before);
});
