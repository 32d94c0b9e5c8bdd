import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Decimal, type HeaderTable, type HeaderValue } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { MAX_TABLE_DEPTH } from './constants.js';
import {
  decodeFieldArray,
  decodeFieldTable,
  decodeTable,
  encodeFieldArray,
  encodeFieldTable,
} from './field-table.js';

const SEED = 0x0a091;

/** Builds wire bytes from hex strings, numbers (octets) and Buffers. */
function bytes(...parts: (string | number | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : p,
    ),
  );
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
/** A table with the given entry bytes, prefixed by their size. */
function table(...entries: (string | number | Buffer)[]): Buffer {
  const body = bytes(...entries);
  return Buffer.concat([u32(body.length), body]);
}

function isCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof SwitchyardError && e.code === code;
}

// Values whose encode → decode is the identity under the mapping rules (lossy cases are tested
// one by one below): int32 numbers, safe integers outside int32 (as l), bigints outside the safe
// range, non-integer doubles, whole-second Dates, Decimals in RabbitMQ's unsigned range.
const keyArb = fc.string({ unit: 'binary', maxLength: 60 });
const scalarArb: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  fc.maxSafeInteger().filter((n) => n < -0x80000000 || n > 0x7fffffff),
  fc
    .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    .filter((b) => b > BigInt(Number.MAX_SAFE_INTEGER) || b < BigInt(Number.MIN_SAFE_INTEGER)),
  fc.double().filter((d) => !Number.isInteger(d)),
  fc.boolean(),
  fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 0, max: 8.64e12 }).map((s) => new Date(s * 1000)),
  fc
    .record({ scale: fc.integer({ min: 0, max: 255 }), value: fc.integer({ min: 0, max: 0xffffffff }) })
    .map((d) => new Decimal(d.scale, d.value)),
  fc.constant(null),
);
const { value: valueArb, table: tableArb } = fc.letrec<{ value: HeaderValue; table: HeaderTable }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalarArb, fc.array(tie('value'), { maxLength: 4 }), tie('table')),
  table: fc.dictionary(keyArb, tie('value'), { maxKeys: 5, noNullPrototype: true }),
}));

