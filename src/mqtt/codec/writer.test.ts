import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { generate } from '../../../test/support/mqtt-packet-shape.js';
import { PacketType } from './constants.js';
import { publishPacketSize } from './encode.js';
import { propertiesSize } from './properties.js';
import { PayloadPool } from './payload-pool.js';
import { type PacketSink, PacketWriter } from './writer.js';

const SEED = 0xc0dec;
type Version = 4 | 5;

/** A writer whose sink keeps every byte; flush() to see what a turn wrote. */
function writer(v: Version, accept = () => true, pool = new PayloadPool(false)) {
  const out: Buffer[] = [];
  const blocked: boolean[] = [];
  const sink: PacketSink = {
    write: (b) => {
      out.push(Buffer.from(b));
      return accept();
    },
    cork: () => {},
    uncork: () => {},
  };
  const w = new PacketWriter(sink, { backpressure: (full) => blocked.push(full) }, pool);
  w.version = v;
  return { w, out, blocked, bytes: () => Buffer.concat(out) };
}

const payload = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));
const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

test('codec: PacketWriter.publish encodes exactly as mqtt-packet does (v4 and v5, with and without properties)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<Version>(4, 5),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.oneof(
        bytesArb(300),
        fc.integer({ min: 0, max: 70_000 }).map((n) => payload(n)),
      ),
      fc.constantFrom(0, 1, 2),
      fc.integer({ min: 1, max: 65535 }),
      fc.boolean(),
      fc.boolean(),
      fc.option(
        fc.record({
          messageExpiryInterval: fc.nat(),
          subscriptionIdentifier: fc.integer({ min: 1, max: 9999 }),
        }),
        {
          nil: undefined,
        },
      ),
      (v, t, body, qos, id, retain, dup, props) => {
        const properties = v === 5 ? props : undefined;
        const { w, bytes } = writer(v);
        w.publish(Buffer.from(t), body, qos, id, retain, dup, properties, propertiesSize(properties));
        w.flush();
        const expected = generate(
          {
            cmd: 'publish',
            topic: t,
            payload: body,
            qos: qos as 0 | 1 | 2,
            messageId: id,
            retain,
            dup,
            ...(properties === undefined ? {} : { properties: { ...properties } }),
          },
          v,
        );
        assert.deepEqual(bytes(), expected);
        assert.equal(
          publishPacketSize(Buffer.byteLength(t), body.length, qos, v, propertiesSize(properties)),
          expected.length,
        );
      },
    ),
    { seed: SEED, numRuns: 3000 },
  );
});

