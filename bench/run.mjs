#!/usr/bin/env node
// Switchyard's AMQP benchmark runner: `npm run bench -- [flags]` (--help for the flags).
//
// Runs the neutral broker-bench harness (../shared/broker-bench beside the repo, or $BROKER_BENCH_DIR) against a
// Switchyard it starts itself (or one given with --target-url) and, in the same run, against
// RabbitMQ when something answers on --rabbit-url. Each matrix item (scenario x size x rate) runs
// on Switchyard and then on RabbitMQ, back to back, so machine noise hits both alike. Connection
// scenarios run first, on a freshly started Switchyard (see the harness README: a long-running
// process keeps freed heap, which hides per-connection memory). amqp-confirm (persistent messages,
// durable queue, publisher confirms) gets a freshly started Switchyard on a fresh data dir for
// every item, so no run reads or reclaims another run's segment log.
//
// Output: raw JSON lines in bench/results/amqp-<date>.jsonl (first line: run metadata), a log next
// to it, a markdown section on stdout, and docs/benchmarks.md rewritten (intro + latest table, older
// tables kept under "History"; the sections other scripts own, "Durability" (bench/backlog.mjs,
// bench/confirm-fsync.mjs) and "MQTT" (bench/mqtt.mjs), are kept as they are; see lib-common.mjs).
// --quick runs go to bench/results/tmp/ and leave the docs alone.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import {
  ensureHarness,
  HARNESS,
  HARNESS_SRC,
  isLocal,
  loadHarness,
  portOpen,
  runHarness as harnessRun,
  stopAllBrokers,
  SwitchyardProcess,
  urlHostPort,
} from './lib-brokers.mjs';
import {
  commandLine,
  createRun,
  DOCS_FILE,
  fmt,
  fmtSize,
  gitInfo,
  loadavg,
  machineInfo,
  makeFail,
  mdTable,
  median,
  numberParsers,
  pagingWindow,
  parseCli,
  parseSize,
  prepareDist,
  ROOT,
  sleep,
  takeOwnedSections,
} from './lib-common.mjs';

// run order: amqp-confirm last, so its disk traffic (and RabbitMQ's lazy cleanup of its durable
// queue) does not overlap the transient scenarios
const ALL_SCENARIOS = ['amqp-connections', 'amqp-throughput', 'amqp-latency', 'amqp-confirm'];
const SY = 'switchyard';
const RMQ = 'rabbitmq';

const HELP = `usage: npm run bench -- [flags]      (node bench/run.mjs [flags])

Benchmarks Switchyard's AMQP front end with the broker-bench harness and, in the same run,
RabbitMQ when it answers on --rabbit-url. Writes bench/results/amqp-<date>.jsonl and rewrites
docs/benchmarks.md.

Scenarios and matrix:
  -s, --scenarios LIST   amqp-connections,amqp-throughput,amqp-latency,amqp-confirm (default:
                         all four; short names connections,throughput,latency,confirm also
                         work). Connection scenarios always run first, on a freshly started
                         Switchyard; amqp-confirm runs last, each item on a freshly started
                         Switchyard with a fresh data dir.
  --sizes LIST           amqp-throughput and amqp-confirm payload sizes (default 16,1k,64k)
  --confirm-sizes LIST   amqp-confirm payload sizes only (default: --sizes)
  --confirm-max-inflight N  amqp-confirm end-to-end in-flight window, passed to the harness as
                         --max-inflight (default: the harness's, 10,000 or ~64 MiB of payload).
                         A diagnostic: below 2,048 Switchyard's durable queue never pages out
  --rates LIST           amqp-latency publish rates, msg/s (default 1000,10000)
  --latency-size N       amqp-latency payload size (default 64)
  --connections K        amqp-connections idle connections (default 1000)
  --duration S (10)  --warmup S (2)  --drain S (5)   harness timing per run
  --repeat N             passes over the whole matrix (default 1); cells show run1 / run2 / ...
  --quick                smoke run: --warmup 1 --duration 3 --drain 2 --connections 200;
                         results in bench/results/tmp/, docs/benchmarks.md untouched

Targets:
  --rabbit-url URL       RabbitMQ to compare with (default amqp://guest:guest@127.0.0.1:5672);
                         skipped when nothing answers there
  --switchyard-only      do not run RabbitMQ
  --target-url URL       benchmark an already running Switchyard at URL instead of starting one
                         (amqp-connections then measures that process, which is not fresh)
  --switchyard-pid PID   its pid for CPU/RSS with --target-url (default: the local process
                         listening on the URL's port, if any)

Run control and output:
  --timeout S            kill a harness run after S seconds (default: derived from the timing)
  --out FILE.jsonl       results file (default bench/results/amqp-<date>.jsonl)
  --docs / --no-docs     rewrite docs/benchmarks.md (default: yes, except with --quick)
  --no-build             do not rebuild dist/ even when src/ is newer
  -h, --help
`;

// ---------------------------------------------------------------- arguments

const fail = makeFail('bench');
const opt = parseCli({
  name: 'bench',
  hint: 'npm run bench -- --help',
  help: HELP,
  options: {
    scenarios: { type: 'string', short: 's' },
    sizes: { type: 'string' },
    'confirm-sizes': { type: 'string' },
    'confirm-max-inflight': { type: 'string' },
    rates: { type: 'string' },
    'latency-size': { type: 'string' },
    connections: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    drain: { type: 'string' },
    repeat: { type: 'string' },
    quick: { type: 'boolean' },
    'rabbit-url': { type: 'string' },
    'switchyard-only': { type: 'boolean' },
    'target-url': { type: 'string' },
    'switchyard-pid': { type: 'string' },
    timeout: { type: 'string' },
    out: { type: 'string' },
    docs: { type: 'boolean' },
    build: { type: 'boolean' },
  },
});
const { posNum } = numberParsers(fail);

