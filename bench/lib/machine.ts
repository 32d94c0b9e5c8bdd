/**
 * Facts about the machine and the run that the bench/ scripts report beside their figures: CPU of
 * the broker, of this client and of everything else (a noisy neighbour makes figures worthless, so
 * the reports say how noisy it was), open-file limits, the commit measured. Per-process CPU and
 * memory come from src/cli/bench/proc.ts, as in `switchyard bench`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuMicros } from '../../src/cli/bench/proc.js';
import { ROOT } from './paths.js';

/** USER_HZ: /proc/stat counts in these ticks. */
const TICKS_PER_S = 100;
const CPUS = os.cpus().length;

export const round = (v: number, digits = 1): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** The median of some numbers (the upper one of an even count), null for none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The machine's CPU counters from /proc/stat: total and busy (not idle, not iowait) ticks. */
function machineTicks(): { total: number; busy: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { total, busy: total - (fields[3] ?? 0) - (fields[4] ?? 0) };
}

/** The whole machine's busy CPU over the next `ms`, in % of one core (200% = both cores of two). */
export async function machineBusyPct(ms = 1000): Promise<number | null> {
  const a = machineTicks();
  await sleep(ms);
  const b = machineTicks();
  return b.total > a.total ? Math.round(((b.busy - a.busy) / (b.total - a.total)) * 100 * CPUS) : null;
}

export interface CpuShares {
  /** % of one core since the previous reading. */
  readonly broker_cpu_pct: number | null;
  readonly client_cpu_pct: number;
  /** The machine's busy CPU minus the broker's and this client's: other jobs (and softirqs). */
  readonly other_cpu_pct: number | null;
}

/** A meter of the broker's, this process's and everything else's CPU since its previous reading. */
export function cpuMeter(brokerPid: number): () => CpuShares {
  const read = () => ({
    t: performance.now(),
    broker: cpuMicros(brokerPid),
    client: process.cpuUsage(),
    m: machineTicks(),
  });
  let last = read();
  return () => {
    const cur = read();
    const s = (cur.t - last.t) / 1000;
    const broker =
      cur.broker !== null && last.broker !== null ? ((cur.broker - last.broker) / 1e6 / s) * 100 : null;
    const client =
      ((cur.client.user + cur.client.system - last.client.user - last.client.system) / 1e6 / s) * 100;
    const dm = cur.m.total - last.m.total;
    const machine = dm > 0 ? ((cur.m.busy - last.m.busy) / dm) * 100 * CPUS : null;
    last = cur;
    return {
      broker_cpu_pct: broker === null ? null : Math.round(broker),
      client_cpu_pct: Math.round(client),
      other_cpu_pct:
        machine === null || broker === null ? null : Math.round(Math.max(0, machine - broker - client)),
    };
  };
}

/** Every process's name and CPU ticks. */
function scanProcesses(): Map<number, { comm: string; ticks: number }> {
  const out = new Map<number, { comm: string; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // it ended between readdir and read
    }
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' ');
    out.set(Number(d), {
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ticks: Number(f[11]) + Number(f[12]),
    });
  }
  return out;
}

/**
 * The busiest other processes since the previous call (a few hundred /proc reads), so that a noisy
 * sample names its cause: [["comm(pid)", % of one core], ...], busiest first, at most three.
 */
export function busiestOthers(exclude: readonly number[]): () => [string, number][] {
  let last = scanProcesses();
  let lastT = performance.now();
  return () => {
    const cur = scanProcesses();
    const t = performance.now();
    const s = (t - lastT) / 1000;
    const out: [string, number][] = [];
    for (const [pid, v] of cur) {
      if (exclude.includes(pid)) continue;
      const d = v.ticks - (last.get(pid)?.ticks ?? 0); // a process new since the last scan: all its ticks
      if (d > 0) out.push([`${v.comm}(${pid})`, Math.round((d / TICKS_PER_S / s) * 100)]);
    }
    last = cur;
    lastT = t;
    return out.sort((a, b) => b[1] - a[1]).slice(0, 3);
  };
}

/** Open-files limit of a process ('self': this one); Infinity = unlimited. */
export function nofileLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } | null {
  let limits: string;
  try {
    limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  } catch {
    return null;
  }
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
  const n = (x: string) => (x === 'unlimited' ? Number.POSITIVE_INFINITY : Number(x));
  return m ? { soft: n(m[1]!), hard: n(m[2]!) } : null;
}

/** Open file descriptors of a process. */
export function fdCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Direct children of a process. */
export function childPids(pid: number): number[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return [];
  }
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

export const loadavg = (): number[] => os.loadavg().map((x) => round(x, 2));

export interface MachineInfo {
  readonly cpus: number;
  readonly cpu_model: string;
  readonly mem_gb: number;
  readonly kernel: string;
  readonly node: string;
}

export function machineInfo(): MachineInfo {
  return {
    cpus: CPUS,
    cpu_model: os.cpus()[0]?.model.trim() ?? 'CPU',
    mem_gb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

export interface GitInfo {
  readonly commit?: string;
  /** src/ differs from the commit. */
  readonly src_modified?: boolean;
}

/** The short commit of HEAD and whether src/ differs from it; {} outside a git checkout. */
export function gitInfo(): GitInfo {
  const git = (args: string[]) =>
    execFileSync('git', ['--no-optional-locks', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  let commit: string;
  try {
    commit = git(['rev-parse', '--short', 'HEAD']).trim();
  } catch {
    return {};
  }
  let modified = false;
  try {
    git(['diff', '--quiet', 'HEAD', '--', 'src']);
  } catch {
    modified = true; // git diff --quiet exits 1 when there are differences
  }
  return { commit, src_modified: modified };
}

/** "commit abc123, with uncommitted changes in src/", or '' outside a checkout. */
export const commitText = (g: GitInfo): string =>
  g.commit === undefined
    ? ''
    : `commit ${g.commit}${g.src_modified === true ? ', with uncommitted changes in src/' : ''}`;

/** The installed version of an npm package (its package.json, found from its entry point). */
export function libraryVersion(name: string): string | null {
  const req = createRequire(join(ROOT, 'package.json'));
  let dir: string;
  try {
    dir = dirname(req.resolve(name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return null;
    throw e;
  }
  // A package's "exports" may hide its package.json: look next to the entry point and upwards.
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return (
    (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? null
  );
}

/** The file system a directory is on: "device (type, N free)", for the report. */
export function fileSystemOf(dir: string): string {
  let out: string;
  try {
    out = execFileSync('df', ['-hT', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '?';
  }
  const f = out.trim().split('\n').at(-1)!.split(/\s+/);
  return `${f[0]} (${f[1]}, ${f[4]} free)`;
}
