/**
 * The Session call (bidirectional) over native gRPC end to end: confirms and errors naming the
 * request, credit, acks and nacks, cancellation by a deleted queue, trace context from metadata.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { startTestBroker, uniq } from './helpers.js';

const b = await startTestBroker();
after(() => b.close());
const native = createClient(
  Broker,
  createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` }),
);
import { Broker } from '../src/gen/switchyard/v1/broker_pb.js';
import { create } from '@bufbuild/protobuf';
import { type SessionRequest, SessionRequestSchema } from '../src/gen/switchyard/v1/broker_pb.js';
import {
  type DeliveryValue,
  openSession as open,
  Pushable,
  queue,
  reader,
  text,
  TP,
  waitFor,
} from './grpc-client.js';

const openSession = (signal?: AbortSignal) => open(native, signal);

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
