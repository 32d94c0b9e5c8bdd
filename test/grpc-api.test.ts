/**
 * The switchyard.v1.Broker API end to end with connect-node clients over all three transports
 * (native gRPC on the gRPC port; gRPC-Web and Connect over HTTP/1.1 on the HTTP port): unary,
 * client streaming, server streaming (auto and manual ack) and, over HTTP/2, the Session; the
 * definition calls; health and reflection; and messages crossing to and from AMQP (amqplib).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type Client, Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import amqp from 'amqplib';
import { Health, HealthCheckResponse_ServingStatus } from '../src/grpc/gen/grpc/health/v1/health_pb.js';
import {
  ServerReflection,
  ServerReflectionRequestSchema,
} from '../src/grpc/gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionAlpha } from '../src/grpc/gen/grpc/reflection/v1alpha/reflection_pb.js';
import {
  Broker,
  type PublishRequest,
  type PublishRequestSchema,
  type SessionRequest,
  SessionRequestSchema,
  type SessionResponse,
} from '../src/grpc/gen/switchyard/v1/broker_pb.js';
import { startTestBroker, uniq } from './helpers.js';
import { poll, WAIT_MS } from './support/wait.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const b = await startTestBroker();
after(() => b.close());
const grpcUrl = `http://127.0.0.1:${b.server.grpc!.address.port}`;
const httpUrl = `http://127.0.0.1:${b.server.http!.address.port}`;

const transports: [string, Transport][] = [
  ['grpc', createGrpcTransport({ baseUrl: grpcUrl })],
  ['grpc-web', createGrpcWebTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
  ['connect', createConnectTransport({ baseUrl: httpUrl, httpVersion: '1.1' })],
];
const native = createClient(Broker, transports[0]![1]);

/** Resolves with `p`, or fails the test after `ms` (so a hang is a clear failure). */
function within<T>(p: Promise<T>, ms = WAIT_MS, what = 'a response'): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** A response stream read one message at a time, each within a bounded wait. */
function reader<T>(stream: AsyncIterable<T>) {
  const it = stream[Symbol.asyncIterator]();
  return {
    async next(): Promise<T> {
      const r = await within(it.next());
      assert.equal(r.done, false, 'stream ended early');
      return r.value as T;
    },
    /** Reads until the stream ends; returns the error it ended with (undefined = OK). */
    async end(): Promise<ConnectError | undefined> {
      try {
        for (;;) if ((await within(it.next())).done === true) return undefined;
      } catch (e) {
        return ConnectError.from(e);
      }
    },
  };
}

/** Requests a test pushes into a client stream. */
class Pushable<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  push(v: T): void {
    this.items.push(v);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

async function rejects(p: Promise<unknown>, code: Code, message?: RegExp): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(err.code, code, `${Code[err.code]}: ${err.rawMessage}`);
    if (message !== undefined) assert.match(err.rawMessage, message);
    return err;
  }
  assert.fail(`expected ${Code[code]}`);
}

async function queue(c: Client<typeof Broker>, prefix = 'q'): Promise<string> {
  const name = uniq(`grpc-${prefix}`);
  await c.declareQueue({ name });
  return name;
}

function text(m: { body: Uint8Array } | undefined): string {
  return Buffer.from(m!.body).toString();
}

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

interface DeliveryValue {
  deliveryId: bigint;
  redelivered: boolean;
  message: { body: Uint8Array };
}

/** Polls `cond` (an outside observer has no event to await). */
const waitFor = (cond: () => Promise<boolean>, what = 'the condition') => poll(cond, what);

/** A Session over native gRPC, with helpers to wait for a response of a kind. */
function openSession(signal?: AbortSignal) {
  const requests = new Pushable<SessionRequest>();
  const stream = native.session(requests, signal === undefined ? {} : { signal });
  const it = stream[Symbol.asyncIterator]();
  const seen: SessionResponse[] = [];
  const send = (r: NonNullable<MessageInitShape<typeof SessionRequestSchema>['request']>) =>
    requests.push(create(SessionRequestSchema, { request: r }));
  return {
    requests,
    send,
    seen,
    /** The next response. */
    async next(): Promise<SessionResponse> {
      const r = await within(it.next());
      assert.equal(r.done, false, 'session ended early');
      seen.push(r.value);
      return r.value;
    },
    async end(): Promise<ConnectError | undefined> {
      try {
        for (;;) if ((await within(it.next())).done === true) return undefined;
      } catch (e) {
        return ConnectError.from(e);
      }
    },
  };
}

