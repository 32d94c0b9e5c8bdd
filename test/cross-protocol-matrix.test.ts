/**
 * The cross-protocol matrix (issue 6): every publisher protocol × every consumer protocol, with
 * third-party clients where they exist (amqplib, MQTT.js, connect-node, ws, eventsource). The
 * body must arrive byte for byte, and each field both sides' columns of the table in
 * docs/protocol-mapping.md carry must arrive with its value: the test reads that table, so the
 * documentation cannot drift from the behaviour.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import { EventSource } from 'eventsource';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { grpcMatrixClient } from './grpc-matrix-client.js';
import { startTestBroker, type TestBroker } from './helpers.js';
import { Inbox } from './support/inbox.js';

// ---------------------------------------------------------------------------------------------
// The table

type Field =
  | 'body'
  | 'content type'
  | 'correlation id'
  | 'reply-to'
  | 'expiration'
  | 'user headers'
  | 'traceparent';

const PUBLISHERS = ['AMQP 0-9-1', 'MQTT 3.1.1', 'MQTT 5', 'gRPC', 'WebSocket', 'HTTP publish'] as const;
const CONSUMERS = ['AMQP 0-9-1', 'MQTT 3.1.1', 'MQTT 5', 'gRPC', 'WebSocket', 'SSE'] as const;
type Publisher = (typeof PUBLISHERS)[number];
type ConsumerName = (typeof CONSUMERS)[number];

function readTable(): Map<Field, Map<string, string>> {
  const text = readFileSync(new URL('../docs/protocol-mapping.md', import.meta.url), 'utf8');
  const block = /<!-- matrix:start -->\n([\s\S]*?)<!-- matrix:end -->/.exec(text);
  assert.ok(block, 'docs/protocol-mapping.md has the matrix block');
  const rows = block[1]!
    .trim()
    .split('\n')
    .map((l) =>
      l
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((c) => c.trim()),
    );
  const header = rows[0]!;
  const table = new Map<Field, Map<string, string>>();
  for (const r of rows.slice(2)) {
    const cells = new Map<string, string>();
    for (const [i, h] of header.entries()) cells.set(h, r[i] ?? '');
    table.set(r[0] as Field, cells);
  }
  for (const col of new Set<string>([...PUBLISHERS, ...CONSUMERS]))
    assert.ok(header.includes(col), `column ${col}`);
  return table;
}

const TABLE = readTable();
const carries = (field: Field, col: string) => {
  const cell = TABLE.get(field)?.get(col);
  assert.ok(cell !== undefined && cell !== '', `the table has a cell for ${field} / ${col}`);
  return !cell.startsWith('—');
};

// ---------------------------------------------------------------------------------------------
// What is published, and what a consumer saw, in one normal form

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const BODY = Buffer.concat([Buffer.from('matrix ✓ '), Buffer.from([0, 1, 2, 0xfe, 0xff])]);
const SENT = {
  contentType: 'application/x-matrix',
  correlationId: 'corr-42',
  replyTo: 'replies',
  expirationMs: 60_000,
  header: 'v1',
  traceparent: TRACEPARENT,
};

interface Seen {
  body: Buffer;
  contentType?: string | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  expirationMs?: number | undefined;
  header?: string | undefined;
  traceparent?: string | undefined;
}

const keyOf = (p: Publisher) => `mx.${p.replace(/[^A-Za-z0-9]/g, '')}`;
const topicOf = (p: Publisher) => keyOf(p).replace('.', '/');

interface ConsumerHandle {
  /** Resolves with what arrived for this routing key. */
  next(routingKey: string): Promise<Seen>;
  close(): Promise<void>;
}

const text = (v: unknown) =>
  v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v.toString() : String(v);

function fromJsonDelivery(d: Record<string, unknown>): Seen {
  const p = (d.properties ?? {}) as Record<string, unknown>;
  const h = (p.headers ?? {}) as Record<string, unknown>;
  return {
    body: Buffer.from(d.body as string, d.bodyEncoding === 'base64' ? 'base64' : 'utf8'),
    contentType: text(p.contentType),
    correlationId: text(p.correlationId),
    replyTo: text(p.replyTo),
    expirationMs: p.expiration === undefined ? undefined : Number(p.expiration),
    header: text(h['x-h']),
    traceparent: text(d.traceparent),
  };
}

