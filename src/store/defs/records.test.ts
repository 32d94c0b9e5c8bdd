import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError } from '../../errors/index.js';
import { frame, MAX_RECORD } from './codec.js';
import { DefinitionsStore } from './index.js';
import { DefsState, decodeOp, encodeOp, type Op, RecordsView } from './state.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'switchyard-records-'));
  dirs.push(d);
  return d;
}

/** Every byte value, in order, then reversed, then each twice: 1,024 bytes. */
const ALL_BYTES = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)),
  Buffer.from(Array.from({ length: 512 }, (_, i) => i >> 1)),
]);

type Dump = Record<string, [string, string][]>;
/** The records of `kinds` as plain data (keys sorted, values in hex), for deep comparison. */
function dump(s: DefinitionsStore, kinds: readonly string[]): Dump {
  const out: Dump = {};
  for (const kind of kinds)
    out[kind] = [...s.records(kind)]
      .map(([k, v]): [string, string] => [k, v.toString('hex')])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

test('defs records: any kind, key and value round-trip, and pairs never collide (property)', () => {
  // 'binary' strings hold any code point and lone surrogates too.
  const str = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('', 'a', 'ab', '\u0000'));
  type RecordOp = Extract<Op, { t: 'R' | 'r' }>;
  const opArb: fc.Arbitrary<RecordOp> = fc.oneof(
    fc
      .record({
        kind: str,
        key: str,
        // Small values repeat, so that puts of what is already there happen.
        value: fc.oneof(fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ max: 1, maxLength: 1 })),
      })
      .map((r) => ({ t: 'R' as const, kind: r.kind, key: r.key, value: Buffer.from(r.value) })),
    fc.record({ kind: str, key: str }).map((r) => ({ t: 'r' as const, ...r })),
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30, size: 'medium' }), (ops) => {
      const state = new DefsState();
      const ref = new Map<string, Buffer>(); // keyed by the JSON of the pair: unambiguous
      for (const op of ops) {
        const payload = encodeOp(op);
        assert.deepStrictEqual(decodeOp(JSON.parse(payload)), op);
        const k = JSON.stringify([op.kind, op.key]);
        const changed = op.t === 'R' ? !ref.get(k)?.equals(op.value) : ref.has(k);
        if (op.t === 'R') ref.set(k, op.value);
        else ref.delete(k);
        assert.equal(state.apply(op, payload), changed, 'a change that changes nothing is not written');
      }
      const got = new Map<string, Buffer>();
      for (const kind of state.records.keys())
        for (const [key, value] of new RecordsView(state, kind)) got.set(JSON.stringify([kind, key]), value);
      assert.deepStrictEqual(got, ref); // Maps compare regardless of order
      assert.equal(state.size, ref.size);
    }),
    { seed: 0x4ec0, numRuns: 300 },
  );
});

test('defs records: put, replace and delete survive close and reopen', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  assert.equal(s.records('mqtt.session').size, 0);
  await s.putRecord('mqtt.session', 'client-1', Buffer.from('one'));
  await s.putRecord('mqtt.session', 'client-2', Buffer.from('two'));
  await s.putRecord('mqtt.session', 'client-1', Buffer.from('one, again')); // replaces
  await s.putRecord('mqtt.retained', 'a/b', Buffer.from('payload'));
  await s.putRecord('mqtt.retained', 'a/c', Buffer.alloc(0));
  await s.deleteRecord('mqtt.retained', 'a/b');
  await s.deleteRecord('mqtt.retained', 'nope'); // no-op
  await s.deleteRecord('no.such.kind', 'x'); // no-op
  const want: Dump = {
    'mqtt.session': [
      ['client-1', Buffer.from('one, again').toString('hex')],
      ['client-2', Buffer.from('two').toString('hex')],
    ],
    'mqtt.retained': [['a/c', '']],
    'no.such.kind': [],
  };
  const kinds = Object.keys(want);
  assert.deepEqual(dump(s, kinds), want);
  await s.close();

  const r = await DefinitionsStore.open(dir);
  assert.deepEqual(r.report, { discardedBytes: 0, count: 3 });
  assert.deepEqual(dump(r, kinds), want);
  assert.deepEqual(r.definitions().vhosts, [], 'records are not definitions');
  await r.close();
});

