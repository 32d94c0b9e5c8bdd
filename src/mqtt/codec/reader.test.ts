import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { clientPacket } from '../../../test/support/mqtt-codec-arbitraries.js';
import { encodeClientPacket } from '../../../test/support/mqtt-peer.js';
import { clientSamples, connectPacket, cut, type Version } from '../../../test/support/mqtt-samples.js';
import { type ErrorCode, SwitchyardError } from '../../errors/index.js';
import { MAX_USER_PROPERTIES, PacketType } from './constants.js';
import type { ClientPacket } from './packets.js';
import { PayloadPool } from './payload-pool.js';
import { writeVarint } from './properties.js';
import { PacketReader, packetSize } from './reader.js';

const SEED = 0xc0dec;
const POOL = new PayloadPool(false);
const enc = (p: ClientPacket, v: Version) => encodeClientPacket(p, v);

/** A reader that has taken the CONNECT of `v` (the version fixes how later packets are laid out). */
function reader(v: Version, max = 1 << 20): { r: PacketReader; got: ClientPacket[] } {
  const got: ClientPacket[] = [];
  const r = new PacketReader(max, { onPacket: (p) => got.push(p) }, POOL);
  r.push(enc(connectPacket(v), v));
  got.length = 0;
  return { r, got };
}

/** The catalogue code of the error `f` throws. */
function codeOf(f: () => void): ErrorCode {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected an error');
}

// ---- framing across chunks ----------------------------------------------------------------------

function feed(v: Version, chunks: Buffer[]): ClientPacket[] {
  const { r, got } = reader(v);
  for (const c of chunks) r.push(c);
  return got;
}

for (const v of [4, 5] as const) {
  test(`codec: a stream split at every byte boundary, and in 1-, 2- and 3-byte pieces, gives the same packets (v${v})`, () => {
    // Small packets, so that every split point is tried in a stream of every kind.
    const list = clientSamples(v).filter((p) => p.type !== PacketType.CONNECT && enc(p, v).length < 1000);
    const stream = Buffer.concat(list.map((p) => enc(p, v)));
    const whole = feed(v, [stream]);
    assert.deepEqual(whole, list);
    for (let i = 1; i < stream.length; i++) {
      assert.deepEqual(feed(v, [stream.subarray(0, i), stream.subarray(i)]), list, `split at ${i}`);
    }
    for (const step of [1, 2, 3]) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) pieces.push(stream.subarray(i, i + step));
      assert.deepEqual(feed(v, pieces), list, `${step}-byte pieces`);
    }
    // Empty chunks change nothing.
    assert.deepEqual(
      feed(v, [Buffer.alloc(0), stream.subarray(0, 5), Buffer.alloc(0), stream.subarray(5)]),
      list,
    );
  });

  test(`codec: random packets in random chunks give the same packets as one chunk (v${v})`, () => {
    fc.assert(
      fc.property(
        fc.array(clientPacket(v), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (packets, points) => {
          const stream = Buffer.concat(packets.map((p) => enc(p, v)));
          assert.deepEqual(feed(v, [stream]), packets);
          const chunked = feed(
            v,
            cut(
              stream,
              points.map((p) => p % (stream.length + 1)),
            ),
          );
          assert.deepEqual(chunked, packets);
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });
}

test('codec: the CONNECT decides the layout of the packets after it in the same chunk', () => {
  const publish: ClientPacket = {
    type: PacketType.PUBLISH,
    qos: 1,
    dup: false,
    retain: false,
    topic: 't',
    packetId: 3,
    payload: Buffer.from('p'),
    properties: { contentType: 'c' },
  };
  const got: ClientPacket[] = [];
  const r = new PacketReader(1 << 20, { onPacket: (p) => got.push(p) }, POOL);
  r.push(Buffer.concat([enc(connectPacket(5), 5), enc(publish, 5)]));
  assert.deepEqual(got, [connectPacket(5), publish]);
  assert.equal(r.version, 5);
});

// ---- size limits and Remaining Length -----------------------------------------------------------

test('codec: a packet over the maximum is refused from its header alone, before its body (0x95)', () => {
  const { r, got } = reader(4, 1024);
  // PUBLISH with Remaining Length 2048: header only, no body at all.
  assert.equal(
    codeOf(() => r.push(Buffer.from([0x30, 0x80, 0x10]))),
    'PACKET_TOO_LARGE',
  );
  // The header arriving a byte at a time: refused on the byte that completes it.
  const r2 = reader(4, 1024).r;
  r2.push(Buffer.from([0x30]));
  r2.push(Buffer.from([0x80]));
  assert.equal(
    codeOf(() => r2.push(Buffer.from([0x10]))),
    'PACKET_TOO_LARGE',
  );
  // The largest Remaining Length there is, header only.
  assert.equal(
    codeOf(() => reader(4, 1024).r.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))),
    'PACKET_TOO_LARGE',
  );
  assert.equal(got.length, 0);
});

test('codec: the maximum packet size counts the whole packet; exactly the maximum is accepted', () => {
  const max = 1024;
  const publish = (n: number) =>
    enc(
      {
        type: PacketType.PUBLISH,
        topic: 't',
        payload: Buffer.alloc(n, 1),
        qos: 0,
        packetId: 0,
        retain: false,
        dup: false,
        properties: undefined,
      },
      4,
    );
  // Fixed header 1 + 2 length bytes, topic 2 + 1: payload max - 6 makes the packet exactly `max`.
  const exact = publish(max - 6);
  assert.equal(exact.length, max);
  const { r, got } = reader(4, max);
  r.push(exact);
  assert.equal(got.length, 1);
  assert.equal(
    codeOf(() => reader(4, max).r.push(publish(max - 5).subarray(0, 3))),
    'PACKET_TOO_LARGE',
  );
});

test('codec: a Remaining Length of five bytes is malformed (0x81), whole or arriving bytewise', () => {
  const bad = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00]);
  assert.equal(
    codeOf(() => reader(4).r.push(bad)),
    'MALFORMED_PACKET',
  );
  assert.equal(
    codeOf(() => packetSize(bad, 0)),
    'MALFORMED_PACKET',
  );
  const { r } = reader(5);
  for (let i = 0; i < 4; i++) r.push(bad.subarray(i, i + 1));
  assert.equal(
    codeOf(() => r.push(bad.subarray(4, 5))),
    'MALFORMED_PACKET',
  );
});

