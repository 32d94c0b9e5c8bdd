import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from './manual-clock.js';

test('manual clock: timers fire in due order inside advance(); every() repeats; cancel stops', () => {
  const c = new ManualClock(1000);
  const seen: string[] = [];
  c.after(30, () => seen.push(`b@${c.now()}`));
  c.after(10, () => seen.push(`a@${c.now()}`));
  const tick = c.every(25, () => seen.push(`t@${c.now()}`));
  const never = c.after(5, () => seen.push('never'));
  never.cancel();
  c.advance(9);
  assert.deepEqual(seen, []);
  c.advance(51);
  assert.deepEqual(seen, ['a@1010', 't@1025', 'b@1030', 't@1050']);
  assert.equal(c.now(), 1060);
  tick.cancel();
  c.advance(100);
  assert.equal(seen.length, 4);
  assert.equal(c.pending, 0);
});
