import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { poll } from '../../test/support/wait.js';
import { type FsSpace, watchDiskFree } from './disk.js';

const HOUR = 3_600_000;

/** A statfs whose free space the test sets (in 1 KiB blocks). */
function fakeDisk(freeKiB: number) {
  const disk = {
    freeKiB,
    calls: 0,
    fail: undefined as Error | undefined,
    statfs: async (_path: string): Promise<FsSpace> => {
      disk.calls++;
      if (disk.fail !== undefined) throw disk.fail;
      return { bavail: disk.freeKiB, bsize: 1024 };
    },
  };
  return disk;
}

function recorder() {
  const changes: [boolean, number][] = [];
  return { changes, onChange: (alarm: boolean, free: number) => changes.push([alarm, free]) };
}

test('disk: reports transitions only; free = limit is not an alarm', async () => {
  const disk = fakeDisk(100);
  const r = recorder();
  const w = watchDiskFree('/data', { limitBytes: 60 * 1024, intervalMs: HOUR, statfs: disk.statfs, ...r });
  const steps: [number, boolean][] = [
    [100, false],
    [59, true],
    [10, true],
    [60, false],
    [61, false],
    [0, true],
  ];
  for (const [kib, alarm] of steps) {
    disk.freeKiB = kib;
    assert.equal(await w.checkNow(), alarm, `${kib} KiB`);
    assert.equal(w.alarm, alarm);
    assert.equal(w.free, kib * 1024);
  }
  assert.deepEqual(r.changes, [
    [true, 59 * 1024],
    [false, 60 * 1024],
    [true, 0],
  ]);
  w.stop();
});

test('disk: a start below the limit raises the alarm at once; above it says nothing', async () => {
  const low = recorder();
  const w1 = watchDiskFree('/data', {
    limitBytes: 1024,
    intervalMs: HOUR,
    statfs: fakeDisk(0).statfs,
    ...low,
  });
  await w1.checkNow();
  assert.deepEqual(low.changes, [[true, 0]]);
  const high = recorder();
  const w2 = watchDiskFree('/data', {
    limitBytes: 1024,
    intervalMs: HOUR,
    statfs: fakeDisk(5).statfs,
    ...high,
  });
  await w2.checkNow();
  assert.deepEqual(high.changes, []);
  w1.stop();
  w2.stop();
});

test('disk: bigint statfs results are read as numbers', async () => {
  const r = recorder();
  const w = watchDiskFree('/data', {
    limitBytes: 10 * 4096,
    intervalMs: HOUR,
    statfs: async () => ({ bavail: 3n, bsize: 4096n }),
    ...r,
  });
  assert.equal(await w.checkNow(), true);
  assert.deepEqual(r.changes, [[true, 3 * 4096]]);
  w.stop();
});

test('disk: a failing statfs keeps the last state and is reported', async () => {
  const disk = fakeDisk(0);
  const r = recorder();
  const errors: unknown[] = [];
  const w = watchDiskFree('/data', {
    limitBytes: 1024,
    intervalMs: HOUR,
    statfs: disk.statfs,
    onError: (e) => errors.push(e),
    ...r,
  });
  assert.equal(await w.checkNow(), true);
  disk.fail = new Error('EIO');
  disk.freeKiB = 100;
  assert.equal(await w.checkNow(), true, 'no news is not good news');
  assert.deepEqual(errors, [disk.fail]);
  disk.fail = undefined;
  assert.equal(await w.checkNow(), false);
  assert.deepEqual(r.changes, [
    [true, 0],
    [false, 100 * 1024],
  ]);
  w.stop();
});

test('disk: a throwing onChange goes to onError, and polling goes on', async () => {
  const disk = fakeDisk(0);
  const errors: unknown[] = [];
  const boom = new Error('handler bug');
  const w = watchDiskFree('/data', {
    limitBytes: 1024,
    intervalMs: 5,
    statfs: disk.statfs,
    onChange: () => {
      throw boom;
    },
    onError: (e) => errors.push(e),
  });
  await poll(() => disk.calls >= 3, 'three checks', undefined, 5);
  w.stop();
  assert.deepEqual(errors, [boom]);
});

test('disk: polls on its own every intervalMs, and stop() stops it', async () => {
  const disk = fakeDisk(100);
  const r = recorder();
  const w = watchDiskFree('/data', { limitBytes: 50 * 1024, intervalMs: 5, statfs: disk.statfs, ...r });
  disk.freeKiB = 10;
  await poll(() => r.changes.length > 0, 'the first change', undefined, 5);
  assert.deepEqual(r.changes, [[true, 10 * 1024]]);
  w.stop();
  const calls = disk.calls;
  // "Nothing more": a busy machine could only hide a late check here, never invent one.
  await sleep(50);
  assert.ok(disk.calls <= calls + 1, 'at most the check already in flight');
  disk.freeKiB = 100;
  await sleep(20);
  assert.equal(r.changes.length, 1, 'nothing reported after stop');
});

test('disk: checks run one after another, so a slow one cannot overwrite a newer result', async () => {
  const answers: ((s: FsSpace) => void)[] = [];
  const r = recorder();
  const w = watchDiskFree('/data', {
    limitBytes: 1024,
    intervalMs: HOUR,
    statfs: () => new Promise<FsSpace>((res) => answers.push(res)),
    ...r,
  });
  const a = w.checkNow();
  const b = w.checkNow();
  // The initial check is first; each next statfs starts only when the one before has answered.
  for (const free of [5, 0, 5]) {
    await poll(() => answers.length > 0, 'the next statfs', undefined, 1);
    answers.shift()!({ bavail: free, bsize: 1024 });
    await sleep(1);
  }
  assert.deepEqual([await a, await b], [true, false]);
  assert.deepEqual(r.changes, [
    [true, 0],
    [false, 5 * 1024],
  ]);
  w.stop();
});

test('disk: the real statfs on a real directory', async () => {
  const r = recorder();
  const never = watchDiskFree(tmpdir(), { limitBytes: 0, intervalMs: HOUR, ...r });
  assert.equal(await never.checkNow(), false);
  assert.ok((never.free ?? 0) > 0);
  const always = watchDiskFree(tmpdir(), { limitBytes: Number.MAX_SAFE_INTEGER, intervalMs: HOUR, ...r });
  assert.equal(await always.checkNow(), true);
  assert.equal(r.changes.length, 1);
  never.stop();
  always.stop();
});

test('disk: the polling timer does not keep the process alive', () => {
  const diskUrl = new URL('./disk.ts', import.meta.url).href;
  const code = `
    import { watchDiskFree } from ${JSON.stringify(diskUrl)};
    watchDiskFree('.', { limitBytes: 1, intervalMs: 1000, onChange() {} });`;
  // A timer that kept the process alive would keep it alive for ever: the timeout (a safety net,
  // generous because a busy machine is slow to start tsx) would kill it, and the status say so.
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `status ${r.status}, signal ${r.signal}: ${String(r.stderr)}`);
});
