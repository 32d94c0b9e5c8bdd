import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Decimal, type HeaderTable, type HeaderValue } from '../../model/index.js';
import {
  decodeTable,
  decodeValue,
  encodeTable,
  encodeValue,
  FormatError,
  frame,
  RECORD_HEADER,
  scanRecords,
} from './codec.js';

const SEED = 0xdef5;

// Every HeaderValue the core can hold, including the values plain JSON loses: NaN, -0,
// infinities, bigints of any size, "__proto__" keys. (Invalid dates are tested on their own:
// assert's deep equality calls two of them different.)
const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('__proto__', 'x-match', ''),
);
const scalarArb: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.double(),
  fc.integer(),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
  fc.date({ noInvalidDate: true }),
  fc
    .record({ scale: fc.integer({ min: 0, max: 255 }), value: fc.double() })
    .map((d) => new Decimal(d.scale, d.value)),
);
const { value: valueArb, table: tableArb } = fc.letrec<{ value: HeaderValue; table: HeaderTable }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalarArb, fc.array(tie('value'), { maxLength: 4 }), tie('table')),
  table: fc.dictionary(keyArb, tie('value'), { maxKeys: 5, noNullPrototype: true }),
}));

const roundTrip = (v: HeaderValue) => decodeValue(JSON.parse(encodeValue(v)));

test('codec: every header value type round-trips exactly', () => {
  const t: HeaderTable = {
    s: 'text ✓',
    i: 42,
    f: 3.25,
    nan: Number.NaN,
    inf: Number.POSITIVE_INFINITY,
    ninf: Number.NEGATIVE_INFINITY,
    nz: -0,
    big: -(2n ** 70n),
    small: 5n,
    yes: true,
    nil: null,
    bytes: Buffer.from([0, 1, 255]),
    empty: Buffer.alloc(0),
    when: new Date(1_700_000_000_123),
    dec: new Decimal(2, 314),
    arr: [1, 'a', [2n, { deep: Buffer.from('x') }]],
    nested: { a: { b: { c: [] } } },
  };
  const back = decodeTable(JSON.parse(encodeTable(t)));
  assert.deepEqual(back, t);
  assert.ok(Object.is(back.nz, -0));
  assert.equal(typeof back.small, 'bigint', '5n stays a bigint, not the number 5');
  assert.ok(Buffer.isBuffer(back.bytes));
  assert.ok(back.dec instanceof Decimal);
  assert.deepEqual(Object.keys(back), Object.keys(t), 'key order is kept');
  const never = roundTrip(new Date(Number.NaN));
  assert.ok(never instanceof Date && Number.isNaN(never.getTime()), 'an invalid date stays an invalid date');
});

test('codec: a "__proto__" key stays a key and does not touch the prototype', () => {
  const t = JSON.parse('{"__proto__": {"polluted": 1}, "a": 2}') as HeaderTable;
  const back = decodeTable(JSON.parse(encodeTable(t)));
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.keys(back), ['__proto__', 'a']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('codec: tables never collide with tagged values', () => {
  // Tables that look like the tags of other encodings (the classic {"$bigint": ...} trap).
  for (const t of [{ n: '5' }, { 0: 'n', 1: '5' }, { $bigint: '5' }, { b: 'aGk=' }]) {
    assert.deepEqual(roundTrip(t), t);
  }
  assert.deepEqual(roundTrip(['n', '5']), ['n', '5'], 'an array of strings is not a bigint');
});

test('codec: encode → decode is the identity (property)', () => {
  fc.assert(
    fc.property(valueArb, (v) => {
      assert.deepStrictEqual(roundTrip(v), v);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test('codec: the sorted form is canonical: key order does not matter, values do', () => {
  fc.assert(
    fc.property(tableArb, (t) => {
      const reversed = Object.fromEntries(Object.entries(t).reverse()) as HeaderTable;
      assert.equal(encodeTable(reversed, true), encodeTable(t, true));
    }),
    { seed: SEED, numRuns: 200 },
  );
  assert.notEqual(encodeTable({ a: 1 }, true), encodeTable({ a: 1n }, true));
  assert.notEqual(encodeTable({ a: 0 }, true), encodeTable({ a: -0 }, true));
  assert.notEqual(encodeTable({ a: '1' }, true), encodeTable({ a: 1 }, true));
});

test('codec: what is not a header value is refused', () => {
  for (const v of [new Uint8Array(2), new Map(), new (class Foo {})(), undefined, Symbol('s'), () => 1]) {
    assert.throws(() => encodeValue(v as unknown as HeaderValue), TypeError);
  }
});

test('codec: malformed encoded values are FormatErrors', () => {
  for (const j of [['?'], ['n', 5], ['f', 'one'], ['d', 1], ['t', 'x'], undefined]) {
    assert.throws(() => decodeValue(j), FormatError, JSON.stringify(j));
  }
  assert.throws(() => decodeTable([]), FormatError);
});

test('codec: records scan up to the first torn or damaged one', () => {
  const payloads = ['["a"]', '["bb",1]', '["ccc","✓"]'];
  const buf = Buffer.concat(payloads.map(frame));
  assert.deepEqual(scanRecords(buf), { payloads, validBytes: buf.length });
  // Cut at every byte: only whole records come back, and validBytes is where the cut record began.
  const ends: number[] = [];
  for (const p of payloads) ends.push((ends.at(-1) ?? 0) + RECORD_HEADER + Buffer.byteLength(p));
  for (let cut = 0; cut <= buf.length; cut++) {
    const whole = ends.filter((e) => e <= cut).length;
    const s = scanRecords(buf.subarray(0, cut));
    assert.deepEqual(s.payloads, payloads.slice(0, whole), `cut at ${cut}`);
    assert.equal(s.validBytes, whole === 0 ? 0 : ends[whole - 1]);
  }
  // A flipped bit anywhere in a record ends the scan there.
  for (let i = 0; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i]! ^= 0x10;
    const rec = ends.findIndex((e) => i < e);
    assert.deepEqual(scanRecords(bad).payloads, payloads.slice(0, rec), `flip at ${i}`);
  }
  // Zeros after the last record (a file extended but not written) are a torn tail too.
  assert.equal(scanRecords(Buffer.concat([buf, Buffer.alloc(64)])).validBytes, buf.length);
});
