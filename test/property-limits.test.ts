/**
 * checkCarriable (core) is the publish-time guard for properties arriving in the JSON form or over
 * gRPC: it must accept exactly what an AMQP 0-9-1 consumer can be sent, so a message it lets in
 * never fails later inside some other client's delivery. The AMQP encoder is the judge.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeProperties } from '../src/amqp/codec/properties.js';
import { checkCarriable, Decimal, type HeaderValue, type Properties } from '../src/core/index.js';
import { SwitchyardError } from '../src/errors/index.js';

// Strings around the 255-byte short-string limit, in 1- to 3-byte characters.
const str = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ minLength: 250, maxLength: 260 }),
  fc.string({ unit: 'grapheme', minLength: 80, maxLength: 130 }),
);
const octet = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 300 }));
const headerValue: fc.Arbitrary<HeaderValue> = fc.oneof(
  str,
  fc.boolean(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  fc.constantFrom(new Decimal(2, 12345), new Decimal(300, 1)),
  fc.constant(null),
);
const propsArb: fc.Arbitrary<Properties> = fc.record(
  {
    contentType: str,
    correlationId: str,
    replyTo: str,
    messageId: str,
    appId: str,
    priority: octet,
    deliveryMode: octet,
    timestamp: fc.integer({ min: -5, max: 2 ** 40 }),
    headers: fc.dictionary(
      fc.oneof(fc.string({ maxLength: 8 }), fc.string({ minLength: 254, maxLength: 258 })),
      headerValue,
      {
        maxKeys: 3,
      },
    ),
  },
  { requiredKeys: [] },
);

test('checkCarriable accepts exactly the properties the AMQP encoder can write', () => {
  fc.assert(
    fc.property(propsArb, (p) => {
      let guard: unknown = null;
      try {
        checkCarriable(p);
      } catch (e) {
        guard = e;
      }
      let amqp: unknown = null;
      try {
        encodeProperties(p);
      } catch (e) {
        amqp = e;
      }
      if (guard !== null) {
        assert.ok(guard instanceof SwitchyardError && guard.code === 'SYNTAX_ERROR', String(guard));
      }
      assert.equal(guard === null, amqp === null, `guard: ${String(guard)}; AMQP: ${String(amqp)}`);
    }),
    { numRuns: 2000 },
  );
});

test('checkCarriable names the property it refuses', () => {
  assert.throws(
    () => checkCarriable({ correlationId: 'x'.repeat(256) }),
    /'correlationId' is longer than 255 bytes/,
  );
  assert.throws(() => checkCarriable({ priority: 256 }), /'priority' must be an integer from 0 to 255/);
  assert.doesNotThrow(() =>
    checkCarriable({ correlationId: 'é'.repeat(127), headers: { long: 'x'.repeat(5000) } }),
  );
});
