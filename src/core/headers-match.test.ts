import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  headersMatch,
  parseXMatch,
  tableKey,
  tablesEqual,
  valueEquals,
  type XMatch,
} from './headers-match.js';
import { Decimal, type HeaderTable } from '../model/index.js';

const m = (args: HeaderTable, headers: HeaderTable | undefined) =>
  headersMatch(parseXMatch(args)!, args, headers);

test('headers-match: parseXMatch defaults to all and refuses unknown modes', () => {
  assert.equal(parseXMatch({}), 'all');
  assert.equal(parseXMatch({ 'x-match': 'all' }), 'all');
  assert.equal(parseXMatch({ 'x-match': 'any' }), 'any');
  assert.equal(parseXMatch({ 'x-match': 'all-with-x' }), 'all-with-x');
  assert.equal(parseXMatch({ 'x-match': 'any-with-x' }), 'any-with-x');
  assert.equal(parseXMatch({ 'x-match': 'ALL' }), undefined);
  assert.equal(parseXMatch({ 'x-match': 'first' }), undefined);
  assert.equal(parseXMatch({ 'x-match': 1 }), undefined);
});

test('headers-match: all needs every binding argument to match', () => {
  const args = { 'x-match': 'all', format: 'pdf', type: 'report' };
  assert.ok(m(args, { format: 'pdf', type: 'report' }));
  assert.ok(m(args, { format: 'pdf', type: 'report', extra: 1 }));
  assert.ok(!m(args, { format: 'pdf' }));
  assert.ok(!m(args, { format: 'pdf', type: 'log' }));
  assert.ok(!m(args, {}));
  assert.ok(!m(args, undefined));
});

test('headers-match: x-match defaults to all', () => {
  assert.ok(m({ a: 1, b: 2 }, { a: 1, b: 2 }));
  assert.ok(!m({ a: 1, b: 2 }, { a: 1 }));
});

test('headers-match: any needs one binding argument to match', () => {
  const args = { 'x-match': 'any', format: 'pdf', type: 'report' };
  assert.ok(m(args, { format: 'pdf' }));
  assert.ok(m(args, { type: 'report', format: 'zip' }));
  assert.ok(!m(args, { format: 'zip', type: 'log' }));
  assert.ok(!m(args, {}));
  assert.ok(!m(args, undefined));
});

test('headers-match: no arguments: all matches (even without headers), any does not', () => {
  assert.ok(m({}, undefined));
  assert.ok(m({}, { a: 1 }));
  assert.ok(m({ 'x-match': 'all' }, {}));
  assert.ok(!m({ 'x-match': 'any' }, { a: 1 }));
  assert.ok(!m({ 'x-match': 'any' }, undefined));
  assert.ok(m({ 'x-match': 'all-with-x' }, undefined));
  assert.ok(!m({ 'x-match': 'any-with-x' }, { a: 1 }));
});

test('headers-match: void (null) binding values match presence with any value', () => {
  assert.ok(m({ a: null }, { a: 'anything' }));
  assert.ok(m({ a: null }, { a: null }));
  assert.ok(m({ a: null }, { a: 0 }));
  assert.ok(!m({ a: null }, { b: 1 }));
  assert.ok(!m({ a: null }, undefined));
  assert.ok(m({ 'x-match': 'any', a: null, b: 'no' }, { a: 1 }));
  // A header whose value is void is present, but equals only a void/presence binding.
  assert.ok(!m({ a: 'x' }, { a: null }));
});

