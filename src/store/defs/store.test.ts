import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Decimal } from '../../model/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { frame } from './codec.js';
import { type BindingDef, type Definitions, DefinitionsStore, type ExchangeDef } from './index.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'switchyard-defs-'));
  dirs.push(d);
  return d;
}

const RICH_ARGS = {
  'x-message-ttl': 60000,
  'x-max-length': 2n ** 40n,
  'x-dead-letter-exchange': 'dlx',
  raw: Buffer.from([0, 1, 2, 255]),
  when: new Date(1_700_000_000_000),
  price: new Decimal(2, 1999),
  list: [1, 'two', [3n], { four: null }],
  nested: { a: { b: true, nan: Number.NaN, nz: -0 } },
};
const exchange = (name: string, args = {}): ExchangeDef => ({
  vhost: '/',
  name,
  type: 'topic',
  autoDelete: false,
  internal: false,
  args,
});
const toQueue = (source: string, destination: string, routingKey = '#', args = {}): BindingDef => ({
  vhost: '/',
  source,
  destinationKind: 'queue',
  destination,
  routingKey,
  args,
});

/** A store with a bit of everything, every change acknowledged. */
async function fill(s: DefinitionsStore): Promise<void> {
  await s.putVhost({ name: '/' });
  await s.putVhost({ name: 'prod' });
  await s.putExchange(exchange('events', RICH_ARGS));
  await s.putExchange({ ...exchange('audit'), type: 'fanout', internal: true, autoDelete: true });
  await s.putQueue({ vhost: '/', name: 'orders', args: RICH_ARGS });
  await s.putQueue({ vhost: 'prod', name: 'orders', args: {} });
  await s.putBinding(toQueue('events', 'orders', 'order.*', { 'x-match': 'any', n: 1n }));
  await s.putBinding({ ...toQueue('events', 'audit'), destinationKind: 'exchange' });
  await s.putBinding(toQueue('amq.topic', 'orders', 'legacy.#'));
}

test('defs store: everything round-trips through close and reopen', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  assert.deepEqual(s.definitions(), { vhosts: [], exchanges: [], queues: [], bindings: [], nextQueueId: 1 });
  await fill(s);
  const before = s.definitions();
  assert.deepEqual(before.queues[0], { id: 1, vhost: '/', name: 'orders', args: RICH_ARGS });
  assert.deepEqual(before.exchanges[0], exchange('events', RICH_ARGS));
  assert.equal(before.bindings.length, 3);
  await s.close();

  const r = await DefinitionsStore.open(dir);
  assert.deepEqual(r.report, { discardedBytes: 0, count: 9 });
  const back = r.definitions();
  assert.deepStrictEqual(back, before);
  assert.equal(typeof back.queues[0]?.args['x-max-length'], 'bigint');
  assert.deepStrictEqual(r.definitions(), before, 'a second call decodes the same');
  await r.close();
});

test('defs store: queue ids are assigned at once, kept on re-put, never reused', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  const a = s.putQueue({ vhost: '/', name: 'a', args: {} });
  assert.equal(s.queueId('/', 'a'), 1, 'known before the write is durable');
  assert.equal(await a, 1);
  assert.equal(await s.putQueue({ vhost: '/', name: 'b', args: {} }), 2);
  assert.equal(await s.putQueue({ vhost: '/', name: 'a', args: { 'x-max-length': 5 } }), 1);
  await s.deleteQueue('/', 'b');
  assert.equal(s.queueId('/', 'b'), undefined);
  await s.close();

  const r = await DefinitionsStore.open(dir);
  assert.equal(r.definitions().nextQueueId, 3, 'the id of deleted b is not given out again');
  assert.deepEqual(r.definitions().queues, [{ id: 1, vhost: '/', name: 'a', args: { 'x-max-length': 5 } }]);
  assert.equal(await r.putQueue({ vhost: '/', name: 'b', args: {} }), 3);
  await r.close();
});

