// Not a script (but see idle connections below). Brokers and load for the bench scripts: Switchyard
// (from a dist/ snapshot) and a private Mosquitto as time-bounded child processes; network probes;
// the broker-bench harness (a cached copy and one bounded invocation); and idle MQTT connections in
// numbers one client process cannot hold.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  CLK_TCK,
  cpuMeter,
  fdCount,
  nofileLimit,
  procStatus,
  procTicks,
  ROOT,
  round,
  shq,
  sleep,
  within,
} from './lib-common.mjs';

// ================================================================ broker processes and probes

// Brokers the bench scripts start themselves: Switchyard (from a snapshot of dist/,
// see prepareDist in lib-common.mjs) and a private Mosquitto, each a time-bounded child process whose output goes
// to the run's log; plus small network probes.

const now = () => performance.now();

// ---------------------------------------------------------------- probes

/** Whether something accepts TCP connections on host:port. */
export function portOpen(host, port, timeoutMs = 2000) {
  return new Promise((res) => {
    const s = net.connect({ host, port });
    const end = (ok) => {
      s.destroy();
      res(ok);
    };
    s.setTimeout(timeoutMs, () => end(false));
    s.on('connect', () => end(true));
    s.on('error', () => end(false));
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const DEFAULT_PORTS = { 'amqp:': 5672, 'amqps:': 5671, 'mqtt:': 1883, 'mqtts:': 8883, 'nats:': 4222 };
export function urlHostPort(u) {
  const x = new URL(u);
  return { host: x.hostname.replace(/^\[|\]$/g, ''), port: Number(x.port) || DEFAULT_PORTS[x.protocol] || 0 };
}
export const isLocal = (u) => ['127.0.0.1', 'localhost', '::1'].includes(urlHostPort(u).host);

/**
 * [cmd, args] that run `cmd args` with the open-files limit raised to `nofile` (or to the hard
 * limit, when nofile is above it and this process may not raise the hard limit). exec keeps the
 * pid, so the child's pid is the command's.
 */
export function withNofile(cmd, args, nofile) {
  if (!nofile) return [cmd, args];
  const n = Math.floor(nofile);
  return [
    'bash',
    [
      '-c',
      `ulimit -n ${n} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`,
      'bash',
      cmd,
      ...args,
    ],
  ];
}

// ---------------------------------------------------------------- child process base

const live = new Set();
/** SIGTERM to every broker started through this module that is still running (signal handlers). */
export function stopAllBrokers() {
  for (const b of live) {
    b.expectedExit = true;
    b.child?.kill('SIGTERM');
  }
}

class ManagedProcess {
  /** ctx: { log, logRaw, anomaly }; exitNote(): extra text for an unexpected-exit anomaly. */
  constructor({ label, ctx, exitNote }) {
    this.label = label;
    this.ctx = ctx;
    this.exitNote = exitNote;
    this.child = null;
    this.exitInfo = null;
    this.expectedExit = false;
    this.stderrTail = [];
    this.starts = 0;
  }

  spawnChild(cmd, args, { env, onLine } = {}) {
    const t0 = now();
    this.starts++;
    this.expectedExit = false;
    this.exitInfo = null;
    this.stderrTail = [];
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(this);
    this.exited = new Promise((r) =>
      child.on('close', (code, signal) => {
        this.exitInfo = { code, signal, at: now() };
        live.delete(this);
        r(this.exitInfo);
      }),
    );
    child.on('error', (e) => this.stderrTail.push(String(e.message ?? e)));
    void this.exited.then(({ code, signal }) => {
      if (!this.expectedExit) {
        const note = this.exitNote?.();
        this.ctx.anomaly(
          `${this.label} (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}${note ? `; ${note}` : ''}; stderr: ${this.stderrTail.slice(-15).join(' | ') || '(empty)'}`,
        );
      }
    });
    createInterface({ input: child.stdout }).on('line', (l) => {
      const at = now() - t0;
      this.ctx.logRaw(`[${this.label} +${Math.round(at)} ms] ${l}`);
      onLine?.(l, at);
    });
    createInterface({ input: child.stderr }).on('line', (l) => {
      this.ctx.logRaw(`[${this.label}:err] ${l}`);
      this.stderrTail.push(l);
      if (this.stderrTail.length > 40) this.stderrTail.shift();
      onLine?.(l, now() - t0, true);
    });
    return child;
  }

  get alive() {
    return this.child !== null && this.exitInfo === null;
  }

  get pid() {
    return this.child?.pid ?? null;
  }

  /** SIGTERM, then SIGKILL after limitS; resolves {ms, code, signal, forced} (null if never started). */
  async stop(limitS = 12) {
    if (!this.child) return null;
    this.expectedExit = true;
    const child = this.child;
    let r;
    if (!this.alive) r = { ms: 0, ...this.exitInfo, forced: false, was_dead: true };
    else {
      const t0 = now();
      child.kill('SIGTERM');
      const e = await within(this.exited, limitS * 1000);
      if (e === null) {
        this.ctx.anomaly(
          `${this.label} (pid ${child.pid}) did not stop within ${limitS} s of SIGTERM; killed.`,
        );
        child.kill('SIGKILL');
        const k = await this.exited;
        r = { ms: Math.round(now() - t0), code: k.code, signal: k.signal, forced: true };
      } else r = { ms: Math.round(now() - t0), code: e.code, signal: e.signal, forced: false };
    }
    this.child = null;
    this.cleanup?.();
    return r;
  }
}

// ---------------------------------------------------------------- Switchyard

const flagCache = new Map();
/**
 * The listener-port flags a snapshot's CLI knows, from its --help: a Set of protocol names such
 * as 'amqp', 'mqtt', 'http'. (Older builds have only --amqp-port; passing an unknown flag makes the
 * CLI exit.)
 */
export function switchyardPortFlags(snapshot) {
  if (flagCache.has(snapshot.main)) return flagCache.get(snapshot.main);
  const r = spawnSync(process.execPath, [...snapshot.nodeFlags, snapshot.main, '--help'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  const set = new Set();
  for (const m of `${r.stdout ?? ''}`.matchAll(/--(\w+)-port\b/g)) set.add(m[1]);
  if (!set.size) set.add('amqp'); // --help failed: assume the oldest CLI
  flagCache.set(snapshot.main, set);
  return set;
}

/**
 * Switchyard from a dist/ snapshot, on 127.0.0.1. ports: { amqp, mqtt, http, grpc } with a number
 * (0 = ephemeral) or 'off'; a listener the CLI has a flag for but `ports` does not name is turned
 * off, so a run never binds a default port (5672, 1883, 8080) by accident. dataDir: kept as given;
 * when null, a fresh temporary dir per start, removed at stop.
 */
export class SwitchyardProcess extends ManagedProcess {
  constructor({
    snapshot,
    ctx,
    label = 'switchyard',
    dataDir = null,
    ports = { amqp: 0 },
    nofile = null,
    env,
    startTimeoutS = 30,
    exitNote,
  }) {
    super({ label, ctx, exitNote });
    this.snapshot = snapshot;
    this.fixedDataDir = dataDir;
    this.ports = ports;
    this.nofile = nofile;
    this.env = env;
    this.startTimeoutS = startTimeoutS;
    this.listeners = {};
  }

  /** The command line (after the node binary's flags) for the current settings. */
  args(dataDir) {
    const known = switchyardPortFlags(this.snapshot);
    const a = [...this.snapshot.nodeFlags, this.snapshot.main, '--host', '127.0.0.1'];
    for (const proto of ['amqp', 'mqtt', 'http', 'grpc']) {
      const want = this.ports[proto];
      if (known.has(proto)) a.push(`--${proto}-port`, String(want ?? 'off'));
      else if (want !== undefined && want !== 'off')
        throw new Error(`this Switchyard build has no --${proto}-port flag (its --help lists none)`);
    }
    a.push('--data-dir', dataDir);
    return a;
  }

  /**
   * Starts it and resolves when it prints "ready": { pid, listeners: {proto: {host, port}},
   * listen_ms, ready_ms, recovered } (times from spawn). Rejects (after stopping it) when it exits
   * first, does not get ready in time, or lacks a listener that `ports` asked for.
   */
  async start() {
    this.dataDir = this.fixedDataDir ?? mkdtempSync(join(os.tmpdir(), 'switchyard-bench-'));
    const [cmd, args] = withNofile(process.execPath, this.args(this.dataDir), this.nofile);
    const info = { pid: null, listeners: {}, listen_ms: null, ready_ms: null, recovered: null };
    let onReady;
    const ready = new Promise((r) => (onReady = r));
    const child = this.spawnChild(cmd, args, {
      env: this.env,
      onLine: (l, at, isErr) => {
        if (isErr) return;
        let m = /\b(\w+) listening on (\S+):(\d+)/.exec(l);
        if (m) {
          info.listeners[m[1]] = { host: m[2], port: Number(m[3]) };
          info.listen_ms ??= Math.round(at);
        }
        m = /recovered (\d+) durable queues with (\d+) messages in (\d+) ms(.*)$/.exec(l);
        if (m)
          info.recovered = {
            queues: Number(m[1]),
            messages: Number(m[2]),
            ms: Number(m[3]),
            note: m[4].trim() || null,
            line_ms: Math.round(at),
          };
        if (/\bready\b/.test(l) && info.ready_ms === null) {
          info.ready_ms = Math.round(at);
          onReady();
        }
      },
    });
    info.pid = child.pid;
    let timer;
    const outcome = await Promise.race([
      ready.then(() => 'ready'),
      this.exited.then(() => 'exited'),
      new Promise((r) => {
        timer = setTimeout(() => r('timeout'), this.startTimeoutS * 1000);
      }),
    ]);
    clearTimeout(timer);
    let error = null;
    if (outcome === 'exited')
      error = `${this.label} exited before "ready" (code ${this.exitInfo.code}, signal ${this.exitInfo.signal}): ${this.stderrTail.join(' | ')}`;
    else if (outcome === 'timeout')
      error = `${this.label} did not print "ready" within ${this.startTimeoutS} s`;
    else {
      const missing = Object.entries(this.ports)
        .filter(([p, v]) => v !== 'off' && v !== undefined && !info.listeners[p])
        .map(([p]) => p);
      if (missing.length)
        error = `${this.label} printed "ready" without a "${missing.join('"/"')} listening on" line: the build has no such listener yet`;
    }
    if (error) {
      await this.stop(5);
      throw new Error(error);
    }
    this.listeners = info.listeners;
    this.ctx.log(
      `${this.label}: pid ${child.pid}, ${Object.entries(info.listeners)
        .map(([p, l]) => `${p} ${l.host}:${l.port}`)
        .join(', ')}; ready +${info.ready_ms} ms`,
    );
    return info;
  }

  /** amqp://guest:guest@host:port or mqtt://host:port of a listener (null if it has none). */
  url(proto = 'amqp') {
    const l = this.listeners[proto];
    if (!l) return null;
    return proto === 'amqp' ? `amqp://guest:guest@${l.host}:${l.port}` : `${proto}://${l.host}:${l.port}`;
  }

  get port() {
    return this.listeners.amqp?.port ?? null;
  }

  cleanup() {
    if (!this.fixedDataDir && this.dataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- Mosquitto

/** `mosquitto -h` first line -> '2.0.11' (null when it does not run). */
export function mosquittoVersion(bin) {
  const r = spawnSync(bin, ['-h'], { encoding: 'utf8', timeout: 10_000 });
  const m = /mosquitto version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return m ? m[1] : null;
}

/**
 * A private Mosquitto on a free port of 127.0.0.1 with a generated config (anonymous access, no
 * persistence, errors and warnings to stderr, the given queue limits), in a temporary dir removed
 * at stop. Each start is a fresh process.
 */
export class MosquittoProcess extends ManagedProcess {
  constructor({
    bin = '/usr/sbin/mosquitto',
    ctx,
    label = 'mosquitto',
    maxInflight = 20,
    maxQueued = 1000,
    nofile,
  }) {
    super({ label, ctx });
    this.bin = bin;
    this.maxInflight = maxInflight;
    this.maxQueued = maxQueued;
    this.nofile = nofile;
    this.port = null;
  }

  configText(port) {
    return [
      `# written by bench (${this.label}); a private instance for one benchmark run`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'connection_messages false',
      // Per-client limits. QoS 1/2 messages past the in-flight limit wait in the client's queue; a
      // full queue drops them. The harness's end-to-end window (500 per subscriber) stays below.
      `max_inflight_messages ${this.maxInflight}`,
      `max_queued_messages ${this.maxQueued}`,
      'max_connections -1',
      '',
    ].join('\n');
  }

  async start() {
    for (let attempt = 1; ; attempt++) {
      this.dir = mkdtempSync(join(os.tmpdir(), 'bench-mosquitto-'));
      const port = await freePort();
      const conf = join(this.dir, 'mosquitto.conf');
      writeFileSync(conf, this.configText(port));
      const [cmd, args] = withNofile(this.bin, ['-c', conf], this.nofile);
      const child = this.spawnChild(cmd, args);
      const t0 = now();
      let up = false;
      while (this.alive && now() - t0 < 10_000) {
        if (await portOpen('127.0.0.1', port, 500)) {
          up = true;
          break;
        }
        await sleep(50);
      }
      if (up) {
        this.port = port;
        this.ctx.log(`${this.label}: pid ${child.pid}, mqtt 127.0.0.1:${port} (${conf})`);
        return { pid: child.pid, port, conf };
      }
      const why = this.alive ? 'did not listen within 10 s' : `exited: ${this.stderrTail.join(' | ')}`;
      await this.stop(5);
      if (attempt >= 3) throw new Error(`${this.label} ${why}`);
      this.ctx.log(`${this.label}: ${why}; retrying on another port`);
    }
  }

  url() {
    return this.port ? `mqtt://127.0.0.1:${this.port}` : null;
  }

  cleanup() {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

// ================================================================ the broker-bench harness

// The broker-bench harness as the bench scripts use it: a copy of the shared,
// read-only harness (../shared/broker-bench beside the checkout, or $BROKER_BENCH_DIR) in
// bench/node_modules/.cache/broker-bench with its own `npm ci`, refreshed when the source changes;
// and one time-bounded harness invocation that collects its JSON result lines.

// The shared folder sits beside the project's checkout (as on the developers' machines and in CI).
export const HARNESS_SRC = resolve(
  process.env.BROKER_BENCH_DIR ?? resolve(ROOT, '..', 'shared', 'broker-bench'),
);
// In a node_modules/.cache folder: git, biome, eslint and tsc all leave node_modules alone.
export const HARNESS = join(BENCH_DIR, 'node_modules', '.cache', 'broker-bench');
const SKIP = new Set(['node_modules', 'results', '.git']);

function listFiles(dir, base = dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    if (dir === base && SKIP.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) listFiles(p, base, out);
    else if (st.isFile()) out.push(relative(base, p));
  }
  return out;
}
const sha = (buf) => createHash('sha256').update(buf).digest('hex');

/** Copies the harness (when its files changed) and runs `npm ci` (when its lock file changed). */
export async function ensureHarness({ log, runChild }) {
  if (!existsSync(join(HARNESS_SRC, 'bin', 'bench.js'))) {
    throw new Error(`harness not found at ${HARNESS_SRC} (set BROKER_BENCH_DIR)`);
  }
  const files = listFiles(HARNESS_SRC);
  const h = createHash('sha256');
  for (const f of files)
    h.update(f)
      .update('\0')
      .update(readFileSync(join(HARNESS_SRC, f)));
  const want = { files: h.digest('hex'), lock: sha(readFileSync(join(HARNESS_SRC, 'package-lock.json'))) };
  const stampFile = join(HARNESS, '.stamp.json');
  let have = {};
  try {
    have = JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {}
  if (have.files !== want.files) {
    log(`harness: copying ${HARNESS_SRC} -> ${relative(ROOT, HARNESS)}`);
    mkdirSync(HARNESS, { recursive: true });
    for (const name of readdirSync(HARNESS)) {
      if (name !== 'node_modules') rmSync(join(HARNESS, name), { recursive: true, force: true });
    }
    for (const f of files) {
      const dst = join(HARNESS, f);
      mkdirSync(dirname(dst), { recursive: true });
      copyFileSync(join(HARNESS_SRC, f), dst);
      chmodSync(dst, statSync(join(HARNESS_SRC, f)).mode & 0o111 ? 0o755 : 0o644); // source is read-only
    }
  }
  if (have.lock !== want.lock || !existsSync(join(HARNESS, 'node_modules'))) {
    log('harness: npm ci');
    const r = await runChild('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: HARNESS,
      timeoutS: 600,
      label: 'npm ci',
    });
    if (r.code !== 0)
      throw new Error(`npm ci in ${HARNESS} failed (exit ${r.code}): ${r.stderrTail.join('\n')}`);
  }
  writeFileSync(stampFile, `${JSON.stringify(want)}\n`);
}

/** The harness modules the scripts use directly: { libVersions, pidListeningOn }. */
export async function loadHarness() {
  const { libVersions } = await import(pathToFileURL(join(HARNESS, 'src', 'adapters', 'index.js')).href);
  const { pidListeningOn } = await import(pathToFileURL(join(HARNESS, 'src', 'proc.js')).href);
  return { libVersions, pidListeningOn };
}

/**
 * One `node bin/bench.js ARGS` run, killed after timeoutS. Each JSON result line is passed to
 * decorate(row) (which may add fields to it), written with run.writeRow and returned. When the harness wrote
 * no result, one synthetic error row ({...errorBase, error, synthetic: true}) stands in for it.
 * run: the createRun context. Progress lines of the harness ("->", "!!") are echoed to stderr.
 */
export async function runHarness(run, { args, label, timeoutS, decorate = () => {}, errorBase = {} }) {
  const full = [join(HARNESS, 'bin', 'bench.js'), ...args];
  run.logRaw(`$ node ${full.map(shq).join(' ')}`);
  const rows = [];
  const r = await run.runChild(process.execPath, full, {
    cwd: HARNESS,
    timeoutS,
    label,
    onStdout: (l) => {
      run.logRaw(l);
      if (!l.startsWith('{')) return;
      try {
        const row = JSON.parse(l);
        decorate(row);
        rows.push(row);
        run.writeRow(row);
      } catch {}
    },
    onStderr: (l) => {
      run.logRaw(`  ${l}`);
      if (/^\s+(->|!!)/.test(l)) process.stderr.write(`           ${l.trim()}\n`);
    },
  });
  if (!rows.length) {
    const error = `harness produced no result (exit ${r.code}${r.signal ? `, signal ${r.signal}` : ''}${r.timedOut ? `, killed after ${timeoutS} s timeout` : ''}): ${r.stderrTail.slice(-8).join(' | ')}`;
    const row = {
      ...errorBase,
      error,
      synthetic: true,
      ts: new Date().toISOString(),
      loadavg_1m: Math.round(os.loadavg()[0] * 100) / 100,
    };
    run.writeRow(row);
    rows.push(row);
    run.log(`  !! ${error}`);
  } else if (r.timedOut) {
    run.anomalies.push(
      `${label}: harness killed after the ${timeoutS} s timeout (after writing its result).`,
    );
  }
  return rows;
}

// ================================================================ many idle MQTT connections

// Many idle MQTT connections, more than one client process can hold (bench/mqtt.mjs's mqtt-idle
// step); no client library, just TCP:
//
//   - parent side: idleFleet() starts opener processes one after another, each holding up to
//     perProc connections from its own source addresses 127.0.0.N, 2,500 per address (so no
//     source runs out of ephemeral ports, and bind() stays fast), reads the broker's RSS before
//     and after, then closes everything;
//   - child side (node bench/lib-brokers.mjs --idle-opener --host H --port P --count N ...): opens
//     N connections, each sending a minimal MQTT 3.1.1 CONNECT (clean session, keep-alive K) and
//     waiting for CONNACK, with bounded concurrency, a per-connection timeout and a time limit;
//     then holds them (PINGREQ every K/2 s) until told to close. It talks JSON lines on stdout and
//     takes commands ("status", "close") on stdin; it exits when stdin closes or after --max-life-s.

const SELF = fileURLToPath(import.meta.url);
const OPENER_FLAG = '--idle-opener';

// ---------------------------------------------------------------- MQTT 3.1.1 packets

function remainingLength(n) {
  const out = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** CONNECT: protocol "MQTT" level 4, clean session, no will, no credentials. */
export function connectPacket(clientId, keepaliveS) {
  const id = Buffer.from(clientId, 'utf8');
  const body = Buffer.concat([
    Buffer.from([
      0x00,
      0x04,
      0x4d,
      0x51,
      0x54,
      0x54,
      0x04,
      0x02,
      (keepaliveS >> 8) & 0xff,
      keepaliveS & 0xff,
    ]),
    Buffer.from([(id.length >> 8) & 0xff, id.length & 0xff]),
    id,
  ]);
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(body.length)]), body]);
}
const PINGREQ = Buffer.from([0xc0, 0x00]);
const DISCONNECT = Buffer.from([0xe0, 0x00]);

// ---------------------------------------------------------------- child: the opener

async function opener() {
  const { values: o } = parseArgs({
    args: process.argv.slice(3),
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      count: { type: 'string' },
      'src-ip': { type: 'string' },
      prefix: { type: 'string', default: 'y' },
      concurrency: { type: 'string', default: '64' },
      keepalive: { type: 'string', default: '60' },
      'connect-timeout-ms': { type: 'string', default: '10000' },
      'max-open-s': { type: 'string', default: '120' },
      'max-failures': { type: 'string', default: '500' },
      'max-life-s': { type: 'string', default: '900' },
    },
    strict: true,
  });
  const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
  const port = Number(o.port);
  const count = Number(o.count);
  const keepalive = Number(o.keepalive);
  const connectTimeoutMs = Number(o['connect-timeout-ms']);
  const maxFailures = Number(o['max-failures']);
  const sources = (o['src-ip'] ?? '').split(',').filter(Boolean);
  // a hard stop whatever the parent does
  setTimeout(() => process.exit(3), Number(o['max-life-s']) * 1000).unref();

  const open = [];
  let closing = false;
  let dropped = 0;
  let failed = 0;
  const errors = {};
  let firstError = null;
  const fail = (why) => {
    failed++;
    errors[why] = (errors[why] ?? 0) + 1;
    firstError ??= why;
  };

  const openOne = (i) =>
    new Promise((resolve) => {
      // round robin over the source addresses: bind() searches a source's port space for a free
      // port, which gets slow with many thousands of sockets on one address
      const localAddress = sources.length ? sources[i % sources.length] : undefined;
      const sock = net.connect({ host: o.host, port, localAddress, noDelay: true });
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          sock.destroy();
          fail(err);
        } else {
          sock.removeAllListeners('data');
          sock.removeAllListeners('close');
          sock.on('data', () => {}); // PINGRESP
          sock.on('close', () => {
            if (!closing) dropped++;
          });
          open.push(sock);
        }
        resolve();
      };
      const timer = setTimeout(() => finish('timeout'), connectTimeoutMs);
      sock.on('connect', () => sock.write(connectPacket(`${o.prefix}${i.toString(36)}`, keepalive)));
      sock.on('data', (d) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        if (buf.length < 4) return;
        if (buf[0] !== 0x20 || buf[1] !== 0x02) finish('not a CONNACK');
        else finish(buf[3] === 0 ? null : `CONNACK return code ${buf[3]}`);
      });
      sock.on('error', (e) => finish(e.code ?? String(e.message ?? e)));
      sock.on('close', () => finish('closed before CONNACK'));
    });

  const t0 = now();
  const maxOpenMs = Number(o['max-open-s']) * 1000;
  let next = 0;
  let stopReason = null;
  const progress = setInterval(() => say({ type: 'progress', accepted: open.length, failed }), 2000);
  const worker = async () => {
    while (next < count && !stopReason) {
      if (now() - t0 > maxOpenMs) stopReason = `time limit ${o['max-open-s']} s`;
      else if (failed > maxFailures) stopReason = `more than ${maxFailures} failures`;
      if (stopReason) break;
      await openOne(next++);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Number(o.concurrency), count) }, worker));
  clearInterval(progress);
  say({
    type: 'opened',
    accepted: open.length,
    failed,
    errors,
    first_error: firstError,
    stop_reason: stopReason,
    open_s: round((now() - t0) / 1000, 2),
    rss_mb: round(process.memoryUsage().rss / 1048576, 1),
  });

  // hold: keep-alive pings, so the broker keeps the connections past 1.5 x keep-alive
  const ping = setInterval(
    () => {
      for (const s of open) if (!s.destroyed) s.write(PINGREQ);
    },
    Math.max(1000, (keepalive * 1000) / 2),
  );
  const closeAll = async () => {
    if (closing) return;
    closing = true;
    clearInterval(ping);
    const tc = now();
    // DISCONNECT without our FIN: the broker closes first, so TIME_WAIT stays on its side and not
    // on our source ports (which would slow bind() on these addresses in the next run)
    await Promise.all(
      open.map(
        (s) =>
          new Promise((r) => {
            if (s.destroyed) return r();
            const t = setTimeout(() => {
              s.destroy();
              r();
            }, 5000);
            s.once('close', () => {
              clearTimeout(t);
              r();
            });
            s.write(DISCONNECT);
          }),
      ),
    );
    say({ type: 'closed', close_s: round((now() - tc) / 1000, 2) });
    process.exit(0);
  };
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => {
    const cmd = l.trim();
    if (cmd === 'status') say({ type: 'status', open: open.filter((s) => !s.destroyed).length, dropped });
    else if (cmd === 'close') void closeAll();
  });
  rl.on('close', () => void closeAll());
}

