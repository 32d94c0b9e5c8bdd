import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Deque } from './deque.js';

/** Fixed seeds keep the suite deterministic; a failure report names the seed and the shrunk case. */
const SEED = 0x5eed;

type Op =
  | { op: 'push'; v: number }
  | { op: 'unshift'; v: number }
  | { op: 'shift' }
  | { op: 'peek' }
  | { op: 'at'; i: number }
  | { op: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), v: fc.integer() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unshift' as const), v: fc.integer() }) },
  { weight: 4, arbitrary: fc.constant({ op: 'shift' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'peek' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('at' as const), i: fc.integer({ min: -2, max: 80 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

test('deque: behaves like an array under push/shift/unshift/peek/at/clear (model test)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 40 }), fc.array(opArb, { maxLength: 300 }), (cap, ops) => {
      const d = new Deque<number>(cap);
      const model: number[] = [];
      for (const o of ops) {
        switch (o.op) {
          case 'push':
            d.push(o.v);
            model.push(o.v);
            break;
          case 'unshift':
            d.unshift(o.v);
            model.unshift(o.v);
            break;
          case 'shift':
            assert.equal(d.shift(), model.shift());
            break;
          case 'peek':
            assert.equal(d.peek(), model[0]);
            break;
          case 'at':
            assert.equal(d.at(o.i), o.i < 0 ? undefined : model[o.i]);
            break;
          case 'clear':
            d.clear();
            model.length = 0;
            break;
        }
        assert.equal(d.length, model.length);
      }
      assert.deepEqual([...d], model);
      for (let i = 0; i < model.length; i++) assert.equal(d.at(i), model[i]);
      assert.equal(d.at(model.length), undefined);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('deque: grows across the wrap-around point without losing order', () => {
  const d = new Deque<number>();
  // Move the head into the middle of the ring, then fill past capacity from both ends.
  for (let i = 0; i < 10; i++) d.push(i);
  for (let i = 0; i < 10; i++) d.shift();
  const model: number[] = [];
  for (let i = 0; i < 50; i++) {
    if (i % 3 === 0) {
      d.unshift(i);
      model.unshift(i);
    } else {
      d.push(i);
      model.push(i);
    }
  }
  assert.deepEqual([...d], model);
  assert.equal(d.length, 50);
});

test('deque: empty deque returns undefined from shift, peek and at', () => {
  const d = new Deque<string>();
  assert.equal(d.shift(), undefined);
  assert.equal(d.peek(), undefined);
  assert.equal(d.at(0), undefined);
  assert.equal(d.length, 0);
  d.push('a');
  assert.equal(d.shift(), 'a');
  assert.equal(d.shift(), undefined);
  assert.equal(d.length, 0);
});

test('deque: shift releases the slot (no reference kept to removed items)', () => {
  const d = new Deque<object>();
  d.push({});
  d.shift();
  const items = (d as unknown as { items: unknown[] }).items;
  assert.ok(items.every((x) => x === undefined));
});