test('defs store: ids of deleted queues are not reused after a compaction either', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir, { compactBytes: 1 });
  await s.putQueue({ vhost: '/', name: 'a', args: {} });
  await s.putQueue({ vhost: '/', name: 'b', args: {} });
  await s.deleteQueue('/', 'a');
  await s.deleteQueue('/', 'b');
  // compactBytes 1: the journal is compacted as soon as it outgrows the (now tiny) snapshot.
  for (let i = 0; i < 10; i++) await s.putVhost({ name: `vhost-with-a-long-name-${i}` });
  await s.close();
  const r = await DefinitionsStore.open(dir);
  assert.deepEqual(r.definitions().queues, []);
  assert.equal(r.definitions().nextQueueId, 3);
  assert.equal(await r.putQueue({ vhost: '/', name: 'a', args: {} }), 3);
  await r.close();
});

test('defs store: deleting an exchange, a queue or a vhost deletes what hangs off it', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await fill(s);
  await s.deleteExchange('/', 'audit'); // destination of events → audit
  assert.deepEqual(
    s.definitions().bindings.map((b) => b.destination),
    ['orders', 'orders'],
  );
  await s.deleteQueue('/', 'orders'); // destination of both the rest
  assert.deepEqual(s.definitions().bindings, []);
  await s.putBinding(toQueue('events', 'x'));
  await s.deleteExchange('/', 'events'); // source
  assert.deepEqual(s.definitions().bindings, []);
  await s.putExchange(exchange('events'));
  await s.putBinding(toQueue('events', 'x'));
  await s.deleteVhost('/');
  const d = s.definitions();
  assert.deepEqual(d.vhosts, [{ name: 'prod' }]);
  assert.deepEqual([d.exchanges, d.bindings], [[], []]);
  assert.deepEqual(d.queues, [{ id: 2, vhost: 'prod', name: 'orders', args: {} }]);
  await s.close();
  const r = await DefinitionsStore.open(dir);
  assert.deepStrictEqual(r.definitions(), d, 'cascades replay the same way');
  await r.close();
});

test('defs store: binding identity is exact, and arguments keep their order', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await s.putBinding(toQueue('x', 'q', 'k', { a: 1, b: 2 }));
  await s.putBinding(toQueue('x', 'q', 'k', { b: 2, a: 1 })); // the same binding
  await s.putBinding(toQueue('x', 'q', 'k', { a: 1n, b: 2 })); // 1n is not 1 for identity
  await s.putBinding({ ...toQueue('x', 'q', 'k', { a: 1, b: 2 }), destinationKind: 'exchange' });
  const d = s.definitions();
  assert.equal(d.bindings.length, 3);
  assert.deepEqual(
    Object.keys(d.bindings.find((b) => b.args.a === 1 && b.destinationKind === 'queue')!.args),
    ['b', 'a'],
  );
  await s.deleteBinding(toQueue('x', 'q', 'k', { a: 1, b: 2 }));
  assert.deepEqual(
    s.definitions().bindings.map((b) => [b.destinationKind, b.args.a]),
    [
      ['queue', 1n],
      ['exchange', 1],
    ],
  );
  await s.close();
});

test('defs store: a change that changes nothing writes nothing, and resolves after earlier ones', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await fill(s);
  const size = (await stat(join(dir, 'defs.journal.0'))).size;
  await s.putExchange(exchange('events', RICH_ARGS));
  await s.deleteQueue('/', 'nope');
  await s.deleteBinding(toQueue('events', 'nope'));
  await s.deleteVhost('nope');
  assert.equal((await stat(join(dir, 'defs.journal.0'))).size, size);

  const order: string[] = [];
  const p1 = s.putQueue({ vhost: '/', name: 'new', args: {} }).then(() => order.push('put'));
  const p2 = s.deleteQueue('/', 'nope').then(() => order.push('no-op'));
  await Promise.all([p1, p2]);
  assert.deepEqual(order, ['put', 'no-op']);
  await s.close();
});