describe('gRPC Session (bidirectional, native gRPC)', () => {
  test('publishes are confirmed; a failed one is an error naming it and the session goes on', async () => {
    const q = await queue(native);
    const s = openSession();
    s.send({ case: 'publish', value: { publishId: 1n, routingKey: q, message: { body: Buffer.from('a') } } });
    s.send({ case: 'publish', value: { publishId: 2n, exchange: uniq('missing'), routingKey: q } });
    s.send({ case: 'publish', value: { publishId: 3n, routingKey: q, message: { expiration: 'soon' } } });
    s.send({
      case: 'publish',
      value: { publishId: 4n, routingKey: q, mandatory: true, message: { persistent: true } },
    });
    s.send({ case: 'publish', value: { publishId: 5n, routingKey: uniq('nobody'), mandatory: true } });
    const r = [await s.next(), await s.next(), await s.next(), await s.next(), await s.next()];
    assert.deepEqual(r[0]!.response, {
      case: 'confirm',
      value: r[0]!.response.value && { ...r[0]!.response.value, publishId: 1n, routedQueues: 1 },
    });
    const err = (i: number) =>
      r[i]!.response.value as {
        about: { case: string; value: unknown };
        code: number;
        reason: string;
        message: string;
      };
    assert.equal(r[1]!.response.case, 'error');
    assert.deepEqual(err(1).about, { case: 'publishId', value: 2n });
    assert.equal(err(1).code, Code.NotFound);
    assert.equal(err(1).reason, 'NOT_FOUND');
    assert.equal(r[2]!.response.case, 'error');
    assert.equal(err(2).code, Code.InvalidArgument);
    assert.match(err(2).message, /expiration/);
    assert.equal(r[3]!.response.case, 'confirm');
    assert.equal(r[4]!.response.case, 'error');
    assert.equal(err(4).reason, 'NO_ROUTE');
    s.requests.end();
    assert.equal(await s.end(), undefined);
    assert.equal((await native.inspectQueue({ name: q })).messageCount, 2);
  });

  test('credit: no delivery beyond it, more after a credit request', async () => {
    const q = await queue(native);
    for (let i = 0; i < 5; i++)
      await native.publish({ routingKey: q, message: { body: Buffer.from(String(i)) } });
    const other = await queue(native, 'other');
    const s = openSession();
    s.send({
      case: 'subscribe',
      value: { subscription: 's', source: { case: 'queue', value: q }, autoAck: true, credit: 2 },
    });
    assert.deepEqual((await s.next()).response.case, 'subscribed');
    const got = [await s.next(), await s.next()].map((r) =>
      text((r.response.value as DeliveryValue).message),
    );
    assert.deepEqual(got, ['0', '1']);
    // A round trip: a third delivery would have come before this confirm.
    s.send({ case: 'publish', value: { publishId: 9n, routingKey: other } });
    assert.equal((await s.next()).response.case, 'confirm');
    assert.equal((await native.inspectQueue({ name: q })).messageCount, 3);
    s.send({ case: 'credit', value: { subscription: 's', n: 2 } });
    const more = [await s.next(), await s.next()].map((r) =>
      text((r.response.value as DeliveryValue).message),
    );
    assert.deepEqual(more, ['2', '3']);
    s.send({ case: 'publish', value: { publishId: 10n, routingKey: other } });
    assert.equal((await s.next()).response.case, 'confirm');
    // A subscription with 0 credit gets nothing until it is granted some.
    s.send({
      case: 'subscribe',
      value: { subscription: 'z', source: { case: 'queue', value: other }, autoAck: true },
    });
    assert.equal((await s.next()).response.case, 'subscribed');
    s.send({ case: 'publish', value: { publishId: 11n, routingKey: other } });
    assert.equal((await s.next()).response.case, 'confirm');
    s.send({ case: 'credit', value: { subscription: 'z', n: 1 } });
    const z = (await s.next()).response.value as DeliveryValue & { subscription: string };
    assert.equal(z.subscription, 'z');
    s.requests.end();
    assert.equal(await s.end(), undefined);
  });

  test('acks, nacks with requeue, unsubscribe; errors name the subscription', async () => {
    const q = await queue(native);
    for (const body of ['a', 'b'])
      await native.publish({ routingKey: q, message: { body: Buffer.from(body) } });
    const s = openSession();
    s.send({
      case: 'subscribe',
      value: { subscription: 'm', source: { case: 'queue', value: q }, credit: 10 },
    });
    assert.equal((await s.next()).response.case, 'subscribed');
    const [a, bb] = [await s.next(), await s.next()].map((r) => r.response.value as DeliveryValue);
    s.send({ case: 'ack', value: { subscription: 'm', deliveryId: a!.deliveryId } });
    s.send({ case: 'nack', value: { subscription: 'm', deliveryId: bb!.deliveryId, requeue: true } });
    const again = (await s.next()).response.value as DeliveryValue;
    assert.equal(text(again.message), 'b');
    assert.equal(again.redelivered, true);
    s.send({ case: 'ack', value: { subscription: 'm', deliveryId: 999n } });
    const unknownTag = (await s.next()).response;
    assert.equal(unknownTag.case, 'error');
    assert.deepEqual((unknownTag.value as { about: unknown }).about, { case: 'subscription', value: 'm' });
    assert.equal((unknownTag.value as { code: number }).code, Code.FailedPrecondition);
    s.send({ case: 'credit', value: { subscription: 'nope', n: 1 } });
    const unknownSub = (await s.next()).response;
    assert.equal(unknownSub.case, 'error');
    assert.match((unknownSub.value as { message: string }).message, /no subscription 'nope'/);
    assert.equal((unknownSub.value as { code: number }).code, Code.NotFound);
    s.send({ case: 'subscribe', value: { subscription: 'm', source: { case: 'queue', value: q } } });
    assert.match(((await s.next()).response.value as { message: string }).message, /already exists/);
    s.send({
      case: 'subscribe',
      value: { subscription: 'x', source: { case: 'queue', value: uniq('missing') } },
    });
    const missing = (await s.next()).response.value as { code: number };
    assert.equal(missing.code, Code.NotFound);
    s.send({ case: 'unsubscribe', value: { subscription: 'm' } });
    const cancelled = (await s.next()).response;
    assert.deepEqual(cancelled.case, 'cancelled');
    assert.equal((cancelled.value as { code: number }).code, 0);
    // Unsettled 'b' went back to the queue.
    await waitFor(async () => (await native.inspectQueue({ name: q })).messageCount === 1);
    s.requests.end();
    assert.equal(await s.end(), undefined);
  });

  test('a deleted queue cancels its subscription; the session goes on', async () => {
    const q = await queue(native);
    const s = openSession();
    s.send({
      case: 'subscribe',
      value: { subscription: 'd', source: { case: 'queue', value: q }, credit: 1 },
    });
    assert.equal((await s.next()).response.case, 'subscribed');
    await native.deleteQueue({ name: q });
    const c = (await s.next()).response;
    assert.equal(c.case, 'cancelled');
    assert.equal((c.value as { code: number }).code, Code.NotFound);
    s.send({ case: 'publish', value: { publishId: 1n, routingKey: q } });
    assert.equal((await s.next()).response.case, 'confirm');
    s.requests.end();
    assert.equal(await s.end(), undefined);
  });

  test('metadata traceparent applies to publishes without their own', async () => {
    const q = await queue(native);
    const requests = new Pushable<SessionRequest>();
    const stream = native.session(requests, { headers: { traceparent: TP, tracestate: 'a=b' } });
    requests.push(
      create(SessionRequestSchema, { request: { case: 'publish', value: { publishId: 1n, routingKey: q } } }),
    );
    requests.end();
    for await (const r of stream) assert.equal(r.response.case, 'confirm');
    const s = reader(native.subscribe({ source: { case: 'queue', value: q }, autoAck: true }));
    await s.next();
    const m = (
      (await s.next()).event.value as {
        message: { traceparent: string; tracestate: string; headers: Record<string, string> };
      }
    ).message;
    assert.equal(m.traceparent, TP);
    assert.equal(m.tracestate, 'a=b');
    assert.equal(m.headers.traceparent, TP);
  });
});

