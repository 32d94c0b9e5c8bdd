/**
 * The cross-protocol matrix for header values (issue 14): typed AMQP headers (decimal, bytes,
 * 64-bit integers, timestamps, nested tables and arrays) and names and values over 255 bytes, from
 * every protocol that can send them, to every consumer protocol, with third-party clients.
 * What each consumer must see is the rule of docs/protocol-mapping.md ("Header values", "Long
 * values"): AMQP gets the types back (long strings as long strings; a property over 255 bytes in an
 * `x-<name>` header; a header name over 255 bytes left out); MQTT 5 and gRPC get text by the one
 * header-text rule; WebSocket and SSE get the tagged JSON forms.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import amqplib from 'amqplib';
import { EventSource } from 'eventsource';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { Broker, MessageSchema } from '../src/gen/switchyard/v1/broker_pb.js';
import { startTestBroker, type TestBroker } from './helpers.js';
import { Inbox } from './support/inbox.js';

const LONG_NAME = 'n'.repeat(300);
const LONG_VALUE = 'v'.repeat(300);
const LONG_CORRELATION = 'c'.repeat(300);
const BIG = 2n ** 60n;
const BYTES = Buffer.from([0, 1, 2, 0xff]);
const SECONDS = 1_700_000_000;

/** What a consumer saw, in one form: the headers as its client library gave them. */
interface Seen {
  headers: Record<string, unknown>;
  correlationId: string | undefined;
}

type Publisher = 'AMQP' | 'WebSocket' | 'MQTT 5' | 'gRPC';
type ConsumerName = 'AMQP' | 'MQTT 5' | 'gRPC' | 'WebSocket' | 'SSE';
const PUBLISHERS: Publisher[] = ['AMQP', 'WebSocket', 'MQTT 5', 'gRPC'];
const CONSUMERS: ConsumerName[] = ['AMQP', 'MQTT 5', 'gRPC', 'WebSocket', 'SSE'];
const keyOf = (p: Publisher) => `vx.${p.replace(/[^A-Za-z0-9]/g, '')}`;

interface Consumer {
  inbox: Inbox<Seen>;
  close(): Promise<void>;
}

// ---- consumers ------------------------------------------------------------------------------

async function amqpConsumer(b: TestBroker): Promise<Consumer> {
  const conn = await amqplib.connect(b.url);
  const ch = await conn.createChannel();
  const q = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(q.queue, 'amq.topic', 'vx.#');
  const inbox = new Inbox<Seen>();
  await ch.consume(
    q.queue,
    (m) => {
      if (m !== null)
        inbox.put(m.fields.routingKey, {
          headers: m.properties.headers ?? {},
          correlationId: m.properties.correlationId,
        });
    },
    { noAck: true },
  );
  return { inbox, close: () => conn.close() };
}

async function mqttConsumer(b: TestBroker): Promise<Consumer> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  const inbox = new Inbox<Seen>();
  c.on('message', (topic, _payload, packet) => {
    const p = packet.properties ?? {};
    inbox.put(topic.replaceAll('/', '.'), {
      headers: (p.userProperties ?? {}) as Record<string, unknown>,
      correlationId: p.correlationData?.toString(),
    });
  });
  await c.subscribeAsync('vx/#', { qos: 1 });
  return { inbox, close: () => c.endAsync() };
}

