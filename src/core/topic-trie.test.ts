import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { splitKey, TopicTrie } from './topic-trie.js';

const SEED = 0x7091c;

/** Splits as RabbitMQ's split_topic_key does: '' has no words, 'a.' is ['a', '']. */
function words(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

/** The reference: AMQP topic matching written as plainly as possible, over words. */
function refMatch(binding: string[], routing: string[]): boolean {
  if (binding.length === 0) return routing.length === 0;
  const [b, ...bRest] = binding;
  if (b === '#') {
    // '#' takes zero words, or one word and stays.
    return refMatch(bRest, routing) || (routing.length > 0 && refMatch(binding, routing.slice(1)));
  }
  if (routing.length === 0) return false;
  return (b === '*' || b === routing[0]) && refMatch(bRest, routing.slice(1));
}

// Binding keys: 0-5 words from an alphabet with wildcards and the empty word ('a..b', 'a.', '.').
const bindingKeyArb = fc
  .array(fc.constantFrom('a', 'b', 'c', '*', '#', ''), { maxLength: 5 })
  .map((w) => w.join('.'));
const routingKeyArb = fc.array(fc.constantFrom('a', 'b', 'c', ''), { maxLength: 5 }).map((w) => w.join('.'));

function matchAll<T>(trie: TopicTrie<T>, routingKey: string): Set<T> {
  const out = new Set<T>();
  trie.match(routingKey, out);
  return out;
}

function expected(bindings: Map<string, Set<number>>, routingKey: string): Set<number> {
  const out = new Set<number>();
  const rw = words(routingKey);
  for (const [key, values] of bindings) if (refMatch(words(key), rw)) for (const v of values) out.add(v);
  return out;
}

/** Every routing key of 0-3 words over a, b and the empty word: a fixed probe set. */
const PROBES: string[] = (() => {
  const out = [''];
  let layer = [[]] as string[][];
  for (let n = 1; n <= 3; n++) {
    layer = layer.flatMap((w) => ['a', 'b', ''].map((x) => [...w, x]));
    out.push(...layer.map((w) => w.join('.')));
  }
  return out;
})();

test('topic-trie: splitKey follows RabbitMQ (empty key has no words, empty words kept)', () => {
  assert.deepEqual(splitKey(''), []);
  assert.deepEqual(splitKey('a'), ['a']);
  assert.deepEqual(splitKey('a..b'), ['a', '', 'b']);
  assert.deepEqual(splitKey('a.'), ['a', '']);
  assert.deepEqual(splitKey('.'), ['', '']);
});

test('topic-trie: reference matcher sanity (known cases)', () => {
  const m = (b: string, r: string) => refMatch(words(b), words(r));
  assert.ok(m('#', ''));
  assert.ok(m('#', 'a.b.c'));
  assert.ok(m('a.#', 'a'));
  assert.ok(m('#.a', 'a'));
  assert.ok(m('a.*.c', 'a.b.c'));
  assert.ok(m('a.#.c', 'a.c'));
  assert.ok(m('a.#.c', 'a.b.b.c'));
  assert.ok(m('', ''));
  assert.ok(m('a..b', 'a..b'));
  assert.ok(m('a.*.b', 'a..b'));
  assert.ok(!m('*', ''));
  assert.ok(!m('', 'a'));
  assert.ok(!m('a.*', 'a'));
  assert.ok(!m('a', 'a.b'));
  assert.ok(!m('a..b', 'a.b'));
});

test('topic-trie: known cases through the trie', () => {
  const t = new TopicTrie<string>();
  for (const k of ['#', 'a.#', '#.a', 'a.*.c', 'a.#.c', '', '*', 'a..b', '*.*', '#.#']) t.add(k, k);
  const m = (rk: string) => [...matchAll(t, rk)].sort();
  assert.deepEqual(m(''), ['', '#', '#.#'].sort());
  assert.deepEqual(m('a'), ['#', '#.#', '#.a', '*', 'a.#'].sort());
  assert.deepEqual(m('a.b.c'), ['#', '#.#', 'a.#', 'a.#.c', 'a.*.c'].sort());
  assert.deepEqual(m('a..b'), ['#', '#.#', 'a.#', 'a..b'].sort());
  assert.deepEqual(m('x.y'), ['#', '#.#', '*.*'].sort());
});

test('topic-trie: matches exactly what the reference matcher matches (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(bindingKeyArb, fc.integer({ min: 0, max: 9 })), { maxLength: 25 }),
      fc.array(routingKeyArb, { minLength: 1, maxLength: 10 }),
      (bindings, routingKeys) => {
        const trie = new TopicTrie<number>();
        const model = new Map<string, Set<number>>();
        for (const [key, v] of bindings) {
          const set = model.get(key) ?? new Set<number>();
          const isNew = !set.has(v);
          set.add(v);
          model.set(key, set);
          assert.equal(trie.add(key, v), isNew, `add(${JSON.stringify(key)}, ${v})`);
        }
        for (const rk of [...routingKeys, ...PROBES]) {
          assert.deepEqual(matchAll(trie, rk), expected(model, rk), `routing key ${JSON.stringify(rk)}`);
        }
      },
    ),
    { seed: SEED, numRuns: 400 },
  );
});

