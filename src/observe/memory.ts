/**
 * The memory alarm (issue 15): while the process's resident set is at or above the high
 * watermark, publishers are blocked on every protocol and consumers keep draining, as RabbitMQ
 * does with vm_memory_high_watermark. This module measures and reports transitions only; what
 * blocking means per protocol is the core's and the front ends' business (Broker.setAlarm).
 *
 * The watermark is a fraction of the memory the process may use, or an absolute size. "The
 * memory the process may use" is the smaller of the machine's (os.totalmem()) and the cgroup's
 * limit (v2 memory.max, v1 memory.limit_in_bytes): in a container the machine's total is not
 * what the kernel will let us have before the OOM killer comes.
 */
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { Clock, Timer } from '../util/clock.js';

/** Where the limit of the process's memory came from. */
export interface MemoryLimit {
  readonly bytes: number;
  readonly source: 'machine' | 'cgroup v2' | 'cgroup v1';
}

/** Reads a file's text, or undefined when it does not exist or cannot be read (injectable). */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    // No cgroup file (not Linux, no memory controller): the machine's total is the limit.
    if ((e as NodeJS.ErrnoException).code !== undefined) return undefined;
    throw e;
  }
};

/**
 * The memory this process may use: the cgroup's limit when there is one below the machine's
 * total, else the machine's total. cgroup v2 names the process's group in /proc/self/cgroup
 * ("0::/path"); in a container that is usually "/" and the limit is /sys/fs/cgroup/memory.max.
 */
export function memoryLimit(read: ReadText = readText, machine: number = totalmem()): MemoryLimit {
  const candidates: { path: string; source: MemoryLimit['source'] }[] = [];
  const self = read('/proc/self/cgroup');
  const v2 = self
    ?.split('\n')
    .find((l) => l.startsWith('0::'))
    ?.slice(3)
    .trim();
  if (v2 !== undefined && v2 !== '' && v2 !== '/') {
    candidates.push({ path: `/sys/fs/cgroup${v2}/memory.max`, source: 'cgroup v2' });
  }
  candidates.push({ path: '/sys/fs/cgroup/memory.max', source: 'cgroup v2' });
  candidates.push({ path: '/sys/fs/cgroup/memory/memory.limit_in_bytes', source: 'cgroup v1' });
  for (const c of candidates) {
    const text = read(c.path)?.trim();
    if (text === undefined || text === '') continue;
    // v2 says "max" for no limit; v1 says a huge number (a page-rounded 2^63 - 1).
    if (text === 'max') return { bytes: machine, source: 'machine' };
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) continue;
    return n < machine ? { bytes: n, source: c.source } : { bytes: machine, source: 'machine' };
  }
  return { bytes: machine, source: 'machine' };
}

/**
 * The high watermark in bytes: `setting` ≤ 1 is a fraction of `limit`, above 1 a number of bytes.
 * 0 turns the alarm off (undefined).
 */
export function highWatermarkBytes(setting: number, limit: number): number | undefined {
  if (setting <= 0) return undefined;
  return setting <= 1 ? Math.floor(setting * limit) : setting;
}

export interface MemoryWatcherOptions {
  /** Alarm while the sample ≥ limitBytes; clear once it is below. */
  readonly limitBytes: number;
  /** Polling period on `clock`. */
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Called on every transition, and on the first check if it finds the alarm on. */
  onChange(alarm: boolean, rss: number): void;
  /** The resident set in bytes; process.memoryUsage.rss by default (tests pass a fake). */
  readonly sample?: () => number;
}

export interface MemoryWatcher {
  readonly alarm: boolean;
  /** The resident set at the last check. */
  readonly rss: number;
  readonly limitBytes: number;
  /** Checks now and reports a transition; returns the alarm state. */
  checkNow(): boolean;
  stop(): void;
}

/** Starts watching: one check at once, then one every `intervalMs` of the clock. */
export function watchMemory(opts: MemoryWatcherOptions): MemoryWatcher {
  const sample = opts.sample ?? (() => process.memoryUsage.rss());
  let alarm = false;
  let rss = 0;
  let timer: Timer | undefined;
  const checkNow = (): boolean => {
    rss = sample();
    const next = rss >= opts.limitBytes;
    if (next !== alarm) {
      alarm = next;
      opts.onChange(alarm, rss);
    }
    return alarm;
  };
  checkNow();
  timer = opts.clock.every(opts.intervalMs, checkNow);
  return {
    get alarm() {
      return alarm;
    },
    get rss() {
      return rss;
    },
    limitBytes: opts.limitBytes,
    checkNow,
    stop() {
      timer?.cancel();
      timer = undefined;
    },
  };
}

/** Bytes as a person reads them in a log line: 1.5 GiB, 300 MiB, 12 KiB, 80 B. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
