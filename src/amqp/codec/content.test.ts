import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError } from '../../errors/index.js';
import { FRAME_MIN_SIZE, FrameType } from './constants.js';
import {
  decodeContentHeader,
  writeBasicAck,
  writeBasicNack,
  writeContentFrames,
  writeDeliver,
  writeHeartbeat,
} from './content.js';
import { FrameParser } from './frame-parser.js';
import { decodeMethod } from './methods.js';
import { OutBuffer } from './out-buffer.js';
import { decodeProperties, encodeProperties } from './properties.js';

const SEED = 0xc0de;

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

interface Frame {
  type: number;
  channel: number;
  payload: Buffer;
}

function frames(chunks: Buffer[], frameMax: number): Frame[] {
  const p = new FrameParser(frameMax);
  const out: Frame[] = [];
  for (const c of chunks) p.push(c, (type, channel, payload) => out.push({ type, channel, payload }));
  return out;
}

test('content: header frame then body frames of at most frame_max - 8 bytes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40000 }),
      fc.integer({ min: FRAME_MIN_SIZE, max: 20000 }),
      fc.integer({ min: 1, max: 0xffff }),
      (size, frameMax, channel) => {
        const body = Buffer.alloc(size);
        for (let i = 0; i < size; i++) body[i] = i * 7;
        const props = encodeProperties({ contentType: 'text/plain', deliveryMode: 2 });
        const out = new OutBuffer();
        writeContentFrames(out, channel, 60, props, body, frameMax);
        const got = frames(out.take(), frameMax);
        const header = got[0]!;
        assert.equal(header.type, FrameType.HEADER);
        assert.equal(header.channel, channel);
        const h = decodeContentHeader(header.payload);
        assert.deepStrictEqual([h.classId, h.weight, h.bodySize], [60, 0, size]);
        assert.deepStrictEqual(h.properties, props);
        const bodies = got.slice(1);
        assert.equal(bodies.length, Math.ceil(size / (frameMax - 8)));
        for (const f of bodies) {
          assert.equal(f.type, FrameType.BODY);
          assert.equal(f.channel, channel);
          assert.ok(f.payload.length <= frameMax - 8 && f.payload.length > 0);
        }
        assert.deepStrictEqual(Buffer.concat(bodies.map((f) => f.payload)), body);
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
});

test('content: large body slices go out without a copy', () => {
  const body = Buffer.alloc(100000, 1);
  const out = new OutBuffer();
  writeContentFrames(out, 1, 60, hex('0000'), body, 32768);
  const chunks = out.take();
  const views = chunks.filter((c) => c.buffer === body.buffer);
  // 3 slices of 32760 bytes go out as views of the body; the last 1720 bytes are copied.
  assert.equal(views.length, 3);
  assert.equal(
    views.reduce((n, c) => n + c.length, 0),
    3 * 32760,
  );
});

test('content: frame_max 0 (no limit) sends the body in one frame; an empty body in none', () => {
  const out = new OutBuffer();
  writeContentFrames(out, 1, 60, hex('0000'), Buffer.alloc(70000), 0);
  assert.deepStrictEqual(
    frames(out.take(), 0).map((f) => [f.type, f.payload.length]),
    [
      [FrameType.HEADER, 14],
      [FrameType.BODY, 70000],
    ],
  );
  writeContentFrames(out, 1, 60, hex('0000'), Buffer.alloc(0), FRAME_MIN_SIZE);
  assert.deepStrictEqual(
    frames(out.take(), FRAME_MIN_SIZE).map((f) => f.type),
    [FrameType.HEADER],
  );
});

test('content: a publisher confirm, known bytes', () => {
  const out = new OutBuffer();
  writeBasicAck(out, 1, 7, false);
  writeBasicNack(out, 2, 2 ** 40, true, false);
  writeHeartbeat(out);
  assert.deepStrictEqual(
    Buffer.concat(out.take()),
    hex(
      '01 0001 0000000d 003c 0050 0000000000000007 00 ce' +
        '01 0002 0000000d 003c 0078 0000010000000000 01 ce' +
        '08 0000 00000000 ce',
    ),
  );
});

test('content: a delivery decodes back, and its content header carries the props bytes untouched', () => {
  const props = hex('9000 0a 746578742f706c61696e 02'); // content-type text/plain, delivery-mode 2
  const out = new OutBuffer();
  writeDeliver(out, 5, 'amq.ctag-1', 42, true, 'amq.direct', 'rk');
  writeContentFrames(out, 5, 60, props, Buffer.from('hello'), FRAME_MIN_SIZE);
  const [m, h, b] = frames(out.take(), FRAME_MIN_SIZE);
  assert.deepStrictEqual(decodeMethod(m!.payload), {
    kind: 'basic.deliver',
    classId: 60,
    methodId: 60,
    consumerTag: 'amq.ctag-1',
    deliveryTag: 42,
    redelivered: true,
    exchange: 'amq.direct',
    routingKey: 'rk',
  });
  assert.deepStrictEqual(decodeContentHeader(h!.payload).properties, props);
  assert.deepStrictEqual(decodeProperties(props), { contentType: 'text/plain', deliveryMode: 2 });
  assert.equal(b!.payload.toString(), 'hello');
});

test('content: a routing key that does not fit a shortstr fails the delivery cleanly', () => {
  const out = new OutBuffer();
  assert.throws(
    () => writeDeliver(out, 1, 'c', 1, false, '', 'a/'.repeat(200)),
    (e: unknown) => e instanceof SwitchyardError && e.code === 'INTERNAL_ERROR',
  );
  assert.equal(out.length, 0);
});