test('defs records: records() is a read-through map with fresh values', async () => {
  const s = await DefinitionsStore.open(await tmp());
  const view = s.records('k');
  const value = Buffer.from('abc');
  const p = s.putRecord('k', 'x', value);
  value[0] = 0x7a; // the store copied it at the call
  assert.equal(view.size, 1, 'sees a change before it is durable');
  await p;
  assert.deepEqual(view.get('x'), Buffer.from('abc'));
  view.get('x')![0] = 0; // each read decodes a fresh Buffer
  assert.deepEqual(view.get('x'), Buffer.from('abc'));
  assert.equal(view.has('x'), true);
  assert.equal(view.get('y'), undefined);
  await s.putRecord('k', 'y', Buffer.from('def'));
  assert.deepEqual([...view.keys()], ['x', 'y']);
  assert.deepEqual([...view.values()].map(String), ['abc', 'def']);
  assert.deepEqual(
    [...view.entries()].map(([k, v]) => k + String(v)),
    ['xabc', 'ydef'],
  );
  const seen: string[] = [];
  view.forEach((v, k, m) => {
    assert.equal(m, view);
    seen.push(k + String(v));
  });
  assert.deepEqual(seen, ['xabc', 'ydef']);
  await s.deleteRecord('k', 'x');
  await s.deleteRecord('k', 'y');
  assert.equal(view.size, 0);
  await s.putRecord('k', 'z', Buffer.from('again'));
  assert.deepEqual([...view.keys()], ['z'], 'a kind emptied and refilled is still seen');
  await s.close();
});

test('defs records: a put of the same value or a delete of nothing writes nothing', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await s.putRecord('k', 'x', ALL_BYTES);
  const size = (await stat(join(dir, 'defs.journal.0'))).size;
  await s.putRecord('k', 'x', Buffer.from(ALL_BYTES));
  await s.deleteRecord('k', 'y');
  await s.deleteRecord('other', 'x');
  assert.equal((await stat(join(dir, 'defs.journal.0'))).size, size);
  await s.close();
});

test('defs records: binary values with every byte value round-trip, small and large', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  const values = new Map<string, Buffer>([
    ['empty', Buffer.alloc(0)],
    ['all', ALL_BYTES],
    ['zeros', Buffer.alloc(1000)],
    ['ff', Buffer.alloc(3, 0xff)],
    ['not utf-8', Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0xf8])],
    ['4 MiB random', randomBytes(4 * 1024 * 1024)],
  ]);
  for (let n = 1; n <= 4; n++) values.set(`tail ${n}`, ALL_BYTES.subarray(0, n)); // base64 padding
  await Promise.all([...values].map(([k, v]) => s.putRecord('bin', k, v)));
  await s.close();
  for (const compactBytes of [undefined, 1]) {
    // The second open compacts at once (the journal is past 1 byte): the values then come
    // from the snapshot.
    const r = await DefinitionsStore.open(dir, compactBytes === undefined ? {} : { compactBytes });
    const got = r.records('bin');
    assert.equal(got.size, values.size);
    for (const [k, v] of values) assert.ok(v.equals(got.get(k)!), k);
    await r.close();
  }
  assert.ok((await readdir(dir)).includes('defs.snapshot'));
});

test('defs records: kinds and keys are any strings, and no two pairs collide', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  const pairs: [string, string][] = [
    ['a', 'bc'],
    ['ab', 'c'],
    ['a\u0000', 'bc'],
    ['a', '\u0000bc'],
    ['', ''],
    ['', 'x'],
    ['x', ''],
    ['mqtt.session', 'clïent/日本語/🚀'],
    ['mqtt.session', '\ud800 lone surrogate \udfff'],
    ['mqtt.session', '"quoted", \\back\\slashed\n'],
    ['mqtt.session', '__proto__'],
    ['mqtt.session', '2:/x'],
  ];
  for (let i = 0; i < 50; i++) pairs.push([`kind.${i}`, `key.${i % 7}`]);
  const kinds = [...new Set(pairs.map(([k]) => k))];
  await Promise.all(pairs.map(([kind, key], i) => s.putRecord(kind, key, Buffer.from(`${i}`))));
  const want = dump(s, kinds);
  for (const [i, [kind, key]] of pairs.entries()) assert.equal(String(s.records(kind).get(key)), `${i}`);
  await s.close();

  const r = await DefinitionsStore.open(dir);
  assert.equal(r.report.count, pairs.length);
  assert.deepEqual(dump(r, kinds), want);
  // Deleting one pair leaves its near neighbours alone.
  await r.deleteRecord('a', 'bc');
  assert.equal(r.records('a').has('bc'), false);
  assert.equal(String(r.records('ab').get('c')), '1');
  assert.equal(String(r.records('a\u0000').get('bc')), '2');
  await r.close();
});

test('defs records: deleting a vhost leaves records alone', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await s.putVhost({ name: '/' });
  await s.putRecord('/', '/', Buffer.from('named like the vhost'));
  await s.putRecord('mqtt.session', '/', Buffer.from('s'));
  await s.deleteVhost('/');
  const want = dump(s, ['/', 'mqtt.session']);
  assert.equal(want['/']?.length, 1);
  assert.equal(want['mqtt.session']?.length, 1);
  await s.close();
  const r = await DefinitionsStore.open(dir);
  assert.deepEqual(dump(r, ['/', 'mqtt.session']), want, 'on replay too');
  await r.close();
});

