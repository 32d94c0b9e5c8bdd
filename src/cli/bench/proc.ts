/**
 * /proc readings for a pid: CPU time and resident memory. Each returns null when the process is
 * gone or /proc is not readable (not Linux, another user's process).
 */
import { readFileSync } from 'node:fs';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks on every Linux the bench runs on. */
const TICKS_PER_S = 100;

/** utime + stime of every thread of pid, in microseconds. */
export function cpuMicros(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1e6;
  } catch {
    return null;
  }
}

/** VmRSS (resident now) and VmHWM (the peak so far) of pid, in KiB. */
export function memoryKib(pid: number): { rss: number; peak: number | null } | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : null;
  };
  const rss = kib('VmRSS');
  return rss === null ? null : { rss, peak: kib('VmHWM') };
}

/** VmRSS of pid, in KiB. */
export function rssKib(pid: number): number | null {
  return memoryKib(pid)?.rss ?? null;
}

/** CPU spent by some processes between start() and the returned stop(), in microseconds. */
export function cpuSpan(pids: readonly number[]): () => number | null {
  const before = pids.map(cpuMicros);
  return () => {
    if (pids.length === 0) return null;
    let total = 0;
    for (const [i, pid] of pids.entries()) {
      const a = before[i];
      const b = cpuMicros(pid);
      if (a === null || a === undefined || b === null) return null;
      total += b - a;
    }
    return total;
  };
}

/** This process's own CPU between start() and the returned stop(), in microseconds. */
export function ownCpuSpan(): () => number {
  const before = process.cpuUsage();
  return () => {
    const d = process.cpuUsage(before);
    return d.user + d.system;
  };
}
