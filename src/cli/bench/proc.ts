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

/** VmRSS of pid, in KiB. */
export function rssKib(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
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
