/**
 * The neutral broker-bench harness (../shared/broker-bench beside the checkout, or
 * $BROKER_BENCH_DIR), as the peer comparisons use it: no broker gets a client of its own. The
 * shared folder is read-only, so it is copied to bench/node_modules/.cache/broker-bench (which git,
 * biome, eslint and tsc leave alone) with its own `npm ci`, both redone only when the source
 * changed; and each invocation is one bounded child process whose JSON result lines are collected.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { shellQuote } from './cli.js';
import { loadavg } from './machine.js';
import { ROOT } from './paths.js';
import type { RunContext } from './run-context.js';

export const HARNESS_SRC = resolve(
  process.env.BROKER_BENCH_DIR ?? resolve(ROOT, '..', 'shared', 'broker-bench'),
);
export const HARNESS = join(ROOT, 'bench', 'node_modules', '.cache', 'broker-bench');
const SKIP = new Set(['node_modules', 'results', '.git']);

/**
 * A result line of the harness (its README lists the fields). Loose on purpose: the tables read
 * what they know, and a synthetic row stands in (with `error`) for an invocation that wrote none.
 */
export interface HarnessRow {
  scenario: string;
  target: string;
  run?: number;
  size?: number;
  qos?: number;
  rate_target?: number;
  subscribers?: number;
  connections_target?: number;
  error?: string;
  synthetic?: boolean;
  [field: string]: unknown;
}

function listFiles(dir: string, base = dir, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    if (dir === base && SKIP.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) listFiles(p, base, out);
    else if (st.isFile()) out.push(relative(base, p));
  }
  return out;
}

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

function readStamp(file: string): { files?: string; lock?: string } {
  if (!existsSync(file)) return {};
  return JSON.parse(readFileSync(file, 'utf8')) as { files?: string; lock?: string };
}

/** Copies the harness when its files changed and runs `npm ci` when its lock file changed. */
export async function ensureHarness(run: RunContext): Promise<void> {
  if (!existsSync(join(HARNESS_SRC, 'bin', 'bench.js')))
    throw new Error(`harness not found at ${HARNESS_SRC} (set BROKER_BENCH_DIR)`);
  const files = listFiles(HARNESS_SRC);
  const h = createHash('sha256');
  for (const f of files)
    h.update(f)
      .update('\0')
      .update(readFileSync(join(HARNESS_SRC, f)));
  const want = { files: h.digest('hex'), lock: sha(readFileSync(join(HARNESS_SRC, 'package-lock.json'))) };
  const stampFile = join(HARNESS, '.stamp.json');
  const have = readStamp(stampFile);
  if (have.files !== want.files) {
    run.log(`harness: copying ${HARNESS_SRC} -> ${relative(ROOT, HARNESS)}`);
    mkdirSync(HARNESS, { recursive: true });
    for (const name of readdirSync(HARNESS))
      if (name !== 'node_modules') rmSync(join(HARNESS, name), { recursive: true, force: true });
    for (const f of files) {
      const dst = join(HARNESS, f);
      mkdirSync(dirname(dst), { recursive: true });
      copyFileSync(join(HARNESS_SRC, f), dst);
      // The source is read-only; the copy keeps only whether a file is executable.
      chmodSync(dst, statSync(join(HARNESS_SRC, f)).mode & 0o111 ? 0o755 : 0o644);
    }
  }
  if (have.lock !== want.lock || !existsSync(join(HARNESS, 'node_modules'))) {
    run.log('harness: npm ci');
    const r = await run.runChild('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: HARNESS,
      timeoutS: 600,
      label: 'npm ci',
    });
    if (r.code !== 0)
      throw new Error(`npm ci in ${HARNESS} failed (exit ${r.code}): ${r.stderrTail.join('\n')}`);
  }
  writeFileSync(stampFile, `${JSON.stringify(want)}\n`);
}

