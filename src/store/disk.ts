/**
 * The disk-free alarm (DESIGN.md section 4): while the free space on the data directory's
 * filesystem is below a limit, publishers are blocked; consumers keep working (their acks free
 * space). Like RabbitMQ's disk_free_limit, this polls statfs and reports transitions only; what
 * blocking means per protocol is the core's and the front ends' business.
 *
 * "Free" is the space available to this (unprivileged) process, f_bavail × f_bsize, not f_bfree:
 * the blocks reserved for root are no use to the broker.
 */
import { statfs as fsStatfs } from 'node:fs/promises';

/** The part of fs.StatsFs the monitor reads (injectable for tests). */
export interface FsSpace {
  readonly bavail: number | bigint;
  readonly bsize: number | bigint;
}

export interface DiskFreeOptions {
  /** Alarm while free bytes < limitBytes; clear once free ≥ limitBytes. */
  readonly limitBytes: number;
  /** Polling period. Default 10 s. */
  readonly intervalMs?: number;
  /** Called on every transition, and on the first check if it finds the alarm on. */
  onChange(alarm: boolean, free: number): void;
  /** Called when statfs fails; the alarm keeps its last state. Default: ignore. */
  readonly onError?: (e: unknown) => void;
  /** Defaults to fs.promises.statfs. */
  readonly statfs?: (path: string) => Promise<FsSpace>;
}

export interface DiskFreeWatcher {
  /** Whether the alarm is on (false until a check has found otherwise). */
  readonly alarm: boolean;
  /** Free bytes at the last successful check; undefined before it. */
  readonly free: number | undefined;
  /** Checks now (after any check in progress) and reports a transition; resolves to the alarm state. */
  checkNow(): Promise<boolean>;
  /** Stops polling. A check in progress still completes but reports nothing. */
  stop(): void;
}

/**
 * Starts watching the filesystem that holds `dir`: one check at once, then one every
 * `intervalMs`. The timer is unref'd, so the watcher never keeps the process alive.
 */
export function watchDiskFree(dir: string, opts: DiskFreeOptions): DiskFreeWatcher {
  const statfs = opts.statfs ?? fsStatfs;
  const intervalMs = opts.intervalMs ?? 10_000;
  let alarm = false;
  let free: number | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // Checks run one after another, so results are applied in the order they were taken.
  let last: Promise<boolean> = Promise.resolve(false);

  const check = async (): Promise<boolean> => {
    let s: FsSpace;
    try {
      s = await statfs(dir);
    } catch (e) {
      if (!stopped) opts.onError?.(e);
      return alarm;
    }
    if (stopped) return alarm;
    free = Number(s.bavail) * Number(s.bsize);
    const next = free < opts.limitBytes;
    if (next !== alarm) {
      alarm = next;
      opts.onChange(alarm, free);
    }
    return alarm;
  };

  const checkNow = (): Promise<boolean> => {
    last = last.then(check, check);
    return last;
  };

  // setTimeout after each check rather than setInterval: a slow statfs (a hung network
  // filesystem) never piles up checks. A throwing onChange must not become an unhandled
  // rejection that takes the broker down: it goes to onError like a statfs failure.
  const poll = (): void => {
    checkNow()
      .catch((e: unknown) => opts.onError?.(e))
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(poll, intervalMs);
        timer.unref();
      });
  };
  poll();

  return {
    get alarm() {
      return alarm;
    },
    get free() {
      return free;
    },
    checkNow,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
