import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../config/schema.js';
import { ManualClock } from '../../test/support/manual-clock.js';
import { formatBytes, highWatermarkBytes, memoryLimit, watchMemory } from './memory.js';

const GiB = 2 ** 30;

test('memory watcher: on at the watermark, off below it, polled on the broker clock', () => {
  const clock = new ManualClock();
  let rss = 100;
  const changes: [boolean, number][] = [];
  const w = watchMemory({
    limitBytes: 500,
    intervalMs: 1000,
    clock,
    sample: () => rss,
    onChange: (a, r) => changes.push([a, r]),
  });
  assert.deepEqual(changes, [], 'below at start: nothing to report');
  rss = 500;
  clock.advance(999);
  assert.deepEqual(changes, [], 'not checked before the interval');
  clock.advance(1);
  assert.deepEqual(changes, [[true, 500]]);
  assert.equal(w.alarm, true);
  rss = 700;
  clock.advance(1000);
  assert.deepEqual(changes, [[true, 500]], 'transitions only');
  rss = 499;
  assert.equal(w.checkNow(), false);
  assert.deepEqual(changes, [
    [true, 500],
    [false, 499],
  ]);
  w.stop();
  rss = 10_000;
  clock.advance(10_000);
  assert.equal(w.alarm, false, 'no checks after stop');
  assert.equal(clock.pending, 0);
});

test('memory watcher: a first check above the watermark reports at once', () => {
  const changes: boolean[] = [];
  const w = watchMemory({
    limitBytes: 1,
    intervalMs: 1000,
    clock: new ManualClock(),
    sample: () => 2,
    onChange: (a) => changes.push(a),
  });
  assert.deepEqual(changes, [true]);
  w.stop();
});

test('memory limit: the cgroup v2 limit when below the machine, "max" = the machine', () => {
  const files = (m: Record<string, string>) => (p: string) => m[p];
  assert.deepEqual(memoryLimit(files({ '/sys/fs/cgroup/memory.max': '1073741824\n' }), 8 * GiB), {
    bytes: GiB,
    source: 'cgroup v2',
  });
  assert.deepEqual(memoryLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }), 8 * GiB), {
    bytes: 8 * GiB,
    source: 'machine',
  });
  // The process's own group, named in /proc/self/cgroup, comes first.
  assert.deepEqual(
    memoryLimit(
      files({
        '/proc/self/cgroup': '0::/system.slice/broker.service\n',
        '/sys/fs/cgroup/system.slice/broker.service/memory.max': '536870912',
        '/sys/fs/cgroup/memory.max': 'max',
      }),
      8 * GiB,
    ),
    { bytes: GiB / 2, source: 'cgroup v2' },
  );
  // cgroup v1 says "no limit" with a huge number.
  assert.deepEqual(
    memoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }), 8 * GiB),
    { bytes: 8 * GiB, source: 'machine' },
  );
  assert.deepEqual(
    memoryLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '2147483648' }), 8 * GiB),
    {
      bytes: 2 * GiB,
      source: 'cgroup v1',
    },
  );
  assert.deepEqual(memoryLimit(files({}), 8 * GiB), { bytes: 8 * GiB, source: 'machine' });
  // This machine: some positive limit, whatever it is.
  assert.ok(memoryLimit().bytes > 0);
});

test('memory high watermark: a fraction up to 1, bytes above, 0 = off; sizes in the config', () => {
  assert.equal(highWatermarkBytes(0.4, 1000), 400);
  assert.equal(highWatermarkBytes(1, 1000), 1000);
  assert.equal(highWatermarkBytes(2_000_000, 1000), 2_000_000);
  assert.equal(highWatermarkBytes(0, 1000), undefined);
  const hw = (v: unknown) => configSchema.parse({ memory: { highWatermark: v } }).memory.highWatermark;
  assert.equal(configSchema.parse({}).memory.highWatermark, 0.4);
  assert.equal(hw('0.6'), 0.6, 'an environment value');
  assert.equal(hw('2GB'), 2e9);
  assert.equal(hw('1536MiB'), 1536 * 2 ** 20);
  assert.equal(hw('1073741824'), GiB);
  assert.throws(() => hw('lots'));
  assert.throws(() => hw(-1));
  assert.equal(formatBytes(3 * GiB), '3.0 GiB');
  assert.equal(formatBytes(512), '512 B');
});