const quick = !!opt.quick;
const cfg = {
  quick,
  warmup: posNum('warmup', opt.warmup, quick ? 1 : 2),
  duration: posNum('duration', opt.duration, quick ? 3 : 10),
  drain: posNum('drain', opt.drain, quick ? 2 : 5),
  connections: posNum('connections', opt.connections, quick ? 200 : 1000),
  sizes: (opt.sizes ?? '16,1k,64k').split(',').filter(Boolean).map(parseSize),
  confirmSizes: (opt['confirm-sizes'] ?? opt.sizes ?? '16,1k,64k').split(',').filter(Boolean).map(parseSize),
  confirmMaxInflight: opt['confirm-max-inflight']
    ? Math.floor(posNum('confirm-max-inflight', opt['confirm-max-inflight']))
    : null,
  rates: (opt.rates ?? '1000,10000').split(',').filter(Boolean).map(Number),
  latencySize: parseSize(opt['latency-size'] ?? '64'),
  repeat: Math.floor(posNum('repeat', opt.repeat, 1)),
  rabbitUrl: opt['rabbit-url'] ?? 'amqp://guest:guest@127.0.0.1:5672',
  switchyardOnly: !!opt['switchyard-only'],
  targetUrl: opt['target-url'] ?? null,
  switchyardPid: opt['switchyard-pid'] ?? null,
  timeout: opt.timeout ? posNum('timeout', opt.timeout) : null,
  writeDocs: opt.docs ?? !quick,
  build: opt.build ?? true,
};
if (cfg.rates.some((r) => !Number.isFinite(r) || r <= 0)) fail('--rates wants positive numbers');
const ALIASES = {
  connections: 'amqp-connections',
  throughput: 'amqp-throughput',
  latency: 'amqp-latency',
  confirm: 'amqp-confirm',
};
const wanted = new Set(
  (opt.scenarios ?? ALL_SCENARIOS.join(','))
    .split(',')
    .filter(Boolean)
    .map((s) => ALIASES[s] ?? s),
);
for (const s of wanted)
  if (!ALL_SCENARIOS.includes(s)) fail(`unknown scenario '${s}' (known: ${ALL_SCENARIOS.join(', ')})`);
cfg.scenarios = ALL_SCENARIOS.filter((s) => wanted.has(s));
if (cfg.targetUrl) {
  try {
    new URL(cfg.targetUrl);
  } catch {
    fail(`bad --target-url '${cfg.targetUrl}'`);
  }
}
const COMMAND = commandLine('npm run bench', process.argv.slice(2), ' -- ');

// ---------------------------------------------------------------- output files and logging

const run = createRun({ stem: 'amqp', tmp: quick, out: opt.out });
const { OUT, log, logRaw, anomalies, startedAt } = run;
const writeRow = run.writeRow;

let sy = null; // the Switchyard we started, if any
let snapshot = null; // the copy of dist/ it runs from
let paging = null; // its durable-queue paging window { messages, bytes }
function cleanupAndExit(code) {
  for (const c of run.children) c.kill('SIGTERM');
  stopAllBrokers();
  process.exit(code);
}
process.on('SIGINT', () => cleanupAndExit(130));
process.on('SIGTERM', () => cleanupAndExit(143));

// ---------------------------------------------------------------- probes

/** AMQP server properties (product, version) via the harness's amqplib; null on failure. */
async function serverProps(url) {
  try {
    const amqp = createRequire(join(HARNESS, 'package.json'))('amqplib');
    const conn = await Promise.race([
      amqp.connect(url),
      sleep(5000).then(() => {
        throw new Error('timeout');
      }),
    ]);
    const p = conn.connection?.serverProperties ?? {};
    await conn.close().catch(() => {});
    const s = (v) => (v === undefined || v === null ? null : String(v));
    return { product: s(p.product), version: s(p.version), platform: s(p.platform) };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
}

function beamPids() {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'beam.smp') continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      out.push({ pid: Number(d), rabbit: cmd.includes('rabbit') });
    } catch {}
  }
  return out.sort((a, b) => b.rabbit - a.rabbit).map((x) => x.pid);
}

/**
 * RabbitMQ's socket limit and use: from \`rabbitmqctl status\`, else estimated from the node's
 * open-files soft limit the way RabbitMQ 3.x derives it. null when unknown.
 */