test('codec: PacketWriter.ack writes the shortest form, which mqtt-packet parses back', () => {
  for (const v of [4, 5] as const) {
    for (const type of [PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP]) {
      const reasons = type <= 5 ? [0, 0x10, 0x99] : [0, 0x92];
      for (const reason of v === 5 ? reasons : [0]) {
        const { w, bytes } = writer(v);
        w.ack(type, 513, reason);
        w.flush();
        const first = (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
        // Success: Reason Code and Property Length left out (MQTT 5 section 3.4.2.1), as in 3.1.1;
        // otherwise a Reason Code and no Property Length ("less than 4", section 3.4.2.2.1).
        assert.deepEqual(
          bytes(),
          Buffer.from(reason === 0 ? [first, 2, 2, 1] : [first, 3, 2, 1, reason]),
          `v${v} ${type} ${reason}`,
        );
      }
    }
  }
});

test('codec: PacketWriter batches one turn into one write', async () => {
  const { w, out } = writer(4);
  w.ack(PacketType.PUBACK, 1, 0);
  w.ack(PacketType.PUBACK, 2, 0);
  w.pingresp();
  assert.equal(out.length, 0, 'nothing is written before the turn ends');
  await Promise.resolve();
  assert.equal(out.length, 1);
  assert.deepEqual(out[0], Buffer.from([0x40, 2, 0, 1, 0x40, 2, 0, 2, 0xd0, 0]));
  // A closed writer writes nothing more.
  w.closed = true;
  w.ack(PacketType.PUBACK, 3, 0);
  w.flush();
  assert.equal(out.length, 1);
});

test('codec: an encoder that throws leaves nothing behind in the batch', () => {
  const { w, bytes } = writer(5);
  assert.throws(() => w.ackWith(PacketType.PUBCOMP, -1, 0x92, { reasonString: 'x' }));
  w.disconnect(0x80, 'r');
  w.flush();
  assert.deepEqual(bytes(), Buffer.from([0xe0, 6, 0x80, 4, 0x1f, 0, 1, 0x72]));
});

test('codec: PacketWriter backpressure: blocked(true) once while full, blocked(false) on drain', async () => {
  let accept = false;
  const { w, out, blocked } = writer(4, () => accept);
  w.ack(PacketType.PUBACK, 1, 0);
  w.flush();
  assert.deepEqual(blocked, [true]);
  assert.equal(w.full, true);
  // More writes while full: no second notice.
  w.ack(PacketType.PUBACK, 2, 0);
  w.flush();
  w.publish(Buffer.from('t'), Buffer.from('x'), 0, 0, false, false);
  await Promise.resolve();
  w.pingresp();
  w.flush();
  assert.deepEqual(blocked, [true]);
  assert.equal(out.length, 4, 'writes still go to the sink (it buffers)');
  accept = true;
  w.drained();
  assert.deepEqual(blocked, [true, false]);
  assert.equal(w.full, false);
  w.drained();
  assert.deepEqual(blocked, [true, false], 'a drain when not full says nothing');
  w.ack(PacketType.PUBACK, 3, 0);
  w.flush();
  assert.deepEqual(blocked, [true, false]);
  accept = false;
  w.ack(PacketType.PUBACK, 4, 0);
  w.flush();
  assert.deepEqual(blocked, [true, false, true], 'full again after a drain: told again');
});

test('codec: a large batch is written through cork/uncork without waiting for the turn to end', () => {
  const writes: number[] = [];
  let corks = 0;
  const sink: PacketSink = {
    write: (b) => {
      writes.push(b.length);
      return true;
    },
    cork: () => corks++,
    uncork: () => {},
  };
  const w = new PacketWriter(sink, { backpressure: () => {} }, new PayloadPool(false));
  const big = payload(40 * 1024);
  w.publish(Buffer.from('t'), big, 0, 0, false, false);
  assert.equal(writes.length, 0);
  w.publish(Buffer.from('t'), big, 0, 0, false, false);
  assert.ok(writes.length > 0, 'over 64 KiB: written at once');
  assert.equal(corks, 1);
  assert.equal(
    writes.reduce((a, b) => a + b, 0),
    2 * (big.length + 1 + 3 + 3),
  );
});

test('codec: a pooled payload goes back to the pool when its write completes, not before', () => {
  const pool = new PayloadPool(true);
  const done: (() => void)[] = [];
  const sink: PacketSink = {
    write: (_b, cb) => {
      if (cb !== undefined) done.push(() => cb());
      return true;
    },
    cork: () => {},
    uncork: () => {},
  };
  const w = new PacketWriter(sink, { backpressure: () => {} }, pool);
  const body = pool.take(70 * 1024);
  pool.seal(body);
  w.publish(Buffer.from('t'), body, 0, 0, false, false);
  w.flush();
  assert.equal(done.length, 1, 'the payload is written by itself, with a callback');
  assert.equal(pool.take(70 * 1024).buffer === body.buffer, false, 'not reused while being written');
  done[0]!();
  assert.equal(pool.take(70 * 1024).buffer, body.buffer, 'reused once written');
  // With the pool switched off, nothing is ever handed out again.
  const off = new PayloadPool(false);
  const b = off.take(70 * 1024);
  off.seal(b);
  off.deliveredByCopy(b);
  assert.notEqual(off.take(70 * 1024).buffer, b.buffer);
  assert.equal(off.reused, 0);
});

test('codec: PacketWriter: random packets in random batches come out as encoded, and nothing written is written over', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('ack' as const), pid: fc.integer({ min: 1, max: 65535 }) }),
    fc.record({
      kind: fc.constant('publish' as const),
      size: fc.oneof(fc.nat({ max: 3000 }), fc.integer({ min: 3000, max: 70_000 })),
      qos: fc.constantFrom(0, 1),
    }),
    fc.constant({ kind: 'flush' as const }),
  );
  fc.assert(
    fc.property(fc.constantFrom<Version>(4, 5), fc.array(op, { maxLength: 60 }), (v, ops) => {
      // The sink keeps every buffer it was given, as a socket may until they are sent.
      const kept: { b: Buffer; copy: Buffer }[] = [];
      const sink: PacketSink = {
        write: (b) => {
          kept.push({ b, copy: Buffer.from(b) });
          return true;
        },
        cork: () => {},
        uncork: () => {},
      };
      const w = new PacketWriter(sink, { backpressure: () => {} }, new PayloadPool(false));
      w.version = v;
      const expected: Buffer[] = [];
      let n = 0;
      for (const o of ops) {
        if (o.kind === 'ack') {
          w.ack(PacketType.PUBACK, o.pid, 0);
          expected.push(Buffer.from([0x40, 2, o.pid >> 8, o.pid & 0xff]));
        } else if (o.kind === 'publish') {
          const body = Buffer.alloc(o.size, ++n & 0xff);
          w.publish(Buffer.from('t/x'), body, o.qos, 7, false, false);
          expected.push(
            generate(
              {
                cmd: 'publish',
                topic: 't/x',
                payload: body,
                qos: o.qos as 0 | 1,
                messageId: 7,
                retain: false,
                dup: false,
              },
              v,
            ),
          );
        } else w.flush();
      }
      w.flush();
      assert.deepEqual(Buffer.concat(kept.map((k) => k.b)), Buffer.concat(expected));
      for (const k of kept) assert.ok(k.b.equals(k.copy), 'a buffer handed to the socket changed afterwards');
    }),
    { seed: SEED, numRuns: 500 },
  );
});