test('defs records: records survive compactions, mixed with definitions', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir, { compactBytes: 512 });
  for (let i = 0; i < 40; i++) {
    await s.putRecord('mqtt.retained', `t/${i % 13}`, Buffer.from([i, 0, 255, i]));
    await s.putQueue({ vhost: '/', name: `q${i}`, args: {} });
    if (i % 3 === 0) await s.deleteRecord('mqtt.retained', `t/${(i + 5) % 13}`);
    if (i % 4 === 0) await s.putRecord('mqtt.session', `c${i}`, ALL_BYTES);
  }
  const kinds = ['mqtt.retained', 'mqtt.session'];
  const want = dump(s, kinds);
  const defs = s.definitions();
  await s.close();
  const files = (await readdir(dir)).sort();
  assert.equal(files.length, 2);
  assert.ok(Number(files[0]!.split('.').pop()) > 1, 'compacted more than once');
  const r = await DefinitionsStore.open(dir, { compactBytes: 512 });
  assert.deepEqual(dump(r, kinds), want);
  assert.deepStrictEqual(r.definitions(), defs);
  await r.close();
});

test('defs records: old files without records load, and take records', async () => {
  // Files in format 1 as written before records existed: a snapshot and a journal.
  const dir = await tmp();
  await writeFile(
    join(dir, 'defs.snapshot'),
    Buffer.concat(['["H",1,3,5]', '["V","/"]', '["Q",4,"/","q",{}]', '["E",2]'].map(frame)),
  );
  await writeFile(
    join(dir, 'defs.journal.3'),
    Buffer.concat(['["J",1,3]', '["X","/","x","topic",false,false,{}]'].map(frame)),
  );
  const s = await DefinitionsStore.open(dir);
  assert.deepEqual(s.report, { discardedBytes: 0, count: 3 });
  await s.putRecord('k', 'v', Buffer.from('new'));
  await s.close();
  const r = await DefinitionsStore.open(dir);
  const d = r.definitions();
  assert.deepEqual([d.vhosts.length, d.exchanges.length, d.queues.length, d.nextQueueId], [1, 1, 1, 5]);
  assert.equal(String(r.records('k').get('v')), 'new');
  await r.close();
});

/** Opens a copy of `dir` with `journal` as its journal, twice; the records of `kinds`, bytes dropped. */
async function openWithJournal(
  dir: string,
  journal: Buffer,
  kinds: readonly string[],
): Promise<[Dump, number]> {
  const work = await tmp();
  await cp(dir, work, { recursive: true });
  await writeFile(join(work, 'defs.journal.0'), journal);
  const s = await DefinitionsStore.open(work);
  const d = dump(s, kinds);
  const discarded = s.report.discardedBytes;
  await s.close();
  const again = await DefinitionsStore.open(work);
  assert.equal(again.report.discardedBytes, 0);
  assert.deepEqual(dump(again, kinds), d);
  await again.close();
  await rm(work, { recursive: true });
  return [d, discarded];
}

test('defs records: a torn last write drops only that write', async () => {
  const kinds = ['mqtt.session', 'mqtt.retained'];
  const lastWrites: [string, (s: DefinitionsStore) => Promise<unknown>][] = [
    ['a new record', (s) => s.putRecord('mqtt.retained', 'new', ALL_BYTES.subarray(0, 300))],
    ['a replacement', (s) => s.putRecord('mqtt.session', 'c1', Buffer.from('replaced'))],
    ['a delete', (s) => s.deleteRecord('mqtt.session', 'c2')],
  ];
  for (const [what, write] of lastWrites) {
    const dir = await tmp();
    const s = await DefinitionsStore.open(dir);
    await s.putVhost({ name: '/' });
    await s.putRecord('mqtt.session', 'c1', Buffer.from('first'));
    await s.putRecord('mqtt.session', 'c2', ALL_BYTES);
    await s.putRecord('mqtt.retained', 'a/b', Buffer.from([0, 1, 2]));
    const acked = dump(s, kinds);
    const journal = join(dir, 'defs.journal.0');
    const from = (await stat(journal)).size;
    await write(s);
    const full = dump(s, kinds);
    await s.close();
    const bytes = await readFile(journal);
    for (let cut = from; cut <= bytes.length; cut++) {
      const [d, discarded] = await openWithJournal(dir, bytes.subarray(0, cut), kinds);
      const complete = cut === bytes.length;
      assert.deepEqual(d, complete ? full : acked, `${what}: cut at ${cut}`);
      assert.equal(discarded, complete ? 0 : cut - from, `${what}: cut at ${cut}`);
    }
  }
});

