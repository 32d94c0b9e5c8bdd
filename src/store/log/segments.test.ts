import assert from 'node:assert/strict';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { RECORD_HEADER, RECORD_MAGIC, SegmentLog, segmentFileName } from './segments.js';
import { hookedOpen, readRecords, tempDir } from './test-util.js';

const SEED = 0x5eed;

function bytes(n: number, fill: number): Buffer {
  return Buffer.alloc(n, fill);
}

test('segments: a record is magic, length, CRC32 over type+payload, type, payload (little-endian)', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir);
  const r = log.append(7, [Buffer.from('ab'), Buffer.from('cd')]);
  assert.deepEqual(
    { segment: r.segment, offset: r.offset, length: r.length },
    { segment: 1, offset: 13, length: 4 },
  );
  await log.close();
  const file = await readFile(join(dir, segmentFileName(1)));
  assert.equal(segmentFileName(1), '00000000000000000001.seg');
  assert.equal(file.length, RECORD_HEADER + 4);
  assert.equal(file.readUInt32LE(0), RECORD_MAGIC);
  assert.equal(file.subarray(0, 4).toString('latin1'), 'SWYL');
  assert.equal(file.readUInt32LE(4), 4);
  assert.equal(file.readUInt32LE(8), crc32(Buffer.from([7, ...Buffer.from('abcd')])));
  assert.equal(file[12], 7);
  assert.equal(file.subarray(13).toString(), 'abcd');
});

test('segments: scan yields exactly what was appended, across rolls, small and large parts (property)', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  const partArb = fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 200 }) },
    { weight: 1, arbitrary: fc.integer({ min: 4097, max: 9000 }) },
  );
  const recArb = fc.record({
    type: fc.integer({ min: 0, max: 255 }),
    parts: fc.array(partArb, { maxLength: 4 }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(recArb, { maxLength: 20 }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 64, max: 16384 }),
      async (batches, segmentSize) => {
        const sub = join(dir, String(run++));
        const log = await SegmentLog.open(sub, { segmentSize, autoFlush: false });
        const expected: { type: number; payload: Buffer; segment: number; offset: number }[] = [];
        let k = 0;
        for (const batch of batches) {
          for (const rec of batch) {
            const parts = rec.parts.map((n) => bytes(n, k++ & 0xff));
            const r = log.append(rec.type, parts);
            expected.push({
              type: rec.type,
              payload: Buffer.concat(parts),
              segment: r.segment,
              offset: r.offset,
            });
          }
          await log.sync();
        }
        await log.close();
        assert.deepEqual(await readRecords(sub), expected);
        // Every segment fits the limit unless it holds one oversized record.
        for (const name of await readdir(sub)) {
          const { size } = await stat(join(sub, name));
          const recs = expected.filter((e) => segmentFileName(e.segment) === name);
          assert.ok(
            size <= segmentSize || recs.length === 1,
            `${name}: ${size} bytes, ${recs.length} records`,
          );
        }
      },
    ),
    { seed: SEED, numRuns: 40 },
  );
});

test('segments: many appends in one event-loop turn share one datasync (group commit)', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir);
  let last = 0;
  for (let i = 0; i < 500; i++) last = log.append(1, [bytes(100, i)]).epoch;
  await new Promise<void>((resolve, reject) =>
    log.whenDurable(last, (err) => (err ? reject(err) : resolve())),
  );
  assert.equal(log.stats.flushes, 1);
  assert.equal(log.stats.datasyncs, 1);
  assert.equal(log.stats.writevCalls, 1, 'small records are copied into one slab region: one iovec');
  await log.close();
});

