/**
 * The data-directory lock: one broker per data directory. A second broker on the same directory
 * stops at start with `data directory ./data is in use by another Switchyard (pid 1234)`.
 *
 * Node has no flock(2) without native code, so the lock is a file that names its holder:
 * `switchyard.lock` with `{"pid":1234,"start":"98765"}`, where `start` is the holder's start time
 * (Linux: /proc/<pid>/stat field 22). It is created complete and atomically: written to a
 * private temporary file, then hard-linked to its name (link fails with EEXIST when a lock is
 * there), so nobody ever reads a half-written lock. Filesystems without hard links fall back to
 * O_CREAT|O_EXCL and a write.
 *
 * A lock is stale, and is taken over, when its holder is gone: `kill(pid, 0)` fails with ESRCH,
 * or the pid is alive but started at another time (the pid was reused: in a container the broker
 * is often pid 1 on every start), or it is this process's own pid but this process holds no lock
 * there (a previous incarnation with the same pid). Taking over renames the stale file aside,
 * checks that what was moved is still the stale lock (if it is someone's fresh lock, it is linked
 * back), deletes it and tries again.
 *
 * The race we accept: two brokers started within the same few milliseconds on a directory with
 * a stale lock could both take it over if a third process's lock appeared between one's rename
 * and link-back. That needs three simultaneous starts on one directory after a crash. Also
 * accepted: without /proc (macOS, Windows) a reused pid makes a stale lock look held; the message
 * names the pid and the file, so the operator can check and delete it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SwitchyardError } from '../errors/index.js';
import { mkdirPrivate, openPrivate, writeFilePrivate } from './private-files.js';

export const LOCK_FILE = 'switchyard.lock';

export interface DataDirLock {
  /** The lock file. */
  readonly path: string;
  /** Deletes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

interface Holder {
  readonly pid: number;
  readonly start?: string;
}

/** Lock files this process holds (resolved paths): a second acquire in-process is "in use" too. */
const held = new Set<string>();

/**
 * Takes the lock on `dir` (created if missing). Rejects with a SwitchyardError naming the
 * directory and the holder's pid when another live process holds it.
 */
export async function acquireLock(dir: string): Promise<DataDirLock> {
  const path = join(dir, LOCK_FILE);
  const key = resolve(path);
  const start = processStart(process.pid);
  const content = `${JSON.stringify(start === undefined ? { pid: process.pid } : { pid: process.pid, start })}\n`;
  try {
    await mkdirPrivate(dir);
    for (let attempt = 0; attempt < 10; attempt++) {
      if (held.has(key)) throw inUse(dir, process.pid);
      if (await create(path, content)) {
        held.add(key);
        return { path, release: () => release(path, key, content) };
      }
      const raw = await readLock(path);
      if (raw === undefined) continue; // released between our create and read: try again
      const holder = parse(raw);
      if (holder !== undefined && isAlive(holder)) throw inUse(dir, holder.pid);
      await takeOver(path, raw);
    }
  } catch (e) {
    if (e instanceof SwitchyardError) throw e;
    throw new SwitchyardError(
      'INVALID_CONFIG',
      `cannot lock data directory ${dir}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  throw new SwitchyardError('INVALID_CONFIG', `cannot lock data directory ${dir}: it keeps changing hands`);
}

function inUse(dir: string, pid: number): SwitchyardError {
  return new SwitchyardError(
    'INVALID_CONFIG',
    `data directory ${dir} is in use by another Switchyard (pid ${pid})`,
  );
}

/** Creates the lock file with its whole content at once; false if a lock file exists. */
async function create(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFilePrivate(tmp, content, 'wx');
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code(e) ?? '')) throw e;
  } finally {
    await unlink(tmp);
  }
  // No hard links here (some network and FUSE filesystems): exclusive create, then write.
  try {
    const fh = await openPrivate(path, 'wx');
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    throw e;
  }
}

/** The lock file's content; undefined if there is none. */
async function readLock(path: string): Promise<string | undefined> {
  try {
    const raw = await readFile(path, 'utf8');
    if (parse(raw) !== undefined) return raw;
    // Unreadable: perhaps the O_EXCL fallback's creator has not written yet. Look once more.
    await sleep(100);
    return await readFile(path, 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw e;
  }
}

function parse(raw: string): Holder | undefined {
  try {
    const j: unknown = JSON.parse(raw);
    if (typeof j !== 'object' || j === null) return undefined;
    const { pid, start } = j as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
    return typeof start === 'string' ? { pid, start } : { pid };
  } catch {
    return undefined;
  }
}

function isAlive(h: Holder): boolean {
  // Our own pid, yet not in `held`: the lock of an earlier process that had our pid.
  if (h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if (code(e) !== 'EPERM') return false; // ESRCH: no such process
  }
  // Alive (EPERM: alive, another user's). Is it the process that took the lock?
  const start = processStart(h.pid);
  return h.start === undefined || start === undefined || start === h.start;
}

/** Removes the stale lock whose content was `raw`, unless someone replaced it meanwhile. */
async function takeOver(path: string, raw: string): Promise<void> {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if (code(e) === 'ENOENT') return; // someone else removed it
    throw e;
  }
  const moved = await readFile(aside, 'utf8');
  if (moved !== raw) {
    // We moved a lock that was taken after we read the stale one: put it back.
    await link(aside, path).catch(() => undefined);
  }
  await unlink(aside);
}

async function release(path: string, key: string, content: string): Promise<void> {
  if (!held.delete(key)) return;
  try {
    // Only our own lock: if it was taken over (we looked dead), it is not ours to delete.
    if ((await readFile(path, 'utf8')) === content) await unlink(path);
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
  }
}

/** A process's start time, to tell it from a later process with the same pid; Linux only. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may contain spaces; fields after it start at 3.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3];
  } catch {
    return undefined;
  }
}

function code(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}