test('defs store: concurrent mutations share flushes and resolve in call order', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      s.putQueue({ vhost: '/', name: `q${i}`, args: {} }).then((id) => order.push(id)),
    ),
  );
  assert.deepEqual(
    order,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  await s.close();
  const r = await DefinitionsStore.open(dir);
  assert.equal(r.definitions().queues.length, 200);
  await r.close();
});

test('defs store: compaction keeps everything and leaves one snapshot and one journal', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir, { compactBytes: 512 });
  for (let i = 0; i < 30; i++) {
    await s.putQueue({ vhost: '/', name: `q${i}`, args: { i } });
    await s.putBinding(toQueue('amq.direct', `q${i}`, `k${i}`));
    if (i % 3 === 0) await s.deleteQueue('/', `q${i}`);
  }
  const before = s.definitions();
  await s.close();
  const files = (await readdir(dir)).sort();
  assert.equal(files.length, 2);
  assert.match(files[0]!, /^defs\.journal\.\d+$/);
  assert.ok(Number(files[0]!.split('.').pop()) > 1, 'compacted more than once');
  assert.equal(files[1], 'defs.snapshot');
  const r = await DefinitionsStore.open(dir, { compactBytes: 512 });
  assert.deepStrictEqual(r.definitions(), before);
  assert.equal(r.definitions().nextQueueId, 31);
  await r.close();
});

/** Opens `dir` with `journal` as its journal bytes; returns the definitions and the report. */
async function openWith(
  dir: string,
  files: Record<string, Buffer | undefined>,
): Promise<[Definitions, number]> {
  const work = await tmp();
  await cp(dir, work, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    if (bytes === undefined) await rm(join(work, name), { force: true });
    else await writeFile(join(work, name), bytes);
  }
  const s = await DefinitionsStore.open(work);
  const d = s.definitions();
  const discarded = s.report.discardedBytes;
  await s.close();
  // The repair itself is durable: a second open finds nothing left to drop.
  const again = await DefinitionsStore.open(work);
  assert.equal(again.report.discardedBytes, 0);
  assert.deepStrictEqual(again.definitions(), d);
  await again.close();
  await rm(work, { recursive: true });
  return [d, discarded];
}

test('defs store: a last write torn at every byte loses nothing acknowledged and always opens', async () => {
  const lastWrites: [string, (s: DefinitionsStore) => Promise<unknown>][] = [
    ['a binding with every value type', (s) => s.putBinding(toQueue('events', 'orders', 'k', RICH_ARGS))],
    ['an exchange delete that cascades', (s) => s.deleteExchange('/', 'events')],
    ['a new queue', (s) => s.putQueue({ vhost: 'prod', name: 'new', args: { big: -(2n ** 65n) } })],
  ];
  for (const [what, write] of lastWrites) {
    const dir = await tmp();
    const s = await DefinitionsStore.open(dir);
    await fill(s);
    const acked = s.definitions();
    const journal = join(dir, 'defs.journal.0');
    const from = (await stat(journal)).size;
    await write(s);
    const full = s.definitions();
    await s.close();
    const bytes = await readFile(journal);
    for (let cut = from; cut <= bytes.length; cut++) {
      const [d, discarded] = await openWith(dir, { 'defs.journal.0': bytes.subarray(0, cut) });
      const complete = cut === bytes.length;
      assert.deepStrictEqual(d, complete ? full : acked, `${what}: cut at ${cut}`);
      assert.equal(discarded, complete ? 0 : cut - from, `${what}: cut at ${cut}`);
    }
    // A file extended with zeros or junk behind the last record is a torn tail too.
    for (const junk of [Buffer.alloc(4096), Buffer.from('\x05\x00\x00\x00garbage')]) {
      const [d, discarded] = await openWith(dir, { 'defs.journal.0': Buffer.concat([bytes, junk]) });
      assert.deepStrictEqual(d, full);
      assert.equal(discarded, junk.length);
    }
  }
});