test('segments: whenDurable fires only after datasync resolved; appends during a flush go to the next', async (t) => {
  const dir = await tempDir(t);
  const gate: { release: (() => void) | undefined } = { release: undefined };
  let syncs = 0;
  const log = await SegmentLog.open(dir, {
    openFile: hookedOpen({
      datasync: () =>
        new Promise<void>((r) => {
          syncs++;
          gate.release = r;
        }),
    }),
  });
  const a = log.append(1, [bytes(10, 1)]);
  const fired: string[] = [];
  log.whenDurable(a.epoch, (err) => fired.push(`a:${err === undefined}`));
  while (gate.release === undefined) await new Promise((r) => setImmediate(r));
  // The flush is waiting in datasync: nothing is durable yet.
  const b = log.append(1, [bytes(10, 2)]);
  assert.equal(b.epoch, a.epoch + 1);
  log.whenDurable(b.epoch, (err) => fired.push(`b:${err === undefined}`));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(fired, []);
  assert.equal(log.durableEpoch, 0);
  const r1 = gate.release;
  gate.release = undefined;
  r1();
  while (gate.release === undefined) await new Promise((r) => setImmediate(r));
  assert.deepEqual(fired, ['a:true']);
  assert.equal(syncs, 2, 'b went to a second flush');
  (gate.release as () => void)();
  await log.sync();
  assert.deepEqual(fired, ['a:true', 'b:true']);
  await log.close();
});

test('segments: a failed datasync fails every waiter and every later append', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir, {
    openFile: hookedOpen({ datasync: () => Promise.reject(new Error('EIO: simulated')) }),
  });
  const r = log.append(1, [bytes(10, 1)]);
  const err = await new Promise<Error | undefined>((resolve) => log.whenDurable(r.epoch, resolve));
  assert.match(String(err), /EIO/);
  assert.throws(() => log.append(1, [bytes(1, 1)]), /message log failed/);
  await assert.rejects(log.sync(), /EIO/);
  await log.close();
});

test('segments: more than IOV_MAX buffers are written in slices', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir, { autoFlush: false });
  const big = bytes(5000, 9);
  for (let i = 0; i < 1500; i++) log.append(2, [big]);
  await log.sync();
  assert.ok(log.stats.writevCalls >= 3, `writev calls: ${log.stats.writevCalls}`);
  await log.close();
  const recs = await readRecords(dir);
  assert.equal(recs.length, 1500);
  assert.ok(
    recs.every((r) => r.payload.equals(big)),
    'payloads intact',
  );
});

test('segments: read returns payload bytes, waiting for the flush when they are pending', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir, { segmentSize: 256, autoFlush: false });
  const locs = [];
  for (let i = 0; i < 20; i++) locs.push(log.append(1, [bytes(50 + i, i)]));
  // Not flushed: read must wait for it rather than read short.
  const first = await log.read(locs[0]!);
  assert.deepEqual(first, bytes(50, 0));
  for (let i = 0; i < 20; i++) assert.deepEqual(await log.read(locs[i]!), bytes(50 + i, i));
  assert.ok(log.segments().length > 1, 'rolled');
  await log.close();
});

test('segments: deleteSegment removes a sealed segment; the current one is refused', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir, { segmentSize: 100 });
  for (let i = 0; i < 5; i++) log.append(1, [bytes(60, i)]);
  await log.sync();
  assert.deepEqual(log.segments(), [1, 2, 3, 4, 5]);
  await log.deleteSegment(1);
  await log.deleteSegment(2);
  await assert.rejects(log.deleteSegment(5), /current segment/);
  assert.deepEqual(log.segments(), [3, 4, 5]);
  assert.deepEqual((await readdir(dir)).sort(), [3, 4, 5].map(segmentFileName));
  await log.close();
});

/** Writes records of sizes `sizes` into a fresh log and returns the last segment's bytes and record starts. */
async function writeRecords(
  dir: string,
  sizes: number[],
): Promise<{ file: string; starts: number[]; size: number }> {
  const log = await SegmentLog.open(dir);
  const starts = sizes.map((n, i) => log.append(3, [bytes(n, i + 1)]).offset - RECORD_HEADER);
  await log.close();
  const file = join(dir, segmentFileName(1));
  return { file, starts, size: (await stat(file)).size };
}

