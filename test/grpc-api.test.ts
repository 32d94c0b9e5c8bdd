/**
 * The switchyard.v1.Broker API end to end with connect-node clients over all three transports
 * (native gRPC on the gRPC port; gRPC-Web and Connect over HTTP/1.1 on the HTTP port): unary,
 * client streaming, server streaming (auto and manual ack), the definition calls, and health.
 * The Session is in grpc-session.test.ts, reflection in grpc-reflection.test.ts, messages
 * crossing to and from AMQP in grpc-amqp.test.ts.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import { Health, HealthCheckResponse_ServingStatus } from '../src/gen/grpc/health/v1/health_pb.js';
import {
  Broker,
  type PublishRequest,
  type PublishRequestSchema,
} from '../src/gen/switchyard/v1/broker_pb.js';
import { type DeliveryValue, queue, reader, rejects, text, TP, waitFor } from './grpc-client.js';
import { startTestBroker, uniq } from './helpers.js';

const b = await startTestBroker();
after(() => b.close());
const grpcUrl = `http://127.0.0.1:${b.server.grpc!.address.port}`;
const httpUrl = `http://127.0.0.1:${b.server.http!.address.port}`;

const transports: [string, Transport][] = [
  ['grpc', createGrpcTransport({ baseUrl: grpcUrl })],
  ['grpc-web', createGrpcWebTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
  ['connect', createConnectTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
];
for (const [name, transport] of transports) {
  describe(`gRPC API over ${name}`, () => {
    const c = createClient(Broker, transport);

    test('Publish then Subscribe (auto ack) delivers with every property', async () => {
      const q = await queue(c);
      const r = await c.publish({
        routingKey: q,
        message: {
          body: Buffer.from('hello'),
          contentType: 'text/plain',
          contentEncoding: 'utf-8',
          headers: { a: '1' },
          correlationId: 'corr',
          replyTo: 'replies',
          expiration: '60000',
          priority: 4,
          messageId: 'mid',
          persistent: true,
          timestamp: 1_700_000_000n,
          type: 'greeting',
          appId: 'test',
          userId: 'anonymous',
          traceparent: TP,
        },
      });
      assert.equal(r.routedQueues, 1);
      const s = reader(c.subscribe({ source: { case: 'queue', value: q }, autoAck: true }));
      const started = await s.next();
      assert.equal(started.event.case, 'started');
      assert.equal(started.event.value?.queue, q);
      const d = await s.next();
      assert.equal(d.event.case, 'delivery');
      const v = d.event.value!;
      assert.equal(v.queue, q);
      assert.equal(v.redelivered, false);
      assert.equal(v.subscription, (started.event.value as { subscriptionId: string }).subscriptionId);
      const m = v.message!;
      assert.equal(text(m), 'hello');
      assert.deepEqual(
        {
          contentType: m.contentType,
          contentEncoding: m.contentEncoding,
          headers: m.headers,
          correlationId: m.correlationId,
          replyTo: m.replyTo,
          expiration: m.expiration,
          priority: m.priority,
          messageId: m.messageId,
          persistent: m.persistent,
          timestamp: m.timestamp,
          type: m.type,
          appId: m.appId,
          userId: m.userId,
          traceparent: m.traceparent,
          exchange: m.exchange,
          routingKey: m.routingKey,
        },
        {
          contentType: 'text/plain',
          contentEncoding: 'utf-8',
          headers: { a: '1', traceparent: TP },
          correlationId: 'corr',
          replyTo: 'replies',
          expiration: '60000',
          priority: 4,
          messageId: 'mid',
          persistent: true,
          timestamp: 1_700_000_000n,
          type: 'greeting',
          appId: 'test',
          userId: 'anonymous',
          traceparent: TP,
          exchange: '',
          routingKey: q,
        },
      );
    });

    test('PublishStream confirms every message, in order; metadata trace context applies', async () => {
      const q = await queue(c);
      async function* msgs(): AsyncGenerator<MessageInitShape<typeof PublishRequestSchema>> {
        for (let i = 0; i < 50; i++) yield { routingKey: q, message: { body: Buffer.from(`m${i}`) } };
      }
      const r = await c.publishStream(msgs() as AsyncIterable<PublishRequest>, {
        headers: { traceparent: TP },
      });
      assert.equal(r.confirmed, 50n);
      const info = await c.inspectQueue({ name: q });
      assert.equal(info.messageCount, 50);
      const s = reader(c.subscribe({ source: { case: 'queue', value: q }, autoAck: true }));
      await s.next();
      for (let i = 0; i < 50; i++) {
        const d = await s.next();
        assert.equal(d.event.case, 'delivery');
        assert.equal(text(d.event.value.message), `m${i}`);
        assert.equal(d.event.value.message!.traceparent, TP);
      }
    });

    test('PublishStream ends at the first failure, saying how many were confirmed', async () => {
      const q = await queue(c);
      async function* msgs(): AsyncGenerator<MessageInitShape<typeof PublishRequestSchema>> {
        yield { routingKey: q, message: { body: Buffer.from('1') } };
        yield { routingKey: q, message: { body: Buffer.from('2') } };
        yield { exchange: uniq('missing'), routingKey: q, message: { body: Buffer.from('3') } };
        yield { routingKey: q, message: { body: Buffer.from('4') } };
      }
      const e = await rejects(
        c.publishStream(msgs() as AsyncIterable<PublishRequest>),
        Code.NotFound,
        /no exchange .* \(2 confirmed before it\)/,
      );
      assert.equal(e.metadata.get('switchyard-confirmed'), '2');
      assert.equal(e.metadata.get('switchyard-error'), 'NOT_FOUND');
      assert.equal((await c.inspectQueue({ name: q })).messageCount, 2);
    });

    test('Subscribe to an exchange: a private queue bound with the key, gone after the call', async () => {
      const x = uniq('grpc-x');
      await c.declareExchange({ name: x, type: 'topic' });
      const ac = new AbortController();
      const s = reader(
        c.subscribe(
          { source: { case: 'exchange', value: x }, bindingKey: 'a.*', autoAck: true },
          { signal: ac.signal },
        ),
      );
      const started = (await s.next()).event.value as { queue: string };
      assert.match(started.queue, /^amq\.gen-/);
      await c.publish({ exchange: x, routingKey: 'b.c', message: { body: Buffer.from('no') } });
      await c.publish({ exchange: x, routingKey: 'a.b', message: { body: Buffer.from('yes') } });
      const d = await s.next();
      assert.equal(text((d.event.value as { message: { body: Uint8Array } }).message), 'yes');
      ac.abort();
      await s.end();
      await waitFor(async () => {
        try {
          await c.inspectQueue({ name: started.queue });
          return false;
        } catch (e) {
          return ConnectError.from(e).code === Code.NotFound;
        }
      });
    });

    test('Subscribe with manual acks: ack, nack with requeue (redelivered), nack without', async () => {
      const q = await queue(c);
      for (const body of ['a', 'b', 'c'])
        await c.publish({ routingKey: q, message: { body: Buffer.from(body) } });
      const ac = new AbortController();
      const s = reader(
        c.subscribe({ source: { case: 'queue', value: q }, prefetch: 3 }, { signal: ac.signal }),
      );
      const id = ((await s.next()).event.value as { subscriptionId: string }).subscriptionId;
      const ds = [await s.next(), await s.next(), await s.next()].map((r) => r.event.value as DeliveryValue);
      assert.deepEqual(
        ds.map((d) => text(d.message)),
        ['a', 'b', 'c'],
      );
      await c.ack({ subscriptionId: id, deliveryId: ds[0]!.deliveryId });
      await c.nack({ subscriptionId: id, deliveryId: ds[1]!.deliveryId, requeue: true });
      const again = (await s.next()).event.value as DeliveryValue;
      assert.equal(text(again.message), 'b');
      assert.equal(again.redelivered, true);
      await c.nack({ subscriptionId: id, deliveryId: ds[2]!.deliveryId, requeue: false });
      await c.ack({ subscriptionId: id, deliveryId: again.deliveryId });
      await rejects(
        c.ack({ subscriptionId: id, deliveryId: again.deliveryId }),
        Code.FailedPrecondition,
        /unknown/,
      );
      await rejects(c.ack({ subscriptionId: 'nope', deliveryId: 1n }), Code.NotFound, /no subscription/);
      ac.abort();
      await s.end();
      // Everything was settled: nothing goes back to the queue when the consumer goes.
      await waitFor(async () => (await c.inspectQueue({ name: q })).consumerCount === 0);
      assert.equal((await c.inspectQueue({ name: q })).messageCount, 0);
    });

    test('Subscribe with manual acks: at most `prefetch` unsettled; ack multiple', async () => {
      const q = await queue(c);
      for (let i = 0; i < 5; i++)
        await c.publish({ routingKey: q, message: { body: Buffer.from(String(i)) } });
      const ac = new AbortController();
      const s = reader(
        c.subscribe({ source: { case: 'queue', value: q }, prefetch: 2 }, { signal: ac.signal }),
      );
      const id = ((await s.next()).event.value as { subscriptionId: string }).subscriptionId;
      const first = [await s.next(), await s.next()].map((r) => r.event.value as DeliveryValue);
      // The third one only comes after an ack: the queue still holds it.
      assert.equal((await c.inspectQueue({ name: q })).messageCount, 3);
      await c.ack({ subscriptionId: id, deliveryId: first[1]!.deliveryId, multiple: true });
      const next = [await s.next(), await s.next()].map((r) =>
        text((r.event.value as DeliveryValue).message),
      );
      assert.deepEqual(next, ['2', '3']);
      ac.abort();
      await s.end();
      // The unsettled ones went back to the queue when the call ended.
      await waitFor(async () => (await c.inspectQueue({ name: q })).messageCount === 3);
    });

    test('definitions: declare, bind, inspect, unbind, purge, delete', async () => {
      const x = uniq('grpc-dx');
      const x2 = uniq('grpc-dx2');
      await c.declareExchange({
        name: x,
        type: 'direct',
        durable: true,
        arguments: { 'alternate-exchange': 'ae' },
      });
      await c.declareExchange({ name: x2, type: 'fanout' });
      const info = await c.inspectExchange({ name: x });
      assert.deepEqual(
        { type: info.type, durable: info.durable, autoDelete: info.autoDelete, internal: info.internal },
        { type: 'direct', durable: true, autoDelete: false, internal: false },
      );
      assert.deepEqual(info.arguments, { 'alternate-exchange': 'ae' });
      const q = await c.declareQueue({ name: '', arguments: { 'x-max-length': 10 } });
      assert.match(q.name, /^amq\.gen-/);
      assert.deepEqual([q.messageCount, q.consumerCount], [0, 0]);
      await c.bind({ exchange: x, destination: { case: 'queue', value: q.name }, routingKey: 'k' });
      await c.bind({ exchange: x, destination: { case: 'destinationExchange', value: x2 }, routingKey: 'k' });
      assert.equal(
        (await c.publish({ exchange: x, routingKey: 'k', message: { body: Buffer.from('1') } })).routedQueues,
        1,
      );
      await c.bind({ exchange: x2, destination: { case: 'queue', value: q.name } });
      // Through x directly and through x → x2 (fanout): one queue, counted once.
      assert.equal((await c.publish({ exchange: x, routingKey: 'k', message: {} })).routedQueues, 1);
      assert.equal((await c.inspectQueue({ name: q.name })).messageCount, 2);
      await c.unbind({ exchange: x, destination: { case: 'queue', value: q.name }, routingKey: 'k' });
      await c.unbind({
        exchange: x,
        destination: { case: 'destinationExchange', value: x2 },
        routingKey: 'k',
      });
      assert.equal((await c.publish({ exchange: x, routingKey: 'k', message: {} })).routedQueues, 0);
      assert.equal((await c.purgeQueue({ name: q.name })).messageCount, 2);
      await c.publish({ exchange: x2, routingKey: '', message: {} });
      await rejects(c.deleteQueue({ name: q.name, ifEmpty: true }), Code.FailedPrecondition);
      assert.equal((await c.deleteQueue({ name: q.name })).messageCount, 1);
      await rejects(c.inspectQueue({ name: q.name }), Code.NotFound);
      await c.deleteExchange({ name: x2 });
      await c.deleteExchange({ name: x });
      await rejects(c.inspectExchange({ name: x }), Code.NotFound, /no exchange/);
    });

    test('health: Check and List say SERVING; an unknown service is NOT_FOUND', async () => {
      const h = createClient(Health, transport);
      assert.equal((await h.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
      assert.equal(
        (await h.check({ service: 'switchyard.v1.Broker' })).status,
        HealthCheckResponse_ServingStatus.SERVING,
      );
      await rejects(h.check({ service: 'nope.Service' }), Code.NotFound);
      const list = await h.list({});
      assert.deepEqual(Object.keys(list.statuses).sort(), ['', 'switchyard.v1.Broker']);
      const ac = new AbortController();
      const w = reader(h.watch({ service: 'nope' }, { signal: ac.signal }));
      assert.equal((await w.next()).status, HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN);
      ac.abort();
      await w.end();
    });
  });
}