// ---------------------------------------------------------------- parent: the fleet

// 127.0.0.N source addresses, new ones for each opener process; a random start, so that
// back-to-back runs use different ones
let nextIp = 10 + Math.floor(Math.random() * 240);
const PER_SOURCE = 2500; // connections per source address
function nextSourceIps(n) {
  const out = [];
  for (let k = 0; k < n; k++) {
    out.push(`127.0.0.${nextIp}`);
    nextIp = nextIp >= 250 ? 10 : nextIp + 1;
  }
  return out;
}

/** An opener child process and its JSON-line messages. */
class Opener {
  constructor({ host, port, count, prefix, concurrency, keepalive, maxOpenS, maxFailures, nofile, logRaw }) {
    const ips = nextSourceIps(Math.max(1, Math.ceil(count / PER_SOURCE)));
    this.srcIp = ips.length > 1 ? `${ips[0]}-${ips.at(-1).split('.').at(-1)}` : ips[0];
    const args = [
      SELF,
      OPENER_FLAG,
      '--host',
      host,
      '--port',
      String(port),
      '--count',
      String(count),
      '--src-ip',
      ips.join(','),
      '--prefix',
      prefix,
      '--concurrency',
      String(concurrency),
      '--keepalive',
      String(keepalive),
      '--max-open-s',
      String(Math.max(1, Math.round(maxOpenS))),
      '--max-failures',
      String(maxFailures),
    ];
    const [cmd, a] = withNofile(process.execPath, args, nofile);
    this.child = spawn(cmd, a, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.waiters = [];
    this.last = {};
    this.exited = new Promise((r) => this.child.on('close', (code, signal) => r({ code, signal })));
    this.child.on('error', () => {});
    this.child.stdin.on('error', () => {});
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      let m;
      try {
        m = JSON.parse(l);
      } catch {
        logRaw(`[idle opener ${this.srcIp}] ${l}`);
        return;
      }
      if (m.type !== 'progress') logRaw(`[idle opener ${this.srcIp}] ${l}`);
      this.last[m.type] = m;
      for (const w of this.waiters.filter((x) => x.type === m.type)) w.resolve(m);
      this.waiters = this.waiters.filter((x) => x.type !== m.type);
    });
    this.stderr = [];
    createInterface({ input: this.child.stderr }).on('line', (l) => {
      logRaw(`[idle opener ${this.srcIp}:err] ${l}`);
      this.stderr.push(l);
      if (this.stderr.length > 20) this.stderr.shift();
    });
  }

  /** The next message of `type` (null on timeout or exit). */
  next(type, timeoutMs) {
    const got = new Promise((resolve) => this.waiters.push({ type, resolve }));
    return within(Promise.race([got, this.exited.then(() => null)]), timeoutMs);
  }

  send(cmd) {
    try {
      this.child.stdin.write(`${cmd}\n`);
    } catch {}
  }

  async close(timeoutMs) {
    this.send('close');
    const r = await within(this.exited, timeoutMs);
    if (r === null) {
      this.child.kill('SIGKILL');
      await this.exited;
      return false;
    }
    return true;
  }
}