test('defs records: a torn large record (a retained message body) drops only itself', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await s.putRecord('mqtt.retained', 'small', Buffer.from('kept'));
  const journal = join(dir, 'defs.journal.0');
  const from = (await stat(journal)).size;
  const big = randomBytes(2 * 1024 * 1024);
  await s.putRecord('mqtt.retained', 'big', big);
  await s.close();
  const bytes = await readFile(journal);
  for (const cut of [from + 1, from + 8, from + 9, from + 1000, bytes.length >> 1, bytes.length - 1]) {
    const [d, discarded] = await openWithJournal(dir, bytes.subarray(0, cut), ['mqtt.retained']);
    assert.deepEqual(
      d,
      { 'mqtt.retained': [['small', Buffer.from('kept').toString('hex')]] },
      `cut at ${cut}`,
    );
    assert.equal(discarded, cut - from);
  }
  const [d] = await openWithJournal(dir, bytes, ['mqtt.retained']);
  assert.equal(d['mqtt.retained']?.find(([k]) => k === 'big')?.[1], big.toString('hex'));
});

test('defs records: a record too large for the journal rejects and changes nothing', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await s.putRecord('k', 'x', Buffer.from('small'));
  const tooBig = Buffer.alloc((MAX_RECORD / 4) * 3 + 1); // base64: just over MAX_RECORD
  const e = await s.putRecord('k', 'x', tooBig).catch((err: unknown) => err);
  assert.ok(e instanceof SwitchyardError && e.code === 'CONTENT_TOO_LARGE', String(e));
  assert.equal(String(s.records('k').get('x')), 'small');
  await s.putRecord('k', 'y', Buffer.from('still works'));
  await s.close();
  const r = await DefinitionsStore.open(dir);
  assert.equal(r.records('k').size, 2);
  await r.close();
});

test('defs records: concurrent changes share flushes and resolve in call order', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  const order: string[] = [];
  const ps: Promise<unknown>[] = [];
  for (let i = 0; i < 100; i++) {
    ps.push(s.putRecord('k', `${i}`, Buffer.from([i])).then(() => order.push(`put ${i}`)));
    if (i % 10 === 9) ps.push(s.deleteRecord('k', `${i - 5}`).then(() => order.push(`delete ${i - 5}`)));
    if (i % 25 === 0)
      ps.push(s.putQueue({ vhost: '/', name: `q${i}`, args: {} }).then(() => order.push(`q ${i}`)));
  }
  const expected: string[] = [];
  for (let i = 0; i < 100; i++) {
    expected.push(`put ${i}`);
    if (i % 10 === 9) expected.push(`delete ${i - 5}`);
    if (i % 25 === 0) expected.push(`q ${i}`);
  }
  await Promise.all(ps);
  assert.deepEqual(order, expected);
  await s.close();
  const r = await DefinitionsStore.open(dir);
  assert.equal(r.records('k').size, 90);
  assert.equal(r.definitions().queues.length, 4);
  await r.close();
});

test('defs records: damage refuses to open; a failed write rejects; changes after close reject', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await s.putRecord('k', 'x', Buffer.from('v'));
  await s.close();
  const journal = await readFile(join(dir, 'defs.journal.0'));
  for (const bad of ['["R","k"]', '["R","k","x",7]', '["r","k",null]']) {
    await assert.rejects(
      openWithJournal(dir, Buffer.concat([journal, frame(bad)]), ['k']),
      (e) => e instanceof SwitchyardError && /is damaged/.test(e.message),
      bad,
    );
  }
  // A delete has no place in a snapshot.
  const snapDir = await tmp();
  await writeFile(
    join(snapDir, 'defs.snapshot'),
    Buffer.concat(['["H",1,1,1]', '["r","k","x"]', '["E",1]'].map(frame)),
  );
  await assert.rejects(DefinitionsStore.open(snapDir), /delete in a snapshot/);

  const w = await DefinitionsStore.open(await tmp());
  await (w as unknown as { journal: FileHandle }).journal.close();
  const e1 = await w.putRecord('k', 'x', Buffer.from('v')).catch((e: unknown) => e);
  assert.ok(e1 instanceof SwitchyardError && /write failed/.test(e1.message));
  await assert.rejects(w.deleteRecord('k', 'x'), (e) => e === e1);
  await w.close();
  await assert.rejects(w.putRecord('k', 'y', Buffer.alloc(1)), /closed/);
  await assert.rejects(w.deleteRecord('k', 'y'), /closed/);
});
