import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decimal, type Properties } from '../model/index.js';
import { decodeJsonProperties, encodeJsonProperties } from './properties-json.js';

test('properties-json: every property and header value type round-trips', () => {
  const p: Properties = {
    contentType: 'application/json',
    deliveryMode: 2,
    priority: 5,
    timestamp: 1_700_000_000,
    messageId: 'm-1',
    headers: {
      s: 'text',
      n: 42,
      f: 1.5,
      big: 2n ** 62n,
      bytes: Buffer.from([0, 1, 255]),
      when: new Date(1_700_000_000_000),
      dec: new Decimal(2, 12345),
      none: null,
      yes: true,
      list: [1, 'two', Buffer.from('x'), [3n]],
      nested: { a: { b: new Date(0) } },
    },
  };
  assert.deepEqual(decodeJsonProperties(encodeJsonProperties(p)), p);
});
