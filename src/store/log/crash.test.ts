/**
 * The crash model (the "Proof"): random operations are written through MessageLog, the log
 * is cut at random byte offsets (a crash that kept only a prefix of the bytes) or has one byte of a
 * record flipped, and recovery must equal a reference model that applies exactly the operations
 * whose records are complete. Records are located by scanning the raw segments and decoded with
 * the record codec; that mapping is itself checked: replaying every record gives the model of the
 * operations themselves.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { MessageLog } from './message-log.js';
import { decodeRecord } from './records.js';
import type { Recovered } from './recovery.js';
import { RECORD_HEADER } from './segments.js';
import { Model, opArb, recoveredView, runOps } from './test-model.js';
import { type RawRecord, readRecords, readSegments, tempDir } from './test-util.js';

/** Fixed for a deterministic suite; LOG_SEED and LOG_RUNS=<n> run a longer soak with another seed. */
const SEED = Number(process.env.LOG_SEED ?? 0x5eed);
const RUNS = Number(process.env.LOG_RUNS ?? 60);

interface Laid {
  rec: RawRecord;
  /** Global offsets in the concatenation of the segments, in order. */
  start: number;
  end: number;
}

/** The segments' bytes concatenated, and each record's place in them. */
async function layout(
  dir: string,
): Promise<{ files: { name: string; bytes: Buffer; start: number }[]; recs: Laid[] }> {
  const segs = await readSegments(dir);
  const files: { name: string; bytes: Buffer; start: number }[] = [];
  const startOf = new Map<number, number>();
  let pos = 0;
  for (const s of segs) {
    files.push({ ...s, start: pos });
    startOf.set(Number(s.name.slice(0, 20)), pos);
    pos += s.bytes.length;
  }
  const recs = (await readRecords(dir)).map((rec) => {
    const base = startOf.get(rec.segment)!;
    return { rec, start: base + rec.offset - RECORD_HEADER, end: base + rec.offset + rec.payload.length };
  });
  return { files, recs };
}

/** Writes the first `cut` bytes of the concatenated log into `dir` (later segments never existed). */
async function writeCut(
  files: { name: string; bytes: Buffer; start: number }[],
  dir: string,
  cut: number,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    if (f.start >= cut && f.start > 0) break;
    await writeFile(join(dir, f.name), f.bytes.subarray(0, Math.max(0, cut - f.start)));
  }
}

async function recover(dir: string): Promise<{ recovered: Recovered; log: MessageLog }> {
  return MessageLog.open(dir, { loadBodies: 'all', reclaim: false });
}

/** Every live message's body read back by id matches the loaded one (checks the recorded locations). */
async function checkPaging(log: MessageLog, r: Recovered): Promise<void> {
  for (const q of r.queues.values()) {
    for (const m of q.messages) assert.deepEqual(await log.readBody(m.id), m.body!, `body of ${m.id}`);
  }
}