test('headers-match: x- arguments are ignored by all/any and compared by the -with-x modes', () => {
  const headers = { 'x-tenant': 'acme', kind: 'order' };
  assert.ok(m({ 'x-match': 'all', 'x-tenant': 'other', kind: 'order' }, headers));
  assert.ok(!m({ 'x-match': 'all-with-x', 'x-tenant': 'other', kind: 'order' }, headers));
  assert.ok(m({ 'x-match': 'all-with-x', 'x-tenant': 'acme', kind: 'order' }, headers));
  // With only x- arguments, any has nothing to compare and does not match; any-with-x does.
  assert.ok(!m({ 'x-match': 'any', 'x-tenant': 'acme' }, headers));
  assert.ok(m({ 'x-match': 'any-with-x', 'x-tenant': 'acme' }, headers));
  assert.ok(!m({ 'x-match': 'any-with-x', 'x-tenant': 'other' }, headers));
  // x-match itself is never compared against a header.
  assert.ok(m({ 'x-match': 'all-with-x', kind: 'order' }, { kind: 'order' }));
  assert.ok(m({ 'x-match': 'all', 'x-only': 'v' }, undefined));
});

test('headers-match: value equality across header types', () => {
  assert.ok(valueEquals(1, 1n), 'integers compare across widths');
  assert.ok(valueEquals(2n ** 40n, 2 ** 40));
  assert.ok(!valueEquals(1.5, 1n));
  assert.ok(!valueEquals('1', 1));
  assert.ok(!valueEquals(true, 1));
  assert.ok(valueEquals(Buffer.from('ab'), Buffer.from('ab')));
  assert.ok(!valueEquals(Buffer.from('ab'), 'ab'));
  assert.ok(valueEquals(new Date(1000), new Date(1000)));
  assert.ok(!valueEquals(new Date(1000), new Date(2000)));
  assert.ok(valueEquals(new Decimal(2, 150), new Decimal(2, 150)));
  assert.ok(!valueEquals(new Decimal(1, 15), new Decimal(2, 150)));
  assert.ok(valueEquals([1, 'a', [true]], [1, 'a', [true]]));
  assert.ok(!valueEquals([1, 2], [1]));
  assert.ok(!valueEquals([1], { 0: 1 }));
  assert.ok(valueEquals({ a: { b: [1] } }, { a: { b: [1] } }));
  assert.ok(!valueEquals({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(m({ id: 7n }, { id: 7 }));
  assert.ok(m({ tags: ['a', 'b'] }, { tags: ['a', 'b'] }));
});

test('headers-match: tableKey is independent of key order and tells tables apart', () => {
  assert.equal(tableKey({}), '');
  assert.equal(tableKey({ a: 1, b: 'x' }), tableKey({ b: 'x', a: 1 }));
  assert.equal(tableKey({ t: { y: 1, x: 2 } }), tableKey({ t: { x: 2, y: 1 } }));
  assert.notEqual(tableKey({ a: 1 }), tableKey({ a: '1' }));
  assert.notEqual(tableKey({ a: 1 }), tableKey({ a: 1n }));
  assert.notEqual(tableKey({ a: Buffer.from('x') }), tableKey({ a: 'x' }));
  assert.ok(tablesEqual({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }));
  assert.ok(!tablesEqual({ a: 1 }, { a: 2 }));
});

/** Reference for plain string headers: the definition, written out. */
function refMatch(
  mode: XMatch,
  args: Record<string, string | null>,
  headers: Record<string, string | null>,
): boolean {
  const withX = mode.endsWith('-with-x');
  const keys = Object.keys(args).filter((k) => k !== 'x-match' && (withX || !k.startsWith('x-')));
  const ok = (k: string) => k in headers && (args[k] === null || args[k] === headers[k]);
  return mode.startsWith('all') ? keys.every(ok) : keys.some(ok);
}

test('headers-match: agrees with the reference definition (property)', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'x-a', 'x-b');
  const val = fc.constantFrom('1', '2', null);
  const table = fc.dictionary(key, val, { maxKeys: 5 });
  const mode = fc.constantFrom<XMatch>('all', 'any', 'all-with-x', 'any-with-x');
  fc.assert(
    fc.property(mode, table, table, (mo, args, headers) => {
      const bound = { ...args, 'x-match': mo };
      assert.equal(headersMatch(mo, bound, headers), refMatch(mo, bound, headers));
    }),
    { seed: 0x4ead, numRuns: 1000 },
  );
});
