#!/usr/bin/env node
// Switchyard's MQTT benchmark runner: `npm run bench:mqtt -- [flags]` (--help for the flags).
//
// Runs the neutral broker-bench harness's MQTT scenarios (mqtt-connections, mqtt-throughput,
// mqtt-fanout, mqtt-latency, and cross-protocol MQTT -> AMQP) against a Switchyard it starts
// itself (AMQP and MQTT listeners on ephemeral ports of 127.0.0.1, a temporary data dir) and, in
// the same run, against a private Mosquitto it starts itself (generated config, free port). Each
// matrix item runs on Switchyard and then on Mosquitto, back to back, so machine noise hits both
// alike. Mosquitto has no AMQP, so cross-protocol compares with RabbitMQ (MQTT plugin + AMQP) when
// it answers, else runs on Switchyard alone.
//
// Connection steps run first, each on a freshly started broker (a process that has run traffic
// keeps freed heap, which hides per-connection memory): the harness's mqtt-connections (MQTT.js
// clients), then the "idle" step, which opens 50,000 idle MQTT connections against Switchyard from
// several opener processes and source addresses (idleFleet in bench/lib-brokers.mjs: raw TCP, a minimal MQTT
// 3.1.1 CONNECT, wait for CONNACK), since one client process can hold neither that many sockets
// nor that many ephemeral ports. Brokers get `ulimit -n` raised (as far as the hard limit allows).
//
// Output: JSON lines in bench/results/mqtt-<date>.jsonl (first line: run metadata), a log next to
// it, a markdown section on stdout, and the "MQTT" section of docs/benchmarks.md replaced (the rest
// of the file is left alone; bench/run.mjs keeps the section when it rewrites the file). --quick
// runs go to bench/results/tmp/ and leave the docs alone.
//
// Development: --target-url mqtt://... benchmarks an already running broker as the Switchyard side,
// and --stand-in-mosquitto starts a second private Mosquitto in Switchyard's place, so the whole
// pipeline can be run before Switchyard has an MQTT listener (the docs then say so).
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  ensureHarness,
  HARNESS_SRC,
  idleFleet,
  isLocal,
  loadHarness,
  MosquittoProcess,
  mosquittoVersion,
  portOpen,
  runHarness,
  stopAllBrokers,
  SwitchyardProcess,
  urlHostPort,
} from './lib-brokers.mjs';
import {
  commandLine,
  commitText,
  createRun,
  DOCS_FILE,
  fmt,
  fmtSize,
  gitInfo,
  loadavg,
  machineBusyPct,
  machineInfo,
  makeFail,
  mdTable,
  median,
  nofileLimit,
  numberParsers,
  parseCli,
  parseSize,
  prepareDist,
  putSection,
  ROOT,
  round,
} from './lib-common.mjs';

const SY = 'switchyard';
const MOSQ = 'mosquitto';
const RMQ = 'rabbitmq';
const TAG = 'switchyard-bench-mqtt';
// run order: connection steps first (fresh processes), cross-protocol last
const ALL_SCENARIOS = [
  'mqtt-connections',
  'mqtt-idle',
  'mqtt-throughput',
  'mqtt-fanout',
  'mqtt-latency',
  'cross-protocol',
];
const ALIASES = {
  connections: 'mqtt-connections',
  idle: 'mqtt-idle',
  'idle-50k': 'mqtt-idle',
  throughput: 'mqtt-throughput',
  fanout: 'mqtt-fanout',
  latency: 'mqtt-latency',
  cross: 'cross-protocol',
};

const HELP = `usage: npm run bench:mqtt -- [flags]      (node bench/mqtt.mjs [flags])

Benchmarks Switchyard's MQTT front end with the broker-bench harness against a private Mosquitto
started for the run, item by item back to back. Writes bench/results/mqtt-<date>.jsonl and the
"MQTT" section of docs/benchmarks.md. A full run takes 5 to 7 minutes; --quick about 1.5.

Scenarios and matrix:
  -s, --scenarios LIST   mqtt-connections,mqtt-idle,mqtt-throughput,mqtt-fanout,mqtt-latency,
                         cross-protocol (default: all; short names connections, idle, throughput,
                         fanout, latency, cross). Connection steps run first, each on a freshly
                         started broker.
  --qos LIST             mqtt-throughput QoS levels (default 0,1)
  --sizes LIST           mqtt-throughput payload sizes (default 16,1k,64k)
  --subscribers N        mqtt-fanout subscribers (default 100)
  --fanout-size N        mqtt-fanout payload size (default 16)
  --rates LIST           mqtt-latency publish rates, msg/s (default 10000)
  --latency-qos LIST     mqtt-latency QoS levels (default 0)
  --latency-size N       mqtt-latency payload size (default 64)
  --cross-sizes LIST     cross-protocol payload sizes (default 16,1k)
  --connections K        mqtt-connections: idle MQTT.js connections (default 5000)
  --idle-connections N   mqtt-idle: idle raw-TCP MQTT connections against Switchyard (default 50000)
  --idle-per-proc N      mqtt-idle: connections per opener process, one source address each
                         (default 10000)
  --idle-peer            mqtt-idle on Mosquitto too (default: Switchyard only)
  --nofile N             open-files limit asked for the brokers (default 200000; capped at the
                         hard limit when this user may not raise it)
  --duration S (10)  --warmup S (2)  --drain S (5)   harness timing per run
  --repeat N             passes over the whole matrix (default 1); cells show run1 / run2 / ...
  --quick                smoke run: --warmup 1 --duration 3 --drain 2, --sizes 16,1k,
                         --cross-sizes 1k, --connections 500, --idle-connections 2000;
                         results in bench/results/tmp/, docs/benchmarks.md untouched

Peers:
  --mosquitto PATH       Mosquitto binary (default /usr/sbin/mosquitto)
  --mosquitto-url URL    use a running Mosquitto instead of starting one (not fresh for the
                         connection steps)
  --mosquitto-max-inflight N  max_inflight_messages of the private Mosquitto (default 20)
  --mosquitto-max-queued N    max_queued_messages of the private Mosquitto (default 1000; the
                         harness keeps at most 500 in flight per subscriber, so nothing is dropped)
  --rabbit-mqtt-url URL  cross-protocol peer, MQTT side (default mqtt://127.0.0.1:1884)
  --rabbit-url URL       cross-protocol peer, AMQP side (default amqp://guest:guest@127.0.0.1:5672);
                         skipped when either does not answer
  --switchyard-only      run no peer

Run control and output:
  --quiet-wait S         before each run, wait up to S s for the machine to be quiet: other
                         processes below --quiet-below % of one core over 1 s (default 20; 0 = do
                         not wait); at most --quiet-budget S in all (default 150, quick 20)
  --quiet-below PCT      (default 30)
  --timeout S            kill a harness run after S seconds (default: derived from the timing)
  --out FILE.jsonl       results file (default bench/results/mqtt-<date>.jsonl)
  --docs / --no-docs     replace the MQTT section of docs/benchmarks.md (default: yes, except
                         with --quick)
  --no-build             do not rebuild dist/ even when src/ is newer
  -h, --help

Development (before Switchyard has an MQTT listener, or to measure one started by hand):
  --target-url URL       use the broker already running at mqtt://HOST:PORT as the Switchyard
                         side instead of starting one (the connection steps then measure a
                         process that is not fresh)
  --target-amqp-url URL  its AMQP URL, for cross-protocol (skipped without it)
  --target-pid PID       its pid for CPU/RSS (default: the process listening on the URL's port)
  --stand-in-mosquitto   start a second private Mosquitto as the Switchyard side: proves the
                         pipeline end to end; its figures are Mosquitto vs Mosquitto
`;

