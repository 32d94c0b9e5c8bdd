/**
 * Random sequences of changes against a reference model that is as plain as possible (arrays,
 * linear search, deep equality for binding arguments, a Map per record kind), with reopens in
 * between and at the end, and a compaction threshold small enough that many runs compact.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { Decimal, type HeaderTable, type HeaderValue } from '../../model/index.js';
import {
  type BindingDef,
  type Definitions,
  DefinitionsStore,
  type ExchangeDef,
  type StoredQueue,
  type VhostDef,
} from './index.js';

const SEED = 0x5709e;

type Cmd =
  | { c: 'putVhost'; name: string }
  | { c: 'deleteVhost'; name: string }
  | { c: 'putExchange'; def: ExchangeDef }
  | { c: 'deleteExchange'; vhost: string; name: string }
  | { c: 'putQueue'; vhost: string; name: string; args: HeaderTable }
  | { c: 'deleteQueue'; vhost: string; name: string }
  | { c: 'putBinding'; def: BindingDef }
  | { c: 'deleteBinding'; def: BindingDef }
  | { c: 'putRecord'; kind: string; key: string; value: Buffer }
  | { c: 'deleteRecord'; kind: string; key: string }
  | { c: 'reopen' }
  | { c: 'await' };

// Small name pools, so that deletes hit, cascades happen and puts replace.
const vhostArb = fc.constantFrom('/', 'v2');
const exchangeArb = fc.constantFrom('x1', 'x2', 'amq.topic');
const queueArb = fc.constantFrom('q1', 'q2', 'q3');
// '/' is also a vhost name: deleting that vhost must not touch these records.
const KINDS = ['mqtt.session', 'mqtt.retained', '/'] as const;
const recordKindArb = fc.constantFrom(...KINDS);
const recordKeyArb = fc.constantFrom('a', '', 'a/b', '\ud800', 'é/🚀');
const valueArb: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.constantFrom(1, 1n, '1', -0, 0, Number.NaN, null, true),
  fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 0, max: 2e12 }).map((t) => new Date(t)),
  fc.integer({ min: 0, max: 9 }).map((v) => new Decimal(1, v)),
  fc.array(fc.constantFrom(1, 'a', 2n), { maxLength: 2 }),
  fc.constantFrom<HeaderValue>({ nested: { deeper: [1n] } }, {}),
);
const argsArb: fc.Arbitrary<HeaderTable> = fc.dictionary(fc.constantFrom('a', 'b', 'x-match'), valueArb, {
  maxKeys: 2,
  noNullPrototype: true,
});
const plain = { noNullPrototype: true } as const;
const bindingArb: fc.Arbitrary<BindingDef> = fc.record(
  {
    vhost: vhostArb,
    source: exchangeArb,
    destinationKind: fc.constantFrom('queue' as const, 'exchange' as const),
    destination: fc.oneof(queueArb, exchangeArb),
    routingKey: fc.constantFrom('', 'k', 'a.#'),
    args: argsArb,
  },
  plain,
);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  vhostArb.map((name) => ({ c: 'putVhost' as const, name })),
  vhostArb.map((name) => ({ c: 'deleteVhost' as const, name })),
  fc
    .record(
      {
        vhost: vhostArb,
        name: exchangeArb,
        type: fc.constantFrom('direct', 'topic', 'headers'),
        autoDelete: fc.boolean(),
        internal: fc.boolean(),
        args: argsArb,
      },
      plain,
    )
    .map((def) => ({ c: 'putExchange' as const, def })),
  fc
    .record({ vhost: vhostArb, name: exchangeArb }, plain)
    .map((r) => ({ c: 'deleteExchange' as const, ...r })),
  fc
    .record({ vhost: vhostArb, name: queueArb, args: argsArb })
    .map((r) => ({ c: 'putQueue' as const, ...r })),
  fc.record({ vhost: vhostArb, name: queueArb }, plain).map((r) => ({ c: 'deleteQueue' as const, ...r })),
  bindingArb.map((def) => ({ c: 'putBinding' as const, def })),
  bindingArb.map((def) => ({ c: 'deleteBinding' as const, def })),
  // Weighted up: with several kinds and keys, deletes and replacements hit less often otherwise.
  {
    weight: 2,
    arbitrary: fc
      .record({ kind: recordKindArb, key: recordKeyArb, value: fc.uint8Array({ maxLength: 40 }) }, plain)
      .map((r) => ({ c: 'putRecord' as const, ...r, value: Buffer.from(r.value) })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ kind: recordKindArb, key: recordKeyArb }, plain)
      .map((r) => ({ c: 'deleteRecord' as const, ...r })),
  },
  fc.constant({ c: 'reopen' as const }),
  fc.constant({ c: 'await' as const }),
);

// 'medium': the default size makes most sequences a handful of commands long.
const cmdsArb = fc.array(cmdArb, { maxLength: 40, size: 'medium' });

/** The reference: what the store should hold, computed the obvious way. */
class Model {
  vhosts: VhostDef[] = [];
  exchanges: ExchangeDef[] = [];
  queues: StoredQueue[] = [];
  bindings: BindingDef[] = [];
  nextQueueId = 1;
  records = new Map<string, Map<string, Buffer>>(KINDS.map((k) => [k, new Map()]));

