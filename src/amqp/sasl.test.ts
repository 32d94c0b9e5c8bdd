import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeFieldTable } from './codec/index.js';
import { parseCredentials } from './sasl.js';

test('sasl: PLAIN takes authcid and password, ignoring authzid', () => {
  assert.deepEqual(parseCredentials('PLAIN', Buffer.from('\0guest\0secret')), {
    user: 'guest',
    password: 'secret',
  });
  assert.deepEqual(parseCredentials('PLAIN', Buffer.from('admin\0bob\0p\0w')), {
    user: 'bob',
    password: 'p\0w',
  });
  assert.equal(parseCredentials('PLAIN', Buffer.from('no-separators')), undefined);
});

test('sasl: AMQPLAIN reads LOGIN and PASSWORD from a table sent without its length', () => {
  const table = encodeFieldTable({ LOGIN: 'guest', PASSWORD: 'guest' }).subarray(4);
  assert.deepEqual(parseCredentials('AMQPLAIN', table), { user: 'guest', password: 'guest' });
  const wrongType = encodeFieldTable({ LOGIN: 'guest', PASSWORD: 5 }).subarray(4);
  assert.equal(parseCredentials('AMQPLAIN', wrongType), undefined);
});

test('sasl: unknown mechanisms are refused', () => {
  assert.equal(parseCredentials('EXTERNAL', Buffer.alloc(0)), undefined);
});

test('sasl: fuzz: random responses never throw, for every mechanism', () => {
  fc.assert(
    fc.property(
      fc.constantFrom('PLAIN', 'AMQPLAIN', 'CRAM-MD5'),
      fc.uint8Array({ maxLength: 64 }),
      (mech, bytes) => {
        const r = parseCredentials(mech, Buffer.from(bytes));
        assert.ok(r === undefined || (typeof r.user === 'string' && typeof r.password === 'string'));
      },
    ),
    { numRuns: 20_000, seed: 7 },
  );
});