async function grpcConsumer(b: TestBroker): Promise<Consumer> {
  const client = createClient(
    Broker,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` }),
  );
  const abort = new AbortController();
  const it = client
    .subscribe(
      { source: { case: 'exchange', value: 'amq.topic' }, bindingKey: 'vx.#', autoAck: true },
      { signal: abort.signal },
    )
    [Symbol.asyncIterator]();
  const first = await it.next();
  assert.ok(!first.done && first.value.event.case === 'started', 'Subscribe started');
  const inbox = new Inbox<Seen>();
  void (async () => {
    try {
      for (let r = await it.next(); !r.done; r = await it.next()) {
        if (r.value.event.case !== 'delivery') continue;
        const m = r.value.event.value.message!;
        inbox.put(m.routingKey, {
          headers: { ...m.headers },
          correlationId: m.correlationId === '' ? undefined : m.correlationId,
        });
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e; // an abort is how close() ends the stream
    }
  })();
  return { inbox, close: async () => abort.abort() };
}

function fromJson(d: Record<string, unknown>): Seen {
  const p = (d.properties ?? {}) as Record<string, unknown>;
  return {
    headers: (p.headers ?? {}) as Record<string, unknown>,
    correlationId: p.correlationId as string | undefined,
  };
}

async function openWs(b: TestBroker): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${b.server.http!.address.port}/ws`, 'switchyard.v1');
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

async function wsConsumer(b: TestBroker): Promise<Consumer> {
  const ws = await openWs(b);
  const inbox = new Inbox<Seen>();
  const subscribed = new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      if (f.op === 'subscribed') resolve();
      else if (f.op === 'deliver') inbox.put(f.routingKey as string, fromJson(f));
    }),
  );
  ws.send(JSON.stringify({ op: 'subscribe', sub: 'v', exchange: 'amq.topic', key: 'vx.#' }));
  await subscribed;
  return { inbox, close: async () => ws.close() };
}

async function sseConsumer(b: TestBroker): Promise<Consumer> {
  const es = new EventSource(
    `http://127.0.0.1:${b.server.http!.address.port}/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=vx.%23`,
  );
  const inbox = new Inbox<Seen>();
  es.addEventListener('message', (e) => {
    const d = JSON.parse(e.data) as Record<string, unknown>;
    inbox.put(d.routingKey as string, fromJson(d));
  });
  await new Promise<void>((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (e) => reject(new Error(`EventSource: ${e.message ?? 'error'}`));
  });
  return { inbox, close: async () => es.close() };
}

// ---- publishers -----------------------------------------------------------------------------