  run(c: Cmd): number | undefined {
    switch (c.c) {
      case 'putVhost':
        if (!this.vhosts.some((v) => v.name === c.name)) this.vhosts.push({ name: c.name });
        return;
      case 'deleteVhost':
        if (!this.vhosts.some((v) => v.name === c.name)) return;
        this.vhosts = this.vhosts.filter((v) => v.name !== c.name);
        this.exchanges = this.exchanges.filter((x) => x.vhost !== c.name);
        this.queues = this.queues.filter((q) => q.vhost !== c.name);
        this.bindings = this.bindings.filter((b) => b.vhost !== c.name);
        return;
      case 'putExchange':
        this.exchanges = this.exchanges.filter((x) => !(x.vhost === c.def.vhost && x.name === c.def.name));
        this.exchanges.push(c.def);
        return;
      case 'deleteExchange':
        if (!this.exchanges.some((x) => x.vhost === c.vhost && x.name === c.name)) return;
        this.exchanges = this.exchanges.filter((x) => !(x.vhost === c.vhost && x.name === c.name));
        this.bindings = this.bindings.filter(
          (b) =>
            b.vhost !== c.vhost ||
            (b.source !== c.name && !(b.destinationKind === 'exchange' && b.destination === c.name)),
        );
        return;
      case 'putQueue': {
        const old = this.queues.find((q) => q.vhost === c.vhost && q.name === c.name);
        const id = old?.id ?? this.nextQueueId++;
        this.queues = this.queues.filter((q) => q !== old);
        this.queues.push({ vhost: c.vhost, name: c.name, args: c.args, id });
        return id;
      }
      case 'deleteQueue':
        if (!this.queues.some((q) => q.vhost === c.vhost && q.name === c.name)) return;
        this.queues = this.queues.filter((q) => !(q.vhost === c.vhost && q.name === c.name));
        this.bindings = this.bindings.filter(
          (b) => !(b.vhost === c.vhost && b.destinationKind === 'queue' && b.destination === c.name),
        );
        return;
      case 'putBinding':
        this.bindings = this.bindings.filter((b) => !sameBinding(b, c.def));
        this.bindings.push(c.def);
        return;
      case 'deleteBinding':
        this.bindings = this.bindings.filter((b) => !sameBinding(b, c.def));
        return;
      case 'putRecord':
        this.records.get(c.kind)?.set(c.key, Buffer.from(c.value));
        return;
      case 'deleteRecord':
        this.records.get(c.kind)?.delete(c.key);
        return;
      default:
        return;
    }
  }

  definitions(): Definitions {
    return {
      vhosts: this.vhosts,
      exchanges: this.exchanges,
      queues: this.queues,
      bindings: this.bindings,
      nextQueueId: this.nextQueueId,
    };
  }
}

/** Binding identity: every field, arguments compared deeply (key order aside, 1 ≠ 1n, 0 ≠ -0). */
function sameBinding(a: BindingDef, b: BindingDef): boolean {
  return (
    a.vhost === b.vhost &&
    a.source === b.source &&
    a.destinationKind === b.destinationKind &&
    a.destination === b.destination &&
    a.routingKey === b.routingKey &&
    isDeepStrictEqual(a.args, b.args)
  );
}