describe('gRPC reflection (v1 and v1alpha)', () => {
  for (const [name, svc] of [
    ['v1', ServerReflection],
    ['v1alpha', ServerReflectionAlpha],
  ] as const) {
    test(`${name}: lists services, serves files with dependencies, NOT_FOUND for unknown`, async () => {
      const c = createClient(svc as typeof ServerReflection, transports[0]![1]);
      const reqs = new Pushable<ReturnType<typeof create<typeof ServerReflectionRequestSchema>>>();
      const s = reader(c.serverReflectionInfo(reqs));
      reqs.push(
        create(ServerReflectionRequestSchema, { messageRequest: { case: 'listServices', value: '' } }),
      );
      const list = await s.next();
      assert.equal(list.messageResponse.case, 'listServicesResponse');
      const names = (list.messageResponse.value as { service: { name: string }[] }).service.map(
        (x) => x.name,
      );
      assert.deepEqual(names.sort(), [
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
        'switchyard.v1.Broker',
      ]);
      for (const sym of [
        'switchyard.v1.Broker',
        'switchyard.v1.Broker.Session',
        'switchyard.v1.SessionRequest.Publish',
      ]) {
        reqs.push(
          create(ServerReflectionRequestSchema, {
            messageRequest: { case: 'fileContainingSymbol', value: sym },
          }),
        );
        const r = await s.next();
        assert.equal(r.messageResponse.case, 'fileDescriptorResponse', sym);
        assert.equal(
          (r.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.length,
          2,
        );
      }
      reqs.push(
        create(ServerReflectionRequestSchema, {
          messageRequest: { case: 'fileByFilename', value: 'grpc/health/v1/health.proto' },
        }),
      );
      assert.equal((await s.next()).messageResponse.case, 'fileDescriptorResponse');
      reqs.push(
        create(ServerReflectionRequestSchema, {
          messageRequest: { case: 'fileContainingSymbol', value: 'no.Such' },
        }),
      );
      const nf = await s.next();
      assert.equal(nf.messageResponse.case, 'errorResponse');
      assert.equal((nf.messageResponse.value as { errorCode: number }).errorCode, Code.NotFound);
      reqs.end();
      assert.equal(await s.end(), undefined);
    });
  }
});

describe('gRPC ↔ AMQP', () => {
  test('amqplib publishes, a gRPC Subscribe receives the properties mapped', async () => {
    const q = await queue(native);
    const conn = await amqp.connect(b.url);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('', q, Buffer.from('{"a":1}'), {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { n: 5, s: 'x', flag: true, traceparent: TP, tracestate: 'k=v' },
        correlationId: 'corr',
        replyTo: 'reply-q',
        expiration: '60000',
        messageId: 'mid',
        timestamp: 1_700_000_000,
        type: 'order',
        appId: 'amqp-app',
        priority: 3,
        deliveryMode: 2,
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const s = reader(native.subscribe({ source: { case: 'queue', value: q }, autoAck: true }));
    await s.next();
    const m = ((await s.next()).event.value as { message: Record<string, unknown> & { body: Uint8Array } })
      .message;
    assert.equal(text(m), '{"a":1}');
    assert.deepEqual(
      { ...m, body: undefined, $typeName: undefined },
      {
        $typeName: undefined,
        body: undefined,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { n: '5', s: 'x', flag: 'true', traceparent: TP, tracestate: 'k=v' },
        correlationId: 'corr',
        replyTo: 'reply-q',
        expiration: '60000',
        priority: 3,
        messageId: 'mid',
        persistent: true,
        timestamp: 1_700_000_000n,
        type: 'order',
        appId: 'amqp-app',
        userId: '',
        traceparent: TP,
        tracestate: 'k=v',
        exchange: '',
        routingKey: q,
      },
    );
  });

  test('gRPC Publish (trace context in metadata), an AMQP consumer gets the properties', async () => {
    const q = await queue(native);
    await native.publish(
      {
        routingKey: q,
        message: {
          body: Buffer.from('from grpc'),
          contentType: 'text/plain',
          headers: { h: 'v' },
          correlationId: 'c-1',
          replyTo: 'answers',
          expiration: '30000',
          persistent: true,
          messageId: 'm-1',
        },
      },
      { headers: { traceparent: TP } },
    );
    const conn = await amqp.connect(b.url);
    try {
      const ch = await conn.createChannel();
      const msg = await new Promise<amqp.ConsumeMessage>((resolve) => {
        void ch.consume(q, (m) => m !== null && resolve(m), { noAck: true });
      });
      assert.equal(msg.content.toString(), 'from grpc');
      const p = msg.properties;
      assert.deepEqual(
        {
          contentType: p.contentType,
          headers: p.headers,
          correlationId: p.correlationId,
          replyTo: p.replyTo,
          expiration: p.expiration,
          deliveryMode: p.deliveryMode,
          messageId: p.messageId,
        },
        {
          contentType: 'text/plain',
          headers: { h: 'v', traceparent: TP },
          correlationId: 'c-1',
          replyTo: 'answers',
          expiration: '30000',
          deliveryMode: 2,
          messageId: 'm-1',
        },
      );
    } finally {
      await conn.close();
    }
  });
});