// ---------------------------------------------------------------------------------------------
// Consumers

async function amqpConsumer(b: TestBroker): Promise<ConsumerHandle> {
  const conn = await amqplib.connect(b.url);
  const ch = await conn.createChannel();
  const q = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(q.queue, 'amq.topic', 'mx.#');
  const inbox = new Inbox<Seen>();
  await ch.consume(
    q.queue,
    (m) => {
      if (m === null) return;
      const p = m.properties;
      inbox.put(m.fields.routingKey, {
        body: m.content,
        contentType: p.contentType,
        correlationId: p.correlationId,
        replyTo: p.replyTo,
        expirationMs: p.expiration === undefined ? undefined : Number(p.expiration),
        header: text(p.headers?.['x-h']),
        traceparent: text(p.headers?.traceparent),
      });
    },
    { noAck: true },
  );
  return { next: (k) => inbox.next(k), close: () => conn.close() };
}

async function mqttConsumer(b: TestBroker, protocolVersion: 4 | 5): Promise<ConsumerHandle> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, { protocolVersion });
  const inbox = new Inbox<Seen>();
  c.on('message', (topic, payload, packet) => {
    const p = packet.properties ?? {};
    const up = (p.userProperties ?? {}) as Record<string, string | string[]>;
    inbox.put(topic.replace('/', '.'), {
      body: payload,
      contentType: p.contentType,
      correlationId: text(p.correlationData),
      replyTo: p.responseTopic,
      expirationMs: p.messageExpiryInterval === undefined ? undefined : p.messageExpiryInterval * 1000,
      header: text(up['x-h']),
      traceparent: text(up.traceparent),
    });
  });
  await c.subscribeAsync('mx/#', { qos: 1 });
  return { next: (k) => inbox.next(k), close: () => c.endAsync() };
}

async function wsConsumer(b: TestBroker): Promise<ConsumerHandle> {
  const ws = new WebSocket(`ws://127.0.0.1:${b.server.http!.address.port}/ws`, 'switchyard.v1');
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const inbox = new Inbox<Seen>();
  const subscribed = new Promise<void>((resolve) => {
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false);
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      if (f.op === 'subscribed') resolve();
      else if (f.op === 'deliver') inbox.put(f.routingKey as string, fromJsonDelivery(f));
    });
  });
  ws.send(JSON.stringify({ op: 'subscribe', sub: 'm', exchange: 'amq.topic', key: 'mx.#' }));
  await subscribed;
  return {
    next: (k) => inbox.next(k),
    close: async () => {
      ws.close();
    },
  };
}

