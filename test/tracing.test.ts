/**
 * Broker spans: a traceparent arriving with a message makes the broker's publish, route and
 * deliver spans children of that trace, exported over OTLP/HTTP to the configured endpoint.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import amqplib from 'amqplib';
import mqtt from 'mqtt';
import { parseTraceparent } from '../src/observe/tracing.js';
import { startTestBroker } from './helpers.js';

/** An OTLP/HTTP collector that keeps the raw request bodies. */
async function collector() {
  const bodies: Buffer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') bodies.push(Buffer.concat(chunks));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/v1/traces`, bodies, close: () => server.close() };
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

test('publish, route and deliver spans join the trace of the message, from AMQP and from MQTT 5', async () => {
  const col = await collector();
  const b = await startTestBroker({}, undefined, { tracing: { otlpEndpoint: col.url } });
  try {
    const conn = await amqplib.connect(b.url);
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, 'amq.topic', 'traced.#');
    const got: amqplib.ConsumeMessage[] = [];
    const two = new Promise<void>((resolve) => {
      void ch.consume(
        q.queue,
        (m) => {
          if (m !== null) got.push(m);
          if (got.length === 2) resolve();
        },
        { noAck: true },
      );
    });
    ch.publish('amq.topic', 'traced.amqp', Buffer.from('a'), { headers: { traceparent: PARENT } });
    const mq = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
    });
    await mq.publishAsync('traced/mqtt', 'm', { properties: { userProperties: { traceparent: PARENT } } });
    await two;
    // The message's own traceparent reaches the consumer unchanged.
    for (const m of got) assert.equal(m.properties.headers?.traceparent, PARENT);
    await mq.endAsync();
    await conn.close();
  } finally {
    await b.close(); // flushes the span exporter
    col.close();
  }
  const all = Buffer.concat(col.bodies);
  const traceId = Buffer.from(TRACE_ID, 'hex');
  let spansInTrace = 0;
  for (let i = all.indexOf(traceId); i >= 0; i = all.indexOf(traceId, i + 1)) spansInTrace++;
  // 2 messages x (publish + route + deliver) spans, each carrying the trace id.
  assert.ok(spansInTrace >= 6, `spans in the trace: ${spansInTrace}`);
  for (const name of ['publish amq.topic', 'route', `deliver `]) {
    assert.ok(all.includes(Buffer.from(name)), `a span named '${name}' was exported`);
  }
  assert.ok(all.includes(Buffer.from('mqtt')) && all.includes(Buffer.from('amqp')), 'protocol attributes');
});

test('no endpoint, no exporter: publishing works with tracing off', async () => {
  const b = await startTestBroker();
  try {
    assert.equal(b.server.broker.tracer, undefined);
  } finally {
    await b.close();
  }
});

test('parseTraceparent accepts the W3C form and refuses invalid ids', () => {
  assert.deepEqual(parseTraceparent(PARENT), {
    traceId: TRACE_ID,
    spanId: '00f067aa0ba902b7',
    traceFlags: 1,
    isRemote: true,
  });
  for (const bad of [
    undefined,
    42,
    '',
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
    `ff-${TRACE_ID}-00f067aa0ba902b7-01`,
    `00-${TRACE_ID.toUpperCase()}-00f067aa0ba902b7-01`,
    '00-abc-def-01',
  ]) {
    assert.equal(parseTraceparent(bad), undefined, String(bad));
  }
});