test('defs store: a torn batch of concurrent writes opens as a prefix of it', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir);
  await fill(s);
  const from = (await stat(join(dir, 'defs.journal.0'))).size;
  const states = [s.definitions()];
  // One batch: these are all written by one flush. Record the state after each.
  const ps = [
    s.putQueue({ vhost: '/', name: 'b1', args: {} }),
    s.putBinding(toQueue('events', 'b1')),
    s.deleteQueue('/', 'orders'),
    s.deleteVhost('prod'),
  ];
  await Promise.all(ps);
  await s.close();
  // The states after each prefix of the batch, computed one change at a time.
  const ref = await DefinitionsStore.open(await tmp());
  await fill(ref);
  for (const step of [
    (r: DefinitionsStore) => r.putQueue({ vhost: '/', name: 'b1', args: {} }),
    (r: DefinitionsStore) => r.putBinding(toQueue('events', 'b1')),
    (r: DefinitionsStore) => r.deleteQueue('/', 'orders'),
    (r: DefinitionsStore) => r.deleteVhost('prod'),
  ]) {
    await step(ref);
    states.push(ref.definitions());
  }
  await ref.close();
  const bytes = await readFile(join(dir, 'defs.journal.0'));
  for (let cut = from; cut <= bytes.length; cut++) {
    const [d] = await openWith(dir, { 'defs.journal.0': bytes.subarray(0, cut) });
    assert.ok(
      states.some((st) => {
        try {
          assert.deepStrictEqual(d, st);
          return true;
        } catch {
          return false;
        }
      }),
      `cut at ${cut}: not a prefix state`,
    );
  }
});

test('defs store: a crash at any step of a compaction leaves everything', async () => {
  const dir = await tmp();
  let s = await DefinitionsStore.open(dir, { compactBytes: 400 });
  await s.putVhost({ name: '/' });
  await s.putExchange(exchange('events'));
  await s.close();
  const beforeDir = await tmp();
  await cp(dir, beforeDir, { recursive: true });
  s = await DefinitionsStore.open(dir, { compactBytes: 400 });
  const before = s.definitions();
  // Big enough to push the journal past 400 bytes: this write is made durable by compaction.
  await s.putQueue({ vhost: '/', name: 'q', args: { blob: Buffer.alloc(300, 7) } });
  const after = s.definitions();
  await s.close();
  assert.deepEqual((await readdir(dir)).sort(), ['defs.journal.1', 'defs.snapshot']);
  const newSnap = await readFile(join(dir, 'defs.snapshot'));
  const newJournal = await readFile(join(dir, 'defs.journal.1'));
  const oldJournal = await readFile(join(beforeDir, 'defs.journal.0'));

  // Before the rename: a partial or whole snapshot.tmp is ignored and removed.
  for (const tmpBytes of [newSnap.subarray(0, newSnap.length >> 1), newSnap]) {
    const [d] = await openWith(beforeDir, { 'defs.snapshot.tmp': tmpBytes });
    assert.deepStrictEqual(d, before);
  }
  // After the rename: the old journal is still there, the new one missing or with a torn header.
  for (const j1 of [undefined, newJournal.subarray(0, 5), newJournal]) {
    const [d] = await openWith(beforeDir, {
      'defs.snapshot': newSnap,
      'defs.journal.0': oldJournal,
      'defs.journal.1': j1,
    });
    assert.deepStrictEqual(d, after);
  }
});