function rabbitSockets(pid) {
  try {
    const out = execFileSync('rabbitmqctl', ['status', '--formatter', 'json'], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const fd = JSON.parse(out).file_descriptors;
    if (fd && typeof fd.sockets_limit === 'number') {
      return { limit: fd.sockets_limit, used: fd.sockets_used ?? 0, how: 'rabbitmqctl status' };
    }
  } catch {}
  const pids = typeof pid === 'number' ? [pid] : beamPids();
  for (const p of pids) {
    try {
      const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${p}/limits`, 'utf8'));
      if (m)
        return {
          limit: Math.floor((Number(m[1]) - 97) * 0.9) - 2,
          used: 0,
          how: `estimated from the open-files limit ${m[1]} of pid ${p}`,
        };
    } catch {}
  }
  return null;
}

/**
 * RabbitMQ accepts TCP connections beyond its socket limit but never completes their AMQP
 * handshake, and amqplib has no connect timeout, so the harness would hang (and other clients of
 * that RabbitMQ would be starved). Returns the connection count to use for RabbitMQ.
 */
function rabbitConnections(rabbit) {
  const want = cfg.connections;
  if (!isLocal(rabbit.url)) return want;
  const s = rabbitSockets(rabbit.pid === 'auto' ? null : rabbit.pid);
  if (!s) return want;
  const headroom = Math.max(50, Math.round(s.limit * 0.1)); // for other clients of this RabbitMQ
  const room = s.limit - s.used - headroom;
  if (room >= want) return want;
  const k = Math.max(10, room);
  const note = `RabbitMQ amqp-connections ran with ${k} connections, not ${want}: its socket limit is ${s.limit} (${s.used} in use; ${s.how}), and ${headroom} are left for its other clients. Past the limit RabbitMQ accepts TCP but never finishes the AMQP handshake, so the harness would hang. KiB/conn is still a per-connection figure.`;
  if (!anomalies.includes(note)) anomalies.push(note);
  log(`rabbitmq: ${note}`);
  return k;
}
// ---------------------------------------------------------------- one harness invocation

const BENCH_TAG = 'switchyard-bench';
const flowTimeout = () => cfg.timeout ?? Math.ceil(cfg.warmup + cfg.duration + 2 * cfg.drain + 150);
const connTimeout = (maxOpen) => cfg.timeout ?? maxOpen + 150;

/**
 * item: {scenario, size?, rate?}; target: {name, url, pid ('auto' | number | null), note?}
 * Returns the result rows written (a synthetic error row when the harness produced none).
 */
async function runHarness(item, target, pass) {
  const maxOpen = quick ? 60 : 120;
  const args = ['-s', item.scenario, '--target', target.name, '--url', target.url];
  args.push('--run', String(pass), '--tag', BENCH_TAG, '--format', 'json');
  if (target.pid) args.push('--broker-pid', String(target.pid));
  if (item.scenario === 'amqp-connections') {
    args.push('--connections', String(target.connections ?? cfg.connections), '--max-open', String(maxOpen));
  } else {
    args.push(
      '--duration',
      String(cfg.duration),
      '--warmup',
      String(cfg.warmup),
      '--drain',
      String(cfg.drain),
    );
    args.push('--size', String(item.size));
    if (item.scenario === 'amqp-confirm' && cfg.confirmMaxInflight)
      args.push('--max-inflight', String(cfg.confirmMaxInflight));
    if (item.rate) args.push('--rate', String(item.rate));
  }
  const timeoutS = item.scenario === 'amqp-connections' ? connTimeout(maxOpen) : flowTimeout();
  const label = `${item.scenario} ${target.name} ${describeItem(item, target)}`;
  log(`run ${pass}: ${label}${target.pid ? ` (broker pid ${target.pid})` : ''}`);
  return harnessRun(run, {
    args,
    label,
    timeoutS,
    decorate: (row) => {
      if (target.note) row.runner_note = target.note;
      if (target.fresh !== undefined && item.scenario === 'amqp-connections')
        row.fresh_process = target.fresh;
    },
    errorBase: {
      scenario: item.scenario,
      target: target.name,
      ...(item.scenario === 'amqp-connections'
        ? { connections_target: target.connections ?? cfg.connections }
        : { size: item.size, rate_target: item.rate ?? 0 }),
      tag: BENCH_TAG,
      run: pass,
    },
  });
}

const pagingText = () =>
  paging ? `${fmt(paging.messages)} messages${paging.bytes ? ` or ${fmtSize(paging.bytes)}` : ''}` : '?';
function describeItem(item, target) {
  if (item.scenario === 'amqp-connections') return `K=${target?.connections ?? cfg.connections}`;
  return `${fmtSize(item.size)}${item.rate ? ` @${item.rate}/s` : ''}`;
}

function matrix(scenario) {
  if (scenario === 'amqp-connections') return [{ scenario }];
  if (scenario === 'amqp-throughput') return cfg.sizes.map((size) => ({ scenario, size }));
  if (scenario === 'amqp-confirm') return cfg.confirmSizes.map((size) => ({ scenario, size }));
  return cfg.rates.map((rate) => ({ scenario, size: cfg.latencySize, rate }));
}

// ---------------------------------------------------------------- markdown

const cpuPerMsg = (r) =>
  typeof r?.broker_cpu_pct === 'number' && r.msgs_per_s > 0
    ? ((r.broker_cpu_pct / 100) * 1e6) / r.msgs_per_s
    : null;
/** Markdown table with padded columns (the layout biome's markdown formatter wants). */

/** rows of one (scenario, item) and target, sorted by run */
function pick(rows, target, match) {
  return rows.filter((r) => r.target === target && match(r)).sort((a, b) => (a.run ?? 1) - (b.run ?? 1));
}
/** cell over runs: 'v1 / v2'; ERR when a run errored without the value */
function cell(g, f, d = 0) {
  if (!g.length) return '-';
  return g.map((r) => (r.error && (f(r) === null || f(r) === undefined) ? 'ERR' : fmt(f(r), d))).join(' / ');
}
/** per-run ratio num(a)/den(b), pairing runs by run number */
function ratioCell(ga, gb, f, { invert = false, d = 2 } = {}) {
  if (!ga.length || !gb.length) return '-';
  const out = [];
  for (const a of ga) {
    const b = gb.find((x) => (x.run ?? 1) === (a.run ?? 1));
    const va = f(a);
    const vb = b ? f(b) : null;
    if (typeof va !== 'number' || typeof vb !== 'number' || va <= 0 || vb <= 0) out.push('-');
    else out.push(`${fmt(invert ? vb / va : va / vb, d)}x`);
  }
  return out.join(' / ');
}

function buildSection(meta, rows, endMeta) {
  const hasR = rows.some((r) => r.target === RMQ);
  const L = [];
  const when = `${meta.date.slice(0, 10)} ${meta.date.slice(11, 16)} UTC`;
  L.push(`### ${when}: ${cfg.scenarios.join(', ')}${quick ? ' (quick)' : ''}`);
  L.push('');
  L.push(`Command: \`${meta.command}\`. Raw results: \`${relative(ROOT, OUT)}\` (one JSON line per result).`);
  L.push('');
  const sv = meta.broker_details.switchyard;
  const rv = meta.broker_details.rabbitmq;
  L.push(
    `Switchyard ${sv.version ?? '?'}${sv.commit ? ` (commit ${sv.commit}${sv.src_modified ? ', with uncommitted changes in src/' : ''})` : ''}` +
      `${cfg.targetUrl ? ` at ${meta.switchyard_url}, already running` : `, started by the runner from a snapshot of dist/ (dist/: ${meta.build})`}` +
      `${hasR || rv ? `; RabbitMQ ${rv?.version ?? '?'}${rv?.platform ? ` (${rv.platform})` : ''}` : '; RabbitMQ not run'}` +
      `; client amqplib@${meta.libs?.amqplib ?? '?'}, Node ${meta.node}.`,
  );
  L.push('');
  const load = rows.map((r) => r.loadavg_1m).filter((x) => typeof x === 'number');
  const other = rows.map((r) => r.other_cpu_pct).filter((x) => typeof x === 'number');
  L.push(
    `Machine: ${meta.cpus} x ${meta.cpu_model}, ${meta.mem_gb} GiB RAM, ${meta.kernel}. ` +
      `Load average (1 min) at start ${fmt(meta.loadavg_at_start[0], 2)}, at end ${fmt(endMeta.loadavg_at_end[0], 2)}` +
      `${load.length ? `, ${fmt(Math.min(...load), 2)}-${fmt(Math.max(...load), 2)} at the start of each run` : ''}; ` +
      `${other.length ? `"other" CPU (neither broker nor client) median ${fmt(median(other), 1)}%, max ${fmt(Math.max(...other), 1)}% of one core. ` : ''}` +
      `Timing: ${cfg.warmup} s warm-up + ${cfg.duration} s measured per run${cfg.repeat > 1 ? `, ${cfg.repeat} passes (cells: run 1 / run 2 / ...)` : ''}. ` +
      `Wall time ${fmt(endMeta.duration_s / 60, 1)} min.`,
  );
  L.push('');

  // targets
  const tput = (t) => pick(rows, t, (r) => r.scenario === 'amqp-throughput' && r.size === 1024);
  const conf1k = (t) => pick(rows, t, (r) => r.scenario === 'amqp-confirm' && r.size === 1024);
  const lat10k = (t) => pick(rows, t, (r) => r.scenario === 'amqp-latency' && r.rate_target === 10000);
  const conns = (t) => pick(rows, t, (r) => r.scenario === 'amqp-connections');
  const targets = [];
  {
    const a = tput(SY);
    const b = tput(RMQ);
    const rs = a
      .map((x) => [x, b.find((y) => (y.run ?? 1) === (x.run ?? 1))])
      .filter(([x, y]) => x.msgs_per_s > 0 && y?.msgs_per_s > 0)
      .map(([x, y]) => x.msgs_per_s / y.msgs_per_s);
    targets.push(
      `transient 1 KiB throughput >= 1.3x RabbitMQ: ${rs.length ? `${rs.map((x) => `${fmt(x, 2)}x`).join(' / ')}, ${rs.every((x) => x >= 1.3) ? 'met' : 'not met'}` : 'not measured'}`,
    );
    {
      const a2 = conf1k(SY);
      const b2 = conf1k(RMQ);
      const rs2 = a2
        .map((x) => [x, b2.find((y) => (y.run ?? 1) === (x.run ?? 1))])
        .filter(([x, y]) => x.msgs_per_s > 0 && y?.msgs_per_s > 0 && !x.error)
        .map(([x, y]) => x.msgs_per_s / y.msgs_per_s);
      const lossy = a2.some((x) => x.lost > 0 || x.nacked > 0);
      targets.push(
        `persistent + confirm 1 KiB throughput (amqp-confirm) >= 2x RabbitMQ: ${rs2.length ? `${rs2.map((x) => `${fmt(x, 2)}x`).join(' / ')}, ${rs2.every((x) => x >= 2) && !lossy ? 'met' : 'not met'}${lossy ? ' (Switchyard lost or nacked messages)' : ''}` : 'not measured'}` +
          `${cfg.confirmMaxInflight ? ` (with --confirm-max-inflight ${cfg.confirmMaxInflight}, not the harness default)` : ''}` +
          ' (throughput only: that each confirm follows its fsync is checked by bench/confirm-fsync.mjs, under "Durability")',
      );
    }
    const c = lat10k(SY);
    const d = lat10k(RMQ);
    const ps = c
      .map((x) => [x, d.find((y) => (y.run ?? 1) === (x.run ?? 1))])
      .filter(([x, y]) => x.p99_us > 0 && y?.p99_us > 0 && !x.error);
    targets.push(
      `p99 latency at 10,000 msg/s no worse than RabbitMQ's: ${ps.length ? `${ps.map(([x, y]) => `${fmt(x.p99_us)} vs ${fmt(y.p99_us)} us`).join(' / ')}, ${ps.every(([x, y]) => x.p99_us <= y.p99_us) ? 'met' : 'not met'}` : 'not measured'}`,
    );
    const k = conns(SY).filter((x) => typeof x.per_conn_kb === 'number');
    targets.push(
      `<= 10 KiB RSS per idle AMQP connection: ${k.length ? `${k.map((x) => `${fmt(x.per_conn_kb, 1)} KiB`).join(' / ')}, ${k.every((x) => x.per_conn_kb <= 10) ? 'met' : 'not met'}` : 'not measured'}`,
    );
  }
  L.push('Targets for Switchyard:');
  L.push('');
  for (const t of targets) L.push(`- ${t}`);
  L.push('');

  if (cfg.scenarios.includes('amqp-throughput')) {
    L.push(
      '**Throughput**, msgs/s (amqp-throughput: 1 producer -> default exchange -> 1 transient queue -> 1 consumer, noAck, max rate; ratio = Switchyard / RabbitMQ; CPU µs/msg = broker CPU time per delivered message)',
    );
    L.push('');
    const body = cfg.sizes.map((size) => {
      const m = (r) => r.scenario === 'amqp-throughput' && r.size === size;
      const a = pick(rows, SY, m);
      const b = pick(rows, RMQ, m);
      return [
        fmtSize(size),
        cell(a, (r) => r.msgs_per_s),
        cell(b, (r) => r.msgs_per_s),
        ratioCell(a, b, (r) => r.msgs_per_s),
        cell(a, (r) => r.broker_cpu_pct),
        cell(b, (r) => r.broker_cpu_pct),
        cell(a, cpuPerMsg, 1),
        cell(b, cpuPerMsg, 1),
        `${cell(a, (r) => r.client_cpu_pct)} / ${cell(b, (r) => r.client_cpu_pct)}`,
        `${cell(a, (r) => r.lost)} / ${cell(b, (r) => r.lost)}`,
      ];
    });
    L.push(
      mdTable(
        [
          'size',
          'Switchyard msgs/s',
          'RabbitMQ msgs/s',
          'ratio',
          'Switchyard CPU%',
          'RabbitMQ CPU%',
          'Switchyard CPU µs/msg',
          'RabbitMQ CPU µs/msg',
          'client CPU% (SY / RMQ)',
          'lost (SY / RMQ)',
        ],
        body,
      ),
    );
    L.push('');
  }

  if (cfg.scenarios.includes('amqp-confirm')) {
    const windows = cfg.confirmSizes
      .map((size) => {
        const r = rows.find((x) => x.scenario === 'amqp-confirm' && x.size === size && x.max_inflight);
        return r ? `${fmt(r.max_inflight)} at ${fmtSize(size)}` : null;
      })
      .filter(Boolean);
    L.push(
      '**Persistent + confirms**, msgs/s (amqp-confirm: 1 producer on a ConfirmChannel, persistent messages (deliveryMode 2), at most 256 unconfirmed -> default exchange -> 1 durable queue -> 1 consumer, manual ack of each message, prefetch 100; max rate. Switchyard: fresh process and data dir per row. ' +
        `The harness's end-to-end in-flight window (published - received): ${windows.length ? windows.join(', ') : '-'}${cfg.confirmMaxInflight ? ` (set with --confirm-max-inflight ${cfg.confirmMaxInflight}, not the harness default)` : ''}; Switchyard's durable queues keep ${paging ? `up to ${pagingText()} of` : 'a window of'} ready messages in memory and page the rest out. ` +
        'Latency = publish to delivery: the send timestamp in the payload (taken just before publish()) to the consumer receiving it, over the measured window. Both brokers deliver before the fsync, so it does not include the confirm; at max rate it is mostly queueing in the in-flight window)',
    );
    L.push('');
    const body = cfg.confirmSizes.map((size) => {
      const m = (r) => r.scenario === 'amqp-confirm' && r.size === size;
      const a = pick(rows, SY, m);
      const b = pick(rows, RMQ, m);
      return [
        fmtSize(size),
        cell(a, (r) => r.msgs_per_s),
        cell(b, (r) => r.msgs_per_s),
        ratioCell(a, b, (r) => r.msgs_per_s),
        cell(a, (r) => r.broker_cpu_pct),
        cell(b, (r) => r.broker_cpu_pct),
        cell(a, cpuPerMsg, 1),
        cell(b, cpuPerMsg, 1),
        `${cell(a, (r) => r.p50_us)} / ${cell(b, (r) => r.p50_us)}`,
        `${cell(a, (r) => r.p99_us)} / ${cell(b, (r) => r.p99_us)}`,
        `${cell(a, (r) => r.client_cpu_pct)} / ${cell(b, (r) => r.client_cpu_pct)}`,
        `${cell(a, (r) => r.lost)} / ${cell(b, (r) => r.lost)}`,
      ];
    });
    L.push(
      mdTable(
        [
          'size',
          'Switchyard msgs/s',
          'RabbitMQ msgs/s',
          'ratio',
          'Switchyard CPU%',
          'RabbitMQ CPU%',
          'Switchyard CPU µs/msg',
          'RabbitMQ CPU µs/msg',
          'p50 µs (SY / RMQ)',
          'p99 µs (SY / RMQ)',
          'client CPU% (SY / RMQ)',
          'lost (SY / RMQ)',
        ],
        body,
      ),
    );
    L.push('');
  }

  if (cfg.scenarios.includes('amqp-latency')) {
    L.push(
      `**Latency**, microseconds, end to end (amqp-latency: as above at a fixed publish rate, ${fmtSize(cfg.latencySize)}; ratio = RabbitMQ p99 / Switchyard p99, above 1 = Switchyard better; CO p99 = from the intended send time)`,
    );
    L.push('');
    const body = cfg.rates.map((rate) => {
      const m = (r) => r.scenario === 'amqp-latency' && r.rate_target === rate;
      const a = pick(rows, SY, m);
      const b = pick(rows, RMQ, m);
      return [
        `${fmt(rate)}/s`,
        `${cell(a, (r) => r.msgs_per_s)} / ${cell(b, (r) => r.msgs_per_s)}`,
        `${cell(a, (r) => r.p50_us)} / ${cell(b, (r) => r.p50_us)}`,
        cell(a, (r) => r.p99_us),
        cell(b, (r) => r.p99_us),
        ratioCell(a, b, (r) => r.p99_us, { invert: true }),
        `${cell(a, (r) => r.p999_us)} / ${cell(b, (r) => r.p999_us)}`,
        `${cell(a, (r) => r.co_p99_us)} / ${cell(b, (r) => r.co_p99_us)}`,
        cell(a, (r) => r.broker_cpu_pct),
        cell(b, (r) => r.broker_cpu_pct),
        cell(a, cpuPerMsg, 1),
        cell(b, cpuPerMsg, 1),
      ];
    });
    L.push(
      mdTable(
        [
          'rate',
          'achieved msgs/s (SY / RMQ)',
          'p50 (SY / RMQ)',
          'Switchyard p99',
          'RabbitMQ p99',
          'p99 ratio',
          'p99.9 (SY / RMQ)',
          'CO p99 (SY / RMQ)',
          'Switchyard CPU%',
          'RabbitMQ CPU%',
          'Switchyard CPU µs/msg',
          'RabbitMQ CPU µs/msg',
        ],
        body,
      ),
    );
    L.push('');
  }

  if (cfg.scenarios.includes('amqp-connections')) {
    L.push(
      `**Idle connections** (amqp-connections: ${fmt(cfg.connections)} AMQP connections with one channel each, heartbeat 60 s; KiB/conn = (broker RSS 3 s after opening - RSS before) / connections opened)`,
    );
    L.push('');
    const body = [];
    for (const [t, label] of [
      [SY, cfg.targetUrl ? 'Switchyard (already running, not fresh)' : 'Switchyard (fresh process)'],
      [RMQ, 'RabbitMQ (long-running service)'],
    ]) {
      const g = conns(t);
      if (!g.length) continue;
      body.push([
        label,
        cell(g, (r) => r.connections),
        cell(g, (r) => r.failures),
        cell(g, (r) => r.broker_rss_before_mb, 1),
        cell(g, (r) => r.broker_rss_after_mb, 1),
        cell(g, (r) => r.per_conn_kb, 1),
        cell(g, (r) => r.conns_per_s),
        cell(g, (r) => r.broker_cpu_pct),
        cell(g, (r) => r.broker_rss_after_close_mb, 1),
      ]);
    }
    L.push(
      mdTable(
        [
          'broker',
          'connections',
          'failures',
          'RSS before MB',
          'RSS after MB',
          'KiB / conn',
          'conn/s',
          'CPU% while opening',
          'RSS after close MB',
        ],
        body,
      ),
    );
    L.push('');
  }

  const notes = [...anomalies];
  for (const r of rows) {
    const id = `${r.scenario} ${r.target} ${r.scenario === 'amqp-connections' ? `K=${fmt(r.connections_target ?? cfg.connections)}` : `${fmtSize(r.size)}${r.rate_target ? ` @${fmt(r.rate_target)}/s` : ''}`}${cfg.repeat > 1 ? ` run ${r.run}` : ''}`;
    if (r.error) notes.push(`${id}: error: ${r.error}`);
    if (r.lost > 0) notes.push(`${id}: ${fmt(r.lost)} messages lost (of ${fmt(r.sent)} sent)`);
    if (r.extra > 0) notes.push(`${id}: ${fmt(r.extra)} extra deliveries (duplicates)`);
    if (r.nacked > 0) notes.push(`${id}: ${fmt(r.nacked)} publishes nacked by the broker`);
    // The in-flight window filled (window_waits): published - received reached max_inflight, so the
    // queue held up to that many ready messages (less <= 100 delivered, unacked). Past the paging
    // window, Switchyard pages out.
    const held = (r.max_inflight ?? 0) - 100;
    if (
      r.scenario === 'amqp-confirm' &&
      r.target === SY &&
      r.window_waits > 0 &&
      paging &&
      (held > paging.messages || (paging.bytes && held * r.size >= paging.bytes))
    )
      notes.push(
        `${id}: the harness's in-flight window (${fmt(r.max_inflight)}) filled ${fmt(r.window_waits)} times in the measured window: the durable queue could then hold more than Switchyard's in-memory window (${pagingText()}) and page out, so part or all of the window may have run on page-out and read-back (p50 ${fmt(r.p50_us / 1000, 0)} ms from publish to delivery)`,
      );
    if (r.stalls > 0)
      notes.push(`${id}: ${r.stalls} stalls (deliveries stopped for 1 s with the window full)`);
    if (r.rate_target > 0 && r.msgs_per_s < 0.97 * r.rate_target)
      notes.push(`${id}: achieved only ${fmt(r.msgs_per_s)} of ${fmt(r.rate_target)} msg/s`);
    if (!r.synthetic && Array.isArray(r.broker_pids) && !r.broker_pids.length)
      notes.push(`${id}: broker pid unknown, no CPU/RSS figures`);
    if (r.other_cpu_pct >= 25)
      notes.push(
        `${id}: other jobs used ${fmt(r.other_cpu_pct)}% CPU during the window (machine busy minus broker minus client): noisy, rerun to confirm`,
      );
    if (r.client_cpu_pct >= 95 && r.rate_target === 0)
      notes.push(
        `${id}: client at ${fmt(r.client_cpu_pct)}% CPU: the harness client, not the broker, may be the limit`,
      );
  }
  if (notes.length) {
    L.push('Errors and anomalies:');
    L.push('');
    for (const n of notes) L.push(`- ${n}`);
  } else {
    L.push('No errors, lost messages or stalls.');
  }
  L.push('');
  return L.join('\n');
}

// ---------------------------------------------------------------- docs/benchmarks.md

const BLOCK_START = /<!-- bench-run:start (\S+) -->/;
const BLOCK_END = '<!-- bench-run:end -->';
// The sections other scripts own ("Durability", "MQTT"; see lib-common.mjs) are kept verbatim, between
// the latest results and the history.

function intro(meta) {
  return `# Benchmarks

<!-- Written by bench/run.mjs (npm run bench). The intro and "Latest results" are rewritten on every
run; earlier runs move to "History", newest first. Change bench/run.mjs rather than this file. -->

Switchyard's AMQP 0-9-1 front end measured against RabbitMQ, on the same machine and in the same run,
with the neutral broker-bench harness (\`../shared/broker-bench\` beside the checkout, which the runner copies to
\`bench/node_modules/.cache/broker-bench/\`). The harness uses only the standard client library
(amqplib), with the publisher and the consumer in one Node.js process, each on its own TCP connection.
Scenarios:

- **amqp-throughput**: 1 producer -> default exchange -> 1 transient, non-durable queue -> 1 consumer,
  noAck, at max rate (bounded by an end-to-end in-flight window), at 16 B, 1 KiB and 64 KiB.
- **amqp-confirm**: the durable path: persistent messages (deliveryMode 2) published through a
  ConfirmChannel with at most 256 unconfirmed -> default exchange -> 1 durable queue -> 1 consumer
  that acks each message (prefetch 100), at max rate, at 16 B, 1 KiB and 64 KiB. Switchyard runs each
  item on a freshly started process with an empty data dir (its segment log, group commit, \`fdatasync\`
  before confirms); RabbitMQ is the system service with its own message store on the same disk.
- **amqp-latency**: the same path as amqp-throughput at a fixed publish rate (1,000 and 10,000 msg/s, 64 B); end-to-end
  latency percentiles from a timestamp in the payload.
- **amqp-connections**: opens 1,000 idle AMQP connections (one channel each) and reports the broker's
  RSS growth per connection. Switchyard is restarted just before, because a process that has run
  traffic keeps freed heap that hides per-connection memory; the runner does connection scenarios
  first, as the harness's \`run-baseline.sh\` does. RabbitMQ is the long-running system service.

Machine of the latest run: ${meta.cpus} x ${meta.cpu_model}, ${meta.mem_gb} GiB RAM, ${meta.kernel}, Node ${meta.node}.
It is a shared VM: other jobs (tests) may run at the same time, so each table gives the load average
and the "other" CPU (machine busy minus broker minus benchmark client).

## How to rerun

\`\`\`sh
npm run bench                        # full run: ~4 min; writes bench/results/amqp-<date>.jsonl and this file
npm run bench -- --quick             # smoke run, a few seconds per item; bench/results/tmp/, docs untouched
npm run bench -- -s amqp-throughput --sizes 1k --duration 20 --repeat 3
npm run bench -- -s confirm --sizes 1k --repeat 3   # persistent + confirms only
npm run bench -- --switchyard-only   # no RabbitMQ
npm run bench -- --target-url amqp://guest:guest@127.0.0.1:5673 --switchyard-pid 1234   # a running Switchyard
npm run bench -- --help
\`\`\`

The runner builds \`dist/\` if it is missing or older than \`src/\`, starts Switchyard on a free port of
127.0.0.1, and runs every item on Switchyard and then on RabbitMQ (\`--rabbit-url\`, default
\`amqp://guest:guest@127.0.0.1:5672\`; skipped when nothing answers there), back to back, so noise hits
both alike. The harness's own tables for a results file:
\`node bench/node_modules/.cache/broker-bench/bin/report.js bench/results/amqp-<date>.jsonl\`.

## Reading the numbers

- **Ratios from the same run matter more than absolute numbers.** This 2-core VM is shared; in the
  harness's baseline, run-to-run spread was often 1-5% but up to 15-28% in throughput, and 2x or more
  in p99 and above. Treat differences under about 20% in throughput, or 2x in tail latency, as noise
  unless they repeat (\`--repeat 3\`).
- **Client saturation.** The single Node.js client thread is a ceiling. The harness's baseline notes
  put amqplib's above about 65k msg/s (RabbitMQ reached 65.8k msg/s at 16 B with the client at ~64% CPU
  and the broker at ~113%), and the client is at ~100% CPU at 64 KiB. When "client CPU%" is near 100,
  a row shows the harness's limit, not the broker's, and a faster broker cannot look faster than that.
  The client and the broker also share the machine's 2 cores.
- **Broker CPU per message** = broker CPU% / 100 x 10^6 / msgs/s, in µs: the broker's CPU time per
  delivered message. It compares brokers' efficiency even where the client limits the rate. At a low
  fixed rate it includes idle costs (timers, the runtime's background work), so read it mainly on the
  max-rate rows.
- CPU% is percent of one core (the machine total is 200%).

Targets Switchyard must reach: transient 1 KiB throughput >= 1.3x RabbitMQ's; persistent + confirm
(amqp-confirm) 1 KiB throughput >= 2x RabbitMQ's, with every confirm sent after the fsync that holds
its message; p99 latency at 10,000 msg/s no worse than RabbitMQ's; <= 10 KiB RSS per idle AMQP
connection. The backlog and recovery targets are under "Durability" below the latest results, and the
MQTT front end against Mosquitto under "MQTT" (bench/mqtt.mjs). Where the broker's time goes (a CPU
profile of the hot path): [performance.md](performance.md).

## Latest results

The latest table below was made with \`${meta.command}\`.

`;
}

function updateDocs(section, meta) {
  let current = '';
  try {
    current = readFileSync(DOCS_FILE, 'utf8');
  } catch {}
  const blocks = [];
  const { rest: old, sections: owned } = takeOwnedSections(current);
  const lines = old.split('\n');
  let cur = null;
  for (const l of lines) {
    if (BLOCK_START.test(l)) cur = [l];
    else if (cur && l.trim() === BLOCK_END) {
      cur.push(l);
      blocks.push(cur.join('\n'));
      cur = null;
    } else if (cur) cur.push(l);
  }
  if (!blocks.length && old.trim()) {
    blocks.push(
      `<!-- bench-run:start earlier -->\n### Earlier content of this file\n\n${old.trim()}\n${BLOCK_END}`,
    );
  }
  const id = meta.date;
  const block = `<!-- bench-run:start ${id} -->\n${section.trim()}\n${BLOCK_END}`;
  const doc = [
    intro(meta).trimEnd(),
    '',
    block,
    '',
    ...owned.flatMap((s) => [s, '']),
    '## History',
    '',
    blocks.length ? blocks.join('\n\n') : 'No earlier runs.',
    '',
  ].join('\n');
  writeFileSync(DOCS_FILE, doc);
}

// ---------------------------------------------------------------- main

async function main() {
  const t0 = Date.now();
  log(`bench: ${COMMAND}`);
  log(`bench: results -> ${relative(ROOT, OUT)}, log -> ${relative(ROOT, run.LOG)}`);
  await ensureHarness({ log, runChild: run.runChild });
  const { libVersions, pidListeningOn } = await loadHarness();

  let build = 'not needed (--target-url)';
  if (!cfg.targetUrl) {
    snapshot = prepareDist({
      root: ROOT,
      build: cfg.build,
      log,
      logRaw,
      anomaly: (m) => {
        anomalies.push(m);
        log(`build: ${m}`);
      },
    });
    build = snapshot.build;
    paging = await pagingWindow(snapshot);
    log(`switchyard: running from ${relative(ROOT, snapshot.dir)} (node ${snapshot.nodeFlags.join(' ')})`);
  }

  // RabbitMQ: present? which pid?
  let rabbit = null;
  if (!cfg.switchyardOnly) {
    const { host, port } = urlHostPort(cfg.rabbitUrl);
    if (await portOpen(host, port)) {
      const props = await serverProps(cfg.rabbitUrl);
      if (props.error) {
        anomalies.push(
          `RabbitMQ at ${host}:${port} answers on TCP but AMQP connect failed (${props.error}); its rows will show the errors.`,
        );
      }
      let pid = null;
      if (isLocal(cfg.rabbitUrl)) {
        if (pidListeningOn(port)) pid = 'auto';
        else {
          const beams = beamPids();
          if (beams.length) {
            pid = beams[0];
            log(`rabbitmq: no pid found by listening port; using beam.smp pid ${pid}`);
          } else
            anomalies.push(
              'RabbitMQ pid not found (neither by port nor as beam.smp): no CPU/RSS figures for it.',
            );
        }
      }
      rabbit = { name: RMQ, url: cfg.rabbitUrl, pid, props };
      log(
        `rabbitmq: ${host}:${port} ${props.product ?? ''} ${props.version ?? props.error ?? ''} (pid ${pid})`,
      );
    } else {
      log(`rabbitmq: nothing answers on ${host}:${port}; Switchyard only`);
      anomalies.push(`Nothing answered on ${host}:${port}: RabbitMQ was not run.`);
    }
  }

  // Switchyard target
  let syTarget;
  if (cfg.targetUrl) {
    let pid = cfg.switchyardPid ? Number(cfg.switchyardPid) : null;
    if (!pid && isLocal(cfg.targetUrl)) pid = pidListeningOn(urlHostPort(cfg.targetUrl).port) || null;
    if (!pid)
      anomalies.push(
        'Switchyard pid unknown (--target-url without --switchyard-pid): no CPU/RSS figures for it.',
      );
    syTarget = { name: SY, url: cfg.targetUrl, pid, fresh: false, note: 'already running (--target-url)' };
    if (cfg.scenarios.includes('amqp-confirm'))
      anomalies.push(
        'amqp-confirm ran on the already running Switchyard (--target-url): not on a fresh data dir.',
      );
  } else {
    sy = new SwitchyardProcess({ snapshot, ctx: run, ports: { amqp: 0 } });
    await sy.start();
  }
  const syProps = await serverProps(cfg.targetUrl ?? sy.url('amqp'));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

  const meta = {
    type: 'meta',
    runner: 'switchyard bench/run.mjs',
    date: startedAt.toISOString(),
    command: COMMAND,
    ...machineInfo(),
    libs: libVersions(),
    harness: HARNESS_SRC,
    // brokers: one string each, as the harness's bin/report.js prints them; details below
    brokers: {},
    broker_details: {
      switchyard: { version: pkg.version, ...gitInfo(), server_properties: syProps },
      rabbitmq: rabbit ? rabbit.props : null,
    },
    switchyard_url: cfg.targetUrl ? cfg.targetUrl.replace(/:[^:@/]*@/, ':***@') : null,
    build,
    paging_window: paging,
    settings: {
      scenarios: cfg.scenarios,
      warmup_s: cfg.warmup,
      duration_s: cfg.duration,
      drain_s: cfg.drain,
      sizes: cfg.sizes,
      confirm_sizes: cfg.confirmSizes,
      confirm_max_inflight: cfg.confirmMaxInflight,
      rates: cfg.rates,
      latency_size: cfg.latencySize,
      connections: cfg.connections,
      repeat: cfg.repeat,
      quick,
    },
    loadavg_at_start: loadavg(),
  };
  const sd = meta.broker_details.switchyard;
  meta.brokers.switchyard = `${sd.version}${sd.commit ? ` (commit ${sd.commit}${sd.src_modified ? ', src/ modified' : ''})` : ''}`;
  if (rabbit) meta.brokers.rabbitmq = rabbit.props.version ?? `unknown (${rabbit.props.error})`;
  writeRow(meta);

  const rows = [];
  for (let pass = 1; pass <= cfg.repeat; pass++) {
    if (cfg.repeat > 1) log(`pass ${pass} of ${cfg.repeat}`);
    for (const scenario of cfg.scenarios) {
      for (const item of matrix(scenario)) {
        // Switchyard first
        if (!cfg.targetUrl) {
          if (scenario === 'amqp-connections') {
            log('switchyard: restarting for a fresh process');
            await sy.stop();
            await sy.start();
          } else if (scenario === 'amqp-confirm') {
            // a fresh data dir (and process) per run: an empty segment log, nothing to reclaim
            log('switchyard: restarting on a fresh data dir');
            await sy.stop();
            await sy.start();
          } else if (!sy.alive) {
            log('switchyard: not running (see anomalies); restarting');
            await sy.stop();
            await sy.start();
          }
          syTarget = {
            name: SY,
            url: sy.url('amqp'),
            pid: sy.pid,
            fresh: scenario === 'amqp-connections',
            ...(scenario === 'amqp-confirm' ? { note: 'fresh process and data dir' } : {}),
          };
        }
        rows.push(...(await runHarness(item, syTarget, pass)));
        if (rabbit) {
          if (scenario === 'amqp-connections') rabbit.connections = rabbitConnections(rabbit);
          rows.push(...(await runHarness(item, rabbit, pass)));
        }
      }
    }
  }
  if (sy) await sy.stop();
  snapshot?.remove();

  const endMeta = {
    type: 'meta',
    phase: 'end',
    date: new Date().toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
    loadavg_at_end: loadavg(),
    switchyard_starts: sy?.starts ?? 0,
    anomalies,
  };
  writeRow(endMeta);

  const section = buildSection(meta, rows, endMeta);
  process.stdout.write(`\n${section}\n`);
  if (cfg.writeDocs) {
    updateDocs(section, meta);
    log(`docs: rewrote ${relative(ROOT, DOCS_FILE)}`);
  } else {
    log('docs: left unchanged (--quick or --no-docs)');
  }
  log(`bench: done in ${fmt(endMeta.duration_s / 60, 1)} min; ${relative(ROOT, OUT)}`);
  return rows.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    log(`bench: FAILED: ${e?.stack ?? e}`);
    if (sy) await sy.stop().catch(() => {});
    process.exit(1);
  },
);
