import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeClientPacket } from '../../../test/support/mqtt-peer.js';
import { clientSamples, connectPacket, cut, type Version } from '../../../test/support/mqtt-samples.js';
import { SwitchyardError } from '../../errors/index.js';
import { PayloadPool } from './payload-pool.js';
import { PacketReader } from './reader.js';

const SEED = 0xc0dec;
const FUZZ_RUNS = 100_000;
const FUZZ_MAX = 4096;
const POOL = new PayloadPool(false);

const seeds = (v: Version) =>
  clientSamples(v)
    .map((p) => encodeClientPacket(p, v))
    .filter((b) => b.length < 2000);
const SEEDS: Record<Version, Buffer[]> = { 4: seeds(4), 5: seeds(5) };

/** One mutation of a valid packet (or two back to back), as a list of chunks. */
const mutationArb = fc
  .record({
    v: fc.constantFrom<Version>(4, 5),
    i: fc.nat(),
    j: fc.nat(),
    two: fc.boolean(),
    op: fc.integer({ min: 0, max: 6 }),
    pos: fc.nat(),
    noise: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    flips: fc.integer({ min: 1, max: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .map(({ v, i, j, two, op, pos, noise, flips, cuts }) => {
    const list = SEEDS[v];
    const a = list[i % list.length]!;
    let b = Buffer.from(two ? Buffer.concat([a, list[j % list.length]!]) : a);
    const at = pos % b.length;
    const n0 = noise[0]!;
    switch (op) {
      case 0: // bit flips anywhere
        for (let k = 0; k < flips; k++) {
          const q = (pos + k * 31) % b.length;
          b[q] = b[q]! ^ (1 << ((n0 + k) & 7));
        }
        break;
      case 1: // truncation
        b = b.subarray(0, at);
        break;
      case 2: // insertion
        b = Buffer.concat([b.subarray(0, at), Buffer.from(noise), b.subarray(at)]);
        break;
      case 3: // a Remaining Length byte changed
        b[1 + (pos % 4 < b.length - 1 ? pos % 4 : 0)] = n0;
        break;
      case 4: // a byte of the body replaced, Remaining Length kept (reaches the field decoders)
        b[Math.min(b.length - 1, 2 + (pos % Math.max(1, b.length - 2)))] = n0;
        break;
      case 5: // deletion
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (n0 % 8))]);
        break;
      default: // the first byte (type and flags) replaced
        b[0] = n0;
    }
    return {
      v,
      bytes: b,
      chunks: cut(
        b,
        cuts.map((c) => c % (b.length + 1)),
      ),
    };
  });

const REFUSALS = new Set([
  'MALFORMED_PACKET',
  'PACKET_TOO_LARGE',
  'PROTOCOL_ERROR',
  'UNSUPPORTED_PROTOCOL_VERSION',
]);

test(`codec: ${FUZZ_RUNS} mutated packets either decode or throw an MQTT error, nothing else`, () => {
  const v5Connect = encodeClientPacket(connectPacket(5), 5);
  const v4Connect = encodeClientPacket(connectPacket(4), 4);
  let decoded = 0;
  let refused = 0;
  fc.assert(
    fc.property(mutationArb, fc.boolean(), ({ v, chunks }, afterConnect) => {
      let packets = 0;
      const r = new PacketReader(FUZZ_MAX, { onPacket: () => packets++ }, POOL);
      // Most mutations follow a CONNECT (so the reader knows the version); some stand alone.
      const prefix = afterConnect ? (v === 5 ? v5Connect : v4Connect) : Buffer.alloc(0);
      if (prefix.length > 0) r.push(prefix);
      const started = process.hrtime.bigint();
      try {
        for (const c of chunks) r.push(c);
      } catch (e) {
        if (!(e instanceof SwitchyardError)) throw e;
        assert.ok(REFUSALS.has(e.code), e.code);
        refused++;
      }
      assert.ok(process.hrtime.bigint() - started < 1_000_000_000n, 'a push took over a second');
      decoded += packets - (prefix.length > 0 ? 1 : 0);
    }),
    { seed: SEED, numRuns: FUZZ_RUNS },
  );
  // The mutations must be a mix, not all refused at the first byte.
  assert.ok(decoded > FUZZ_RUNS / 10, `decoded ${decoded}`);
  assert.ok(refused > FUZZ_RUNS / 10, `refused ${refused}`);
});

test('codec: what a mutated stream yields before it breaks is exactly its valid prefix, packet after packet', () => {
  fc.assert(
    fc.property(mutationArb, ({ v, bytes }) => {
      // Feed the whole stream; then feed it again, one packet's worth of bytes at a time:
      // both readers must decode the same packets before the first error.
      const whole: unknown[] = [];
      const r1 = new PacketReader(FUZZ_MAX, { onPacket: (p) => whole.push(p) }, POOL);
      r1.push(encodeClientPacket(connectPacket(v), v));
      let error1: string | undefined;
      try {
        r1.push(bytes);
      } catch (e) {
        error1 = (e as SwitchyardError).code;
      }
      const bytewise: unknown[] = [];
      const r2 = new PacketReader(FUZZ_MAX, { onPacket: (p) => bytewise.push(p) }, POOL);
      r2.push(encodeClientPacket(connectPacket(v), v));
      let error2: string | undefined;
      try {
        for (let i = 0; i < bytes.length; i++) r2.push(bytes.subarray(i, i + 1));
      } catch (e) {
        error2 = (e as SwitchyardError).code;
      }
      assert.deepEqual(bytewise, whole);
      assert.equal(error2, error1);
    }),
    { seed: SEED, numRuns: 5000 },
  );
});