async function sseConsumer(b: TestBroker): Promise<ConsumerHandle> {
  const url = `http://127.0.0.1:${b.server.http!.address.port}/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=mx.%23`;
  const es = new EventSource(url);
  const inbox = new Inbox<Seen>();
  es.addEventListener('message', (e) => {
    const d = JSON.parse(e.data) as Record<string, unknown>;
    inbox.put(d.routingKey as string, fromJsonDelivery(d));
  });
  await new Promise<void>((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (e) => reject(new Error(`EventSource: ${e.message ?? 'error'}`));
  });
  return {
    next: (k) => inbox.next(k),
    close: async () => es.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Publishers

async function publish(b: TestBroker, p: Publisher): Promise<void> {
  const key = keyOf(p);
  switch (p) {
    case 'AMQP 0-9-1': {
      const conn = await amqplib.connect(b.url);
      const ch = await conn.createConfirmChannel();
      ch.publish('amq.topic', key, BODY, {
        contentType: SENT.contentType,
        correlationId: SENT.correlationId,
        replyTo: SENT.replyTo,
        expiration: String(SENT.expirationMs),
        headers: { 'x-h': SENT.header, traceparent: SENT.traceparent },
      });
      await ch.waitForConfirms();
      await conn.close();
      return;
    }
    case 'MQTT 3.1.1':
    case 'MQTT 5': {
      const v5 = p === 'MQTT 5';
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
        protocolVersion: v5 ? 5 : 4,
      });
      await c.publishAsync(topicOf(p), BODY, {
        qos: 1,
        ...(v5
          ? {
              properties: {
                contentType: SENT.contentType,
                correlationData: Buffer.from(SENT.correlationId),
                responseTopic: SENT.replyTo,
                messageExpiryInterval: SENT.expirationMs / 1000,
                userProperties: { 'x-h': SENT.header, traceparent: SENT.traceparent },
              },
            }
          : {}),
      });
      await c.endAsync();
      return;
    }
    case 'gRPC': {
      const client = grpcMatrixClient(b.server.grpc!.address.port);
      await client.publish({
        exchange: 'amq.topic',
        routingKey: key,
        body: BODY,
        contentType: SENT.contentType,
        correlationId: SENT.correlationId,
        replyTo: SENT.replyTo,
        expiration: String(SENT.expirationMs),
        headers: { 'x-h': SENT.header },
        traceparentMetadata: SENT.traceparent,
      });
      return;
    }
    case 'WebSocket': {
      const ws = new WebSocket(`ws://127.0.0.1:${b.server.http!.address.port}/ws`, 'switchyard.v1');
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const confirmed = new Promise<Record<string, unknown>>((resolve) =>
        ws.on('message', (d) => resolve(JSON.parse(d.toString()) as Record<string, unknown>)),
      );
      ws.send(
        JSON.stringify({
          op: 'publish',
          id: 1,
          exchange: 'amq.topic',
          routingKey: key,
          body: BODY.toString('base64'),
          bodyEncoding: 'base64',
          properties: {
            contentType: SENT.contentType,
            correlationId: SENT.correlationId,
            replyTo: SENT.replyTo,
            expiration: String(SENT.expirationMs),
            headers: { 'x-h': SENT.header },
          },
          traceparent: SENT.traceparent,
        }),
      );
      assert.equal((await confirmed).op, 'confirm');
      ws.close();
      return;
    }
    case 'HTTP publish': {
      const url = `http://127.0.0.1:${b.server.http!.address.port}/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=${key}`;
      const res = await fetch(url, {
        method: 'POST',
        body: BODY,
        headers: {
          'content-type': SENT.contentType,
          'x-correlation-id': SENT.correlationId,
          'x-reply-to': SENT.replyTo,
          'x-expiration': String(SENT.expirationMs),
          'x-header-x-h': SENT.header,
          traceparent: SENT.traceparent,
        },
      });
      assert.equal(res.status, 200, await res.text());
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe('cross-protocol matrix', () => {
  let b: TestBroker;
  const consumers = new Map<ConsumerName, ConsumerHandle>();

  before(async () => {
    b = await startTestBroker();
    consumers.set('AMQP 0-9-1', await amqpConsumer(b));
    consumers.set('MQTT 3.1.1', await mqttConsumer(b, 4));
    consumers.set('MQTT 5', await mqttConsumer(b, 5));
    consumers.set('gRPC', await grpcMatrixClient(b.server.grpc!.address.port).consumer('mx.#'));
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
        const seen = await consumers.get(con)!.next(keyOf(pub));
        const where = `${pub} → ${con}`;
        assert.ok(seen.body.equals(BODY), `${where}: body byte for byte`);
        const check = (field: Field, got: unknown, want: unknown) => {
          if (carries(field, pub) && carries(field, con)) assert.equal(got, want, `${where}: ${field}`);
        };
        check('content type', seen.contentType, SENT.contentType);
        check('correlation id', seen.correlationId, SENT.correlationId);
        check('reply-to', seen.replyTo, SENT.replyTo);
        check('user headers', seen.header, SENT.header);
        check('traceparent', seen.traceparent, SENT.traceparent);
        if (carries('expiration', pub) && carries('expiration', con)) {
          // The remaining lifetime (MQTT 5: in whole seconds): never more than was sent, and well
          // above nothing; how much has gone depends on how busy the machine is.
          const ms = seen.expirationMs ?? -1;
          assert.ok(ms <= SENT.expirationMs && ms >= SENT.expirationMs / 2, `${where}: expiration ${ms}`);
        }
      }
    });
  }
});
