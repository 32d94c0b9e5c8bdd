/**
 * The core's publish-time check (checkProperties) with its delivery-time carry policy (carriable):
 * together they must accept exactly what an AMQP 0-9-1 consumer can be sent, long strings and
 * header names included, so a message let in never fails later inside some other client's
 * delivery. The AMQP encoder is the judge.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeProperties } from '../src/amqp/codec/properties.js';
import {
  AMQP_LIMITS,
  carriable,
  checkProperties,
  Decimal,
  type HeaderValue,
  type Properties,
} from '../src/core/index.js';
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

test('checkProperties accepts exactly the properties the AMQP encoder can write once carriable() fitted them', () => {
  fc.assert(
    fc.property(propsArb, (p) => {
      let guard: unknown = null;
      try {
        checkProperties(p);
      } catch (e) {
        guard = e;
      }
      let amqp: unknown = null;
      try {
        encodeProperties(carriable(p, AMQP_LIMITS));
      } catch (e) {
        amqp = e;
      }
      if (guard !== null) {
        assert.ok(guard instanceof SwitchyardError && guard.code === 'SYNTAX_ERROR', String(guard));
      }
      // Accepted: always writable. Refused: for a value the wire cannot carry, except one under a
      // header name too long for AMQP, which carriable() leaves out for AMQP consumers anyway.
      if (guard === null) assert.equal(amqp, null, `accepted, but AMQP: ${String(amqp)}`);
      else if (!Object.keys(p.headers ?? {}).some((k) => Buffer.byteLength(k) > 255))
        assert.notEqual(amqp, null, `refused (${String(guard)}) what AMQP can write`);
    }),
    { numRuns: 2000 },
  );
});

test('checkProperties names the property it refuses, and lets long strings through to carriable()', () => {
  assert.throws(() => checkProperties({ priority: 256 }), /'priority' must be an integer from 0 to 255/);
  assert.throws(() => checkProperties({ timestamp: -1 }), /'timestamp'/);
  assert.throws(
    () => checkProperties({ headers: { big: 2n ** 64n } }),
    /headers\.big: .* signed 64-bit integer/,
  );
  const long = {
    correlationId: 'x'.repeat(256),
    headers: { ['n'.repeat(300)]: 'dropped', long: 'y'.repeat(5000) },
  };
  assert.doesNotThrow(() => checkProperties(long));
  const sent = carriable(long, AMQP_LIMITS);
  assert.equal(sent.correlationId, undefined);
  assert.equal(sent.headers?.['x-correlation-id'], 'x'.repeat(256));
  assert.equal(sent.headers?.['n'.repeat(300)], undefined);
  assert.equal(sent.headers?.long, 'y'.repeat(5000));
});
