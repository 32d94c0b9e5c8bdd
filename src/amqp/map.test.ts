import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { peekDeliveryMode } from './map.js';
import { decodeProperties, encodeProperties } from './codec/index.js';

test('peekDeliveryMode: agrees with the full decoder on arbitrary properties', () => {
  const props = fc.record(
    {
      contentType: fc.string({ maxLength: 20 }),
      contentEncoding: fc.string({ maxLength: 20 }),
      headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean())),
      deliveryMode: fc.integer({ min: 0, max: 255 }),
      priority: fc.integer({ min: 0, max: 9 }),
      replyTo: fc.string({ maxLength: 20 }),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(props, (p) => {
      const bytes = encodeProperties(p);
      assert.equal(peekDeliveryMode(bytes), decodeProperties(bytes).deliveryMode ?? 0);
    }),
    { numRuns: 2000, seed: 11 },
  );
});

test('peekDeliveryMode: malformed bytes give undefined or a number, never a throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      const r = peekDeliveryMode(Buffer.from(b));
      assert.ok(r === undefined || typeof r === 'number');
    }),
    { numRuns: 5000, seed: 12 },
  );
});