// ---------------------------------------------------------------- arguments

const fail = makeFail('bench:mqtt');
const opt = parseCli({
  name: 'bench:mqtt',
  hint: 'npm run bench:mqtt -- --help',
  help: HELP,
  options: {
    scenarios: { type: 'string', short: 's' },
    qos: { type: 'string' },
    sizes: { type: 'string' },
    subscribers: { type: 'string' },
    'fanout-size': { type: 'string' },
    rates: { type: 'string' },
    'latency-qos': { type: 'string' },
    'latency-size': { type: 'string' },
    'cross-sizes': { type: 'string' },
    connections: { type: 'string' },
    'idle-connections': { type: 'string' },
    'idle-per-proc': { type: 'string' },
    'idle-peer': { type: 'boolean' },
    nofile: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    drain: { type: 'string' },
    repeat: { type: 'string' },
    quick: { type: 'boolean' },
    mosquitto: { type: 'string' },
    'mosquitto-url': { type: 'string' },
    'mosquitto-max-inflight': { type: 'string' },
    'mosquitto-max-queued': { type: 'string' },
    'rabbit-mqtt-url': { type: 'string' },
    'rabbit-url': { type: 'string' },
    'switchyard-only': { type: 'boolean' },
    timeout: { type: 'string' },
    'quiet-wait': { type: 'string' },
    'quiet-below': { type: 'string' },
    'quiet-budget': { type: 'string' },
    out: { type: 'string' },
    docs: { type: 'boolean' },
    build: { type: 'boolean' },
    'target-url': { type: 'string' },
    'target-amqp-url': { type: 'string' },
    'target-pid': { type: 'string' },
    'stand-in-mosquitto': { type: 'boolean' },
  },
});
const { posNum, count } = numberParsers(fail);
const list = (name, v, dflt, f = (x) => x) => {
  try {
    const out = (v ?? dflt).split(',').filter(Boolean).map(f);
    if (!out.length) fail(`--${name} is empty`);
    return out;
  } catch (e) {
    fail(`--${name}: ${e.message}`);
  }
};
const quick = !!opt.quick;
const cfg = {
  quick,
  warmup: posNum('warmup', opt.warmup, quick ? 1 : 2),
  duration: posNum('duration', opt.duration, quick ? 3 : 10),
  drain: posNum('drain', opt.drain, quick ? 2 : 5),
  qos: list('qos', opt.qos, '0,1', Number),
  sizes: list('sizes', opt.sizes, quick ? '16,1k' : '16,1k,64k', parseSize),
  subscribers: count('subscribers', opt.subscribers, 100),
  fanoutSize: parseSize(opt['fanout-size'] ?? '16'),
  rates: list('rates', opt.rates, '10000', Number),
  latencyQos: list('latency-qos', opt['latency-qos'], '0', Number),
  latencySize: parseSize(opt['latency-size'] ?? '64'),
  crossSizes: list('cross-sizes', opt['cross-sizes'], quick ? '1k' : '16,1k', parseSize),
  connections: count('connections', opt.connections, quick ? 500 : 5000),
  idleConnections: count('idle-connections', opt['idle-connections'], quick ? 2000 : 50_000),
  idlePerProc: count('idle-per-proc', opt['idle-per-proc'], 10_000),
  idlePeer: !!opt['idle-peer'],
  nofile: count('nofile', opt.nofile, 200_000),
  repeat: count('repeat', opt.repeat, 1),
  mosquittoBin: opt.mosquitto ?? '/usr/sbin/mosquitto',
  mosquittoUrl: opt['mosquitto-url'] ?? null,
  mosqMaxInflight: count('mosquitto-max-inflight', opt['mosquitto-max-inflight'], 20),
  mosqMaxQueued: count('mosquitto-max-queued', opt['mosquitto-max-queued'], 1000),
  rabbitMqttUrl: opt['rabbit-mqtt-url'] ?? 'mqtt://127.0.0.1:1884',
  rabbitUrl: opt['rabbit-url'] ?? 'amqp://guest:guest@127.0.0.1:5672',
  switchyardOnly: !!opt['switchyard-only'],
  timeout: opt.timeout ? posNum('timeout', opt.timeout) : null,
  quietWait: opt['quiet-wait'] === '0' ? 0 : posNum('quiet-wait', opt['quiet-wait'], 20),
  quietBelow: posNum('quiet-below', opt['quiet-below'], 30),
  quietBudget: posNum('quiet-budget', opt['quiet-budget'], quick ? 20 : 150),
  writeDocs: opt.docs ?? !quick,
  build: opt.build ?? true,
  targetUrl: opt['target-url'] ?? null,
  targetAmqpUrl: opt['target-amqp-url'] ?? null,
  targetPid: opt['target-pid'] ? count('target-pid', opt['target-pid']) : null,
  standIn: !!opt['stand-in-mosquitto'],
};
for (const q of [...cfg.qos, ...cfg.latencyQos]) if (![0, 1, 2].includes(q)) fail(`bad QoS ${q}`);
if (cfg.rates.some((r) => !Number.isFinite(r) || r <= 0)) fail('--rates wants positive numbers');
if (cfg.idlePerProc > 15_000)
  fail('--idle-per-proc: at most 15000 (ephemeral ports per source address, open files per process)');
if (cfg.targetUrl && cfg.standIn) fail('--target-url and --stand-in-mosquitto exclude each other');
for (const [k, u] of [
  ['target-url', cfg.targetUrl],
  ['target-amqp-url', cfg.targetAmqpUrl],
  ['mosquitto-url', cfg.mosquittoUrl],
  ['rabbit-mqtt-url', cfg.rabbitMqttUrl],
  ['rabbit-url', cfg.rabbitUrl],
]) {
  if (!u) continue;
  try {
    new URL(u);
  } catch {
    fail(`bad --${k} '${u}'`);
  }
}
const wanted = new Set(
  (opt.scenarios ?? ALL_SCENARIOS.join(','))
    .split(',')
    .filter(Boolean)
    .map((s) => ALIASES[s] ?? s),
);
for (const s of wanted)
  if (!ALL_SCENARIOS.includes(s)) fail(`unknown scenario '${s}' (known: ${ALL_SCENARIOS.join(', ')})`);
cfg.scenarios = ALL_SCENARIOS.filter((s) => wanted.has(s));

const COMMAND = commandLine('npm run bench:mqtt', process.argv.slice(2), ' -- ');
const SYL = cfg.standIn ? 'Stand-in' : 'Switchyard'; // the Switchyard side's name in tables

// ---------------------------------------------------------------- run context

const run = createRun({ stem: 'mqtt', tmp: quick, out: opt.out });
const { OUT, log, anomaly, anomalies, writeRow } = run;
function cleanupAndExit(code) {
  for (const c of run.children) c.kill('SIGTERM');
  stopAllBrokers();
  process.exit(code);
}
process.on('SIGINT', () => cleanupAndExit(130));
process.on('SIGTERM', () => cleanupAndExit(143));

// ---------------------------------------------------------------- the brokers