test('codec: packetSize is 0 until the header is complete, then the whole size', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 268_435_455 }), fc.nat(), (len, at) => {
      const b = Buffer.alloc(at % 4);
      const header = frameHeader(0x30, len);
      const buf = Buffer.concat([b, header]);
      for (let i = 0; i < header.length; i++) {
        assert.equal(packetSize(buf.subarray(0, b.length + i), b.length), 0);
      }
      assert.equal(packetSize(buf, b.length), header.length + len);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

/** A fixed header: `first`, then `len` as a Variable Byte Integer. */
function frameHeader(first: number, len: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = first;
  return b.subarray(0, writeVarint(b, 1, len));
}

test(`codec: more than ${MAX_USER_PROPERTIES} user properties in a packet are refused (0x95), before they are all read`, () => {
  const publish = (n: number, willToo = false): Buffer => {
    const userProperties = Object.assign(Object.create(null), {
      k: Array.from({ length: n }, () => 'v'),
    });
    if (!willToo) {
      return enc(
        {
          type: PacketType.PUBLISH,
          topic: 't',
          payload: Buffer.from('x'),
          qos: 1,
          packetId: 1,
          dup: false,
          retain: false,
          properties: { userProperties },
        },
        5,
      );
    }
    // CONNECT: its own and its will's user properties count together.
    return enc(
      connectPacket(5, {
        properties: { userProperties },
        will: { topic: 'w', payload: Buffer.alloc(0), qos: 0, retain: false, properties: { userProperties } },
      }),
      5,
    );
  };
  assert.equal(
    codeOf(() => reader(5).r.push(publish(MAX_USER_PROPERTIES + 1))),
    'PACKET_TOO_LARGE',
  );
  const { r, got } = reader(5);
  r.push(publish(MAX_USER_PROPERTIES));
  assert.equal(got.length, 1);
  const half = MAX_USER_PROPERTIES / 2;
  new PacketReader(1 << 20, { onPacket: () => {} }, POOL).push(publish(half, true));
  assert.equal(
    codeOf(() => new PacketReader(1 << 20, { onPacket: () => {} }, POOL).push(publish(half + 1, true))),
    'PACKET_TOO_LARGE',
  );
});

test('codec: a reader whose producer reuses its chunks copies what it hands out; one that owns them does not', () => {
  const publish: ClientPacket = {
    type: PacketType.PUBLISH,
    topic: 't',
    payload: Buffer.from('payload bytes'),
    qos: 1,
    packetId: 4,
    retain: false,
    dup: false,
    properties: { correlationData: Buffer.from('cd') },
  };
  for (const owned of [false, true]) {
    const got: ClientPacket[] = [];
    const r = new PacketReader(1 << 20, { onPacket: (p) => got.push(p) }, POOL, owned);
    r.push(enc(connectPacket(5), 5));
    const chunk: Buffer = Buffer.from(enc(publish, 5));
    r.push(chunk);
    const payload = (got[1] as { payload: Buffer }).payload;
    assert.equal(payload.buffer === chunk.buffer, owned, 'a view only when the chunk is the reader’s');
    chunk.fill(0); // the producer reuses its buffer
    if (!owned) assert.deepEqual(got[1], publish);
  }
});
