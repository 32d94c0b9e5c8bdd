/**
 * The message-at-a-time client API: publish with confirm (errors through the callback, in
 * order), subscriptions with credit, manual acks, exchange subscriptions through a server-named
 * queue, expiry, identify and the JSON message form.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { SwitchyardError } from '../errors/index.js';
import {
  Broker,
  type CoreConnection,
  type Delivery,
  decodeBody,
  encodeBody,
  identify,
  Message,
  messageToJson,
  propertiesFromJson,
  propertiesToJson,
  publishConfirmed,
  publishWithConfirm,
  Subscription,
} from './index.js';

function open(broker = new Broker()): CoreConnection {
  return broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost: '/' });
}

function queue(c: CoreConnection, name: string): void {
  c.declareQueue(name, { passive: false, durable: false, exclusive: false, autoDelete: false, args: {} });
}

function collect(): {
  got: Delivery[];
  cancelled: SwitchyardError[];
  handlers: ConstructorParameters<typeof Subscription>[2];
} {
  const got: Delivery[] = [];
  const cancelled: SwitchyardError[] = [];
  return { got, cancelled, handlers: { deliver: (d) => got.push(d), cancelled: (e) => cancelled.push(e) } };
}

const body = (s: string) => Buffer.from(s);

test('publishConfirmed routes and counts queues; unroutable is 0, or NO_ROUTE when mandatory', async () => {
  const c = open();
  queue(c, 'q');
  assert.deepEqual(
    await publishConfirmed(c, { exchange: '', routingKey: 'q', body: body('x'), properties: {} }),
    {
      routed: 1,
    },
  );
  assert.deepEqual(
    await publishConfirmed(c, { exchange: '', routingKey: 'none', body: body('x'), properties: {} }),
    {
      routed: 0,
    },
  );
  await assert.rejects(
    publishConfirmed(c, {
      exchange: '',
      routingKey: 'none',
      body: body('x'),
      properties: {},
      mandatory: true,
    }),
    (e: SwitchyardError) => e.code === 'NO_ROUTE',
  );
});

test('publish errors come through the callback, never as a throw', () => {
  const b = new Broker();
  const c = open(b);
  const errors: string[] = [];
  const cb = (e: SwitchyardError | undefined) => errors.push(e?.code ?? 'ok');
  publishWithConfirm(c, { exchange: 'nope', routingKey: '', body: body(''), properties: {} }, 'refuse', cb);
  publishWithConfirm(
    c,
    { exchange: '', routingKey: 'q', body: body(''), properties: { expiration: '-1' } },
    'refuse',
    cb,
  );
  b.setAlarm('disk', true);
  publishWithConfirm(c, { exchange: '', routingKey: 'q', body: body(''), properties: {} }, 'refuse', cb);
  assert.deepEqual(errors, ['NOT_FOUND', 'PRECONDITION_FAILED', 'RESOURCE_ERROR']);
});

test('credit: exactly as many deliveries as granted, more after addCredit', async () => {
  const c = open();
  queue(c, 'q');
  for (let i = 0; i < 10; i++)
    await publishConfirmed(c, { exchange: '', routingKey: 'q', body: body(`${i}`), properties: {} });
  const { got, handlers } = collect();
  const s = new Subscription(c, { queue: 'q', manualAck: false, credit: 3 }, handlers);
  assert.equal(got.length, 0, 'nothing before start()');
  s.start();
  assert.deepEqual(
    got.map((d) => d.message.body.toString()),
    ['0', '1', '2'],
  );
  assert.equal(s.remainingCredit, 0);
  s.addCredit(4);
  assert.equal(got.length, 7);
  s.pause();
  s.addCredit(10);
  assert.equal(got.length, 7, 'paused: credit alone does not deliver');
  s.resume();
  assert.equal(got.length, 10);
  s.close();
});

test('manual ack: nack with requeue redelivers; unknown id is PRECONDITION_FAILED; close requeues', () => {
  const c = open();
  queue(c, 'q');
  publishWithConfirm(
    c,
    { exchange: '', routingKey: 'q', body: body('a'), properties: {} },
    'refuse',
    () => {},
  );
  const { got, handlers } = collect();
  const s = new Subscription(c, { queue: 'q', manualAck: true, prefetch: 1 }, handlers);
  s.start();
  assert.equal(got.length, 1);
  s.nack(got[0]!.id, true);
  assert.equal(got.length, 2);
  assert.equal(got[1]!.redelivered, true);
  assert.throws(
    () => s.ack(999),
    (e: SwitchyardError) => e.code === 'PRECONDITION_FAILED',
  );
  assert.equal(s.unsettled, 1);
  s.close();
  const info = c.declareQueue('q', {
    passive: true,
    durable: false,
    exclusive: false,
    autoDelete: false,
    args: {},
  });
  assert.equal(info.messageCount, 1, 'the unsettled delivery went back');
  assert.equal(info.consumerCount, 0);
});

test('exchange subscription: a server-named queue bound with the key, gone after close', () => {
  const c = open();
  const { got, handlers } = collect();
  const s = new Subscription(c, { exchange: 'amq.topic', bindingKey: 'a.*', manualAck: false }, handlers);
  s.start();
  assert.match(s.queue, /^amq\.gen-/);
  for (const k of ['a.b', 'a.b.c', 'x.b']) {
    publishWithConfirm(
      c,
      { exchange: 'amq.topic', routingKey: k, body: body(k), properties: {} },
      'refuse',
      () => {},
    );
  }
  assert.deepEqual(
    got.map((d) => d.message.routingKey),
    ['a.b'],
  );
  s.close();
  assert.equal(c.vhost.queues.has(s.queue), false);
});

test('subscribing to an unknown queue or exchange throws NOT_FOUND; to both is refused', () => {
  const c = open();
  const { handlers } = collect();
  assert.throws(
    () => new Subscription(c, { queue: 'nope', manualAck: false }, handlers),
    (e: SwitchyardError) => e.code === 'NOT_FOUND',
  );
  assert.throws(
    () => new Subscription(c, { exchange: 'nope', manualAck: false }, handlers),
    (e: SwitchyardError) => e.code === 'NOT_FOUND',
  );
  assert.throws(
    () => new Subscription(c, { queue: 'q', exchange: 'amq.topic', manualAck: false }, handlers),
    (e: SwitchyardError) => e.code === 'COMMAND_INVALID',
  );
});

test('a deleted queue cancels the subscription', () => {
  const c = open();
  queue(c, 'q');
  const { cancelled, handlers } = collect();
  new Subscription(c, { queue: 'q', manualAck: false }, handlers).start();
  c.deleteQueue('q', false, false);
  assert.equal(cancelled.length, 1);
  assert.equal(cancelled[0]!.code, 'NOT_FOUND');
});

test('expired messages are not delivered', () => {
  const c = open();
  queue(c, 'q');
  const m = new Message('', 'q', body('old'), {});
  m.expiresAt = Date.now() - 1;
  c.publish(c.admitPublish('', '', 'accept'), m);
  publishWithConfirm(
    c,
    { exchange: '', routingKey: 'q', body: body('new'), properties: { expiration: '60000' } },
    'refuse',
    () => {},
  );
  const { got, handlers } = collect();
  new Subscription(c, { queue: 'q', manualAck: false }, handlers).start();
  assert.deepEqual(
    got.map((d) => d.message.body.toString()),
    ['new'],
  );
});

test('identify: credentials checked; anonymous by policy', async () => {
  const b = new Broker({ users: { guest: 'guest', u: 'p' }, failureDelayMs: 0 });
  assert.equal(await identify(b, { user: 'u', password: 'p' }, '10.0.0.1', 'never'), 'u');
  assert.equal(await identify(b, undefined, '127.0.0.1', 'loopback'), 'anonymous');
  assert.equal(await identify(b, undefined, '10.0.0.1', 'always'), 'anonymous');
  for (const [creds, addr, policy] of [
    [undefined, '10.0.0.1', 'loopback'],
    [undefined, '127.0.0.1', 'never'],
    [{ user: 'u', password: 'bad' }, '127.0.0.1', 'always'],
    [{ user: 'guest', password: 'guest' }, '10.0.0.1', 'always'],
  ] as const) {
    await assert.rejects(
      identify(b, creds, addr, policy),
      (e: SwitchyardError) => e.code === 'AUTHENTICATION_FAILED',
    );
  }
});

test('JSON form: bodies round-trip (text or base64), properties validated with the field named', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const e = encodeBody(Buffer.from(bytes));
      assert.deepEqual(decodeBody(e.body, e.bodyEncoding), Buffer.from(bytes));
    }),
    { numRuns: 2000 },
  );
  assert.equal(encodeBody(body('héllo')).bodyEncoding, 'utf8');
  assert.equal(encodeBody(Buffer.from([0xff])).bodyEncoding, 'base64');
  assert.throws(() => decodeBody('***', 'base64'), /base64/);
  assert.throws(() => decodeBody(1, undefined), /string/);
  assert.throws(() => decodeBody('x', 'hex'), /bodyEncoding/);
  assert.throws(() => propertiesFromJson({ contentTyp: 'x' }), /unknown property 'contentTyp'/);
  assert.throws(() => propertiesFromJson({ priority: '1' }), /'priority' must be a number/);
  assert.throws(() => propertiesFromJson([]), /object/);
  const p = {
    contentType: 'text/plain',
    headers: { b: Buffer.from([1, 2]), n: 5n, s: 'x' },
    deliveryMode: 2,
  };
  assert.deepEqual(propertiesFromJson(propertiesToJson(p)), p);
  const m = new Message('x', 'k', body('hi'), { correlationId: 'c' });
  assert.deepEqual(messageToJson(m, { id: 1 }), {
    id: 1,
    exchange: 'x',
    routingKey: 'k',
    body: 'hi',
    bodyEncoding: 'utf8',
    properties: { correlationId: 'c' },
  });
});