/**
 * One side of the comparison: a broker we start (proc; restartable, fresh on demand) or one
 * already running (urls, pid).
 */
class Side {
  constructor({ name, proc = null, urls = {}, pid = null, note = null }) {
    this.name = name;
    this.proc = proc;
    this.urls = urls;
    this.fixedPid = pid;
    this.note = note;
  }

  url(proto) {
    if (!this.proc) return this.urls[proto] ?? null;
    if (this.proc instanceof SwitchyardProcess) return this.proc.url(proto);
    return proto === 'mqtt' ? this.proc.url() : null;
  }

  get pid() {
    return this.proc ? this.proc.pid : this.fixedPid;
  }

  get restartable() {
    return !!this.proc;
  }

  async start() {
    if (this.proc) await this.proc.start();
  }

  /** A fresh process (when we own it). */
  async restart(why) {
    if (!this.proc) return false;
    log(`${this.name}: restarting (${why})`);
    await this.proc.stop();
    await this.proc.start();
    return true;
  }

  /** Restarts it when it died (the crash is already an anomaly). */
  async ensureAlive() {
    if (this.proc && !this.proc.alive) await this.restart('it is not running');
  }

  async stop() {
    if (this.proc) await this.proc.stop();
  }
}

const ctx = { log, logRaw: run.logRaw, anomaly };
let snapshot = null;

async function setUpSwitchyard() {
  if (cfg.targetUrl) {
    let pid = cfg.targetPid;
    const { pidListeningOn } = await loadHarness();
    if (!pid && isLocal(cfg.targetUrl)) pid = pidListeningOn(urlHostPort(cfg.targetUrl).port) || null;
    if (!pid)
      anomaly('Switchyard side: pid unknown (--target-url without --target-pid): no CPU/RSS figures.');
    return {
      side: new Side({
        name: SY,
        urls: { mqtt: cfg.targetUrl, amqp: cfg.targetAmqpUrl },
        pid,
        note: 'already running (--target-url)',
      }),
      details: { mode: 'target-url', url: cfg.targetUrl, amqp_url: cfg.targetAmqpUrl, pid },
    };
  }
  if (cfg.standIn) {
    const proc = new MosquittoProcess({
      bin: cfg.mosquittoBin,
      ctx,
      label: 'stand-in mosquitto',
      maxInflight: cfg.mosqMaxInflight,
      maxQueued: cfg.mosqMaxQueued,
      nofile: cfg.nofile,
    });
    return {
      side: new Side({ name: SY, proc, note: 'stand-in: a second private Mosquitto' }),
      details: { mode: 'stand-in-mosquitto', version: mosquittoVersion(cfg.mosquittoBin) },
    };
  }
  snapshot = prepareDist({ root: ROOT, build: cfg.build, log, logRaw: run.logRaw, anomaly });
  log(`switchyard: running from ${relative(ROOT, snapshot.dir)} (node ${snapshot.nodeFlags.join(' ')})`);
  const proc = new SwitchyardProcess({
    snapshot,
    ctx,
    ports: { amqp: 0, mqtt: 0 },
    nofile: cfg.nofile,
  });
  return { side: new Side({ name: SY, proc }), details: { mode: 'started', build: snapshot.build } };
}

async function setUpMosquitto() {
  if (cfg.switchyardOnly) return null;
  if (cfg.mosquittoUrl) {
    const { host, port } = urlHostPort(cfg.mosquittoUrl);
    if (!(await portOpen(host, port))) {
      anomaly(`Nothing answered on ${host}:${port} (--mosquitto-url): Mosquitto was not run.`);
      return null;
    }
    const { pidListeningOn } = await loadHarness();
    const pid = isLocal(cfg.mosquittoUrl) ? pidListeningOn(port) || null : null;
    return new Side({
      name: MOSQ,
      urls: { mqtt: cfg.mosquittoUrl },
      pid,
      note: 'already running (--mosquitto-url)',
    });
  }
  const proc = new MosquittoProcess({
    bin: cfg.mosquittoBin,
    ctx,
    maxInflight: cfg.mosqMaxInflight,
    maxQueued: cfg.mosqMaxQueued,
    nofile: cfg.nofile,
  });
  return new Side({ name: MOSQ, proc });
}

async function setUpRabbit() {
  if (cfg.switchyardOnly || !cfg.scenarios.includes('cross-protocol')) return null;
  const m = urlHostPort(cfg.rabbitMqttUrl);
  const a = urlHostPort(cfg.rabbitUrl);
  const [mOk, aOk] = await Promise.all([portOpen(m.host, m.port), portOpen(a.host, a.port)]);
  if (!mOk || !aOk) {
    const what = [!mOk ? `MQTT ${m.host}:${m.port}` : null, !aOk ? `AMQP ${a.host}:${a.port}` : null]
      .filter(Boolean)
      .join(' and ');
    log(`rabbitmq: nothing answers on ${what}; cross-protocol runs on Switchyard alone`);
    anomaly(
      `RabbitMQ did not answer on ${what}: cross-protocol ran without a peer (Mosquitto has no AMQP, so RabbitMQ with its MQTT plugin is the only local peer for it).`,
    );
    return null;
  }
  const { pidListeningOn } = await loadHarness();
  const pid = isLocal(cfg.rabbitUrl) ? pidListeningOn(a.port) || null : null;
  return new Side({ name: RMQ, urls: { mqtt: cfg.rabbitMqttUrl, amqp: cfg.rabbitUrl }, pid });
}

// ---------------------------------------------------------------- one item on one side

const flowTimeout = () => cfg.timeout ?? Math.ceil(cfg.warmup + cfg.duration + 2 * cfg.drain + 150);
const maxOpen = quick ? 60 : 120;

function describeItem(item) {
  switch (item.scenario) {
    case 'mqtt-connections':
      return `K=${fmt(cfg.connections)}`;
    case 'mqtt-idle':
      return `N=${fmt(cfg.idleConnections)}`;
    case 'mqtt-fanout':
      return `${fmtSize(item.size)} x${item.subscribers} subscribers`;
    case 'cross-protocol':
      return `${fmtSize(item.size)} MQTT QoS 0 -> AMQP`;
    default:
      return `QoS ${item.qos} ${fmtSize(item.size)}${item.rate ? ` @${fmt(item.rate)}/s` : ''}`;
  }
}

/** Runs one harness item on one side; returns its rows. */
// The harness client and the broker need a core each on this 2-core machine: before each run, wait
// (bounded) until other processes leave them alone. Our own brokers are idle between runs.
const quiet = { spent: 0, waits: 0, gaveUp: 0 };
async function waitQuiet() {
  const t0 = Date.now();
  let busy = await machineBusyPct(1000);
  if (cfg.quietWait > 0) {
    while (
      busy !== null &&
      busy >= cfg.quietBelow &&
      (Date.now() - t0) / 1000 < cfg.quietWait &&
      quiet.spent + (Date.now() - t0) / 1000 < cfg.quietBudget
    )
      busy = await machineBusyPct(1000);
  }
  const waited = (Date.now() - t0) / 1000 - 1;
  if (waited > 0.5) {
    quiet.spent += waited;
    quiet.waits++;
    if (busy >= cfg.quietBelow) quiet.gaveUp++;
    log(
      `  .. waited ${fmt(waited, 0)} s for a quieter machine (other processes now ${fmt(busy)}% of a core)`,
    );
  }
  return { machine_busy_before_pct: busy, quiet_wait_s: Math.max(0, round(waited, 1)) };
}

