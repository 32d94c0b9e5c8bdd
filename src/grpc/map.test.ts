import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, equals } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import fc from 'fast-check';
import { Message } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { type Message as WireMessage, MessageSchema } from '../gen/switchyard/v1/broker_pb.js';
import {
  argumentsFromStruct,
  argumentsToStruct,
  bodyOf,
  messageToGrpc,
  NO_TRACE,
  propertiesFromGrpc,
  toConnectError,
} from './map.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TP2 = '00-11111111111111111111111111111111-2222222222222222-01';

function wire(init: Parameters<typeof create<typeof MessageSchema>>[1]): WireMessage {
  return create(MessageSchema, init);
}

/** JSON with bigints, for assertion messages. */
const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

function thrown(fn: () => unknown): SwitchyardError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SwitchyardError, `not a SwitchyardError: ${String(e)}`);
    return e;
  }
  assert.fail('did not throw');
}

test('map: every Message field becomes its container property', () => {
  const p = propertiesFromGrpc(
    wire({
      contentType: 'application/json',
      contentEncoding: 'gzip',
      headers: { a: '1', b: 'x' },
      correlationId: 'c1',
      replyTo: 'replies',
      expiration: '60000',
      priority: 7,
      messageId: 'm1',
      persistent: true,
      timestamp: 1_700_000_000n,
      type: 'order.created',
      appId: 'shop',
      userId: 'guest',
    }),
    NO_TRACE,
  );
  assert.deepEqual(p, {
    contentType: 'application/json',
    contentEncoding: 'gzip',
    headers: { a: '1', b: 'x' },
    correlationId: 'c1',
    replyTo: 'replies',
    expiration: '60000',
    priority: 7,
    messageId: 'm1',
    deliveryMode: 2,
    timestamp: 1_700_000_000,
    type: 'order.created',
    appId: 'shop',
    userId: 'guest',
  });
});

test('map: empty strings and zeros are not set', () => {
  assert.deepEqual(propertiesFromGrpc(wire({}), NO_TRACE), {});
  assert.deepEqual(propertiesFromGrpc(undefined, NO_TRACE), {});
  assert.equal(bodyOf(undefined).length, 0);
});

test('map: a bad expiration or priority is INVALID_ARGUMENT naming the field', () => {
  for (const expiration of ['-1', '1.5', 'soon', '1e3', '9999999999999999']) {
    const e = thrown(() => propertiesFromGrpc(wire({ expiration }), NO_TRACE));
    assert.equal(e.spec.grpc, Code.InvalidArgument);
    assert.match(e.message, /expiration/);
  }
  const e = thrown(() => propertiesFromGrpc(wire({ priority: 256 }), NO_TRACE));
  assert.equal(e.spec.grpc, Code.InvalidArgument);
  assert.match(e.message, /priority/);
});

test('map: trace context: the message field, then its header, then the call metadata', () => {
  const meta = { traceparent: TP2, tracestate: 'meta=1' };
  assert.deepEqual(propertiesFromGrpc(wire({ traceparent: TP, tracestate: 'k=v' }), meta).headers, {
    traceparent: TP,
    tracestate: 'k=v',
  });
  assert.deepEqual(propertiesFromGrpc(wire({ headers: { traceparent: TP } }), meta).headers, {
    traceparent: TP,
  });
  assert.deepEqual(propertiesFromGrpc(wire({}), meta).headers, {
    traceparent: TP2,
    tracestate: 'meta=1',
  });
  assert.deepEqual(propertiesFromGrpc(undefined, { traceparent: TP2, tracestate: null }).headers, {
    traceparent: TP2,
  });
});

test('map: a delivery carries every property, with exchange and routing key', () => {
  const msg = new Message('amq.topic', 'a.b', Buffer.from('hi'), {
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: { traceparent: TP, tracestate: 'k=v', n: 5 },
    deliveryMode: 2,
    priority: 3,
    correlationId: 'c',
    replyTo: 'r',
    expiration: '100',
    messageId: 'm',
    timestamp: 1_700_000_000,
    type: 't',
    userId: 'guest',
    appId: 'app',
    clusterId: 'cl',
  });
  const m = messageToGrpc(msg);
  const want = wire({
    body: Buffer.from('hi'),
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: { traceparent: TP, tracestate: 'k=v', n: '5', 'x-cluster-id': 'cl' },
    correlationId: 'c',
    replyTo: 'r',
    expiration: '100',
    priority: 3,
    messageId: 'm',
    persistent: true,
    timestamp: 1_700_000_000n,
    type: 't',
    appId: 'app',
    userId: 'guest',
    traceparent: TP,
    tracestate: 'k=v',
    exchange: 'amq.topic',
    routingKey: 'a.b',
  });
  assert.ok(equals(MessageSchema, m, want), show({ m, want }));
});

