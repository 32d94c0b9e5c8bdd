import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError } from '../../errors/index.js';
import { FRAME_MIN_SIZE, FrameType, PROTOCOL_HEADER } from './constants.js';
import { FrameParser, parseProtocolHeader } from './frame-parser.js';

const SEED = 0xf4a3e;
const MAX = 131072;

function isCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof SwitchyardError && e.code === code;
}

function frame(type: number, channel: number, payload: Buffer, end = 0xce): Buffer {
  const head = Buffer.alloc(7);
  head[0] = type;
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([end])]);
}

type Seen = [type: number, channel: number, payloadHex: string];

function parseAll(chunks: Buffer[], max = MAX): Seen[] {
  const p = new FrameParser(max);
  const seen: Seen[] = [];
  for (const c of chunks) p.push(c, (t, ch, payload) => seen.push([t, ch, payload.toString('hex')]));
  assert.equal(p.buffered, 0);
  return seen;
}

function pieces(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}

const bigPayload = Buffer.alloc(5000, 0xab);
const FRAMES: Seen[] = [
  [FrameType.METHOD, 0, '000a001f07ff00020000003c'],
  [FrameType.HEARTBEAT, 0, ''],
  [FrameType.METHOD, 1, '003c0028000000000000'],
  [FrameType.HEADER, 1, '003c00000000000000001388000000'],
  [FrameType.BODY, 1, bigPayload.toString('hex')],
  [FrameType.BODY, 65535, ''],
  [FrameType.METHOD, 7, 'ce'.repeat(20)], // payload bytes equal to the frame-end octet
];
const STREAM = Buffer.concat(FRAMES.map(([t, ch, h]) => frame(t, ch, Buffer.from(h, 'hex'))));

test('frame parser: the stream whole, in 1-byte and 2-byte pieces gives the same frames', () => {
  assert.deepStrictEqual(parseAll([STREAM]), FRAMES);
  assert.deepStrictEqual(parseAll(pieces(STREAM, 1)), FRAMES);
  assert.deepStrictEqual(parseAll(pieces(STREAM, 2)), FRAMES);
  assert.deepStrictEqual(parseAll(pieces(STREAM, 7)), FRAMES);
});

test('frame parser: split at random points gives the same frames', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
      assert.deepStrictEqual(parseAll(splitAt(STREAM, cuts)), FRAMES);
    }),
    { seed: SEED, numRuns: 500 },
  );
});

/**
 * Whether `a` lies within the bytes of `b`, and whether the two share any byte. Comparing `.buffer`
 * alone is not enough: pooled Buffers share one ArrayBuffer without sharing bytes, and Node 24's
 * pool (64 KiB) takes buffers this size (before, it took only those under 4 KiB).
 */
const within = (a: Buffer, b: Buffer) =>
  a.buffer === b.buffer && a.byteOffset >= b.byteOffset && a.byteOffset + a.length <= b.byteOffset + b.length;
const overlaps = (a: Buffer, b: Buffer) =>
  a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;

test('frame parser: frames inside a chunk are views; only split frames are copied', () => {
  const p = new FrameParser(MAX);
  const payloads: Buffer[] = [];
  p.push(STREAM, (_t, _c, payload) => payloads.push(payload));
  for (const payload of payloads) assert.ok(within(payload, STREAM), 'a view of the chunk');
  // A frame split in its payload is copied into a buffer of its own.
  const one = frame(FrameType.BODY, 1, bigPayload);
  const got: Buffer[] = [];
  p.push(one.subarray(0, 100), (_t, _c, payload) => got.push(payload));
  p.push(one.subarray(100), (_t, _c, payload) => got.push(payload));
  assert.equal(got.length, 1);
  assert.ok(!overlaps(got[0]!, one), 'a copy');
  assert.deepStrictEqual(got[0], bigPayload);
  // A frame split only in its header still gets a view of the chunk that holds the payload.
  const rest = one.subarray(3);
  const views: Buffer[] = [];
  p.push(one.subarray(0, 3), () => assert.fail('no frame yet'));
  p.push(rest, (_t, _c, payload) => views.push(payload));
  assert.ok(within(views[0]!, rest), 'a view of the chunk');
  assert.deepStrictEqual(views[0], bigPayload);
});

test('frame parser: an oversize frame is refused from its header, before any payload is buffered', () => {
  const p = new FrameParser(FRAME_MIN_SIZE);
  const head = frame(FrameType.BODY, 1, Buffer.alloc(FRAME_MIN_SIZE - 7)).subarray(0, 7);
  assert.throws(
    () => p.push(head, () => assert.fail('no frame')),
    (e: unknown) => isCode('FRAME_ERROR')(e) && /frame size 4097 exceeds frame_max 4096/.test(String(e)),
  );
  assert.equal(p.buffered, 0);
  // The parser stays failed: the stream is out of sync.
  assert.throws(() => p.push(Buffer.alloc(1), () => {}), isCode('FRAME_ERROR'));
  // Exactly frame_max is accepted.
  assert.equal(
    parseAll([frame(FrameType.BODY, 1, Buffer.alloc(FRAME_MIN_SIZE - 8))], FRAME_MIN_SIZE).length,
    1,
  );
  // A header split across chunks is checked as soon as it is complete.
  const q = new FrameParser(FRAME_MIN_SIZE);
  q.push(head.subarray(0, 4), () => {});
  assert.throws(() => q.push(head.subarray(4), () => {}), isCode('FRAME_ERROR'));
});