test('defs store: damage that no crash can cause refuses to open', async () => {
  const dir = await tmp();
  const s = await DefinitionsStore.open(dir, { compactBytes: 1 });
  await fill(s); // compactBytes 1: every write compacts, so there is a snapshot
  await s.close();
  const snap = await readFile(join(dir, 'defs.snapshot'));
  const flipped = Buffer.from(snap);
  flipped[flipped.length >> 1]! ^= 1;
  const bad: Record<string, Buffer | undefined>[] = [
    { 'defs.snapshot': flipped },
    { 'defs.snapshot': snap.subarray(0, snap.length - 3) },
    { 'defs.snapshot': undefined }, // a journal newer than the (missing) snapshot
    { 'defs.journal.99': Buffer.alloc(0) },
  ];
  const jname = (await readdir(dir)).find((n) => n.startsWith('defs.journal.'))!;
  const journal = await readFile(join(dir, jname));
  // A record with a good CRC that is not an operation.
  bad.push({ [jname]: Buffer.concat([journal, frame('["Z"]')]) });
  bad.push({ [jname]: Buffer.concat([journal, frame('not json')]) });
  for (const files of bad) {
    await assert.rejects(
      openWith(dir, files),
      (e) => e instanceof SwitchyardError && /definitions store .* is damaged/.test(e.message),
      JSON.stringify(Object.keys(files)),
    );
  }
});

test('defs store: a failed write rejects that change and every later one', async () => {
  const s = await DefinitionsStore.open(await tmp());
  await s.putVhost({ name: '/' });
  // Pull the file out from under the store: the next write fails (EBADF).
  await (s as unknown as { journal: FileHandle }).journal.close();
  const e1 = await s.putVhost({ name: 'a' }).catch((e: unknown) => e);
  assert.ok(e1 instanceof SwitchyardError && /write failed/.test(e1.message));
  await assert.rejects(s.putVhost({ name: 'b' }), (e) => e === e1);
  await s.close();
});

test('defs store: changes after close reject', async () => {
  const s = await DefinitionsStore.open(await tmp());
  await s.close();
  await assert.rejects(s.putVhost({ name: '/' }), /closed/);
  await s.close(); // idempotent
});

test('defs store: kill -9 of a busy writer never loses an acknowledged definition', async () => {
  const dir = await tmp();
  const storeUrl = new URL('./index.ts', import.meta.url).href;
  // Writes queues (and a binding to each) forever, eight at a time, compacting often; prints
  // each queue's number once its putQueue is durable.
  const child = `
    import { DefinitionsStore } from ${JSON.stringify(storeUrl)};
    const s = await DefinitionsStore.open(process.env.DIR, { compactBytes: 16384 });
    let i = Number(process.env.FROM);
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (;;) {
        const k = i++;
        const b = s.putBinding({ vhost: '/', source: 'amq.topic', destinationKind: 'queue', destination: 'q' + k, routingKey: '#', args: { k: BigInt(k) } });
        await s.putQueue({ vhost: '/', name: 'q' + k, args: { k } });
        await b;
        process.stdout.write(k + '\\n');
      }
    }));`;
  const acked = new Set<number>();
  let from = 0;
  for (const killAfter of [1, 150, 600]) {
    const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
      env: { ...process.env, DIR: dir, FROM: String(from) },
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let seen = 0;
    let buf = '';
    await new Promise<void>((resolve) => {
      p.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) acked.add(Number(l));
        seen += lines.length;
        if (seen >= killAfter) p.kill('SIGKILL');
      });
      p.on('exit', () => resolve());
    });
    const s = await DefinitionsStore.open(dir);
    const d = s.definitions();
    const queues = new Set(d.queues.map((q) => q.name));
    const bound = new Set(d.bindings.map((b) => b.destination));
    for (const k of acked) {
      assert.ok(queues.has(`q${k}`) && bound.has(`q${k}`), `q${k} was acknowledged`);
    }
    const ids = d.queues.map((q) => q.id);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
    assert.ok(Math.max(...ids) < d.nextQueueId);
    from = d.nextQueueId + 1000; // new names, so ids and names do not meet old ones
    await s.close();
  }
  assert.ok(acked.size >= 751);
});
