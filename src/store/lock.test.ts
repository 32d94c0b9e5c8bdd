import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SwitchyardError } from '../errors/index.js';
import { acquireLock, LOCK_FILE, processStart } from './lock.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'switchyard-lock-'));
  dirs.push(d);
  return d;
}

const inUse = (dir: string, pid: number) => (e: unknown) =>
  e instanceof SwitchyardError &&
  e.code === 'INVALID_CONFIG' &&
  e.message === `data directory ${dir} is in use by another Switchyard (pid ${pid})`;

/**
 * Starts a process that tries to take the lock on `dir` and reports on stdout: "locked" (then
 * holds it until killed or its stdin closes) or "busy <message>".
 */
function holder(dir: string): { proc: ChildProcess; said: Promise<string> } {
  const lockUrl = new URL('./lock.ts', import.meta.url).href;
  const code = `
    import { acquireLock } from ${JSON.stringify(lockUrl)};
    try {
      const lock = await acquireLock(process.env.DIR);
      process.stdout.write('locked\\n');
      process.stdin.resume();
      process.stdin.on('end', async () => { await lock.release(); process.exit(0); });
    } catch (e) {
      process.stdout.write('busy ' + e.message + '\\n');
      process.exit(0);
    }`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, DIR: dir },
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(proc);
  const said = new Promise<string>((res) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res(out.trim());
    });
    proc.on('exit', () => res(out.trim()));
  });
  return { proc, said };
}

const exited = (p: ChildProcess) =>
  p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((res) => p.once('exit', () => res()));

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await exited(p);
  return p.pid!;
}

test('lock: acquire writes our pid, release removes the file, and it can be taken again', async () => {
  const dir = join(await tmp(), 'data'); // created if missing
  const lock = await acquireLock(dir);
  assert.equal(lock.path, join(dir, LOCK_FILE));
  assert.equal(JSON.parse(await readFile(lock.path, 'utf8')).pid, process.pid);
  assert.deepEqual(await readdir(dir), [LOCK_FILE], 'no temporary files left behind');
  await lock.release();
  assert.ok(!existsSync(lock.path));
  await lock.release(); // idempotent
  const again = await acquireLock(dir);
  await again.release();
});

test('lock: a second acquire in the same process is refused', async () => {
  const dir = await tmp();
  const lock = await acquireLock(dir);
  await assert.rejects(acquireLock(dir), inUse(dir, process.pid));
  await lock.release();
});

test('lock: another live process holding the lock is named; once it is killed -9 the lock is taken over', async () => {
  const dir = await tmp();
  const h = holder(dir);
  assert.equal(await h.said, 'locked');
  await assert.rejects(acquireLock(dir), inUse(dir, h.proc.pid!));
  // A second broker process gets the same message.
  assert.equal(
    await holder(dir).said,
    `busy data directory ${dir} is in use by another Switchyard (pid ${h.proc.pid})`,
  );
  h.proc.kill('SIGKILL');
  await exited(h.proc);
  assert.ok(existsSync(join(dir, LOCK_FILE)), 'kill -9 leaves the lock file behind');
  const lock = await acquireLock(dir);
  assert.equal(JSON.parse(await readFile(lock.path, 'utf8')).pid, process.pid);
  await lock.release();
});

test('lock: a holder that releases lets the next one in', async () => {
  const dir = await tmp();
  const h = holder(dir);
  assert.equal(await h.said, 'locked');
  h.proc.stdin!.end();
  await exited(h.proc);
  assert.ok(!existsSync(join(dir, LOCK_FILE)));
  const lock = await acquireLock(dir);
  await lock.release();
});

test('lock: stale lock files do not block a start', async () => {
  const dead = await deadPid();
  const stale: [string, string][] = [
    ['a dead pid', JSON.stringify({ pid: dead })],
    ['our own pid from an earlier process (containers: pid 1 again)', JSON.stringify({ pid: process.pid })],
    ['empty (a crash right after creating it)', ''],
    ['garbage', 'not a lock'],
  ];
  if (processStart(process.pid) !== undefined) {
    // A live pid, but not the process that wrote the lock: the pid was reused.
    stale.push(['a reused pid', JSON.stringify({ pid: process.ppid, start: '1' })]);
  }
  for (const [what, content] of stale) {
    const dir = await tmp();
    await writeFile(join(dir, LOCK_FILE), content);
    const lock = await acquireLock(dir).catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
    assert.equal(JSON.parse(await readFile(lock.path, 'utf8')).pid, process.pid, what);
    await lock.release();
  }
});

test('lock: a live holder that wrote its start time is recognised', async () => {
  const dir = await tmp();
  const start = processStart(process.ppid);
  await writeFile(
    join(dir, LOCK_FILE),
    JSON.stringify(start === undefined ? { pid: process.ppid } : { pid: process.ppid, start }),
  );
  await assert.rejects(acquireLock(dir), inUse(dir, process.ppid));
});

test('lock: release leaves alone a lock that is no longer ours', async () => {
  const dir = await tmp();
  const lock = await acquireLock(dir);
  const theirs = JSON.stringify({ pid: process.ppid });
  await writeFile(lock.path, theirs);
  await lock.release();
  assert.equal(await readFile(lock.path, 'utf8'), theirs);
});

test('lock: processes racing for a stale lock: exactly one wins', async () => {
  for (let round = 0; round < 2; round++) {
    const dir = await tmp();
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: await deadPid() }));
    const racers = Array.from({ length: 4 }, () => holder(dir));
    const said = await Promise.all(racers.map((r) => r.said));
    assert.equal(said.filter((s) => s === 'locked').length, 1, said.join(' | '));
    const winner = racers[said.indexOf('locked')]!.proc.pid!;
    for (const s of said.filter((x) => x !== 'locked')) {
      assert.equal(s, `busy data directory ${dir} is in use by another Switchyard (pid ${winner})`);
    }
    for (const r of racers) r.proc.kill('SIGKILL');
    await Promise.all(racers.map((r) => exited(r.proc)));
  }
});

test('lock: a directory that cannot be created is a clear error', async () => {
  const file = join(await tmp(), 'file');
  await writeFile(file, '');
  await assert.rejects(
    acquireLock(join(file, 'data')),
    (e) =>
      e instanceof SwitchyardError &&
      e.message.startsWith(`cannot lock data directory ${join(file, 'data')}:`),
  );
});
