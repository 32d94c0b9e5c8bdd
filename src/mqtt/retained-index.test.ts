import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { filterArb, levelArb, topicArb } from '../../test/mqtt-arbitraries.js';
import { RetainedIndex } from './retained-index.js';
import { topicMatches } from './topic.js';

const SEED = 0x2e7a1;

function matched<T>(index: RetainedIndex<T>, filter: string): [string, T][] {
  return [...index.match(filter)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function topicsMatched<T>(index: RetainedIndex<T>, filter: string): string[] {
  return matched(index, filter).map(([t]) => t);
}

test('retained-index: set, get, delete and size', () => {
  const index = new RetainedIndex<number>();
  assert.equal(index.size, 0);
  index.set('a/b', 1);
  index.set('a', 2);
  index.set('a/b', 3);
  assert.equal(index.size, 2);
  assert.equal(index.get('a/b'), 3);
  assert.equal(index.get('a'), 2);
  assert.equal(index.get('a/b/c'), undefined);
  assert.equal(index.get('x'), undefined);
  assert.equal(index.delete('a/b/c'), false);
  assert.equal(index.delete('a/b'), true);
  assert.equal(index.delete('a/b'), false);
  assert.equal(index.get('a/b'), undefined);
  assert.equal(index.get('a'), 2);
  assert.equal(index.size, 1);
});

test('retained-index: a stored undefined is still stored', () => {
  const index = new RetainedIndex<undefined>();
  index.set('a', undefined);
  assert.equal(index.size, 1);
  assert.deepEqual(matched(index, '#'), [['a', undefined]]);
  assert.equal(index.delete('a'), true);
  assert.equal(index.size, 0);
});

test('retained-index: known filters', () => {
  const index = new RetainedIndex<string>();
  const topics = ['a', 'a/b', 'a/b/c', 'a/c', 'a/', '/', '/a', 'b/b', '$SYS/x', '$SYS', 'x/$y'];
  for (const t of topics) index.set(t, t.toUpperCase());
  assert.deepEqual(matched(index, 'a/b'), [['a/b', 'A/B']]);
  assert.deepEqual(topicsMatched(index, 'a/#'), ['a', 'a/', 'a/b', 'a/b/c', 'a/c']);
  assert.deepEqual(topicsMatched(index, 'a/+'), ['a/', 'a/b', 'a/c']);
  assert.deepEqual(topicsMatched(index, '+/b'), ['a/b', 'b/b']);
  assert.deepEqual(topicsMatched(index, '+'), ['a']);
  assert.deepEqual(topicsMatched(index, '+/+'), ['/', '/a', 'a/', 'a/b', 'a/c', 'b/b', 'x/$y']);
  assert.deepEqual(topicsMatched(index, '#'), topics.filter((t) => !t.startsWith('$')).sort());
  assert.deepEqual(topicsMatched(index, '$SYS/#'), ['$SYS', '$SYS/x']);
  assert.deepEqual(topicsMatched(index, '+/$y'), ['x/$y']);
  assert.deepEqual(topicsMatched(index, '/#'), ['/', '/a']);
  assert.deepEqual(topicsMatched(index, 'nope/#'), []);
  assert.deepEqual(topicsMatched(index, ''), []);
});

test('retained-index: deleting prunes empty branches', () => {
  const index = new RetainedIndex<number>();
  index.set('a/b/c/d', 1);
  index.set('a/x', 2);
  index.delete('a/b/c/d');
  // Only the root, 'a' and 'a/x' are left to visit.
  assert.deepEqual(topicsMatched(index, '#'), ['a/x']);
  assert.equal(index.visited, 3);
  index.delete('a/x');
  assert.deepEqual(topicsMatched(index, '#'), []);
  assert.equal(index.visited, 1);
});

test('retained-index: a filter only walks the branches it can reach', () => {
  const index = new RetainedIndex<number>();
  for (let i = 0; i < 100_000; i++) index.set(`other/${i % 100}/${i}`, i);
  index.set('x/1', 1);
  index.set('x/2', 2);
  index.set('x/2/deeper', 3);
  assert.deepEqual(topicsMatched(index, 'x/+'), ['x/1', 'x/2']);
  // root, x, x/1, x/2: the 100,000 topics under 'other' are never touched.
  assert.equal(index.visited, 4);
  assert.deepEqual(topicsMatched(index, '+/2/deeper'), ['x/2/deeper']);
  // root; '+' takes x and other; '2' under each; 'deeper' only under x/2. The 1,000 children of
  // other/2 are looked up by key, not walked.
  assert.equal(index.visited, 6);
});

type Op = { set: true; topic: string; value: number } | { set: false; topic: string };

const level = levelArb(['a', 'b', '$', '.']);
const topicGen = topicArb(level);
const filterGen = filterArb(level);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ set: fc.constant(true as const), topic: topicGen, value: fc.integer({ min: 0, max: 99 }) }),
  fc.record({ set: fc.constant(false as const), topic: topicGen }),
);

test('retained-index: matches what filtering a plain Map with topicMatches finds (model property)', () => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 60 }),
      fc.array(filterGen, { minLength: 1, maxLength: 8 }),
      (ops, filters) => {
        const index = new RetainedIndex<number>();
        const model = new Map<string, number>();
        for (const op of ops) {
          if (op.set) {
            index.set(op.topic, op.value);
            model.set(op.topic, op.value);
          } else {
            assert.equal(index.delete(op.topic), model.delete(op.topic));
          }
        }
        assert.equal(index.size, model.size);
        for (const [t, v] of model) assert.equal(index.get(t), v);
        for (const f of filters) {
          const expected = [...model]
            .filter(([t]) => topicMatches(f, t))
            .sort(([a], [b]) => (a < b ? -1 : 1));
          assert.deepEqual(matched(index, f), expected, `filter ${JSON.stringify(f)}`);
        }
        // Deleting everything leaves an empty trie: '#' visits the root alone.
        for (const t of model.keys()) assert.ok(index.delete(t));
        assert.equal(index.size, 0);
        assert.deepEqual(matched(index, '#'), []);
        assert.equal(index.visited, 1);
      },
    ),
    { seed: SEED, numRuns: 500 },
  );
});
