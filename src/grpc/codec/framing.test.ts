import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder, FramingError } from './framing.js';

function frame(body: Buffer, flag = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flag;
  h.writeUInt32BE(body.length, 1);
  return Buffer.concat([h, body]);
}

/** Feeds `chunks` and returns the messages as hex (copies: views may be reused by the caller). */
function decode(chunks: Buffer[], max = 1 << 20): string[] {
  const d = new FrameDecoder(max);
  const out: string[] = [];
  for (const c of chunks) d.push(c, (m) => out.push(m.toString('hex')));
  assert.ok(d.atBoundary, 'ends between messages');
  return out;
}

/** Splits `b` at the given offsets. */
function split(b: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, b.length]) {
    out.push(b.subarray(prev, c));
    prev = c;
  }
  return out;
}

const messages = [Buffer.from('hello'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from([0, 0, 0, 0, 5])];
const stream = Buffer.concat(messages.map((m) => frame(m)));
const want = messages.map((m) => m.toString('hex'));

test('framing: messages in one chunk, as views', () => {
  const d = new FrameDecoder(1024);
  const got: Buffer[] = [];
  d.push(stream, (m) => got.push(m));
  assert.deepEqual(
    got.map((m) => m.toString('hex')),
    want,
  );
  assert.equal(got[0]!.buffer, stream.buffer, 'a message inside the chunk is not copied');
});

test('framing: fed one byte at a time', () => {
  assert.deepEqual(decode([...stream].map((b) => Buffer.from([b]))), want);
});

test('framing: fed two bytes at a time', () => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i += 2) chunks.push(stream.subarray(i, i + 2));
  assert.deepEqual(decode(chunks), want);
});

test('framing: any split of any messages gives the same messages (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (bodies, cuts) => {
        const all = Buffer.concat(bodies.map((b) => frame(Buffer.from(b))));
        assert.deepEqual(
          decode(split(all, cuts)),
          bodies.map((b) => Buffer.from(b).toString('hex')),
        );
      },
    ),
  );
});

test('framing: a message over the limit is RESOURCE_EXHAUSTED before it is buffered', () => {
  const d = new FrameDecoder(10);
  const header = frame(Buffer.alloc(11)).subarray(0, 5);
  assert.throws(
    () => d.push(header, () => assert.fail('no message')),
    (e: unknown) => e instanceof FramingError && e.grpcStatus === 8 && /11 bytes/.test(e.message),
  );
  // Exactly at the limit is fine.
  assert.deepEqual(decode([frame(Buffer.alloc(10))], 10), [Buffer.alloc(10).toString('hex')]);
});

test('framing: a compressed message without a negotiated encoding is INTERNAL', () => {
  const d = new FrameDecoder(100);
  assert.throws(
    () => d.push(frame(Buffer.from('x'), 1), () => {}),
    (e: unknown) => e instanceof FramingError && e.grpcStatus === 13,
  );
  assert.throws(
    () => new FrameDecoder(100).push(frame(Buffer.from('x'), 9), () => {}),
    (e: unknown) => e instanceof FramingError && /flag 9/.test(e.message),
  );
});

test('framing: a stream cut inside a message is not at a boundary', () => {
  const d = new FrameDecoder(100);
  d.push(frame(Buffer.from('abc')).subarray(0, 6), () => assert.fail('no message yet'));
  assert.equal(d.atBoundary, false);
  const h = new FrameDecoder(100);
  h.push(Buffer.from([0, 0]), () => {});
  assert.equal(h.atBoundary, false);
});

test('framing: random bytes end in messages or a FramingError, nothing else (fuzz)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
      const d = new FrameDecoder(64);
      let total = 0;
      try {
        for (const c of chunks) {
          d.push(Buffer.from(c), (m) => {
            assert.ok(m.length <= 64);
            total += m.length;
          });
        }
      } catch (e) {
        assert.ok(e instanceof FramingError, String(e));
      }
      assert.ok(total <= chunks.reduce((n, c) => n + c.length, 0));
    }),
  );
});