test('segments: a torn tail is truncated at every byte offset of the last record', async (t) => {
  const dir = await tempDir(t);
  const { file, starts, size } = await writeRecords(dir, [30, 40, 25]);
  const original = await readFile(file);
  const lastStart = starts[2]!;
  for (let cut = lastStart + 1; cut < size; cut++) {
    await writeFile(file, original.subarray(0, cut));
    const truncs: number[] = [];
    const seen: number[] = [];
    const log = await SegmentLog.open(dir, {
      onRecord: (_t, p) => seen.push(p.length),
      onTruncate: (i) => truncs.push(i.offset, i.removed),
      onCorrupt: (i) => assert.fail(`unexpected corruption report ${JSON.stringify(i)}`),
    });
    assert.deepEqual(seen, [30, 40], `cut at ${cut}`);
    assert.deepEqual(truncs, [lastStart, cut - lastStart]);
    assert.equal((await stat(file)).size, lastStart);
    // The log continues where the valid part ended.
    assert.equal(log.append(3, [bytes(5, 9)]).offset, lastStart + RECORD_HEADER);
    await log.close();
  }
  // A cut exactly at a record boundary needs no truncation.
  await truncate(file, lastStart);
  const log = await SegmentLog.open(dir, { onTruncate: () => assert.fail('nothing to truncate') });
  await log.close();
});

test('segments: a damaged record in the middle is skipped and reported, the rest is read', async (t) => {
  const dir = await tempDir(t);
  const { file, starts } = await writeRecords(dir, [30, 40, 25, 35]);
  const original = await readFile(file);
  const victim = starts[1]!;
  // Damage each field in turn: magic, length, CRC, type, payload.
  for (const at of [0, 1, 4, 5, 8, 12, 13, 30, 52]) {
    const damaged = Buffer.from(original);
    damaged[victim + at]! ^= 0x5a;
    await writeFile(file, damaged);
    const seen: number[] = [];
    const corrupt: { offset: number; length: number }[] = [];
    const log = await SegmentLog.open(dir, {
      onRecord: (_t, p) => seen.push(p.length),
      onCorrupt: (i) => corrupt.push({ offset: i.offset, length: i.length }),
      onTruncate: () => assert.fail('not a tail'),
    });
    await log.close();
    assert.deepEqual(seen, [30, 25, 35], `damage at +${at}`);
    assert.deepEqual(corrupt, [{ offset: victim, length: starts[2]! - victim }], `damage at +${at}`);
  }
});

test('segments: zeroed tail (preallocated blocks after a crash) is truncated', async (t) => {
  const dir = await tempDir(t);
  const { file, size } = await writeRecords(dir, [30, 40]);
  await writeFile(file, Buffer.concat([await readFile(file), Buffer.alloc(5000)]));
  const log = await SegmentLog.open(dir, { scanChunkSize: 1024 });
  await log.close();
  assert.equal((await stat(file)).size, size);
});

test('segments: a scan chunk smaller than a record still finds every record', async (t) => {
  const dir = await tempDir(t);
  const sizes = [10, 3000, 7, 5000, 1, 0, 2048];
  await writeRecords(dir, sizes);
  const seen: number[] = [];
  const log = await SegmentLog.open(dir, { scanChunkSize: 64, onRecord: (_t, p) => seen.push(p.length) });
  await log.close();
  assert.deepEqual(seen, sizes);
});

test('segments: reads across many segments share a small set of open handles', async (t) => {
  const dir = await tempDir(t);
  const log = await SegmentLog.open(dir, { segmentSize: 100, maxOpenFiles: 3 });
  const locs = Array.from({ length: 40 }, (_, i) => log.append(1, [bytes(70, i)]));
  await log.sync();
  assert.equal(log.segments().length, 40);
  // All at once (evictions while reads are in flight), then one by one in a scattered order.
  const all = await Promise.all(locs.map((l) => log.read(l)));
  all.forEach((b, i) => {
    assert.deepEqual(b, bytes(70, i));
  });
  for (let k = 0; k < 80; k++) {
    const i = (k * 17) % 40;
    assert.deepEqual(await log.read(locs[i]!), bytes(70, i), `record ${i}`);
  }
  await log.close();
});