test('map: out-of-range priority and timestamp from other protocols are left out', () => {
  const m = messageToGrpc(new Message('', 'k', Buffer.alloc(0), { priority: -1, timestamp: Number.NaN }));
  assert.equal(m.priority, 0);
  assert.equal(m.timestamp, 0n);
});

const text = fc.string({ maxLength: 12 });
const nonEmpty = fc.string({ minLength: 1, maxLength: 12 });
const wireMessage = fc.record({
  body: fc.uint8Array({ maxLength: 64 }),
  contentType: text,
  contentEncoding: text,
  headers: fc.dictionary(
    nonEmpty.filter((k) => k !== 'traceparent' && k !== 'tracestate' && k !== '__proto__'),
    text,
    {
      maxKeys: 4,
    },
  ),
  correlationId: text,
  replyTo: text,
  expiration: fc.oneof(fc.constant(''), fc.nat({ max: 10 ** 9 }).map(String)),
  priority: fc.integer({ min: 0, max: 255 }),
  messageId: text,
  persistent: fc.boolean(),
  timestamp: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  type: text,
  appId: text,
  userId: fc.constantFrom('', 'guest'),
  traceparent: fc.constantFrom('', TP),
  exchange: nonEmpty,
  routingKey: text,
});

test('map: Message → container → Message is the identity (property)', () => {
  fc.assert(
    fc.property(wireMessage, (init) => {
      const w = wire({ ...init, tracestate: init.traceparent === '' ? '' : 'k=v' });
      const props = propertiesFromGrpc(w, NO_TRACE);
      const back = messageToGrpc(new Message(w.exchange, w.routingKey, bodyOf(w), props));
      // The trace context is also in headers on delivery (where other protocols carry it).
      const want = create(MessageSchema, w);
      if (w.traceparent !== '') {
        want.headers.traceparent = w.traceparent;
        want.headers.tracestate = w.tracestate;
      }
      assert.ok(equals(MessageSchema, back, want), show({ back, want }));
    }),
  );
});

test('map: Struct arguments ↔ argument tables', () => {
  const t = argumentsFromStruct({
    'x-message-ttl': 60000,
    'x-dead-letter-exchange': 'dlx',
    nested: { on: true, l: [1, 'a'] },
  });
  assert.deepEqual(t, {
    'x-message-ttl': 60000,
    'x-dead-letter-exchange': 'dlx',
    nested: { on: true, l: [1, 'a'] },
  });
  assert.deepEqual(argumentsFromStruct(undefined), {});
  assert.deepEqual(argumentsToStruct({ b: Buffer.from('x'), big: 2n ** 60n, d: new Date(0) }), {
    b: 'eA==',
    big: String(2n ** 60n),
    d: '1970-01-01T00:00:00.000Z',
  });
});

test('map: broker errors become their catalogue status with the stable code in metadata', () => {
  const cases = [
    ['NOT_FOUND', Code.NotFound],
    ['ACCESS_REFUSED', Code.PermissionDenied],
    ['AUTHENTICATION_FAILED', Code.Unauthenticated],
    ['SYNTAX_ERROR', Code.InvalidArgument],
    ['RESOURCE_ERROR', Code.ResourceExhausted],
    ['PRECONDITION_FAILED', Code.FailedPrecondition],
  ] as const;
  for (const [code, status] of cases) {
    const e = toConnectError(new SwitchyardError(code, 'why'));
    assert.equal(e.code, status, code);
    assert.equal(e.rawMessage, 'why');
    assert.equal(e.metadata.get('switchyard-error'), code);
  }
  const same = new ConnectError('x', Code.Aborted);
  assert.equal(toConnectError(same), same);
  assert.equal(toConnectError(new Error('bug')).code, Code.Internal);
});