/** The harness's own helpers: its client libraries' versions, and the pid listening on a port. */
export async function loadHarness(): Promise<{
  libVersions: () => Record<string, string>;
  pidListeningOn: (port: number) => number | null;
}> {
  const adapters = (await import(pathToFileURL(join(HARNESS, 'src', 'adapters', 'index.js')).href)) as {
    libVersions: () => Record<string, string>;
  };
  const proc = (await import(pathToFileURL(join(HARNESS, 'src', 'proc.js')).href)) as {
    pidListeningOn: (port: number) => number | null;
  };
  return { libVersions: adapters.libVersions, pidListeningOn: proc.pidListeningOn };
}

/** The harness's timing of a flow item: warm-up, measured window, drain (seconds). */
export interface FlowTiming {
  readonly warmup: number;
  readonly duration: number;
  readonly drain: number;
}

/** The arguments of every invocation: scenario, target label, pass, tag, JSON output, broker pid. */
export function baseArgs(o: {
  scenario: string;
  target: string;
  pass: number;
  tag: string;
  pid: number | 'auto' | null;
}): string[] {
  const args = [
    '-s',
    o.scenario,
    '--target',
    o.target,
    '--run',
    String(o.pass),
    '--tag',
    o.tag,
    '--format',
    'json',
  ];
  return o.pid === null ? args : [...args, '--broker-pid', String(o.pid)];
}

/** A flow item's timing and size arguments, and the time bound of its invocation. */
export function flowArgs(t: FlowTiming, size: number): { args: string[]; timeoutS: number } {
  return {
    args: [
      '--duration',
      String(t.duration),
      '--warmup',
      String(t.warmup),
      '--drain',
      String(t.drain),
      '--size',
      String(size),
    ],
    timeoutS: Math.ceil(t.warmup + t.duration + 2 * t.drain + 150),
  };
}

/**
 * One `node bin/bench.js ARGS`, killed after timeoutS. Each JSON result line gets `decorate`d,
 * written with run.writeRow and returned; when the harness wrote none, a synthetic error row
 * ({...errorBase, error}) stands in. Its progress lines ("->", "!!") are echoed to stderr.
 */
export async function runHarness(
  run: RunContext,
  o: {
    args: readonly string[];
    label: string;
    timeoutS: number;
    decorate?: (row: HarnessRow) => void;
    errorBase: HarnessRow;
  },
): Promise<HarnessRow[]> {
  const full = [join(HARNESS, 'bin', 'bench.js'), ...o.args];
  run.logRaw(`$ node ${full.map(shellQuote).join(' ')}`);
  const rows: HarnessRow[] = [];
  const r = await run.runChild(process.execPath, full, {
    cwd: HARNESS,
    timeoutS: o.timeoutS,
    label: o.label,
    onStdout: (l) => {
      run.logRaw(l);
      if (!l.startsWith('{')) return;
      let row: HarnessRow;
      try {
        row = JSON.parse(l) as HarnessRow;
      } catch {
        run.logRaw('  (not a JSON line: left out)');
        return;
      }
      o.decorate?.(row);
      rows.push(row);
      run.writeRow(row);
    },
    onStderr: (l) => {
      run.logRaw(`  ${l}`);
      if (/^\s+(->|!!)/.test(l)) process.stderr.write(`           ${l.trim()}\n`);
    },
  });
  if (rows.length === 0) {
    const why = `${r.code === null ? '' : `exit ${r.code}`}${r.signal === null ? '' : `, signal ${r.signal}`}${r.timedOut ? `, killed after ${o.timeoutS} s timeout` : ''}`;
    const error = `harness produced no result (${why}): ${r.stderrTail.slice(-8).join(' | ')}`;
    const row: HarnessRow = {
      ...o.errorBase,
      error,
      synthetic: true,
      ts: new Date().toISOString(),
      loadavg_1m: loadavg()[0],
    };
    run.writeRow(row);
    rows.push(row);
    run.log(`  !! ${error}`);
  } else if (r.timedOut) {
    run.anomaly(`${o.label}: harness killed after the ${o.timeoutS} s timeout (after writing its result).`);
  }
  return rows;
}
