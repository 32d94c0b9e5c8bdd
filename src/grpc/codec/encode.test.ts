import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, equals, fromBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { Decimal, type HeaderValue, Message, type Properties } from '../../core/index.js';
import {
  DeliverySchema,
  SessionResponse_ConfirmSchema,
  SessionResponseSchema,
  SubscribeResponseSchema,
} from '../../gen/switchyard/v1/broker_pb.js';
import { deliveryToGrpc } from '../map.js';
import { encodeConfirmFrame, encodeDeliveryFrame } from './encode.js';

const show = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));

/** The message inside a frame, after checking its header. */
function payload(frame: Buffer): Buffer {
  assert.equal(frame[0], 0, 'not compressed');
  assert.equal(frame.readUInt32BE(1), frame.length - 5, 'length prefix');
  return frame.subarray(5);
}

const text = fc.string({ maxLength: 10, unit: 'grapheme' });
const scalar: fc.Arbitrary<HeaderValue> = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n }),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
  fc.date({ noInvalidDate: true }),
  fc.record({ scale: fc.nat({ max: 5 }), value: fc.integer() }).map((d) => new Decimal(d.scale, d.value)),
);
const headerValue: fc.Arbitrary<HeaderValue> = fc.oneof(
  { weight: 4, arbitrary: scalar },
  fc.array(scalar, { maxLength: 3 }),
  fc.dictionary(text, scalar, { maxKeys: 3 }),
);
const key = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.constantFrom('traceparent', 'tracestate', 'x-cluster-id'),
);
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const properties: fc.Arbitrary<Properties> = fc
  .record({
    contentType: maybe(text),
    contentEncoding: maybe(text),
    headers: maybe(fc.dictionary(key, headerValue, { maxKeys: 5 })),
    deliveryMode: maybe(fc.constantFrom(1, 2)),
    priority: maybe(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer(), fc.double())),
    correlationId: maybe(text),
    replyTo: maybe(text),
    expiration: maybe(fc.nat().map(String)),
    messageId: maybe(text),
    timestamp: maybe(fc.oneof(fc.integer({ min: 0, max: 2 ** 40 }), fc.double(), fc.integer())),
    type: maybe(text),
    userId: maybe(text),
    appId: maybe(text),
    clusterId: maybe(text),
  })
  .map((p) => {
    // Optional properties are absent, not undefined (exactOptionalPropertyTypes).
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = v;
    return out as Properties;
  });
const message = fc
  .record({
    exchange: text,
    routingKey: text,
    body: fc.uint8Array({ maxLength: 300 }),
    properties,
  })
  .map((m) => new Message(m.exchange, m.routingKey, Buffer.from(m.body), m.properties));
const delivery = fc.record({
  id: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  redelivered: fc.boolean(),
  queue: text,
  message,
});

/** What the protobuf-es path (map.ts) makes of a delivery. */
function expected(subscription: string, d: Parameters<typeof encodeDeliveryFrame>[2]) {
  return deliveryToGrpc(subscription, d);
}

test('encode: a Session delivery decodes to what map.ts builds (property)', () => {
  fc.assert(
    fc.property(text, delivery, (subscription, d) => {
      const r = fromBinary(SessionResponseSchema, payload(encodeDeliveryFrame('session', subscription, d)));
      assert.equal(r.response.case, 'delivery');
      const want = expected(subscription, d);
      assert.ok(
        equals(DeliverySchema, r.response.value as never, want),
        show({ got: r.response.value, want }),
      );
    }),
    { numRuns: 300 },
  );
});

test('encode: a Subscribe delivery decodes to what map.ts builds (property)', () => {
  fc.assert(
    fc.property(text, delivery, (subscription, d) => {
      const r = fromBinary(
        SubscribeResponseSchema,
        payload(encodeDeliveryFrame('subscribe', subscription, d)),
      );
      assert.equal(r.event.case, 'delivery');
      const want = expected(subscription, d);
      assert.ok(equals(DeliverySchema, r.event.value as never, want), show({ got: r.event.value, want }));
    }),
    { numRuns: 200 },
  );
});

test('encode: a large body and long strings (multi-byte lengths)', () => {
  const body = Buffer.alloc(70_000, 1);
  const d = {
    id: 300,
    redelivered: true,
    queue: 'q'.repeat(200),
    message: new Message('x'.repeat(130), 'é'.repeat(100), body, { headers: { k: 'v'.repeat(20_000) } }),
  };
  const r = fromBinary(SessionResponseSchema, payload(encodeDeliveryFrame('session', 's', d)));
  assert.ok(equals(DeliverySchema, r.response.value as never, expected('s', d)));
});

test('encode: confirms (property)', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat(), (publishId, routed) => {
      const r = fromBinary(SessionResponseSchema, payload(encodeConfirmFrame(publishId, routed)));
      assert.equal(r.response.case, 'confirm');
      const want = create(SessionResponse_ConfirmSchema, { publishId, routedQueues: routed });
      assert.ok(equals(SessionResponse_ConfirmSchema, r.response.value as never, want));
    }),
  );
});