/** Compares as sets: order within each list is not part of the contract under replacement. */
function assertSameDefs(actual: Definitions, expected: Definitions, when: string): void {
  const byName = <T extends { name: string; vhost?: string }>(xs: readonly T[]) =>
    [...xs].sort((p, q) => (`${p.vhost}\0${p.name}` < `${q.vhost}\0${q.name}` ? -1 : 1));
  assert.equal(actual.nextQueueId, expected.nextQueueId, `${when}: nextQueueId`);
  assert.deepStrictEqual(byName(actual.vhosts), byName(expected.vhosts), `${when}: vhosts`);
  assert.deepStrictEqual(byName(actual.exchanges), byName(expected.exchanges), `${when}: exchanges`);
  assert.deepStrictEqual(byName(actual.queues), byName(expected.queues), `${when}: queues`);
  assert.equal(actual.bindings.length, expected.bindings.length, `${when}: binding count`);
  for (const b of expected.bindings) {
    const found = actual.bindings.find((a) => sameBinding(a, b));
    assert.ok(found !== undefined, `${when}: binding ${b.source} → ${b.destination} missing`);
    assert.deepStrictEqual(Object.keys(found.args), Object.keys(b.args), `${when}: argument order`);
  }
}

function assertSameRecords(store: DefinitionsStore, model: Model, when: string): void {
  for (const [kind, want] of model.records) {
    const got = store.records(kind);
    assert.equal(got.size, want.size, `${when}: ${kind} record count`);
    for (const [k, v] of want) assert.deepStrictEqual(got.get(k), v, `${when}: ${kind} ${k}`);
  }
}

test('defs store: random changes and reopens match the reference model (property)', async () => {
  await fc.assert(
    fc.asyncProperty(cmdsArb, fc.boolean(), async (cmds, compactOften) => {
      const dir = await mkdtemp(join(tmpdir(), 'switchyard-defs-prop-'));
      const opts = { compactBytes: compactOften ? 1 : 1 << 20 };
      let store = await DefinitionsStore.open(dir, opts);
      const model = new Model();
      // Changes are not awaited one by one: batches of them share flushes, as under load.
      let pending: Promise<unknown>[] = [];
      try {
        for (const [i, c] of cmds.entries()) {
          if (c.c === 'await' || c.c === 'reopen') {
            await Promise.all(pending);
            pending = [];
            if (c.c === 'reopen') {
              await store.close();
              store = await DefinitionsStore.open(dir, opts);
              assertSameDefs(store.definitions(), model.definitions(), `after reopen at ${i}`);
              assertSameRecords(store, model, `after reopen at ${i}`);
            }
            continue;
          }
          const want = model.run(c);
          const p = apply(store, c);
          if (c.c === 'putQueue') pending.push(p.then((id) => assert.equal(id, want, `id of ${c.name}`)));
          else pending.push(p);
          assertSameDefs(store.definitions(), model.definitions(), `after ${i} (${c.c})`);
          assertSameRecords(store, model, `after ${i} (${c.c})`);
        }
        await Promise.all(pending);
        await store.close();
        store = await DefinitionsStore.open(dir, opts);
        assertSameDefs(store.definitions(), model.definitions(), 'at the end, reopened');
        assertSameRecords(store, model, 'at the end, reopened');
      } finally {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { seed: SEED, numRuns: 150 },
  );
});

function apply(s: DefinitionsStore, c: Exclude<Cmd, { c: 'reopen' | 'await' }>): Promise<unknown> {
  switch (c.c) {
    case 'putVhost':
      return s.putVhost({ name: c.name });
    case 'deleteVhost':
      return s.deleteVhost(c.name);
    case 'putExchange':
      return s.putExchange(c.def);
    case 'deleteExchange':
      return s.deleteExchange(c.vhost, c.name);
    case 'putQueue':
      return s.putQueue({ vhost: c.vhost, name: c.name, args: c.args });
    case 'deleteQueue':
      return s.deleteQueue(c.vhost, c.name);
    case 'putBinding':
      return s.putBinding(c.def);
    case 'deleteBinding':
      return s.deleteBinding(c.def);
    case 'putRecord':
      return s.putRecord(c.kind, c.key, c.value);
    case 'deleteRecord':
      return s.deleteRecord(c.kind, c.key);
  }
}