test('frame parser: slack tolerates clients that size frames off by up to 8 bytes (RabbitMQ)', () => {
  const p = new FrameParser(FRAME_MIN_SIZE, 8);
  let n = 0;
  p.push(frame(FrameType.BODY, 1, Buffer.alloc(FRAME_MIN_SIZE)), () => n++);
  assert.equal(n, 1);
  assert.throws(
    () => p.push(frame(FrameType.BODY, 1, Buffer.alloc(FRAME_MIN_SIZE + 1)), () => {}),
    isCode('FRAME_ERROR'),
  );
});

test('frame parser: setMaxFrameSize inside the callback applies to the next frame of the same chunk', () => {
  const p = new FrameParser(FRAME_MIN_SIZE);
  const big = frame(FrameType.BODY, 1, Buffer.alloc(10000));
  const seen: number[] = [];
  p.push(Buffer.concat([frame(FrameType.METHOD, 0, Buffer.from('000a001f', 'hex')), big]), (t) => {
    seen.push(t);
    if (t === FrameType.METHOD) p.setMaxFrameSize(MAX);
  });
  assert.deepStrictEqual(seen, [FrameType.METHOD, FrameType.BODY]);
});

test('frame parser: a wrong frame-end octet is a FRAME_ERROR, in one chunk or split', () => {
  const bad = frame(FrameType.METHOD, 1, Buffer.from('003c000b', 'hex'), 0xcf);
  assert.throws(() => parseAll([bad]), isCode('FRAME_ERROR'));
  assert.throws(() => parseAll(pieces(bad, 1)), isCode('FRAME_ERROR'));
  // A good frame before the bad one is still delivered.
  const p = new FrameParser(MAX);
  const seen: number[] = [];
  const good = frame(FrameType.HEARTBEAT, 0, Buffer.alloc(0));
  assert.throws(() => p.push(Buffer.concat([good, bad]), (t) => seen.push(t)), isCode('FRAME_ERROR'));
  assert.deepStrictEqual(seen, [FrameType.HEARTBEAT]);
});

test('frame parser: unknown frame types and heartbeats with a payload are FRAME_ERRORs', () => {
  for (const t of [0, 4, 5, 6, 7, 9, 0x41, 255]) {
    assert.throws(() => parseAll([frame(t, 0, Buffer.alloc(0))]), isCode('FRAME_ERROR'), `type ${t}`);
  }
  assert.throws(() => parseAll([frame(FrameType.HEARTBEAT, 0, Buffer.alloc(1))]), isCode('FRAME_ERROR'));
});

test('frame parser: only SwitchyardError on random bytes, whatever the split', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (a, cuts) => {
      const p = new FrameParser(FRAME_MIN_SIZE);
      try {
        for (const c of splitAt(Buffer.from(a), cuts)) p.push(c, () => {});
      } catch (e) {
        assert.ok(e instanceof SwitchyardError, String(e));
      }
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test('protocol header: ok, mismatch as early as possible, incomplete', () => {
  assert.equal(parseProtocolHeader(PROTOCOL_HEADER), 'ok');
  assert.equal(parseProtocolHeader(Buffer.concat([PROTOCOL_HEADER, Buffer.from([1, 0])])), 'ok');
  assert.equal(parseProtocolHeader(Buffer.from('AMQP\x01\x01\x00\x09', 'latin1')), 'ok'); // 0-9, as RabbitMQ
  assert.equal(parseProtocolHeader(Buffer.alloc(0)), 'incomplete');
  assert.equal(parseProtocolHeader(Buffer.from('AMQ')), 'incomplete');
  assert.equal(parseProtocolHeader(Buffer.from('AMQP\x00\x00', 'latin1')), 'incomplete');
  assert.equal(parseProtocolHeader(Buffer.from('GET / HTTP/1.1')), 'mismatch');
  assert.equal(parseProtocolHeader(Buffer.from('G')), 'mismatch');
  assert.equal(parseProtocolHeader(Buffer.from([0x16, 0x03, 0x01])), 'mismatch'); // TLS hello
  assert.equal(parseProtocolHeader(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1')), 'mismatch'); // AMQP 1.0
  assert.equal(parseProtocolHeader(Buffer.from('AMQP\x00\x00\x09\x00', 'latin1')), 'mismatch'); // 0-9-0
});
