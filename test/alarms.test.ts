/**
 * Resource alarms block publishers, as RabbitMQ does, the same way on every protocol. Streaming
 * protocols (AMQP, MQTT, the native WebSocket, gRPC PublishStream and Session) accept what they
 * have read and stop reading a connection that publishes until the alarm ends (AMQP clients that
 * announced the capability also get connection.blocked); request/response ones refuse the publish
 * (HTTP 503 with Retry-After, unary gRPC RESOURCE_EXHAUSTED). Consumers keep working meanwhile.
 * (MQTT's case is in mqtt-flow.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import amqp from 'amqplib';
import { Broker, type PublishRequest, PublishRequestSchema } from '../src/gen/switchyard/v1/broker_pb.js';
import { openSession, Pushable, queue, rejects, waitFor } from './grpc-client.js';
import { once, startTestBroker, uniq } from './helpers.js';
import { Client } from './ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('alarm: publishers are blocked and resumed; consumers keep working', async () => {
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: 0 } });
  const pubConn = await amqp.connect(b.url);
  const subConn = await amqp.connect(b.url);
  const pub = await pubConn.createChannel();
  const sub = await subConn.createChannel();
  const q = (await sub.assertQueue('', { exclusive: true })).queue;
  pub.sendToQueue(q, Buffer.from('before'));
  const got: string[] = [];
  const arrived: (() => void)[] = [];
  await sub.consume(
    q,
    (m) => {
      if (m === null) return;
      got.push(m.content.toString());
      sub.ack(m);
      arrived.shift()?.();
    },
    { noAck: false },
  );
  const next = () => new Promise<void>((r) => arrived.push(r));
  if (got.length === 0) await next();
  assert.deepEqual(got, ['before']);

  const blocked = once<string>(pubConn, 'blocked');
  b.server.broker.setAlarm('disk', true);
  assert.match(await blocked, /disk/);
  pub.sendToQueue(q, Buffer.from('during'));
  // The publish is held: a round trip on the consumer's connection shows it did not arrive.
  await sub.checkQueue(q);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got, ['before'], 'nothing from the blocked publisher');

  const unblocked = once(pubConn, 'unblocked');
  const delivered = next();
  b.server.broker.setAlarm('disk', false);
  await unblocked;
  await delivered;
  assert.deepEqual(got, ['before', 'during']);
  await pubConn.close();
  await subConn.close();
  await b.close();
});

test('alarm: below the configured free disk space, publishes are held', async () => {
  // A limit no disk meets: the watcher raises the disk alarm at start.
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: Number.MAX_SAFE_INTEGER } });
  const conn = await amqp.connect(b.url);
  const ch = await conn.createChannel();
  const q = (await ch.assertQueue('', { exclusive: false, autoDelete: true })).queue;
  assert.deepEqual([...b.server.broker.alarms], ['disk']);
  ch.sendToQueue(q, Buffer.from('held'));
  const other = await amqp.connect(b.url);
  const oc = await other.createChannel();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await oc.checkQueue(q)).messageCount, 0, 'the publish waits for disk space');
  b.server.broker.setAlarm('disk', false);
  await ch.checkQueue(q); // the held publish is processed first, in order
  assert.equal((await oc.checkQueue(q)).messageCount, 1);
  await other.close();
  await conn.close();
  await b.close();
});

test('alarm: a WebSocket publisher is not read until it clears; consumers go on', async () => {
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: 0 } });
  const admin = b.server.broker.connect({
    protocol: 'test',
    remoteAddress: '127.0.0.1',
    user: 'guest',
    vhost: '/',
  });
  const q = uniq('alarm-ws');
  admin.declareQueue(q, { passive: false, durable: false, exclusive: false, autoDelete: false, args: {} });
  const pub = await Client.open(b);
  const sub = await Client.open(b);
  try {
    assert.equal((await pub.publish({ routingKey: q, body: 'before' })).op, 'confirm');
    await sub.subscribe({ sub: 's', queue: q, ack: 'manual' });
    const first = await sub.next({ op: 'deliver' });
    b.server.broker.setAlarm('disk', true);
    pub.send({ op: 'publish', id: 'held', routingKey: q, body: 'held' });
    // The consumer still acknowledges and round-trips while the publisher's frame waits unread.
    sub.send({ op: 'ack', sub: 's', id: first.id });
    await sub.sync();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(pub.pending({ op: 'confirm' }), [], 'no confirm: the publish was not read');
    assert.deepEqual(pub.pending({ op: 'error' }), [], 'nor refused: streaming publishers wait');
    b.server.broker.setAlarm('disk', false);
    assert.equal((await pub.next({ op: 'confirm', id: 'held' })).routed, 1);
    assert.equal((await sub.next({ op: 'deliver' })).body, 'held');
  } finally {
    await pub.close();
    await sub.close();
    admin.close();
    await b.close();
  }
});

test('alarm: gRPC Session (native and JSON) and PublishStream stop reading their publishers', async () => {
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: 0 } });
  const url = `http://127.0.0.1:${b.server.grpc!.address.port}`;
  const native = createClient(Broker, createGrpcTransport({ baseUrl: url }));
  // JSON is served by connect rather than the native fast path: both must hold publishers.
  const json = createClient(Broker, createGrpcTransport({ baseUrl: url, useBinaryFormat: false }));
  try {
    for (const c of [native, json]) {
      const q = await queue(c);
      const s = openSession(c);
      s.send({ case: 'publish', value: { publishId: 1n, routingKey: q } });
      assert.equal((await s.next()).response.case, 'confirm');
      b.server.broker.setAlarm('disk', true);
      s.send({ case: 'publish', value: { publishId: 2n, routingKey: q } });
      const held = s.next();
      const early = await Promise.race([held.then(() => 'answered'), sleep(200).then(() => 'waiting')]);
      assert.equal(early, 'waiting', 'no answer while publishers are blocked');
      b.server.broker.setAlarm('disk', false);
      const r = await held;
      assert.deepEqual(
        [r.response.case, (r.response.value as { publishId: bigint }).publishId],
        ['confirm', 2n],
      );
      s.requests.end();
      assert.equal(await s.end(), undefined);
      assert.equal((await c.inspectQueue({ name: q })).messageCount, 2);
    }

    const q = await queue(native);
    const requests = new Pushable<PublishRequest>();
    const msg = (body: string) =>
      create(PublishRequestSchema, { routingKey: q, message: { body: Buffer.from(body) } });
    const done = native.publishStream(requests);
    requests.push(msg('a'));
    await waitFor(async () => (await native.inspectQueue({ name: q })).messageCount === 1);
    b.server.broker.setAlarm('disk', true);
    requests.push(msg('b'));
    requests.push(msg('c'));
    requests.end();
    const early = await Promise.race([done.then(() => 'answered'), sleep(200).then(() => 'waiting')]);
    assert.equal(early, 'waiting', 'the stream is not read to its end while publishers are blocked');
    assert.ok((await native.inspectQueue({ name: q })).messageCount < 3, 'not every message was read');
    b.server.broker.setAlarm('disk', false);
    assert.equal((await done).confirmed, 3n);
  } finally {
    await b.close();
  }
});

test('alarm: request/response publishes are refused: unary gRPC RESOURCE_EXHAUSTED, HTTP 503 with Retry-After', async () => {
  const b = await startTestBroker({}, undefined, { store: { diskFreeLimit: 0 } });
  const native = createClient(
    Broker,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` }),
  );
  try {
    const q = await queue(native);
    b.server.broker.setAlarm('disk', true);
    const e = await rejects(native.publish({ routingKey: q }), Code.ResourceExhausted, /blocked.*disk/);
    assert.equal(e.metadata.get('switchyard-error'), 'RESOURCE_ERROR');
    const r = await fetch(
      `http://127.0.0.1:${b.server.http!.address.port}/api/v1/vhosts/%2F/exchanges/amq.default/publish?routingKey=${q}`,
      { method: 'POST', body: 'x' },
    );
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '5');
    assert.equal(((await r.json()) as { code: string }).code, 'RESOURCE_ERROR');
    b.server.broker.setAlarm('disk', false);
    assert.equal((await native.publish({ routingKey: q })).routedQueues, 1);
  } finally {
    await b.close();
  }
});
