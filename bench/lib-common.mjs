// Not a script. Shared by the bench scripts (run.mjs, mqtt.mjs, backlog.mjs, confirm-fsync.mjs):
// paths, command-line parsing, formatting and markdown tables; the run context (results file, log,
// anomalies, time-bounded child processes); /proc readings; the dist/ snapshot the broker runs
// from; and the sections of docs/benchmarks.md that scripts other than run.mjs own.
// (Two lib files: eslint's allowDefaultProject is capped (24 files, eslint.config.js) across bench/*.mjs and
// scripts/*.mjs, see eslint.config.js. Broker processes and the harness are in lib-brokers.mjs.)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection, createServer as createTcpServer } from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// ================================================================ paths, command line, numbers, markdown, facts about the run

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_DIR = join(ROOT, 'bench');
export const DOCS_FILE = join(ROOT, 'docs', 'benchmarks.md');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** p, or `value` after ms, whichever comes first; the timer is cleared either way. */
export function within(p, ms, value = null) {
  let t;
  return Promise.race([p, new Promise((r) => (t = setTimeout(() => r(value), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

// ---------------------------------------------------------------- command line

/** Shell-quotes one word for a command line shown to people. */
export const shq = (s) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command as typed, for the results and the docs: `prefix arg arg ...`. */
export function commandLine(prefix, argv = process.argv.slice(2), sep = ' ') {
  return argv.length ? `${prefix}${sep}${argv.map(shq).join(' ')}` : prefix;
}

/** A fail(msg) that prints `name: msg` and exits 2 (bad usage). */
export function makeFail(name) {
  return (msg) => {
    process.stderr.write(`${name}: ${msg}\n`);
    process.exit(2);
  };
}

/**
 * parseArgs (strict, --no-X negations) that exits 2 with a hint on a bad flag, and prints `help`
 * and exits 0 on -h/--help. Returns the values.
 */
export function parseCli({ name, options, help, args = process.argv.slice(2), hint = '--help' }) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowNegative: true,
      strict: true,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
    }));
  } catch (e) {
    process.stderr.write(`${name}: ${e.message}\n(see ${hint})\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(help);
    process.exit(0);
  }
  return values;
}

/** Number-flag parsers bound to a fail function. */
export function numberParsers(fail) {
  return {
    /** A positive number (fractions allowed), or dflt when absent. */
    posNum(name, v, dflt) {
      if (v === undefined) return dflt;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) fail(`--${name} wants a positive number, got '${v}'`);
      return n;
    },
    /** A positive count: 2000000, 2_000_000, 2,000,000, 2M, 100k. */
    count(name, v, dflt) {
      if (v === undefined || v === '') return dflt;
      const m = /^([\d_,.]+)([kKmM]?)$/.exec(String(v).trim());
      const n = m
        ? Number(m[1].replace(/[_,]/g, '')) * { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[m[2]]
        : Number.NaN;
      if (!Number.isFinite(n) || n <= 0) fail(`--${name} wants a positive number, got '${v}'`);
      return Math.round(n);
    },
    /** A positive integer (1_000 and 1,000 allowed). */
    int(name, v, dflt) {
      if (v === undefined) return dflt;
      const n = Number(String(v).replace(/[_,]/g, ''));
      if (!Number.isInteger(n) || n <= 0) fail(`--${name} wants a positive integer, got '${v}'`);
      return n;
    },
  };
}

/** '16', '1k', '64KiB', '1M' -> bytes. */
export function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmM]?)i?[bB]?$/.exec(String(s).trim());
  if (!m) throw new Error(`bad size '${s}'`);
  return Math.round(Number(m[1]) * { '': 1, k: 1024, K: 1024, m: 1048576, M: 1048576 }[m[2]]);
}

// ---------------------------------------------------------------- numbers and markdown

export const fmt = (v, d = 0) =>
  v === null || v === undefined || Number.isNaN(v)
    ? '-'
    : typeof v === 'number'
      ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
      : String(v);
export const round = (v, d = 1) => (typeof v === 'number' ? Math.round(v * 10 ** d) / 10 ** d : v);
export const fmtSize = (b) =>
  b == null
    ? '-'
    : b >= 1048576 && b % 1048576 === 0
      ? `${b / 1048576} MiB`
      : b >= 1024 && b % 1024 === 0
        ? `${b / 1024} KiB`
        : `${b} B`;

export function median(a) {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/** Markdown table with padded columns (the layout biome's markdown formatter wants). */
export function mdTable(head, rows) {
  const esc = (c) => String(c).replace(/\|/g, '\\|');
  const all = [head, ...rows].map((r) => r.map(esc));
  const len = (c) => [...c].length;
  const widths = head.map((_, i) => Math.max(3, ...all.map((r) => len(r[i] ?? ''))));
  const line = (r) => `| ${r.map((c, i) => c + ' '.repeat(widths[i] - len(c))).join(' | ')} |`;
  return [
    line(all[0]),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...all.slice(1).map(line),
  ].join('\n');
}

// ---------------------------------------------------------------- facts about the run

/** Short commit of HEAD and whether src/ differs from it; {} outside a git checkout. */
export function gitInfo(root = ROOT) {
  try {
    const commit = execFileSync('git', ['--no-optional-locks', 'rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    let modified = false;
    try {
      execFileSync('git', ['--no-optional-locks', 'diff', '--quiet', 'HEAD', '--', 'src'], {
        cwd: root,
        stdio: 'ignore',
      });
    } catch {
      modified = true;
    }
    return { commit, src_modified: modified };
  } catch {
    return {};
  }
}

/** "commit abc123, with uncommitted changes in src/" or '' */
export function commitText(g) {
  return g?.commit ? `commit ${g.commit}${g.src_modified ? ', with uncommitted changes in src/' : ''}` : '';
}

export function machineInfo() {
  return {
    host: os.hostname(),
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model?.trim() ?? 'CPU',
    mem_gb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

export const loadavg = () => os.loadavg().map((x) => round(x, 2));

/**
 * amqplib, from Switchyard's devDependencies or else the harness copy: { amqp, version }.
 */
export function loadAmqplib() {
  for (const base of [
    join(ROOT, 'package.json'), // Switchyard's devDependency
    join(BENCH_DIR, 'node_modules', '.cache', 'broker-bench', 'package.json'), // the harness copy
  ]) {
    try {
      const req = createRequire(base);
      const amqp = req('amqplib');
      // amqplib's "exports" hide its package.json: find it next to the resolved entry point
      let dir = dirname(req.resolve('amqplib'));
      while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
      const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
      return { amqp, version };
    } catch {}
  }
  throw new Error('amqplib not found: run npm install (or npm run bench once, for the harness copy)');
}

// ================================================================ the run context: results file, log, anomalies, child processes

// The results file (JSON lines) and the log next to it, progress on stderr, the list of anomalies
// the report must mention, and time-bounded child processes.

/** A path `dir/stem-<day>[-N].ext` that does not exist yet. */
export function freeName(dir, stem, ext, day = new Date().toISOString().slice(0, 10)) {
  for (let i = 1; ; i++) {
    const f = join(dir, `${stem}-${day}${i > 1 ? `-${i}` : ''}.${ext}`);
    if (!existsSync(f)) return f;
  }
}

/**
 * Opens the results file (default bench/results/<stem>-<date>.jsonl, or bench/results/tmp/ when
 * `tmp`) and its .log, both truncated. Returns the context:
 *   OUT, LOG, startedAt, day, writeRow(obj), log(msg), logRaw(line), anomaly(msg), anomalies,
 *   runChild(cmd, args, opts), children (running child processes).
 */
export function createRun({ stem, tmp = false, out = null }) {
  const startedAt = new Date();
  const day = startedAt.toISOString().slice(0, 10);
  const OUT = resolve(out ?? freeName(join(BENCH_DIR, 'results', tmp ? 'tmp' : ''), stem, 'jsonl', day));
  const LOG = `${OUT.replace(/\.jsonl$/, '')}.log`;
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, '');
  writeFileSync(LOG, '');
  const stamp = () => new Date().toISOString().slice(11, 19);
  const log = (msg) => {
    const line = `[${stamp()}] ${msg}`;
    process.stderr.write(`${line}\n`);
    appendFileSync(LOG, `${line}\n`);
  };
  const logRaw = (line) => appendFileSync(LOG, `${line}\n`);
  const anomalies = [];
  const anomaly = (msg) => {
    anomalies.push(msg);
    log(`!! ${msg}`);
  };
  const writeRow = (r) => appendFileSync(OUT, `${JSON.stringify(r)}\n`);
  const children = new Set();

  /**
   * Runs a command with a time bound. Lines of stdout/stderr go to the callbacks (default: the
   * log). Resolves {code, signal, timedOut, stdoutLines, stderrTail}; never rejects.
   */
  function runChild(cmd, args, { cwd = ROOT, env, timeoutS, onStdout, onStderr, label = cmd } = {}) {
    return new Promise((res) => {
      const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      const stdoutLines = [];
      const stderrTail = [];
      let timedOut = false;
      let killTimer = null;
      const timer = timeoutS
        ? setTimeout(() => {
            timedOut = true;
            log(`${label}: timed out after ${timeoutS} s, sending SIGTERM to pid ${child.pid}`);
            child.kill('SIGTERM');
            killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
          }, timeoutS * 1000)
        : null;
      createInterface({ input: child.stdout }).on('line', (l) => {
        stdoutLines.push(l);
        (onStdout ?? logRaw)(l);
      });
      createInterface({ input: child.stderr }).on('line', (l) => {
        stderrTail.push(l);
        if (stderrTail.length > 40) stderrTail.shift();
        (onStderr ?? logRaw)(l);
      });
      const done = (code, signal, err) => {
        clearTimeout(timer);
        clearTimeout(killTimer);
        children.delete(child);
        if (err) stderrTail.push(String(err.message ?? err));
        res({ code, signal, timedOut, stdoutLines, stderrTail });
      };
      child.on('error', (e) => done(null, null, e));
      child.on('close', (code, signal) => done(code, signal));
    });
  }

  return { OUT, LOG, startedAt, day, writeRow, log, logRaw, anomaly, anomalies, runChild, children };
}

// ================================================================ /proc readings

// A process's RSS and CPU, the machine's CPU, the busiest other processes, open-file limits.
// Every reader returns null when the process is gone or /proc is unreadable.

const now = () => performance.now();
export const CLK_TCK = 100; // USER_HZ on Linux

/** VmRSS and VmHWM (peak) of a pid, in KiB. */
export function procStatus(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s);
      return m ? Number(m[1]) : null;
    };
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return { rssKb: null, hwmKb: null };
  }
}

/** utime + stime of a pid (all threads), in clock ticks. */
export function procTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15
  } catch {
    return null;
  }
}

/** Machine CPU counters from /proc/stat: {total, busy} in ticks (busy excludes idle and iowait). */
export function machineTicks() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = l.reduce((a, b) => a + b, 0);
  return { total, busy: total - l[3] - (l[4] ?? 0) };
}

const NCPU = os.cpus().length;

/** The whole machine's busy CPU over the next `ms`, in % of one core (200% = both cores busy). */
export async function machineBusyPct(ms = 1000) {
  const a = machineTicks();
  await sleep(ms);
  const b = machineTicks();
  const dt = b.total - a.total;
  return dt > 0 ? round(((b.busy - a.busy) / dt) * 100 * NCPU, 0) : null;
}
/** CPU meter: the broker, this client, and everything else, in % of one core since the last call. */
export function cpuMeter(pid) {
  let last = { t: now(), b: procTicks(pid), c: process.cpuUsage(), m: machineTicks() };
  return () => {
    const cur = { t: now(), b: procTicks(pid), c: process.cpuUsage(), m: machineTicks() };
    const dtS = (cur.t - last.t) / 1000;
    const broker = cur.b !== null && last.b !== null ? ((cur.b - last.b) / CLK_TCK / dtS) * 100 : null;
    const client = ((cur.c.user + cur.c.system - last.c.user - last.c.system) / 1e6 / dtS) * 100;
    const dm = cur.m.total - last.m.total;
    const machine = dm > 0 ? ((cur.m.busy - last.m.busy) / dm) * 100 * NCPU : null;
    last = cur;
    return {
      broker_cpu_pct: round(broker, 0),
      client_cpu_pct: round(client, 0),
      other_cpu_pct:
        machine === null || broker === null ? null : round(Math.max(0, machine - broker - client), 0),
    };
  };
}

/** Every process's comm and CPU ticks: Map pid -> {comm, ticks}. */
export function scanProcs() {
  const m = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const f = s.slice(close + 2).split(' ');
      m.set(Number(d), { comm: s.slice(s.indexOf('(') + 1, close), ticks: Number(f[11]) + Number(f[12]) });
    } catch {}
  }
  return m;
}

/**
 * The busiest other processes since the last call (all of /proc; a few hundred reads), so a noisy
 * sample names its cause. Returns [[comm(pid), % of one core], ...], busiest first.
 */
export function otherProcs(exclude) {
  let last = scanProcs();
  let lastT = now();
  return () => {
    const cur = scanProcs();
    const t = now();
    const dtS = (t - lastT) / 1000;
    const out = [];
    for (const [pid, v] of cur) {
      if (exclude.includes(pid)) continue;
      const prev = last.get(pid); // a new pid started since the last scan: all its ticks count
      const d = v.ticks - (prev?.ticks ?? 0);
      if (d > 0) out.push([`${v.comm}(${pid})`, round((d / CLK_TCK / dtS) * 100, 0)]);
    }
    last = cur;
    lastT = t;
    return out.sort((a, b) => b[1] - a[1]).slice(0, 3);
  };
}

/** Open-files limit of a pid ('self' for this process): {soft, hard} (Infinity = unlimited). */
export function nofileLimit(pid = 'self') {
  try {
    const m = /Max open files\s+(\S+)\s+(\S+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const n = (x) => (x === 'unlimited' ? Number.POSITIVE_INFINITY : Number(x));
    return m ? { soft: n(m[1]), hard: n(m[2]) } : null;
  } catch {
    return null;
  }
}

/** Number of open file descriptors of a pid. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Direct children of a pid. */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

// ================================================================ dist/: build check and snapshot

// Build check and a private snapshot of dist/: the broker runs from
// bench/node_modules/.cache/switchyard-snapshot/<run>/dist, so a rebuild of dist/ while a script is
// running (someone editing src/) cannot change the code between a publish phase and a restart.
// The snapshot resolves its dependencies from the repository's node_modules (Node walks up).

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/** The built CLI's path, and whether dist/ is missing or older than src/. */
export function distState(root) {
  const distMain = join(root, 'dist', 'cli', 'main.js');
  const stale = !existsSync(distMain) || newestMtime(join(root, 'src')) > newestMtime(join(root, 'dist'));
  return { distMain, stale };
}

/**
 * Rebuilds dist/ when it is missing or older than src/ (unless build is false), then snapshots it.
 * Returns { build: description, dir, nodeFlags, main, remove() }.
 */
export function prepareDist({ root, build, log, logRaw, anomaly }) {
  const { distMain, stale } = distState(root);
  let state = 'up to date';
  if (stale && !build) {
    if (!existsSync(distMain)) throw new Error('dist/ is missing and --no-build was given');
    anomaly('dist/ is older than src/ and --no-build was given: measured the existing dist/.');
    state = 'stale (--no-build)';
  } else if (stale) {
    log('build: npm run build (dist/ missing or older than src/)');
    const r = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    logRaw(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    if (r.status === 0) state = 'rebuilt';
    else {
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
      const msg = `npm run build failed (exit ${r.status}): ${out}`;
      if (!existsSync(distMain)) throw new Error(msg);
      anomaly(`${msg}. Measured the existing dist/.`);
      state = 'build failed, existing dist/ used';
    }
  }
  return { ...snapshotDist(root), build: state };
}

/**
 * Copies dist/ and package.json to a fresh snapshot directory. Returns { dir, nodeFlags, main,
 * remove() }: run it as process.execPath ...nodeFlags main [args].
 */
export function snapshotDist(root) {
  const base = join(root, 'bench', 'node_modules', '.cache', 'switchyard-snapshot');
  mkdirSync(base, { recursive: true });
  for (const old of readdirSync(base)) {
    // snapshots younger than a day may belong to a run still going
    try {
      if (Date.now() - statSync(join(base, old)).mtimeMs > 86_400_000)
        rmSync(join(base, old), { recursive: true, force: true });
    } catch {}
  }
  const dir = mkdtempSync(join(base, `${new Date().toISOString().slice(0, 10)}-`));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  // the bin's Node flags, from its shebang (#!/usr/bin/env -S node --flag ...)
  const shebang = readFileSync(join(root, 'bin', 'switchyard.js'), 'utf8').split('\n')[0];
  const m = /\bnode((?:\s+--?\S+)*)\s*$/.exec(shebang);
  const nodeFlags = m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
  return {
    dir,
    nodeFlags,
    main: join(dir, 'dist', 'cli', 'main.js'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The durable-queue paging window of a snapshot, from its dist/core/queue.js:
 * { messages, bytes } (bytes null when the build has no byte limit), or null when not exported.
 */
export async function pagingWindow(snapshot) {
  try {
    const q = await import(pathToFileURL(join(snapshot.dir, 'dist', 'core', 'queue.js')).href);
    if (typeof q.PAGE_WINDOW !== 'number') return null;
    return { messages: q.PAGE_WINDOW, bytes: typeof q.PAGE_BYTES === 'number' ? q.PAGE_BYTES : null };
  } catch {
    return null;
  }
}

// ================================================================ docs/benchmarks.md: owned sections

// docs/benchmarks.md is written by several scripts. bench/run.mjs owns the file's
// intro, its latest AMQP results and "History"; each other writer owns one section between
// markers, <!-- NAME:start --> ... <!-- NAME:end -->, which run.mjs keeps verbatim when it
// rewrites the file and which the owner replaces in place:
//   durability  bench/backlog.mjs and bench/confirm-fsync.mjs (updateDurabilityDocs below)
//   mqtt        bench/mqtt.mjs
//   protocols   bench/protocols.mjs
//   sse         bench/sse-connections.mjs

/** Owned sections, in the order run.mjs puts them (after the latest AMQP results). */
export const OWNED_SECTIONS = ['durability', 'mqtt', 'protocols', 'sse', 'gateway'];
const startMark = (name) => `<!-- ${name}:start -->`;
const endMark = (name) => `<!-- ${name}:end -->`;

function readDoc(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** [start, end) of a section's text, markers included, or null. */
function findSection(doc, name) {
  const s = doc.indexOf(startMark(name));
  if (s < 0) return null;
  const e = doc.indexOf(endMark(name), s);
  return e < 0 ? null : [s, e + endMark(name).length];
}

/** The inner text of a section (between its markers, trimmed), or null when the file has none. */
export function readSection(file, name) {
  const doc = readDoc(file);
  const at = findSection(doc, name);
  return at ? doc.slice(at[0] + startMark(name).length, at[1] - endMark(name).length).trim() : null;
}

/**
 * Takes the owned sections out of `doc`: { rest, sections: [text with markers, ...] } in
 * OWNED_SECTIONS order.
 */
export function takeOwnedSections(doc) {
  let rest = doc;
  const sections = [];
  for (const name of OWNED_SECTIONS) {
    const at = findSection(rest, name);
    if (!at) continue;
    sections.push(rest.slice(at[0], at[1]));
    rest = rest.slice(0, at[0]) + rest.slice(at[1]);
  }
  return { rest, sections };
}

/**
 * Writes section `name` with inner text `body`: in place of the old one, else before
 * "## History", else at the end. The rest of the file is left as it is.
 */
export function putSection(file, name, body) {
  const doc = readDoc(file);
  const text = `${startMark(name)}\n${body.trim()}\n\n${endMark(name)}`;
  const at = findSection(doc, name);
  let out;
  if (at) out = doc.slice(0, at[0]) + text + doc.slice(at[1]);
  else {
    const h = doc.indexOf('\n## History');
    out =
      h >= 0
        ? `${doc.slice(0, h + 1)}${text}\n\n${doc.slice(h + 1)}`
        : `${doc.trimEnd()}${doc.trim() ? '\n\n' : ''}${text}\n`;
  }
  writeFileSync(file, out);
}

// ================================================================ docs/benchmarks.md: the "Durability" section

// Shared by bench/backlog.mjs and bench/confirm-fsync.mjs. bench/run.mjs keeps the section (between
// the markers) as it is when it rewrites the file. Each run is a block; the newest block of each kind is shown
// as the latest, older ones follow under "Earlier durability runs", newest first.

const RUN_RE = /<!-- durability-run:start (\S+) (\S+) -->\n([\s\S]*?)\n<!-- durability-run:end -->/g;

/** Kinds of run, in the order their latest runs are shown. */
const KINDS = [
  ['backlog', '### Latest backlog run'],
  ['recovery', '### Latest recovery run'],
  ['confirm-fsync', '### Latest confirm-after-fsync check'],
];

function intro() {
  return `## Durability

<!-- Written by bench/backlog.mjs and bench/confirm-fsync.mjs; bench/run.mjs keeps this section as it
is. The newest run of each kind is shown first; earlier runs follow. -->

Persistent messages (deliveryMode 2) in durable queues go to Switchyard's segment log (group commit,
\`fdatasync\` before the confirm); a durable queue keeps a bounded window of ready messages in memory
(\`PAGE_WINDOW\` / \`PAGE_BYTES\` in src/core/queue.ts; each run below gives the values it ran with)
and pages the rest out (read back by id). The 10 s harness runs above never build a large backlog,
so these scripts measure that path:

- **Backlog** (\`bench/backlog.mjs\`): one Switchyard on a fresh data dir; 4 publisher connections,
  each with a ConfirmChannel and at most 512 unconfirmed, publish 2,000,000 persistent 1 KiB messages
  to one durable queue with no consumer. Every second: confirms so far, the rate over that second,
  the broker's RSS (\`/proc/PID/status\` VmRSS; the peak is VmHWM), its CPU, the other jobs' CPU, the
  data dir's size. Then SIGTERM, a restart on the same data dir (the recovery time the broker
  prints, time to "ready", RSS), and a consumer drains the first 100,000 messages and checks each
  publisher's sequence numbers (in order, no gaps).
- **Recovery** (\`bench/backlog.mjs --recovery-only\`): 1,000,000 persistent 1 KiB messages written
  the same way, then restarts with the segment files in the page cache (warm) and evicted from it
  (cold).
- **Confirm after fsync** (\`bench/confirm-fsync.mjs\`): the broker runs under \`strace -f\`, which
  records every segment write, \`fdatasync\`/\`fsync\` and socket write with its bytes; the script
  decodes each basic.ack (publisher confirm) the broker writes and checks that the message it
  confirms was in a segment write that had completed before an \`fdatasync\` of that segment file
  began, and that this \`fdatasync\` had returned before the confirm was written.

Targets: a backlog of 2,000,000 persistent 1 KiB messages keeps the broker under 1 GiB RSS, and the
publish rate over the last 10% of the messages is at least 2/3 of the rate over the first 10%;
recovery of 1,000,000 messages takes at most 5 s; every confirm is sent after the fsync of its
message.

\`\`\`sh
node bench/backlog.mjs                      # backlog: 2,000,000 x 1 KiB (stops at --max-seconds 600), restart, drain 100,000
node bench/backlog.mjs --recovery-only      # recovery of 1,000,000 x 1 KiB: 3 warm + 3 cold restarts
node bench/backlog.mjs --quick              # smoke run (100,000 messages), docs untouched
node bench/confirm-fsync.mjs                # confirm-after-fsync check under strace
node bench/backlog.mjs --help; node bench/confirm-fsync.mjs --help
\`\`\``;
}

/** Adds a run block (markdown `section`) of `kind` with sortable `id` (an ISO date) to the file. */
export function updateDurabilityDocs(docsFile, kind, id, section) {
  let runs = [];
  const old = readSection(docsFile, 'durability');
  if (old) for (const m of old.matchAll(RUN_RE)) runs.push({ kind: m[1], id: m[2], text: m[3] });
  runs.push({ kind, id, text: section.trim() });
  runs = runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const block = (r) =>
    `<!-- durability-run:start ${r.kind} ${r.id} -->\n${r.text}\n<!-- durability-run:end -->`;
  const latest = [];
  const parts = [intro(), ''];
  for (const [k, title] of KINDS) {
    const r = runs.find((x) => x.kind === k);
    if (!r) continue;
    latest.push(r);
    parts.push(title, '', block(r), '');
  }
  const earlier = runs.filter((r) => !latest.includes(r));
  if (earlier.length) {
    parts.push('### Earlier durability runs', '');
    for (const r of earlier) parts.push(block(r), '');
  }
  putSection(docsFile, 'durability', parts.join('\n'));
}

/**
 * A TCP proxy on 127.0.0.1 to host:port that counts the bytes each way, for wire bytes per
 * message: total() is both directions of every connection through it so far.
 */
export async function countingProxy(host, port) {
  const counts = { up: 0, down: 0 };
  const sockets = new Set();
  const server = createTcpServer((client) => {
    const upstream = createConnection({ host, port });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('data', (d) => (counts.up += d.length));
    upstream.on('data', (d) => (counts.down += d.length));
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    total: () => counts.up + counts.down,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
