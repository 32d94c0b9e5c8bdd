import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LatencyRecorder, nearestRank } from './histogram.js';

/** The textbook definition, on a plain sorted copy: the reference the recorder must match. */
function reference(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

test('percentiles equal the nearest-rank percentiles of a sorted copy', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 3000 }),
      (values) => {
        const rec = new LatencyRecorder(1);
        for (const v of values) rec.record(v);
        const p = rec.percentiles()!;
        assert.equal(rec.count, values.length);
        assert.equal(p.p50, reference(values, 0.5));
        assert.equal(p.p90, reference(values, 0.9));
        assert.equal(p.p99, reference(values, 0.99));
        assert.equal(p.p999, reference(values, 0.999));
        assert.equal(p.max, Math.max(...values));
        assert.ok(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max);
      },
    ),
    { numRuns: 300 },
  );
});

test('nothing recorded: no percentiles', () => {
  assert.equal(new LatencyRecorder().percentiles(), null);
  assert.ok(Number.isNaN(nearestRank([], 0.5)));
});

test('nearest rank on a small known set', () => {
  const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(nearestRank(s, 0.5), 5);
  assert.equal(nearestRank(s, 0.9), 9);
  assert.equal(nearestRank(s, 0.99), 10);
});