test('crash: recovery after a cut at any byte offset equals the model of the complete records', async (t) => {
  const root = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 200, max: 4000 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 4 }),
      async (ops, segmentSize, cutFractions) => {
        const dir = join(root, `w${run++}`);
        const { log } = await MessageLog.open(dir, { segmentSize, reclaim: false, autoFlush: false });
        const model = new Model();
        await runOps(log, model, ops);
        // The running log's locations: every live body reads back (waiting for its flush if needed).
        for (const [id, m] of model.msgs)
          assert.deepEqual(await log.readBody(id), m.msg.body, `body of ${id}`);
        await log.close();

        const { files, recs } = await layout(dir);
        const decoded = recs.map((l) => decodeRecord(l.rec.type, l.rec.payload));
        // The records say what the operations did.
        const replayed = new Model();
        for (const d of decoded) replayed.apply(d);
        assert.deepEqual(replayed.view(), model.view());

        const total = files.reduce((n, f) => n + f.bytes.length, 0);
        for (const frac of [...cutFractions, 1]) {
          const cut = Math.floor(frac * total);
          const cdir = join(root, `c${run++}`);
          await writeCut(files, cdir, cut);
          const expected = new Model();
          recs.forEach((l, i) => {
            if (l.end <= cut) expected.apply(decoded[i]!);
          });
          const { recovered, log: rlog } = await recover(cdir);
          try {
            assert.deepEqual(recoveredView(recovered), expected.view(), `cut at ${cut} of ${total}`);
            assert.deepEqual(recovered.corrupt, []);
            const inTail = recs.some((l) => l.start < cut && l.end > cut);
            assert.equal(recovered.truncatedBytes > 0, inTail, 'a record cut in two is a torn tail');
            await checkPaging(rlog, recovered);
          } finally {
            await rlog.close();
          }
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

test('crash: a damaged record in the middle is skipped and reported, everything else recovers', async (t) => {
  const root = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 2, maxLength: 50 }),
      fc.integer({ min: 200, max: 4000 }),
      fc.nat(),
      fc.nat(),
      async (ops, segmentSize, pickRecord, pickByte) => {
        const dir = join(root, `w${run++}`);
        const { log } = await MessageLog.open(dir, { segmentSize, reclaim: false, autoFlush: false });
        await runOps(log, new Model(), ops);
        await log.close();
        const { files, recs } = await layout(dir);
        if (recs.length < 2) return;
        // Any record but the very last (whose damage is indistinguishable from a torn write).
        const victim = pickRecord % (recs.length - 1);
        const v = recs[victim]!;
        const at = v.start + (pickByte % (v.end - v.start));
        const cdir = join(root, `c${run++}`);
        await mkdir(cdir);
        for (const f of files) {
          const bytes = Buffer.from(f.bytes);
          if (at >= f.start && at < f.start + bytes.length) bytes[at - f.start]! ^= 0xa5;
          await writeFile(join(cdir, f.name), bytes);
        }
        const expected = new Model();
        recs.forEach((l, i) => {
          if (i !== victim) expected.apply(decodeRecord(l.rec.type, l.rec.payload));
        });
        const reported: number[] = [];
        const { recovered, log: rlog } = await MessageLog.open(cdir, {
          loadBodies: 'all',
          reclaim: false,
          onCorrupt: (info) => reported.push(info.segment, info.offset),
        });
        try {
          assert.deepEqual(recoveredView(recovered), expected.view());
          assert.deepEqual(reported, [v.rec.segment, v.rec.offset - RECORD_HEADER]);
          assert.equal(recovered.corrupt.length, 1);
          assert.equal(recovered.truncatedBytes, 0);
        } finally {
          await rlog.close();
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
});

test('crash: with deletion and compaction on, a cut after the last durable point recovers the model', async (t) => {
  const root = await tempDir(t);
  let run = 0;
  let deleted = 0;
  let moved = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 80 }),
      fc.array(opArb, { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 200, max: 2000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (before, after, segmentSize, frac) => {
        const dir = join(root, `w${run++}`);
        const { log } = await MessageLog.open(dir, { segmentSize, autoFlush: false, compactRatio: 0.5 });
        const model = new Model();
        // Phase 1: flushes at the sync ops; each may delete or compact segments.
        await runOps(log, model, [...before, { k: 'sync' }]);
        do {
          await log.reclaimed();
          await log.sync();
        } while (log.reclaiming);
        deleted += log.stats().segmentsDeleted;
        moved += log.stats().moved;
        const durable = model.clone();
        const boundary = await layout(dir);
        const durableEnd = boundary.files.reduce((n, f) => n + f.bytes.length, 0);
        // Phase 2: never flushed until close; a crash may keep any prefix of these bytes.
        await runOps(
          log,
          model,
          after.filter((o) => o.k !== 'sync'),
        );
        await log.close();

        const { files, recs } = await layout(dir);
        assert.equal(files[0]!.name, boundary.files[0]!.name, 'nothing reclaimed after the boundary');
        const total = files.reduce((n, f) => n + f.bytes.length, 0);
        const cut = durableEnd + Math.floor(frac * (total - durableEnd));
        const expected = durable.clone();
        for (const l of recs)
          if (l.start >= durableEnd && l.end <= cut) expected.apply(decodeRecord(l.rec.type, l.rec.payload));
        const cdir = join(root, `c${run++}`);
        await writeCut(files, cdir, cut);
        const { recovered, log: rlog } = await recover(cdir);
        try {
          assert.deepEqual(recoveredView(recovered), expected.view());
          await checkPaging(rlog, recovered);
        } finally {
          await rlog.close();
        }
        // And without a crash, everything.
        const full = await recover(dir);
        try {
          assert.deepEqual(recoveredView(full.recovered), model.view());
        } finally {
          await full.log.close();
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
  assert.ok(deleted > 0 && moved > 0, `segments deleted ${deleted}, messages moved ${moved}`);
});