test('topic-trie: add/remove churn keeps matching right, and removing everything leaves nothing', () => {
  type Op = { add: boolean; key: string; v: number };
  const opArb: fc.Arbitrary<Op> = fc.record({
    add: fc.boolean(),
    key: bindingKeyArb,
    v: fc.integer({ min: 0, max: 4 }),
  });
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), routingKeyArb, (ops, rk) => {
      const trie = new TopicTrie<number>();
      const model = new Map<string, Set<number>>();
      let size = 0;
      for (const { add, key, v } of ops) {
        const set = model.get(key) ?? new Set<number>();
        if (add) {
          const isNew = !set.has(v);
          assert.equal(trie.add(key, v), isNew);
          if (isNew) size++;
          set.add(v);
          model.set(key, set);
        } else {
          const had = set.delete(v);
          if (had) size--;
          if (set.size === 0) model.delete(key);
          assert.equal(trie.remove(key, v), had, `remove(${JSON.stringify(key)}, ${v})`);
        }
        assert.equal(trie.size, size);
        assert.deepEqual(matchAll(trie, rk), expected(model, rk));
      }
      for (const p of PROBES) assert.deepEqual(matchAll(trie, p), expected(model, p));
      // Remove everything that is left.
      for (const [key, set] of model) for (const v of set) assert.ok(trie.remove(key, v));
      assert.equal(trie.size, 0);
      for (const p of [rk, ...PROBES]) assert.equal(matchAll(trie, p).size, 0);
      // And no dead branches are left behind (pruning).
      const root = (trie as unknown as { root: RawNode }).root;
      assert.equal(root.star, undefined);
      assert.equal(root.hash, undefined);
      assert.equal(root.words?.size ?? 0, 0);
    }),
    { seed: SEED + 1, numRuns: 300 },
  );
});

interface RawNode {
  words: Map<string, RawNode> | undefined;
  star: RawNode | undefined;
  hash: RawNode | undefined;
}

test('topic-trie: remove of an absent binding returns false and changes nothing', () => {
  const t = new TopicTrie<string>();
  t.add('a.b', 'x');
  assert.equal(t.remove('a.b', 'y'), false);
  assert.equal(t.remove('a', 'x'), false);
  assert.equal(t.remove('a.b.c', 'x'), false);
  assert.equal(t.remove('a.*', 'x'), false);
  assert.equal(t.size, 1);
  assert.deepEqual([...matchAll(t, 'a.b')], ['x']);
});

test('topic-trie: one value under several keys is matched once and removed per key', () => {
  const t = new TopicTrie<string>();
  t.add('a.*', 'q');
  t.add('#', 'q');
  assert.equal(t.size, 2);
  assert.deepEqual([...matchAll(t, 'a.b')], ['q']);
  t.remove('#', 'q');
  assert.deepEqual([...matchAll(t, 'a.b')], ['q']);
  assert.equal(matchAll(t, 'b').size, 0);
});

/** Counts Map.prototype.get calls made while `fn` runs: the trie's only per-word lookup. */
function countMapGets(fn: () => void): number {
  const original = Map.prototype.get;
  let n = 0;
  Map.prototype.get = function (this: Map<unknown, unknown>, key: unknown) {
    n++;
    return original.call(this, key);
  };
  try {
    fn();
  } finally {
    Map.prototype.get = original;
  }
  return n;
}

test('topic-trie: routing cost does not grow with unrelated bindings (100,000 other.N.x)', () => {
  const build = (unrelated: number) => {
    const t = new TopicTrie<string>();
    t.add('a.b.c', 'exact');
    t.add('a.*.c', 'star');
    t.add('a.#', 'hash');
    for (let i = 0; i < unrelated; i++) t.add(`other.${i}.x`, `o${i}`);
    return t;
  };
  const small = build(10);
  const big = build(100_000);
  assert.equal(big.size, 100_003);

  let smallHits = new Set<string>();
  let bigHits = new Set<string>();
  const smallGets = countMapGets(() => small.match('a.b.c', smallHits));
  const bigGets = countMapGets(() => big.match('a.b.c', bigHits));
  assert.deepEqual([...bigHits].sort(), ['exact', 'hash', 'star']);
  assert.deepEqual(bigHits, smallHits);
  // The same handful of lookups whether there are 10 or 100,000 unrelated bindings.
  assert.equal(bigGets, smallGets);
  assert.ok(bigGets <= 8, `${bigGets} map lookups for a three-word key`);

  // A key that shares only its first word with the unrelated bindings stays cheap too.
  smallHits = new Set();
  bigHits = new Set();
  const a = countMapGets(() => small.match('other.zzz.x', smallHits));
  const b = countMapGets(() => big.match('other.zzz.x', bigHits));
  assert.equal(a, b);
  assert.equal(bigHits.size, 0);
});

test('topic-trie: many `#` words against long keys match as the reference does, in one pass', () => {
  // Trying every suffix for each `#` is exponential in their number: 30 of them against a
  // 200-word key would not finish. The automaton walk is (words + 1) × nodes at most.
  const trie = new TopicTrie<string>();
  const hashes = `${'#.'.repeat(30)}zz`;
  trie.add(hashes, 'zz');
  trie.add(`${'#.*.'.repeat(20)}#`, 'stars');
  const long = Array.from({ length: 200 }, (_, i) => `w${i % 7}`).join('.');
  assert.deepEqual(matchAll(trie, long), new Set(['stars']));
  assert.deepEqual(matchAll(trie, `${long}.zz`), new Set(['stars', 'zz']));
  assert.deepEqual(matchAll(trie, 'zz'), new Set(['zz']));
  assert.deepEqual(matchAll(trie, 'a.b'), new Set());
});