async function harnessItem(item, side, pass, { fresh = null } = {}) {
  const args = [
    '-s',
    item.scenario,
    '--target',
    side.name,
    '--run',
    String(pass),
    '--tag',
    TAG,
    '--format',
    'json',
  ];
  if (item.scenario === 'cross-protocol')
    args.push('--pub-url', side.url('mqtt'), '--sub-url', side.url('amqp'));
  else args.push('--url', side.url('mqtt'));
  if (side.pid) args.push('--broker-pid', String(side.pid));
  let timeoutS;
  if (item.scenario === 'mqtt-connections') {
    args.push('--connections', String(cfg.connections), '--max-open', String(maxOpen));
    timeoutS = cfg.timeout ?? maxOpen + 150;
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
    if (item.qos !== undefined) args.push('--qos', String(item.qos));
    if (item.rate) args.push('--rate', String(item.rate));
    if (item.subscribers) args.push('--subscribers', String(item.subscribers));
    timeoutS = flowTimeout();
  }
  const label = `${item.scenario} ${side.name} ${describeItem(item)}`;
  log(`run ${pass}: ${label}${side.pid ? ` (broker pid ${side.pid})` : ''}`);
  const q = await waitQuiet();
  return runHarness(run, {
    args,
    label,
    timeoutS,
    decorate: (row) => {
      Object.assign(row, q);
      if (side.note) row.runner_note = side.note;
      if (fresh !== null) row.fresh_process = fresh;
    },
    errorBase: {
      scenario: item.scenario,
      target: side.name,
      ...(item.scenario === 'mqtt-connections'
        ? { connections_target: cfg.connections }
        : {
            size: item.size,
            rate_target: item.rate ?? 0,
            ...(item.qos !== undefined ? { qos: item.qos } : {}),
            subscribers: item.subscribers ?? 1,
          }),
      tag: TAG,
      run: pass,
    },
  });
}

/** The idle step on one side (fresh process when we own it). */
async function idleItem(side, pass, fresh) {
  const { host, port } = urlHostPort(side.url('mqtt'));
  log(
    `run ${pass}: mqtt-idle ${side.name} N=${fmt(cfg.idleConnections)}${side.pid ? ` (broker pid ${side.pid})` : ''}`,
  );
  const q = await waitQuiet();
  const r = await idleFleet({
    host,
    port,
    count: cfg.idleConnections,
    perProc: cfg.idlePerProc,
    maxOpenS: quick ? 60 : 120,
    brokerPid: side.pid,
    log,
    logRaw: run.logRaw,
  });
  const row = {
    scenario: 'mqtt-idle',
    target: side.name,
    pub_proto: 'mqtt',
    pub_url: side.url('mqtt'),
    client_libs: 'raw TCP (bench/lib-brokers.mjs), MQTT 3.1.1 CONNECT',
    ...r,
    fresh_process: fresh,
    ...q,
    ...(side.note ? { runner_note: side.note } : {}),
    ts: new Date().toISOString(),
    tag: TAG,
    run: pass,
    loadavg_1m: loadavg()[0],
  };
  writeRow(row);
  log(
    `  -> ${fmt(r.connections)} of ${fmt(r.connections_target)} accepted (${fmt(r.failures)} failed), broker RSS ${fmt(r.broker_rss_before_mb, 1)} -> ${fmt(r.broker_rss_after_mb, 1)} MB, ${fmt(r.per_conn_kb, 2)} KiB/conn`,
  );
  return [row];
}

function matrix(scenario) {
  switch (scenario) {
    case 'mqtt-connections':
    case 'mqtt-idle':
      return [{ scenario }];
    case 'mqtt-throughput':
      return cfg.qos.flatMap((qos) => cfg.sizes.map((size) => ({ scenario, qos, size })));
    case 'mqtt-fanout':
      return [{ scenario, qos: 0, size: cfg.fanoutSize, subscribers: cfg.subscribers }];
    case 'mqtt-latency':
      return cfg.latencyQos.flatMap((qos) =>
        cfg.rates.map((rate) => ({ scenario, qos, rate, size: cfg.latencySize })),
      );
    case 'cross-protocol':
      return cfg.crossSizes.map((size) => ({ scenario, qos: 0, size }));
    default:
      return [];
  }
}

// ---------------------------------------------------------------- markdown

const cpuPerMsg = (r) =>
  typeof r?.broker_cpu_pct === 'number' && r.msgs_per_s > 0
    ? ((r.broker_cpu_pct / 100) * 1e6) / r.msgs_per_s
    : null;
const runOf = (r) => r.run ?? 1;
function pick(rows, target, match) {
  return rows.filter((r) => r.target === target && match(r)).sort((a, b) => runOf(a) - runOf(b));
}
/** 'v1 / v2' over runs; ERR where a run errored without the value */
function cell(g, f, d = 0) {
  if (!g.length) return '-';
  return g.map((r) => (r.error && (f(r) === null || f(r) === undefined) ? 'ERR' : fmt(f(r), d))).join(' / ');
}
/** pairs of rows of the same run: [[a, b], ...] */
const pairs = (ga, gb) => ga.map((a) => [a, gb.find((b) => runOf(b) === runOf(a))]).filter(([, b]) => b);
/** per-run ratio f(a)/f(b) (or f(b)/f(a) with invert) */
function ratios(ga, gb, f, invert = false) {
  return pairs(ga, gb).map(([a, b]) => {
    const va = f(a);
    const vb = f(b);
    if (typeof va !== 'number' || typeof vb !== 'number' || va <= 0 || vb <= 0) return null;
    return invert ? vb / va : va / vb;
  });
}
const ratioCell = (ga, gb, f, invert = false) => {
  const rs = ratios(ga, gb, f, invert);
  return rs.length ? rs.map((x) => (x === null ? '-' : `${fmt(x, 2)}x`)).join(' / ') : '-';
};
const verdict = (ok) => (ok === null ? 'not measured' : ok ? 'met' : '**not met**');
const pair = (a, b, f, d = 0) => `${cell(a, f, d)} / ${cell(b, f, d)}`;

