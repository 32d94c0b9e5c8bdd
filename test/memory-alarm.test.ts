/**
 * The memory alarm end to end (issue 15): a fake resident-set sampler crosses the high
 * watermark; publishers are blocked (AMQP connection.blocked naming memory, HTTP 503 with
 * Retry-After, unary gRPC RESOURCE_EXHAUSTED), the consumer keeps draining, the log says so,
 * GET /health, GET /metrics and gRPC BrokerStatus show the alarm; below the watermark all goes on.
 * (Each protocol's blocked behaviour is in alarms.test.ts and mqtt-flow.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import amqp from 'amqplib';
import { Broker } from '../src/gen/switchyard/v1/broker_pb.js';
import { rejects } from './grpc-client.js';
import { once, startTestBroker, uniq } from './helpers.js';

/** guest is an administrator: it may read /metrics. */
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

test('memory alarm: above the high watermark publishers are blocked on every protocol, consumers drain', async () => {
  let rss = 100;
  const lines: string[] = [];
  const b = await startTestBroker(
    {},
    undefined,
    { store: { diskFreeLimit: 0 }, memory: { highWatermark: 0.5, checkInterval: 3_600_000 } },
    { memorySample: () => rss, memoryLimit: { bytes: 1000, source: 'cgroup v2' }, log: (l) => lines.push(l) },
  );
  const http = `http://127.0.0.1:${b.server.http!.address.port}`;
  const grpc = createClient(
    Broker,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` }),
  );
  const pubConn = await amqp.connect(b.url);
  const subConn = await amqp.connect(b.url);
  try {
    const pub = await pubConn.createChannel();
    const sub = await subConn.createChannel();
    const q = (await sub.assertQueue(uniq('mem'), { exclusive: false, autoDelete: true })).queue;
    for (let i = 0; i < 3; i++) pub.sendToQueue(q, Buffer.from(`m${i}`));
    await pub.checkQueue(q);

    const blocked = once<string>(pubConn, 'blocked');
    rss = 500;
    assert.equal(b.server.alarms.checkMemory(), true);
    assert.match(await blocked, /memory/);
    assert.deepEqual([...b.server.broker.alarms], ['memory']);
    assert.match(
      lines.join(''),
      /memory alarm on: resident 500 B ≥ high watermark 500 B \(0.5 of 1000 B, the cgroup v2's memory\)/,
    );

    // The consumer drains what is there.
    const got: string[] = [];
    await new Promise<void>((resolve) => {
      void sub.consume(
        q,
        (m) => {
          if (m === null) return;
          got.push(m.content.toString());
          if (got.length === 3) resolve();
        },
        { noAck: true },
      );
    });
    assert.deepEqual(got, ['m0', 'm1', 'm2']);

    const r = await fetch(`${http}/api/v1/vhosts/%2F/exchanges/amq.default/publish?routingKey=${q}`, {
      method: 'POST',
      body: 'x',
    });
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    await rejects(grpc.publish({ routingKey: q }), Code.ResourceExhausted, /blocked.*memory/);

    const health = await fetch(`${http}/health`);
    assert.equal(health.status, 200, 'an alarm blocks publishers; it is not a failure');
    const h = (await health.json()) as {
      status: string;
      alarms: string[];
      memory: { rss: number; highWatermark: number };
    };
    assert.deepEqual(
      [h.status, h.alarms, h.memory.rss, h.memory.highWatermark],
      ['ok', ['memory'], 500, 500],
    );
    const metrics = await (await fetch(`${http}/metrics`, { headers: { authorization: GUEST } })).text();
    assert.match(metrics, /^switchyard_alarm\{resource="memory"\} 1$/m);
    assert.match(metrics, /^switchyard_memory_resident_bytes 500$/m);
    const status = await grpc.brokerStatus({});
    assert.deepEqual([status.healthy, status.alarms], [true, ['memory']]);
    assert.equal(status.memory?.residentBytes, 500n);

    const unblocked = once(pubConn, 'unblocked');
    rss = 499;
    assert.equal(b.server.alarms.checkMemory(), false);
    await unblocked;
    assert.match(lines.join(''), /memory alarm off: resident 499 B < high watermark 500 B/);
    assert.equal((await grpc.publish({ routingKey: q })).routedQueues, 1);
    assert.deepEqual((await grpc.brokerStatus({})).alarms, []);
  } finally {
    await pubConn.close();
    await subConn.close();
    await b.close();
  }
});

test('memory alarm: highWatermark 0 turns it off', async () => {
  const b = await startTestBroker(
    {},
    undefined,
    { store: { diskFreeLimit: 0 }, memory: { highWatermark: 0 } },
    {
      memorySample: () => Number.MAX_SAFE_INTEGER,
    },
  );
  try {
    assert.equal(b.server.alarms.checkMemory(), false);
    assert.deepEqual([...b.server.broker.alarms], []);
    assert.equal(b.server.alarms.status().memory, undefined);
  } finally {
    await b.close();
  }
});