async function publish(b: TestBroker, p: Publisher): Promise<void> {
  const key = keyOf(p);
  const body = Buffer.from(p);
  switch (p) {
    case 'AMQP': {
      // amqplib's typed-value notation; an AMQP header name cannot exceed 255 bytes.
      const conn = await amqplib.connect(b.url);
      const ch = await conn.createConfirmChannel();
      ch.publish('amq.topic', key, body, {
        headers: {
          dec: { '!': 'decimal', value: { places: 2, digits: 12345 } },
          bin: BYTES,
          big: { '!': 'long', value: Number(BIG) },
          ts: { '!': 'timestamp', value: SECONDS },
          nested: { a: 1, b: ['x', true] },
          long: LONG_VALUE,
        },
      });
      await ch.waitForConfirms();
      await conn.close();
      return;
    }
    case 'WebSocket': {
      const ws = await openWs(b);
      const confirmed = new Promise<Record<string, unknown>>((resolve) =>
        ws.on('message', (d) => resolve(JSON.parse(d.toString()) as Record<string, unknown>)),
      );
      ws.send(
        JSON.stringify({
          op: 'publish',
          id: 1,
          exchange: 'amq.topic',
          routingKey: key,
          body: body.toString(),
          properties: {
            correlationId: LONG_CORRELATION,
            headers: {
              dec: { $decimal: [2, 12345] },
              bin: { $bytes: BYTES.toString('base64') },
              big: { $bigint: BIG.toString() },
              ts: { $date: SECONDS * 1000 },
              nested: { a: 1, b: ['x', true] },
              long: LONG_VALUE,
              [LONG_NAME]: 'long name',
            },
          },
        }),
      );
      const reply = await confirmed;
      assert.equal(reply.op, 'confirm', JSON.stringify(reply));
      ws.close();
      return;
    }
    case 'MQTT 5': {
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
      await c.publishAsync(key.replaceAll('.', '/'), body, {
        qos: 1,
        properties: {
          correlationData: Buffer.from(LONG_CORRELATION),
          userProperties: { long: LONG_VALUE, [LONG_NAME]: 'long name' },
        },
      });
      await c.endAsync();
      return;
    }
    case 'gRPC': {
      const client = createClient(
        Broker,
        createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` }),
      );
      await client.publish({
        exchange: 'amq.topic',
        routingKey: key,
        message: create(MessageSchema, {
          body,
          correlationId: LONG_CORRELATION,
          headers: { long: LONG_VALUE, [LONG_NAME]: 'long name' },
        }),
      });
      return;
    }
  }
}

// ---- what each consumer must see ------------------------------------------------------------

const typed = (p: Publisher) => p === 'AMQP' || p === 'WebSocket';
/** Only AMQP cannot send a correlation id or a header name over 255 bytes. */
const sendsLong = (p: Publisher) => p !== 'AMQP';

function expectTyped(con: ConsumerName, h: Record<string, unknown>, where: string): void {
  switch (con) {
    case 'AMQP':
      assert.deepEqual(h.dec, { '!': 'decimal', value: { places: 2, digits: 12345 } }, `${where}: decimal`);
      assert.ok(Buffer.isBuffer(h.bin) && h.bin.equals(BYTES), `${where}: bytes`);
      assert.equal(h.big, Number(BIG), `${where}: 64-bit integer`); // amqplib reads 'l' as a number
      assert.deepEqual(h.ts, { '!': 'timestamp', value: SECONDS }, `${where}: timestamp`);
      assert.equal((h.nested as { a: unknown }).a, 1, `${where}: nested table`);
      assert.deepEqual((h.nested as { b: unknown }).b, ['x', true], `${where}: nested array`);
      return;
    case 'MQTT 5':
    case 'gRPC':
      assert.equal(h.dec, '123.45', `${where}: decimal`);
      assert.equal(h.bin, BYTES.toString('base64'), `${where}: bytes`);
      assert.equal(h.big, BIG.toString(), `${where}: 64-bit integer`);
      assert.equal(h.ts, new Date(SECONDS * 1000).toISOString(), `${where}: timestamp`);
      assert.equal(h.nested, '{"a":1,"b":["x",true]}', `${where}: nested table`);
      return;
    case 'WebSocket':
    case 'SSE':
      assert.deepEqual(h.dec, { $decimal: [2, 12345] }, `${where}: decimal`);
      assert.deepEqual(h.bin, { $bytes: BYTES.toString('base64') }, `${where}: bytes`);
      assert.deepEqual(h.big, { $bigint: BIG.toString() }, `${where}: 64-bit integer`);
      assert.deepEqual(h.ts, { $date: SECONDS * 1000 }, `${where}: timestamp`);
      assert.deepEqual(h.nested, { a: 1, b: ['x', true] }, `${where}: nested table`);
      return;
  }
}

function expectLong(pub: Publisher, con: ConsumerName, seen: Seen, where: string): void {
  const text = (v: unknown) => (Buffer.isBuffer(v) ? v.toString() : v);
  assert.equal(text(seen.headers.long), LONG_VALUE, `${where}: a value over 255 bytes`);
  if (!sendsLong(pub)) return;
  if (con === 'AMQP') {
    assert.equal(seen.correlationId, undefined, `${where}: no short-string correlation id`);
    assert.equal(text(seen.headers['x-correlation-id']), LONG_CORRELATION, `${where}: x-correlation-id`);
    assert.equal(seen.headers[LONG_NAME], undefined, `${where}: a header name over 255 bytes is left out`);
  } else {
    assert.equal(seen.correlationId, LONG_CORRELATION, `${where}: correlation id over 255 bytes`);
    assert.equal(seen.headers[LONG_NAME], 'long name', `${where}: header name over 255 bytes`);
  }
}

describe('cross-protocol header values', () => {
  let b: TestBroker;
  const consumers = new Map<ConsumerName, Consumer>();

  before(async () => {
    b = await startTestBroker();
    consumers.set('AMQP', await amqpConsumer(b));
    consumers.set('MQTT 5', await mqttConsumer(b));
    consumers.set('gRPC', await grpcConsumer(b));
    consumers.set('WebSocket', await wsConsumer(b));
    consumers.set('SSE', await sseConsumer(b));
  });

  after(async () => {
    for (const c of consumers.values()) await c.close();
    await b.close();
  });

  for (const pub of PUBLISHERS) {
    test(`${pub} → every consumer`, async () => {
      await publish(b, pub);
      for (const con of CONSUMERS) {
        const seen = await consumers.get(con)!.inbox.next(keyOf(pub));
        const where = `${pub} → ${con}`;
        if (typed(pub)) expectTyped(con, seen.headers, where);
        expectLong(pub, con, seen, where);
      }
    });
  }
});