/**
 * Opens `count` idle MQTT connections to host:port from opener processes of at most `perProc`
 * connections each, started one after another (one opener busy at a time, so the broker keeps a
 * core), within maxOpenS in all; waits settleS; reads the broker's RSS (before: 1 s after the
 * call; after: settleS after the last connection), checks that the connections are still open,
 * and closes them. Returns a result row (the fields of the harness's connection rows where they
 * mean the same).
 */
export async function idleFleet({
  host = '127.0.0.1',
  port,
  count,
  perProc = 10_000,
  concurrency = 64,
  keepalive = 60,
  maxOpenS = 180,
  settleS = 3,
  brokerPid = null,
  log = () => {},
  logRaw = () => {},
}) {
  const procs = Math.ceil(count / perProc);
  const own = nofileLimit();
  const result = {
    connections_target: count,
    opener_processes: procs,
    per_process: Math.ceil(count / procs),
    concurrency_per_process: concurrency,
    keepalive_s: keepalive,
    client_nofile_hard: own?.hard ?? null,
    broker_pids: brokerPid ? [brokerPid] : [],
    broker_nofile: brokerPid ? nofileLimit(brokerPid) : null,
  };
  const prefix = `y${randomBytes(3).toString('hex')}`;
  const openers = [];
  let accepted = 0;
  let failed = 0;
  const errors = {};
  let firstError = null;
  let stopReason = null;
  try {
    await sleep(1000);
    const before = brokerPid ? procStatus(brokerPid) : { rssKb: null };
    const fdsBefore = brokerPid ? fdCount(brokerPid) : null;
    const meter = brokerPid ? cpuMeter(brokerPid) : null;
    const t0 = now();
    for (let k = 0; k < procs; k++) {
      const want = Math.min(Math.ceil(count / procs), count - accepted - failed);
      const left = maxOpenS - (now() - t0) / 1000;
      if (want <= 0) break;
      if (left <= 1) {
        stopReason = `time limit ${maxOpenS} s`;
        break;
      }
      const op = new Opener({
        host,
        port,
        count: want,
        prefix: `${prefix}${k.toString(36)}`,
        concurrency,
        keepalive,
        maxOpenS: left,
        maxFailures: Math.max(100, Math.round(want * 0.02)),
        nofile: want + 256,
        logRaw,
      });
      openers.push(op);
      const opened = await op.next('opened', (left + 30) * 1000);
      if (!opened) {
        stopReason = `opener ${k + 1} (${op.srcIp}) gave no result: ${op.stderr.slice(-5).join(' | ') || 'no output'}`;
        break;
      }
      accepted += opened.accepted;
      failed += opened.failed;
      for (const [e, n] of Object.entries(opened.errors)) errors[e] = (errors[e] ?? 0) + n;
      firstError ??= opened.first_error;
      log(
        `  .. opener ${k + 1}/${procs} from ${op.srcIp}: ${opened.accepted} accepted, ${opened.failed} failed in ${opened.open_s} s${opened.stop_reason ? ` (stopped: ${opened.stop_reason})` : ''}; ${accepted} open in all`,
      );
      if (opened.stop_reason) {
        stopReason = `opener ${k + 1}: ${opened.stop_reason}`;
        break;
      }
    }
    const openS = (now() - t0) / 1000;
    const cpu = meter ? meter() : {};
    // the openers are this step's client: their CPU so far (they started after t0)
    const openerTicks = openers.reduce((a, op) => a + (procTicks(op.child.pid) ?? 0), 0);
    const openersPct = openS > 0 ? (openerTicks / CLK_TCK / openS) * 100 : 0;
    await sleep(settleS * 1000);
    const after = brokerPid ? procStatus(brokerPid) : { rssKb: null, hwmKb: null };
    const fdsAfter = brokerPid ? fdCount(brokerPid) : null;
    let stillOpen = 0;
    let dropped = 0;
    for (const op of openers) {
      op.send('status');
      const s = await op.next('status', 10_000);
      stillOpen += s?.open ?? 0;
      dropped += s?.dropped ?? 0;
    }
    const mb = (kb) => (kb === null ? null : round(kb / 1024, 1));
    Object.assign(result, {
      connections: accepted,
      failures: failed,
      errors,
      first_error: firstError,
      stop_reason: stopReason,
      all_accepted: accepted === count && failed === 0,
      still_open_after_settle: stillOpen,
      dropped_by_broker: dropped,
      open_s: round(openS, 2),
      conns_per_s: openS > 0 ? Math.round(accepted / openS) : null,
      broker_rss_before_mb: mb(before.rssKb),
      broker_rss_after_mb: mb(after.rssKb),
      broker_rss_mb: mb(after.rssKb),
      broker_hwm_mb: mb(after.hwmKb ?? null),
      broker_fds_before: fdsBefore,
      broker_fds_after: fdsAfter,
      per_conn_kb:
        before.rssKb !== null && after.rssKb !== null && accepted > 0
          ? round((after.rssKb - before.rssKb) / accepted, 2)
          : null,
      broker_cpu_pct: cpu.broker_cpu_pct ?? null,
      client_cpu_pct: cpu.client_cpu_pct == null ? null : round(cpu.client_cpu_pct + openersPct, 0),
      other_cpu_pct: cpu.other_cpu_pct == null ? null : round(Math.max(0, cpu.other_cpu_pct - openersPct), 0),
      settle_s: settleS,
    });
    if (!result.all_accepted)
      result.error = `${accepted} of ${count} accepted, ${failed} failed${firstError ? ` (first: ${firstError})` : ''}${stopReason ? `; stopped: ${stopReason}` : ''}`;
    else if (stillOpen < accepted)
      result.error = `${accepted - stillOpen} of ${accepted} connections were closed by the broker within ${settleS} s`;
  } catch (e) {
    result.error = String(e?.stack ?? e);
  } finally {
    const tc = now();
    await Promise.all(openers.map((op) => op.close(60_000)));
    result.close_s = round((now() - tc) / 1000, 2);
    await sleep(2000);
    const closed = brokerPid ? procStatus(brokerPid) : { rssKb: null };
    result.broker_rss_after_close_mb = closed.rssKb === null ? null : round(closed.rssKb / 1024, 1);
  }
  return result;
}

if (process.argv[1] === SELF && process.argv[2] === OPENER_FLAG) {
  opener().catch((e) => {
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exit(1);
  });
}