test('field table: encode → decode is the identity for round-trippable values', () => {
  fc.assert(
    fc.property(tableArb, (t) => {
      assert.deepStrictEqual(decodeFieldTable(encodeFieldTable(t)), t);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

test('field array: encode → decode is the identity', () => {
  fc.assert(
    fc.property(fc.array(valueArb, { maxLength: 6 }), (a) => {
      assert.deepStrictEqual(decodeFieldArray(encodeFieldArray(a)), a);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('field table: known bytes of every type tag decode to the documented JS values', () => {
  const buf = table(
    bytes(1, 't', 't', 1),
    bytes(1, 'f', 't', 0),
    bytes(1, 'b', 'b', 0xff),
    bytes(1, 'B', 'B', 0xff),
    bytes(1, 's', 's', 0xff, 0xfe),
    bytes(1, 'u', 'u', 0xff, 0xfe),
    bytes(1, 'I', 'I', 0xff, 0xff, 0xff, 0xfe),
    bytes(1, 'i', 'i', 0xff, 0xff, 0xff, 0xfe),
    bytes(1, 'l', 'l', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe),
    bytes(1, 'L', 'L', 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    bytes(1, 'g', 'f', Buffer.from([0x3f, 0xc0, 0, 0])), // float32 1.5
    bytes(1, 'd', 'd', Buffer.from([0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18])), // pi
    bytes(1, 'D', 'D', 2, 0, 0, 0x30, 0x39), // 123.45
    bytes(1, 'S', 'S', u32(3), 'h', 0xc3, 0xa9), // "hé" in UTF-8
    bytes(1, 'x', 'x', u32(3), 1, 2, 3),
    bytes(1, 'T', 'T', 0, 0, 0, 0, 0x5f, 0x5e, 0x10, 0x00), // 1600000000 s
    bytes(1, 'V', 'V'),
    bytes(1, 'A', 'A', u32(8), 'I', 0, 0, 0, 7, 'V', 't', 1), // I + 4, V, t + 1 = 8 bytes
  );
  const t = decodeFieldTable(buf);
  assert.deepStrictEqual(t, {
    t: true,
    f: false,
    b: -1,
    B: 255,
    s: -2,
    u: 65534,
    I: -2,
    i: 4294967294,
    l: -2,
    L: 2n ** 63n - 1n,
    g: 1.5,
    d: Math.PI,
    D: new Decimal(2, 12345),
    S: 'hé',
    x: Buffer.from([1, 2, 3]),
    T: new Date(1600000000 * 1000),
    V: null,
    A: [7, null, true],
  });
});

test('field table: nested F decodes to a plain object', () => {
  const inner = table(bytes(1, 'k', 'S', u32(1), 'v'));
  assert.deepStrictEqual(decodeFieldTable(table(bytes(3, 'sub', 'F', inner))), { sub: { k: 'v' } });
});

test('field table: the lossy mapping rules, value by value', () => {
  const roundTrip = (v: HeaderValue | undefined) =>
    decodeFieldTable(encodeFieldTable({ v } as HeaderTable)).v as HeaderValue;
  // Integers in int32 are written as I; other safe integers as l and come back as numbers.
  assert.deepStrictEqual(encodeFieldTable({ n: 7 }), table(bytes(1, 'n', 'I', 0, 0, 0, 7)));
  assert.equal(encodeFieldTable({ n: 2 ** 31 })[6], 0x6c /* l */);
  assert.equal(roundTrip(2 ** 40), 2 ** 40);
  // bigint inside the safe range is written as l and comes back as a number.
  assert.equal(roundTrip(5n), 5);
  // Non-integers are doubles; -0 is an integer and comes back as +0.
  assert.equal(encodeFieldTable({ n: 0.5 })[6], 0x64 /* d */);
  assert.ok(Object.is(roundTrip(-0), 0));
  // Integers beyond 2^53 are doubles.
  assert.equal(encodeFieldTable({ n: 2 ** 60 })[6], 0x64);
  // undefined is V and comes back as null.
  assert.equal(roundTrip(undefined), null);
  // Dates lose their milliseconds (T is whole seconds).
  assert.deepStrictEqual(roundTrip(new Date(1234567)), new Date(1234000));
  // A Uint8Array is written as x and comes back as a Buffer.
  assert.deepStrictEqual(roundTrip(new Uint8Array([9]) as Buffer), Buffer.from([9]));
  // t: any non-zero octet is true.
  assert.deepStrictEqual(decodeFieldTable(table(bytes(1, 'b', 't', 7))), { b: true });
  // f (float32) comes back as a number and is written again as d.
  const f = decodeFieldTable(table(bytes(1, 'f', 'f', Buffer.from([0x3e, 0x20, 0, 0])))).f;
  assert.equal(f, 0.15625);
  // Invalid UTF-8 in S is replaced, not rejected (RabbitMQ treats S as bytes).
  assert.equal(decodeFieldTable(table(bytes(1, 's', 'S', u32(1), 0xff))).s, '\ufffd');
});

test('field table: values AMQP cannot carry are refused with INTERNAL_ERROR', () => {
  const bad: unknown[] = [
    new Date(-1000),
    new Date(Number.NaN),
    new Decimal(256, 1),
    new Decimal(1, -1),
    new Decimal(1, 0.5),
    2n ** 64n,
    new Map(),
    () => 1,
    Symbol('s'),
  ];
  for (const v of bad) {
    assert.throws(
      () => encodeFieldTable({ v } as unknown as HeaderTable),
      isCode('INTERNAL_ERROR'),
      String(v),
    );
  }
  assert.throws(() => encodeFieldTable({ ['k'.repeat(256)]: 1 }), isCode('INTERNAL_ERROR'));
  const cyclic: HeaderTable = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeFieldTable(cyclic), isCode('INTERNAL_ERROR'));
});

test('field table: a "__proto__" key is data, not a prototype', () => {
  const t = decodeFieldTable(table(bytes(9, '__proto__', 'F', table(bytes(1, 'x', 't', 1)))));
  assert.equal(Object.getPrototypeOf(t), Object.prototype);
  assert.deepStrictEqual(Object.keys(t), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.deepStrictEqual(decodeFieldTable(encodeFieldTable(t)), t);
});

test('field table: malformed input is a SYNTAX_ERROR, never a RangeError', () => {
  const cases: Buffer[] = [
    Buffer.from([0, 0]), // size truncated
    Buffer.concat([u32(10), Buffer.from('abc')]), // size past the end
    table(bytes(1, 'k', 'Z')), // unknown tag
    table(bytes(1, 'k')), // no tag
    table(bytes(5, 'k')), // name past the table
    table(bytes(1, 'k', 'I', 0, 0)), // int32 truncated
    table(bytes(1, 'k', 'S', u32(100), 'ab')), // longstr past the table
    table(bytes(1, 'k', 'F', u32(100))), // nested table past its parent
    table(bytes(1, 'k', 'A', u32(2), 'I', 0)), // array value past the array
    table(bytes(1, 'k', 'D', 1, 0)), // decimal truncated
    Buffer.concat([table(bytes(1, 'k', 'V')), Buffer.from([0])]), // trailing byte
  ];
  for (const c of cases) assert.throws(() => decodeFieldTable(c), isCode('SYNTAX_ERROR'), c.toString('hex'));
});

test('field table: nesting deeper than the limit is refused, both ways', () => {
  let deep = table();
  for (let i = 0; i <= MAX_TABLE_DEPTH + 1; i++) deep = table(bytes(1, 'n', 'F', deep));
  assert.throws(() => decodeFieldTable(deep), isCode('SYNTAX_ERROR'));
  // Arrays count too, and 10,000 levels must not overflow the stack.
  let arr = Buffer.concat([u32(0)]);
  for (let i = 0; i < 10000; i++) arr = Buffer.concat([u32(arr.length + 1), Buffer.from('A'), arr]);
  assert.throws(() => decodeFieldArray(arr), isCode('SYNTAX_ERROR'));
  // Within the limit is fine.
  let ok: HeaderTable = {};
  for (let i = 0; i < MAX_TABLE_DEPTH - 1; i++) ok = { n: ok };
  assert.deepStrictEqual(decodeFieldTable(encodeFieldTable(ok)), ok);
});

test('decodeTable: reads the table at an offset and reports where it ends', () => {
  const t = encodeFieldTable({ LOGIN: 'guest', PASSWORD: 'guest' });
  const buf = Buffer.concat([Buffer.from([9, 9]), t, Buffer.from([7])]);
  assert.deepStrictEqual(decodeTable(buf, 2), {
    table: { LOGIN: 'guest', PASSWORD: 'guest' },
    end: 2 + t.length,
  });
  assert.throws(() => decodeTable(buf, 100), isCode('SYNTAX_ERROR'));
});