function targetLines(rows) {
  const L = [];
  const ratioTarget = (title, match, min) => {
    const parts = [];
    const all = [];
    for (const size of [...new Set(rows.filter((r) => match(r)).map((r) => r.size))].sort((x, y) => x - y)) {
      const m = (r) => match(r) && r.size === size;
      const rs = ratios(pick(rows, SY, m), pick(rows, MOSQ, m), (r) => (r.error ? null : r.msgs_per_s));
      if (!rs.length) continue;
      all.push(...rs);
      parts.push(`${fmtSize(size)} ${rs.map((x) => (x === null ? '-' : `${fmt(x, 2)}x`)).join(' / ')}`);
    }
    const ok = all.length ? all.every((x) => x !== null && x >= min) : null;
    L.push(`${title}: ${parts.length ? `${parts.join('; ')}: ` : ''}${verdict(ok)}`);
  };
  ratioTarget(
    'QoS 0 throughput >= 0.9x Mosquitto',
    (r) => r.scenario === 'mqtt-throughput' && r.qos === 0,
    0.9,
  );
  ratioTarget(
    'QoS 1 throughput >= 1.0x Mosquitto',
    (r) => r.scenario === 'mqtt-throughput' && r.qos === 1,
    1.0,
  );
  ratioTarget(
    `fan-out to ${cfg.subscribers} subscribers >= 1.0x Mosquitto`,
    (r) => r.scenario === 'mqtt-fanout',
    1.0,
  );
  {
    const m = (r) => r.scenario === 'mqtt-latency' && r.rate_target === 10_000;
    const ps = pairs(pick(rows, SY, m), pick(rows, MOSQ, m)).filter(
      ([a, b]) => a.qos === b.qos && a.p99_us > 0 && b.p99_us > 0 && !a.error,
    );
    const lagging = pick(rows, SY, m).filter((r) => r.msgs_per_s < 0.97 * r.rate_target);
    const ok = ps.length ? ps.every(([a, b]) => a.p99_us <= b.p99_us) && !lagging.length : null;
    L.push(
      `p99 latency at 10,000 msg/s <= Mosquitto's: ${ps.length ? `${ps.map(([a, b]) => `QoS ${a.qos} ${fmt(a.p99_us)} vs ${fmt(b.p99_us)} µs`).join(' / ')}${lagging.length ? ` (${SYL} did not keep the rate)` : ''}: ` : ''}${verdict(ok)}`,
    );
  }
  {
    const k = rows.filter(
      (r) =>
        r.target === SY &&
        ['mqtt-connections', 'mqtt-idle'].includes(r.scenario) &&
        typeof r.per_conn_kb === 'number',
    );
    const ok = k.length ? k.every((r) => r.per_conn_kb <= 4) : null;
    L.push(
      `<= 4 KiB RSS per idle MQTT connection: ${k.map((r) => `${fmt(r.per_conn_kb, 2)} KiB (${fmt(r.connections)} connections${r.scenario === 'mqtt-idle' ? ', raw TCP' : ', MQTT.js'})`).join('; ')}${k.length ? ': ' : ''}${verdict(ok)}`,
    );
  }
  {
    const k = rows.filter((r) => r.target === SY && r.scenario === 'mqtt-idle');
    const full = cfg.idleConnections >= 50_000;
    const ok =
      k.length && full ? k.every((r) => r.all_accepted && r.still_open_after_settle === r.connections) : null;
    const limit = k.map((r) => r.broker_nofile?.soft).find((x) => typeof x === 'number');
    L.push(
      `${fmt(50_000)} concurrent idle connections accepted: ${k
        .map(
          (r) =>
            `${fmt(r.connections)} of ${fmt(r.connections_target)} accepted${r.failures ? `, ${fmt(r.failures)} failed` : ''}${r.connections && r.still_open_after_settle !== r.connections ? `, ${fmt(r.connections - r.still_open_after_settle)} closed by the broker` : ''}`,
        )
        .join(
          ' / ',
        )}${k.length ? ': ' : ''}${full ? verdict(ok) : `not measured (this run asked for ${fmt(cfg.idleConnections)})`}${
        typeof limit === 'number' && limit < cfg.idleConnections + 64
          ? ` (the broker's open-files limit was ${fmt(limit)}: ${limit < cfg.nofile ? `the hard limit here, which this user may not raise (ulimit -n ${cfg.nofile} was asked for)` : 'as asked with --nofile'}, and its sockets and its own files share it, so it could not hold ${fmt(cfg.idleConnections)} connections here)`
          : ''
      }`,
    );
  }
  return L;
}

function buildRunSection(meta, rows, endMeta) {
  const L = [];
  const when = `${meta.date.slice(0, 10)} ${meta.date.slice(11, 16)} UTC`;
  L.push(
    `### ${when}: ${cfg.scenarios.join(', ')}${quick ? ' (quick)' : ''}${cfg.standIn ? ' (pipeline check with a stand-in)' : ''}`,
  );
  L.push('');
  if (cfg.standIn)
    L.push(
      `**The Switchyard side of this run was a stand-in: a second private Mosquitto ${meta.broker_details.switchyard.version ?? ''}.** The figures are Mosquitto vs Mosquitto; they check the runner, not Switchyard, and show how far apart two identical brokers land on this machine.`,
      '',
    );
  L.push(`Command: \`${meta.command}\`. Raw results: \`${relative(ROOT, OUT)}\` (one JSON line per result).`);
  L.push('');
  const sd = meta.broker_details.switchyard;
  const syText = cfg.standIn
    ? `Stand-in: Mosquitto ${sd.version ?? '?'}, a private instance with the same config as the peer`
    : cfg.targetUrl
      ? `Switchyard at ${sd.url}, already running (--target-url)`
      : `Switchyard ${meta.switchyard.version}${commitText(meta.switchyard) ? ` (${commitText(meta.switchyard)})` : ''}, started by the runner from a snapshot of dist/ (dist/: ${sd.build}), AMQP and MQTT on ephemeral ports of 127.0.0.1`;
  const md = meta.broker_details.mosquitto;
  L.push(
    `${syText}; ${
      md
        ? md.url
          ? `Mosquitto at ${md.url}, already running`
          : `Mosquitto ${md.version ?? '?'}, a private instance started by the runner (\`listener PORT 127.0.0.1\`, \`allow_anonymous true\`, \`persistence false\`, \`max_inflight_messages ${cfg.mosqMaxInflight}\`, \`max_queued_messages ${cfg.mosqMaxQueued}\`, log to stderr: errors and warnings)`
        : 'Mosquitto not run'
    }${meta.broker_details.rabbitmq ? `; cross-protocol peer RabbitMQ at ${meta.broker_details.rabbitmq.mqtt_url} + ${meta.broker_details.rabbitmq.amqp_url}` : ''}; client mqtt@${meta.libs?.mqtt ?? '?'} and amqplib@${meta.libs?.amqplib ?? '?'}, Node ${meta.node}. Open-files limit asked for the brokers ${fmt(cfg.nofile)}, hard limit here ${fmt(meta.nofile_hard)}.`,
  );
  L.push('');
  const load = rows.map((r) => r.loadavg_1m).filter((x) => typeof x === 'number');
  const other = rows
    .filter((r) => r.scenario !== 'mqtt-idle')
    .map((r) => r.other_cpu_pct)
    .filter((x) => typeof x === 'number');
  L.push(
    `Machine: ${meta.cpus} x ${meta.cpu_model}, ${meta.mem_gb} GiB RAM, ${meta.kernel}. ` +
      `Load average (1 min) at start ${fmt(meta.loadavg_at_start[0], 2)}, at end ${fmt(endMeta.loadavg_at_end[0], 2)}` +
      `${load.length ? `, ${fmt(Math.min(...load), 2)}-${fmt(Math.max(...load), 2)} at the start of each run` : ''}; ` +
      `${other.length ? `"other" CPU (neither broker nor client) median ${fmt(median(other), 1)}%, max ${fmt(Math.max(...other), 1)}% of one core. ` : ''}` +
      `Timing: ${cfg.warmup} s warm-up + ${cfg.duration} s measured per run${cfg.repeat > 1 ? `, ${cfg.repeat} passes (cells: run 1 / run 2 / ...)` : ''}. ` +
      `Wall time ${fmt(endMeta.duration_s / 60, 1)} min${endMeta.quiet.waits ? `, of which ${fmt(endMeta.quiet.spent_s)} s waiting for other processes to use less than ${cfg.quietBelow}% of a core before ${endMeta.quiet.waits} runs (${endMeta.quiet.gave_up ? `in vain ${endMeta.quiet.gave_up === 1 ? 'once' : `${endMeta.quiet.gave_up} times`}` : 'each time with success'})` : ''}.`,
  );
  L.push('');
  const otherMedian = other.length ? median(other) : null;
  if (otherMedian !== null && otherMedian >= 25)
    L.push(
      `**A noisy run: other processes used a median ${fmt(otherMedian)}% of a core (of the 200% this machine has) during the measured windows, so the client and the brokers did not get a core each. Ratios and verdicts below can be off by a factor of 2 or more (two identical Mosquittos differed by up to 2.1x under similar load); rerun on a quiet machine, with --repeat 3, before drawing conclusions.**`,
      '',
    );
  L.push(`Targets for ${cfg.standIn ? 'Switchyard (evaluated on the stand-in)' : 'Switchyard'}:`);
  L.push('');
  for (const t of targetLines(rows)) L.push(`- ${t}`);
  L.push('');

  const flowCols = (a, b) => [
    cell(a, (r) => r.msgs_per_s),
    cell(b, (r) => r.msgs_per_s),
    ratioCell(a, b, (r) => r.msgs_per_s),
    cell(a, (r) => r.broker_cpu_pct),
    cell(b, (r) => r.broker_cpu_pct),
    cell(a, cpuPerMsg, 1),
    cell(b, cpuPerMsg, 1),
    pair(a, b, (r) => r.broker_rss_mb, 1),
    pair(a, b, (r) => r.p50_us),
    pair(a, b, (r) => r.p99_us),
    pair(a, b, (r) => r.client_cpu_pct),
    pair(a, b, (r) => r.lost),
  ];
  const flowHead = (what, peer = 'Mosquitto', p = 'M') => [
    `${SYL} ${what}`,
    `${peer} ${what}`,
    'ratio',
    `${SYL} CPU%`,
    `${peer} CPU%`,
    `${SYL} CPU µs/msg`,
    `${peer} CPU µs/msg`,
    `RSS MB (SY / ${p})`,
    `p50 µs (SY / ${p})`,
    `p99 µs (SY / ${p})`,
    `client CPU% (SY / ${p})`,
    `lost (SY / ${p})`,
  ];

  if (cfg.scenarios.includes('mqtt-throughput')) {
    L.push(
      `**Throughput**, msgs/s (mqtt-throughput: 1 publisher -> topic -> 1 subscriber, same QoS both sides, clean session, MQTT 3.1.1, max rate within the harness's 500-message end-to-end window; QoS 1 with at most 256 un-PUBACKed; ratio = ${SYL} / Mosquitto; CPU µs/msg = broker CPU time per delivered message; p50/p99 at max rate are mostly queueing in the window)`,
    );
    L.push('');
    const body = matrix('mqtt-throughput').map((it) => {
      const m = (r) => r.scenario === 'mqtt-throughput' && r.qos === it.qos && r.size === it.size;
      return [String(it.qos), fmtSize(it.size), ...flowCols(pick(rows, SY, m), pick(rows, MOSQ, m))];
    });
    L.push(mdTable(['QoS', 'size', ...flowHead('msgs/s')], body));
    L.push('');
  }

  if (cfg.scenarios.includes('mqtt-fanout')) {
    L.push(
      `**Fan-out**, deliveries/s summed over the subscribers (mqtt-fanout: 1 publisher -> ${cfg.subscribers} subscribers, each with a one-level wildcard subscription, QoS 0, ${fmtSize(cfg.fanoutSize)}, max rate; CPU µs/msg = broker CPU time per delivery)`,
    );
    L.push('');
    const m = (r) => r.scenario === 'mqtt-fanout';
    L.push(
      mdTable(
        ['subscribers', ...flowHead('deliveries/s')],
        [[String(cfg.subscribers), ...flowCols(pick(rows, SY, m), pick(rows, MOSQ, m))]],
      ),
    );
    L.push('');
  }

  if (cfg.scenarios.includes('mqtt-latency')) {
    L.push(
      `**Latency**, microseconds, end to end (mqtt-latency: as mqtt-throughput at a fixed publish rate, ${fmtSize(cfg.latencySize)}; p99 ratio = Mosquitto p99 / ${SYL} p99, above 1 = ${SYL} better; CO p99 = from the intended send time, which counts a publisher held back)`,
    );
    L.push('');
    const body = matrix('mqtt-latency').map((it) => {
      const m = (r) => r.scenario === 'mqtt-latency' && r.qos === it.qos && r.rate_target === it.rate;
      const a = pick(rows, SY, m);
      const b = pick(rows, MOSQ, m);
      return [
        `${fmt(it.rate)}/s`,
        String(it.qos),
        pair(a, b, (r) => r.msgs_per_s),
        pair(a, b, (r) => r.p50_us),
        cell(a, (r) => r.p99_us),
        cell(b, (r) => r.p99_us),
        ratioCell(a, b, (r) => r.p99_us, true),
        pair(a, b, (r) => r.p999_us),
        pair(a, b, (r) => r.co_p99_us),
        cell(a, (r) => r.broker_cpu_pct),
        cell(b, (r) => r.broker_cpu_pct),
        cell(a, cpuPerMsg, 1),
        cell(b, cpuPerMsg, 1),
        pair(a, b, (r) => r.broker_rss_mb, 1),
      ];
    });
    L.push(
      mdTable(
        [
          'rate',
          'QoS',
          'achieved msgs/s (SY / M)',
          'p50 (SY / M)',
          `${SYL} p99`,
          'Mosquitto p99',
          'p99 ratio',
          'p99.9 (SY / M)',
          'CO p99 (SY / M)',
          `${SYL} CPU%`,
          'Mosquitto CPU%',
          `${SYL} CPU µs/msg`,
          'Mosquitto CPU µs/msg',
          'RSS MB (SY / M)',
        ],
        body,
      ),
    );
    L.push('');
  }

  const connRows = rows.filter((r) => ['mqtt-connections', 'mqtt-idle'].includes(r.scenario));
  if (connRows.length) {
    L.push(
      `**Idle connections** (KiB/conn = (broker RSS 3 s after the last connection - RSS before) / connections open. mqtt-connections: the harness opens ${fmt(cfg.connections)} MQTT.js connections (clean session, keep-alive 60 s, 100 connecting at a time) from one process. mqtt-idle: ${fmt(cfg.idleConnections)} raw-TCP connections, each a minimal MQTT 3.1.1 CONNECT answered by CONNACK, keep-alive 60 s with PINGREQs, from opener processes of up to ${fmt(cfg.idlePerProc)} connections each (64 connecting at a time), started one after another, each from its own source addresses 127.0.0.N (2,500 connections per address); it stops when more than 2% of an opener's connections fail. Each step starts on a freshly started broker where the runner owns it)`,
    );
    L.push('');
    const body = [];
    for (const [t, name] of [
      [SY, SYL],
      [MOSQ, 'Mosquitto'],
    ]) {
      for (const sc of ['mqtt-connections', 'mqtt-idle']) {
        const g = pick(rows, t, (r) => r.scenario === sc);
        if (!g.length) continue;
        body.push([
          `${name}${g.some((r) => r.fresh_process === false) ? ' (not fresh)' : ''}`,
          sc,
          cell(g, (r) => r.connections),
          cell(g, (r) => r.failures),
          cell(g, (r) => r.broker_rss_before_mb, 1),
          cell(g, (r) => r.broker_rss_after_mb, 1),
          cell(g, (r) => r.per_conn_kb, 2),
          cell(g, (r) => r.conns_per_s),
          cell(g, (r) => r.broker_cpu_pct),
          cell(g, (r) => r.broker_rss_after_close_mb, 1),
          sc === 'mqtt-idle' ? cell(g, (r) => r.broker_nofile?.soft) : '-',
        ]);
      }
    }
    L.push(
      mdTable(
        [
          'broker',
          'step',
          'connections',
          'failures',
          'RSS before MB',
          'RSS after MB',
          'KiB / conn',
          'conn/s',
          'CPU% while opening',
          'RSS after close MB',
          'broker open-files limit',
        ],
        body,
      ),
    );
    L.push('');
  }

  if (rows.some((r) => r.scenario === 'cross-protocol')) {
    L.push(
      `**Cross-protocol**, msgs/s (cross-protocol: MQTT QoS 0 publisher, topic bench/<id>/t -> broker -> AMQP consumer on a queue bound to amq.topic with routing key bench.<id>.t, noAck, max rate; the peer is RabbitMQ, as Mosquitto has no AMQP; "vs own MQTT" = ${SYL} cross-protocol / ${SYL} MQTT -> MQTT QoS 0 at the same size in this run)`,
    );
    L.push('');
    const body = cfg.crossSizes.map((size) => {
      const m = (r) => r.scenario === 'cross-protocol' && r.size === size;
      const a = pick(rows, SY, m);
      const own = pick(rows, SY, (r) => r.scenario === 'mqtt-throughput' && r.qos === 0 && r.size === size);
      return [fmtSize(size), ...flowCols(a, pick(rows, RMQ, m)), ratioCell(a, own, (r) => r.msgs_per_s)];
    });
    L.push(mdTable(['size', ...flowHead('msgs/s', 'RabbitMQ', 'R'), 'vs own MQTT'], body));
    L.push('');
  }

  const notes = [...anomalies];
  const clientBound = [];
  const noisy = [];
  for (const r of rows) {
    const id = `${r.scenario} ${r.target === SY ? SYL.toLowerCase() : r.target} ${
      r.scenario === 'mqtt-connections' || r.scenario === 'mqtt-idle'
        ? `K=${fmt(r.connections_target)}`
        : `${r.qos !== undefined ? `QoS ${r.qos} ` : ''}${fmtSize(r.size)}${r.rate_target ? ` @${fmt(r.rate_target)}/s` : ''}`
    }${cfg.repeat > 1 ? ` run ${runOf(r)}` : ''}`;
    if (r.error) notes.push(`${id}: error: ${r.error}`);
    if (r.lost > 0)
      notes.push(`${id}: ${fmt(r.lost)} messages lost (of ${fmt(r.sent * (r.subscribers ?? 1))} expected)`);
    if (r.extra > 0) notes.push(`${id}: ${fmt(r.extra)} extra deliveries (duplicates)`);
    if (r.stalls > 0)
      notes.push(`${id}: ${r.stalls} stalls (deliveries stopped for 1 s with the window full)`);
    if (r.puback_errors > 0) notes.push(`${id}: ${fmt(r.puback_errors)} PUBACK errors`);
    if (r.rate_target > 0 && r.msgs_per_s < 0.97 * r.rate_target)
      notes.push(`${id}: achieved only ${fmt(r.msgs_per_s)} of ${fmt(r.rate_target)} msg/s`);
    if (!r.synthetic && Array.isArray(r.broker_pids) && !r.broker_pids.length)
      notes.push(`${id}: broker pid unknown, no CPU/RSS figures`);
    if (r.scenario !== 'mqtt-idle' && r.other_cpu_pct >= 25) noisy.push(`${id} (${fmt(r.other_cpu_pct)}%)`);
    if (
      r.client_cpu_pct >= 95 &&
      r.rate_target === 0 &&
      r.scenario !== 'mqtt-connections' &&
      r.scenario !== 'mqtt-idle'
    )
      clientBound.push(`${id} (${fmt(r.client_cpu_pct)}%)`);
  }
  if (noisy.length)
    notes.push(
      `other jobs used 25% of a core or more during the window (machine busy minus broker minus client), so these rows are noisy; rerun to confirm: ${noisy.join(', ')}`,
    );
  if (clientBound.length)
    notes.push(
      `client at 95% CPU or more, so the harness client, not the broker, may be the limit (read CPU µs/msg there): ${clientBound.join(', ')}`,
    );
  if (notes.length) {
    L.push('Errors and anomalies:');
    L.push('');
    for (const n of notes) L.push(`- ${n}`);
  } else L.push('No errors, lost messages or stalls.');
  L.push('');
  return L.join('\n');
}

function docsIntro() {
  return `## MQTT

<!-- Written by bench/mqtt.mjs (npm run bench:mqtt): the whole section is replaced by every full run;
bench/run.mjs keeps it as it is. Change bench/mqtt.mjs rather than this text. -->

Switchyard's MQTT front end measured against Mosquitto, on the same machine and in the same run,
with the same broker-bench harness as above (client library MQTT.js, publisher and subscribers in one
Node.js process, each on its own TCP connection, TCP_NODELAY). The runner starts both brokers itself:
Switchyard from a snapshot of \`dist/\` with its AMQP and MQTT listeners on ephemeral ports, and a
private Mosquitto with a generated config (no persistence, so no disk in the path on either side;
\`max_queued_messages\` above the harness's 500-message end-to-end window, so Mosquitto drops nothing).
Every item runs on Switchyard, then on Mosquitto, back to back; before each run the runner waits (up
to 20 s, 150 s in all) for other processes to use less than 30% of a core, since the client and the
broker need a core each.

- **mqtt-throughput**: 1 publisher -> topic -> 1 subscriber, QoS 0 and QoS 1, 16 B, 1 KiB and 64 KiB,
  max rate.
- **mqtt-fanout**: 1 publisher -> 100 subscribers with a one-level wildcard subscription, QoS 0, 16 B;
  total deliveries/s.
- **mqtt-latency**: a fixed 10,000 msg/s, 64 B, QoS 0; end-to-end p50/p99 from a timestamp in the payload.
- **mqtt-connections**: 5,000 idle MQTT.js connections; the broker's RSS growth per connection, on a
  freshly started broker.
- **mqtt-idle**: 50,000 idle connections against Switchyard (fresh process), opened by a small raw-TCP
  opener (minimal MQTT 3.1.1 CONNECT, wait for CONNACK) from several processes and source addresses
  127.0.0.N, as one process can hold neither that many sockets nor that many ephemeral ports; were all
  accepted and kept, and RSS per connection. The brokers are started with \`ulimit -n\` raised as far
  as the machine allows (the limit is in the table).
- **cross-protocol**: MQTT publish -> amq.topic -> AMQP consumer, 16 B and 1 KiB; compared with
  RabbitMQ (MQTT plugin) when it runs, since Mosquitto has no AMQP, and with Switchyard's own MQTT ->
  MQTT rate.

Targets: QoS 0 throughput >= 0.9x Mosquitto's, QoS 1 >= 1.0x, fan-out to 100 subscribers >= 1.0x,
p99 at 10,000 msg/s no worse than Mosquitto's, <= 4 KiB RSS per idle MQTT connection, 50,000
concurrent idle connections accepted. Read the figures as in "Reading the numbers" above: ratios from
the same run count, the harness's single client thread is the ceiling when "client CPU%" is near 100
(at QoS 0 and in fan-out it often is), and CPU µs/msg compares the brokers' efficiency even there.

\`\`\`sh
npm run bench:mqtt                              # full run, 5-7 min: bench/results/mqtt-<date>.jsonl and this section
npm run bench:mqtt -- --quick                   # smoke run, ~1.5 min; bench/results/tmp/, docs untouched
npm run bench:mqtt -- -s throughput --qos 1 --sizes 1k --repeat 3
npm run bench:mqtt -- -s idle --idle-connections 50000
npm run bench:mqtt -- --help
\`\`\``;
}

// ---------------------------------------------------------------- main

async function main() {
  const t0 = Date.now();
  log(`bench:mqtt: ${COMMAND}`);
  log(`bench:mqtt: results -> ${relative(ROOT, OUT)}, log -> ${relative(ROOT, run.LOG)}`);
  await ensureHarness({ log, runChild: run.runChild });
  const { libVersions } = await loadHarness();

  const { side: sy, details: syDetails } = await setUpSwitchyard();
  const mosq = await setUpMosquitto();
  const rabbit = await setUpRabbit();
  try {
    await sy.start();
  } catch (e) {
    throw new Error(
      `${e.message}${cfg.targetUrl || cfg.standIn ? '' : '\n(Switchyard needs its MQTT listener for this benchmark; until it has one, --stand-in-mosquitto or --target-url run the pipeline against another broker)'}`,
    );
  }
  if (mosq) await mosq.start();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const git = gitInfo();
  const mosqVersion = mosquittoVersion(cfg.mosquittoBin);

  const meta = {
    type: 'meta',
    runner: 'switchyard bench/mqtt.mjs',
    date: run.startedAt.toISOString(),
    command: COMMAND,
    ...machineInfo(),
    libs: libVersions(),
    harness: HARNESS_SRC,
    brokers: {
      switchyard: cfg.standIn
        ? `stand-in: mosquitto ${mosqVersion ?? '?'}`
        : cfg.targetUrl
          ? `already running at ${cfg.targetUrl}`
          : `${pkg.version}${git.commit ? ` (commit ${git.commit}${git.src_modified ? ', src/ modified' : ''})` : ''}`,
      ...(mosq ? { mosquitto: mosq.proc ? mosqVersion : `already running at ${cfg.mosquittoUrl}` } : {}),
      ...(rabbit
        ? { rabbitmq: `at ${cfg.rabbitMqttUrl} + ${cfg.rabbitUrl.replace(/:[^:@/]*@/, ':***@')}` }
        : {}),
    },
    switchyard: { version: pkg.version, ...git },
    broker_details: {
      switchyard: { ...syDetails, ...(cfg.standIn ? { version: mosqVersion } : {}) },
      mosquitto: mosq
        ? mosq.proc
          ? {
              version: mosqVersion,
              bin: cfg.mosquittoBin,
              config: mosq.proc.configText('PORT'),
            }
          : { url: cfg.mosquittoUrl, pid: mosq.pid }
        : null,
      rabbitmq: rabbit
        ? {
            mqtt_url: cfg.rabbitMqttUrl,
            amqp_url: cfg.rabbitUrl.replace(/:[^:@/]*@/, ':***@'),
            pid: rabbit.pid,
          }
        : null,
    },
    nofile_hard: nofileLimit()?.hard ?? null,
    settings: {
      scenarios: cfg.scenarios,
      warmup_s: cfg.warmup,
      duration_s: cfg.duration,
      drain_s: cfg.drain,
      qos: cfg.qos,
      sizes: cfg.sizes,
      subscribers: cfg.subscribers,
      fanout_size: cfg.fanoutSize,
      rates: cfg.rates,
      latency_qos: cfg.latencyQos,
      latency_size: cfg.latencySize,
      cross_sizes: cfg.crossSizes,
      connections: cfg.connections,
      idle_connections: cfg.idleConnections,
      idle_per_proc: cfg.idlePerProc,
      idle_peer: cfg.idlePeer,
      nofile: cfg.nofile,
      repeat: cfg.repeat,
      quick,
    },
    loadavg_at_start: loadavg(),
  };
  writeRow(meta);

  const rows = [];
  const sides = [sy, ...(mosq ? [mosq] : [])];
  for (let pass = 1; pass <= cfg.repeat; pass++) {
    if (cfg.repeat > 1) log(`pass ${pass} of ${cfg.repeat}`);
    let connectionSteps = false;
    for (const scenario of cfg.scenarios) {
      for (const item of matrix(scenario)) {
        if (scenario === 'mqtt-connections' || scenario === 'mqtt-idle') {
          connectionSteps = true;
          const on = scenario === 'mqtt-idle' && !cfg.idlePeer ? [sy] : sides;
          for (const side of on) {
            const fresh = await side.restart(`a fresh process for ${scenario}`);
            rows.push(
              ...(scenario === 'mqtt-idle'
                ? await idleItem(side, pass, fresh)
                : await harnessItem(item, side, pass, { fresh })),
            );
          }
          continue;
        }
        if (connectionSteps) {
          // thousands of connections just closed: start the traffic on clean processes
          for (const side of sides) await side.restart('after the connection steps');
          connectionSteps = false;
        }
        if (scenario === 'cross-protocol') {
          if (!sy.url('amqp')) {
            anomaly(
              `cross-protocol ${describeItem(item)}: skipped on the ${SYL} side, which has no AMQP URL${cfg.targetUrl ? ' (--target-amqp-url)' : ''}.`,
            );
          } else {
            await sy.ensureAlive();
            rows.push(...(await harnessItem(item, sy, pass)));
          }
          if (rabbit) rows.push(...(await harnessItem(item, rabbit, pass)));
          continue;
        }
        for (const side of sides) {
          await side.ensureAlive();
          rows.push(...(await harnessItem(item, side, pass)));
        }
      }
    }
  }
  for (const side of sides) await side.stop();
  snapshot?.remove();

  const endMeta = {
    type: 'meta',
    phase: 'end',
    date: new Date().toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
    loadavg_at_end: loadavg(),
    broker_starts: Object.fromEntries(sides.map((s) => [s.name, s.proc?.starts ?? 0])),
    quiet: { waits: quiet.waits, spent_s: Math.round(quiet.spent), gave_up: quiet.gaveUp },
    anomalies,
  };
  writeRow(endMeta);

  const section = buildRunSection(meta, rows, endMeta);
  process.stdout.write(`\n${section}\n`);
  if (cfg.writeDocs) {
    putSection(DOCS_FILE, 'mqtt', `${docsIntro()}\n\n${section}`);
    log(`docs: replaced the MQTT section of ${relative(ROOT, DOCS_FILE)}`);
  } else log('docs: left unchanged (--quick or --no-docs)');
  log(`bench:mqtt: done in ${fmt(endMeta.duration_s / 60, 1)} min; ${relative(ROOT, OUT)}`);
  return rows.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`bench:mqtt: FAILED: ${e?.stack ?? e}`);
    stopAllBrokers();
    snapshot?.remove();
    process.exit(1);
  },
);
