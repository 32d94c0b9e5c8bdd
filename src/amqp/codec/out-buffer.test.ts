import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError } from '../../errors/index.js';
import { decodeFieldTable } from './field-table.js';
import { FrameParser } from './frame-parser.js';
import { BODY_COPY_THRESHOLD, OutBuffer } from './out-buffer.js';

const SEED = 0x0b0f;

/** One write operation, applied to an OutBuffer and to a plain reference encoder. */
type Op =
  | { op: 'u8'; v: number }
  | { op: 'u16'; v: number }
  | { op: 'u32'; v: number }
  | { op: 'u64'; v: number }
  | { op: 'i64'; v: number }
  | { op: 'shortStr'; v: string }
  | { op: 'longStr'; v: string }
  | { op: 'body'; v: Buffer };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('u8' as const), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('u16' as const), v: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ op: fc.constant('u32' as const), v: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ op: fc.constant('u64' as const), v: fc.maxSafeNat() }),
  fc.record({ op: fc.constant('i64' as const), v: fc.maxSafeInteger() }),
  fc.record({ op: fc.constant('shortStr' as const), v: fc.string({ unit: 'binary', maxLength: 63 }) }),
  fc.record({ op: fc.constant('longStr' as const), v: fc.string({ unit: 'binary', maxLength: 200 }) }),
  fc.record({
    op: fc.constant('body' as const),
    v: fc
      .oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: BODY_COPY_THRESHOLD, max: 20000 }))
      .map((n) => Buffer.alloc(n, n & 0xff)),
  }),
);

function apply(out: OutBuffer, o: Op): void {
  switch (o.op) {
    case 'body':
      out.appendBody(o.v);
      return;
    default:
      (out[o.op] as (v: number | string) => void)(o.v);
  }
}

function reference(o: Op): Buffer {
  const b = Buffer.alloc(8);
  switch (o.op) {
    case 'u8':
      return Buffer.from([o.v]);
    case 'u16':
      b.writeUInt16BE(o.v);
      return b.subarray(0, 2);
    case 'u32':
      b.writeUInt32BE(o.v);
      return b.subarray(0, 4);
    case 'u64':
      b.writeBigUInt64BE(BigInt(o.v));
      return b;
    case 'i64':
      b.writeBigInt64BE(BigInt(o.v));
      return b;
    case 'shortStr': {
      const s = Buffer.from(o.v, 'utf8');
      return Buffer.concat([Buffer.from([s.length]), s]);
    }
    case 'longStr': {
      const s = Buffer.from(o.v, 'utf8');
      b.writeUInt32BE(s.length);
      return Buffer.concat([b.subarray(0, 4), s]);
    }
    case 'body':
      return o.v;
  }
}

test('out buffer: any sequence of writes, framed, matches a plain encoder across chunk boundaries', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(opArb, { maxLength: 8 }), { maxLength: 8 }),
      fc.integer({ min: 64, max: 1024 }),
      (frames, chunkSize) => {
        const out = new OutBuffer(chunkSize);
        const expected: Buffer[] = [];
        for (const [i, ops] of frames.entries()) {
          out.beginFrame(3, i);
          for (const o of ops) apply(out, o);
          out.endFrame();
          const payload = Buffer.concat(ops.map(reference));
          const head = Buffer.from([3, 0, i, 0, 0, 0, 0]);
          head.writeUInt32BE(payload.length, 3);
          expected.push(head, payload, Buffer.from([0xce]));
        }
        const want = Buffer.concat(expected);
        assert.equal(out.length, want.length);
        assert.deepStrictEqual(Buffer.concat(out.take()), want);
        assert.equal(out.length, 0);
        assert.deepStrictEqual(out.take(), []);
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});

test('out buffer: bytes handed out by take() are never written again', () => {
  const out = new OutBuffer(128);
  out.bytes(Buffer.alloc(50, 1));
  const first = out.take();
  const snapshot = Buffer.concat(first);
  // Keep writing: into the rest of the same chunk, then into new chunks.
  for (let i = 0; i < 20; i++) out.bytes(Buffer.alloc(40, 2));
  out.take();
  assert.deepStrictEqual(Buffer.concat(first), snapshot);
});

test('out buffer: large bodies are passed by reference, small ones copied', () => {
  const out = new OutBuffer();
  const big = Buffer.alloc(BODY_COPY_THRESHOLD, 7);
  const small = Buffer.alloc(BODY_COPY_THRESHOLD - 1, 8);
  out.beginFrame(3, 1);
  out.appendBody(big);
  out.endFrame();
  out.beginFrame(3, 1);
  out.appendBody(small);
  out.endFrame();
  const chunks = out.take();
  assert.ok(chunks.includes(big), 'the large body is a chunk of its own');
  assert.ok(!chunks.some((c) => c.buffer === small.buffer), 'the small body was copied');
  const seen: Buffer[] = [];
  const p = new FrameParser(0);
  for (const c of chunks) p.push(c, (_t, _ch, payload) => seen.push(Buffer.from(payload)));
  assert.deepStrictEqual(seen, [big, small]);
});

test('out buffer: abortFrame undoes a frame, including a body passed by reference', () => {
  const out = new OutBuffer(64);
  out.beginFrame(1, 0);
  out.u32(1);
  out.endFrame();
  const before = Buffer.concat(out.take());
  out.beginFrame(1, 0);
  out.u8(9);
  out.endFrame();
  const length = out.length;
  out.beginFrame(3, 1);
  out.bytes(Buffer.alloc(100)); // spills into a new chunk
  out.appendBody(Buffer.alloc(BODY_COPY_THRESHOLD));
  out.u8(1);
  out.abortFrame();
  assert.equal(out.length, length);
  out.beginFrame(8, 0);
  out.endFrame();
  assert.deepStrictEqual(
    Buffer.concat(out.take()),
    Buffer.from([1, 0, 0, 0, 0, 0, 1, 9, 0xce, 8, 0, 0, 0, 0, 0, 0, 0xce]),
  );
  assert.equal(before.length, 12);
});

test('out buffer: tables are written in place with their size patched', () => {
  const out = new OutBuffer(64);
  out.u8(0xaa);
  const t = { a: 'x'.repeat(100), b: { c: [1, 2n ** 62n, true] }, d: null };
  out.table(t);
  const all = Buffer.concat(out.take());
  assert.equal(all[0], 0xaa);
  assert.deepStrictEqual(decodeFieldTable(all.subarray(1)), t);
});

test('out buffer: misuse is reported, and an idle buffer can drop its chunk', () => {
  const out = new OutBuffer();
  assert.throws(() => out.endFrame());
  out.beginFrame(1, 1);
  assert.throws(() => out.beginFrame(1, 1));
  assert.throws(() => out.take());
  out.abortFrame();
  assert.equal(out.length, 0);
  out.u8(1);
  out.take();
  out.release();
  out.u8(2);
  assert.deepStrictEqual(Buffer.concat(out.take()), Buffer.from([2]));
  assert.throws(
    () => out.i64(2n ** 63n),
    (e: unknown) => e instanceof SwitchyardError,
  );
  assert.throws(() => new OutBuffer(10), RangeError);
});
