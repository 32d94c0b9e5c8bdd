import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
/**
 * The core's carry policy (src/core/carry.ts) with the AMQP 0-9-1 limits, judged by the AMQP
 * encoder: whatever a message holds, what an AMQP consumer is sent can be written, and nothing
 * that fitted is changed.
 */
import { AMQP_LIMITS, carriable, cutToBytes, fitsBytes, type Properties } from '../core/index.js';
import { decodeProperties, encodeProperties } from './codec/properties.js';

const fitsShortString = (s: string) => fitsBytes(s, 255);
const cutToShortString = (s: string) => cutToBytes(s, 255);

const str = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.string({ unit: 'binary', minLength: 80, maxLength: 300 }),
);

test('carriable: any properties become writable, and no string that fitted is touched', () => {
  fc.assert(
    fc.property(
      fc.record(
        {
          contentType: str,
          correlationId: str,
          replyTo: str,
          messageId: str,
          priority: fc.integer({ min: 0, max: 255 }),
          timestamp: fc.integer({ min: 0, max: 2 ** 40 }),
          headers: fc.dictionary(fc.oneof(str, fc.constant('__proto__')), str, { maxKeys: 3 }),
        },
        { requiredKeys: [] },
      ),
      fc.option(fc.string({ unit: 'binary', minLength: 0, maxLength: 400 }), { nil: undefined }),
      (p: Properties, longKey) => {
        const key = longKey !== undefined && !fitsShortString(longKey) ? longKey : undefined;
        const c = carriable(p, AMQP_LIMITS, key);
        const back = decodeProperties(encodeProperties(c));
        for (const [field, name] of [
          ['contentType', 'content-type'],
          ['correlationId', 'correlation-id'],
          ['replyTo', 'reply-to'],
          ['messageId', 'message-id'],
        ] as const) {
          const v = p[field];
          if (v === undefined) continue;
          if (fitsShortString(v)) assert.equal(back[field], v);
          else assert.equal(back.headers?.[`x-${name}`], v, `${field} moved to x-${name}`);
        }
        if (key !== undefined) assert.equal(back.headers?.['x-routing-key'], key);
        for (const [k, v] of Object.entries(p.headers ?? {}))
          if (fitsShortString(k) && !k.startsWith('x-')) assert.equal(back.headers?.[k], v);
      },
    ),
    { numRuns: 500 },
  );
});

test('cutToShortString: at most 255 bytes, a prefix, never half a character', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (s) => {
      const cut = cutToShortString(s);
      assert.ok(Buffer.byteLength(cut) <= 255);
      assert.ok(s.startsWith(cut));
      if (fitsShortString(s)) assert.equal(cut, s);
      else assert.ok(Buffer.byteLength(cut) > 255 - 4, 'no more than one character short');
    }),
  );
});
