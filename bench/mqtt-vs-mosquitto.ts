/**
 * Switchyard's MQTT front end against Mosquitto: `npm run bench:mqtt -- [flags]` (--help).
 *
 * Runs the neutral broker-bench harness's MQTT scenarios (mqtt-connections, mqtt-throughput,
 * mqtt-fanout, mqtt-latency, and cross-protocol MQTT -> AMQP) against a Switchyard it starts itself
 * (AMQP and MQTT on ephemeral ports of 127.0.0.1, a temporary data dir) and, in the same run,
 * against a private Mosquitto it starts itself (generated config, free port). Each matrix item runs
 * on Switchyard and then on Mosquitto, back to back, so machine noise hits both alike. Mosquitto has
 * no AMQP, so cross-protocol compares with RabbitMQ (MQTT plugin + AMQP) when it answers.
 *
 * Connection steps run first, each on a freshly started broker: the harness's mqtt-connections
 * (MQTT.js clients), then mqtt-idle, 50,000 idle MQTT connections against Switchyard from several
 * opener processes and source addresses (lib/idle-fleet.ts), since one client process can hold
 * neither that many sockets nor that many ephemeral ports. Brokers get `ulimit -n` raised (as far
 * as the hard limit allows).
 *
 * Output: a markdown section on stdout and the "MQTT" section of docs/benchmarks.md replaced (the
 * rest of the file is left alone); --json FILE keeps the raw lines. --quick leaves the docs alone.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatNumber as fmt, formatSize } from '../src/cli/bench/report.js';
import {
  isLocal,
  MosquittoProcess,
  mosquittoVersion,
  portOpen,
  stopAllBrokers,
  SwitchyardProcess,
  urlHostPort,
} from './lib/brokers.js';
import { commandLine, flagReaders, parseFlags } from './lib/cli.js';
import { prepareDist } from './lib/dist-snapshot.js';
import { putSection } from './lib/docs-sections.js';
import {
  baseArgs,
  ensureHarness,
  flowArgs,
  type HarnessRow,
  loadHarness,
  runHarness,
} from './lib/harness.js';
import { idleFleet } from './lib/idle-fleet.js';
import { gitInfo, loadavg, machineBusyPct, machineInfo, nofileLimit, round } from './lib/machine.js';
import {
  type MqttConfig,
  type MqttItem,
  type MqttMeta,
  MOSQ,
  mqttIntro,
  mqttMatrix,
  mqttSection,
  RMQ,
  SY,
} from './lib/mqtt-report.js';
import { ROOT } from './lib/paths.js';
import { createRun, endLine, runScript } from './lib/run-context.js';

const NAME = 'bench:mqtt';
const TAG = 'switchyard-bench-mqtt';
// Run order: connection steps first (fresh processes), cross-protocol last.
const ALL_SCENARIOS = [
  'mqtt-connections',
  'mqtt-idle',
  'mqtt-throughput',
  'mqtt-fanout',
  'mqtt-latency',
  'cross-protocol',
] as const;
const ALIASES: Record<string, string> = {
  connections: 'mqtt-connections',
  idle: 'mqtt-idle',
  throughput: 'mqtt-throughput',
  fanout: 'mqtt-fanout',
  latency: 'mqtt-latency',
  cross: 'cross-protocol',
};

const HELP = `usage: npm run bench:mqtt -- [flags]      (tsx bench/mqtt-vs-mosquitto.ts [flags])

Benchmarks Switchyard's MQTT front end with the broker-bench harness against a private Mosquitto
started for the run, item by item back to back. Writes the "MQTT" section of docs/benchmarks.md.
A full run takes 5 to 7 minutes; --quick about 1.5.

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
  --idle-per-proc N      mqtt-idle: connections per opener process (default 10000, at most 15000)
  --idle-peer            mqtt-idle on Mosquitto too (default: Switchyard only)
  --nofile N             open-files limit asked for the brokers (default 200000; capped at the
                         hard limit when this user may not raise it)
  --duration S (10)  --warmup S (2)  --drain S (5)   harness timing per run
  --repeat N             passes over the whole matrix (default 1); cells show run1 / run2 / ...
  --quick                smoke run: --warmup 1 --duration 3 --drain 2, --sizes 16,1k,
                         --cross-sizes 1k, --connections 500, --idle-connections 2000;
                         docs/benchmarks.md untouched

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
  --quiet-wait S         before each run, wait up to S s for other processes to use less than
                         --quiet-below % of a core over 1 s (default 20; 0 = do not wait), at most
                         --quiet-budget S in all (default 150, quick 20)
  --quiet-below PCT      (default 30)
  --timeout S            kill a harness run after S seconds (default: derived from the timing)
  --json FILE            the raw results as JSON lines (first line: the run's metadata)
  --log FILE             the detailed log (harness and broker output)
  --docs / --no-docs     replace the MQTT section of docs/benchmarks.md (default: yes, except
                         with --quick)
  --no-build             do not rebuild dist/ even when src/ is newer
  --target-url URL       measure the broker already running at mqtt://HOST:PORT as the Switchyard
                         side (the connection steps then measure a process that is not fresh)
  --target-amqp-url URL  its AMQP URL, for cross-protocol (skipped without it)
  --target-pid PID       its pid for CPU/RSS (default: the process listening on the URL's port)
  -h, --help
`;

const values = parseFlags({
  name: NAME,
  help: HELP,
  hint: `npm run ${NAME} -- --help`,
  strings: [
    'scenarios',
    'qos',
    'sizes',
    'subscribers',
    'fanout-size',
    'rates',
    'latency-qos',
    'latency-size',
    'cross-sizes',
    'connections',
    'idle-connections',
    'idle-per-proc',
    'nofile',
    'duration',
    'warmup',
    'drain',
    'repeat',
    'mosquitto',
    'mosquitto-url',
    'mosquitto-max-inflight',
    'mosquitto-max-queued',
    'rabbit-mqtt-url',
    'rabbit-url',
    'timeout',
    'quiet-wait',
    'quiet-below',
    'quiet-budget',
    'json',
    'log',
    'target-url',
    'target-amqp-url',
    'target-pid',
  ],
  booleans: ['idle-peer', 'quick', 'switchyard-only', 'docs', 'build'],
  short: { scenarios: 's' },
});
const flag = flagReaders(NAME, values);
const quick = flag.bool('quick', false);
const qosList = (name: string, dflt: string) =>
  flag.list(name, dflt, (q): 0 | 1 | 2 => {
    if (q !== '0' && q !== '1' && q !== '2') throw new Error(`bad QoS ${q}`);
    return Number(q) as 0 | 1 | 2;
  });
const wanted = new Set(
  flag.list('scenarios', ALL_SCENARIOS.join(','), (s) => {
    const name = ALIASES[s] ?? s;
    if (!(ALL_SCENARIOS as readonly string[]).includes(name))
      throw new Error(`unknown scenario '${s}' (known: ${ALL_SCENARIOS.join(', ')})`);
    return name;
  }),
);
const cfg: MqttConfig = {
  quick,
  scenarios: ALL_SCENARIOS.filter((s) => wanted.has(s)),
  warmup: flag.number('warmup', quick ? 1 : 2),
  duration: flag.number('duration', quick ? 3 : 10),
  drain: flag.number('drain', quick ? 2 : 5),
  qos: qosList('qos', '0,1'),
  sizes: flag.sizes('sizes', quick ? '16,1k' : '16,1k,64k'),
  subscribers: flag.count('subscribers', 100),
  fanoutSize: flag.sizes('fanout-size', '16')[0]!,
  rates: flag.list('rates', '10000', (r) => {
    const v = Number(r);
    if (!Number.isFinite(v) || v <= 0) throw new Error(`'${r}' is not a positive rate`);
    return v;
  }),
  latencyQos: qosList('latency-qos', '0'),
  latencySize: flag.sizes('latency-size', '64')[0]!,
  crossSizes: flag.sizes('cross-sizes', quick ? '1k' : '16,1k'),
  connections: flag.count('connections', quick ? 500 : 5000),
  idleConnections: flag.count('idle-connections', quick ? 2000 : 50_000),
  idlePerProc: flag.count('idle-per-proc', 10_000),
  idlePeer: flag.bool('idle-peer', false),
  nofile: flag.count('nofile', 200_000),
  repeat: flag.count('repeat', 1),
  mosqMaxInflight: flag.count('mosquitto-max-inflight', 20),
  mosqMaxQueued: flag.count('mosquitto-max-queued', 1000),
  targetUrl: flag.url('target-url', null),
};
if (cfg.idlePerProc > 15_000)
  flag.fail('--idle-per-proc: at most 15000 (ephemeral ports per source address, open files per process)');
const mosquittoBin = flag.text('mosquitto') ?? '/usr/sbin/mosquitto';
const mosquittoUrl = flag.url('mosquitto-url', null);
const rabbitMqttUrl = flag.url('rabbit-mqtt-url', 'mqtt://127.0.0.1:1884')!;
const rabbitUrl = flag.url('rabbit-url', 'amqp://guest:guest@127.0.0.1:5672')!;
const switchyardOnly = flag.bool('switchyard-only', false);
const targetAmqpUrl = flag.url('target-amqp-url', null);
const targetPid = flag.text('target-pid') === undefined ? null : flag.count('target-pid', 1);
const timeoutS = flag.text('timeout') === undefined ? null : flag.number('timeout', 1);
const quiet = {
  waitS: flag.text('quiet-wait') === '0' ? 0 : flag.number('quiet-wait', 20),
  below: flag.number('quiet-below', 30),
  budgetS: flag.number('quiet-budget', quick ? 20 : 150),
  spent: 0,
  waits: 0,
  gaveUp: 0,
};
const writeDocs = flag.bool('docs', !quick);
const COMMAND = commandLine(`npm run ${NAME}`, process.argv.slice(2), ' -- ');

const run = createRun({ json: flag.text('json') ?? null, log: flag.text('log') ?? null });
const { log, anomaly, anomalies } = run;

/**
 * One side of the comparison: a broker this run starts (restartable, fresh on demand) or one
 * already running (URLs and a pid).
 */
class Side {
  constructor(
    readonly name: string,
    readonly proc: SwitchyardProcess | MosquittoProcess | null,
    private readonly urls: { mqtt?: string | null; amqp?: string | null } = {},
    private readonly fixedPid: number | null = null,
    readonly note: string | null = null,
  ) {}

  url(listener: 'mqtt' | 'amqp'): string | null {
    if (this.proc instanceof SwitchyardProcess) return this.proc.url(listener);
    if (this.proc instanceof MosquittoProcess) return listener === 'mqtt' ? this.proc.url() : null;
    return this.urls[listener] ?? null;
  }

  get pid(): number | null {
    return this.proc === null ? this.fixedPid : this.proc.pid;
  }

  async start(): Promise<void> {
    await this.proc?.start();
  }

  /** A fresh process, when this run owns it: true if restarted. */
  async restart(why: string): Promise<boolean> {
    if (this.proc === null) return false;
    log(`${this.name}: restarting (${why})`);
    await this.proc.stop();
    await this.proc.start();
    return true;
  }

  /** Restarts it after a crash (already an anomaly). */
  async ensureAlive(): Promise<void> {
    if (this.proc !== null && !this.proc.alive) await this.restart('it is not running');
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
  }
}

/** Before each run, waits (bounded) until other processes leave the client and the broker a core each. */
async function waitQuiet(): Promise<{ machine_busy_before_pct: number | null; quiet_wait_s: number }> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  let busy = await machineBusyPct(1000);
  while (
    busy !== null &&
    busy >= quiet.below &&
    elapsed() < quiet.waitS &&
    quiet.spent + elapsed() < quiet.budgetS
  )
    busy = await machineBusyPct(1000);
  const waited = elapsed() - 1;
  if (waited > 0.5) {
    quiet.spent += waited;
    quiet.waits++;
    if (busy !== null && busy >= quiet.below) quiet.gaveUp++;
    log(`  .. waited ${fmt(waited)} s for a quieter machine (other processes now ${fmt(busy)}% of a core)`);
  }
  return { machine_busy_before_pct: busy, quiet_wait_s: Math.max(0, round(waited, 1)) };
}

function describe(item: MqttItem): string {
  switch (item.scenario) {
    case 'mqtt-connections':
      return `K=${fmt(cfg.connections)}`;
    case 'mqtt-idle':
      return `N=${fmt(cfg.idleConnections)}`;
    case 'mqtt-fanout':
      return `${formatSize(item.size!)} x${item.subscribers} subscribers`;
    case 'cross-protocol':
      return `${formatSize(item.size!)} MQTT QoS 0 -> AMQP`;
    default:
      return `QoS ${item.qos} ${formatSize(item.size!)}${item.rate === undefined ? '' : ` @${fmt(item.rate)}/s`}`;
  }
}

/** One harness item on one side: its rows. */
async function harnessItem(
  item: MqttItem,
  side: Side,
  pass: number,
  fresh: boolean | null = null,
): Promise<HarnessRow[]> {
  const args = baseArgs({ scenario: item.scenario, target: side.name, pass, tag: TAG, pid: side.pid });
  if (item.scenario === 'cross-protocol')
    args.push('--pub-url', side.url('mqtt')!, '--sub-url', side.url('amqp')!);
  else args.push('--url', side.url('mqtt')!);
  const maxOpen = quick ? 60 : 120;
  let limitS = maxOpen + 150;
  if (item.scenario === 'mqtt-connections')
    args.push('--connections', String(cfg.connections), '--max-open', String(maxOpen));
  else {
    const flow = flowArgs(cfg, item.size!);
    args.push(...flow.args);
    limitS = flow.timeoutS;
    if (item.qos !== undefined) args.push('--qos', String(item.qos));
    if (item.rate !== undefined) args.push('--rate', String(item.rate));
    if (item.subscribers !== undefined) args.push('--subscribers', String(item.subscribers));
  }
  const label = `${item.scenario} ${side.name} ${describe(item)}`;
  log(`run ${pass}: ${label}${side.pid === null ? '' : ` (broker pid ${side.pid})`}`);
  const q = await waitQuiet();
  return runHarness(run, {
    args,
    label,
    timeoutS: timeoutS ?? limitS,
    decorate: (row) => {
      Object.assign(row, q);
      if (side.note !== null) row.runner_note = side.note;
      if (fresh !== null) row.fresh_process = fresh;
    },
    errorBase: {
      scenario: item.scenario,
      target: side.name,
      ...(item.scenario === 'mqtt-connections'
        ? { connections_target: cfg.connections }
        : {
            size: item.size!,
            rate_target: item.rate ?? 0,
            ...(item.qos === undefined ? {} : { qos: item.qos }),
            subscribers: item.subscribers ?? 1,
          }),
      tag: TAG,
      run: pass,
    },
  });
}

/** The mqtt-idle step on one side (a fresh process where this run owns it). */
async function idleItem(side: Side, pass: number, fresh: boolean): Promise<HarnessRow[]> {
  const { host, port } = urlHostPort(side.url('mqtt')!);
  log(
    `run ${pass}: mqtt-idle ${side.name} N=${fmt(cfg.idleConnections)}${side.pid === null ? '' : ` (broker pid ${side.pid})`}`,
  );
  const q = await waitQuiet();
  const r = await idleFleet({
    host,
    port,
    count: cfg.idleConnections,
    perProc: cfg.idlePerProc,
    maxOpenS: quick ? 60 : 120,
    brokerPid: side.pid,
    run,
  });
  const row: HarnessRow = {
    scenario: 'mqtt-idle',
    target: side.name,
    pub_proto: 'mqtt',
    pub_url: side.url('mqtt'),
    client_libs: 'raw TCP (bench/lib/idle-opener.ts), MQTT 3.1.1 CONNECT',
    ...r,
    fresh_process: fresh,
    ...q,
    ...(side.note === null ? {} : { runner_note: side.note }),
    ts: new Date().toISOString(),
    tag: TAG,
    run: pass,
    loadavg_1m: loadavg()[0],
  };
  run.writeRow(row);
  log(
    `  -> ${fmt(r.connections as number)} of ${fmt(cfg.idleConnections)} accepted (${fmt(r.failures as number)} failed), broker RSS ${fmt(r.broker_rss_before_mb as number, 1)} -> ${fmt(r.broker_rss_after_mb as number, 1)} MiB, ${fmt(r.per_conn_kb as number, 2)} KiB/conn`,
  );
  return [row];
}

async function setUpPeers(): Promise<{ mosq: Side | null; rabbit: Side | null }> {
  if (switchyardOnly) return { mosq: null, rabbit: null };
  const { pidListeningOn } = await loadHarness();
  let mosq: Side | null;
  if (mosquittoUrl !== null) {
    const { host, port } = urlHostPort(mosquittoUrl);
    if (await portOpen(host, port)) {
      const pid = isLocal(mosquittoUrl) ? pidListeningOn(port) : null;
      mosq = new Side(MOSQ, null, { mqtt: mosquittoUrl }, pid, 'already running (--mosquitto-url)');
    } else {
      anomaly(`Nothing answered on ${host}:${port} (--mosquitto-url): Mosquitto was not run.`);
      mosq = null;
    }
  } else {
    const proc = new MosquittoProcess({
      bin: mosquittoBin,
      run,
      maxInflight: cfg.mosqMaxInflight,
      maxQueued: cfg.mosqMaxQueued,
      nofile: cfg.nofile,
    });
    mosq = new Side(MOSQ, proc);
  }
  let rabbit: Side | null = null;
  if (cfg.scenarios.includes('cross-protocol')) {
    const m = urlHostPort(rabbitMqttUrl);
    const a = urlHostPort(rabbitUrl);
    const [mOk, aOk] = await Promise.all([portOpen(m.host, m.port), portOpen(a.host, a.port)]);
    if (mOk && aOk)
      rabbit = new Side(
        RMQ,
        null,
        { mqtt: rabbitMqttUrl, amqp: rabbitUrl },
        isLocal(rabbitUrl) ? pidListeningOn(a.port) : null,
      );
    else {
      const what = [mOk ? null : `MQTT ${m.host}:${m.port}`, aOk ? null : `AMQP ${a.host}:${a.port}`]
        .filter((x) => x !== null)
        .join(' and ');
      anomaly(
        `RabbitMQ did not answer on ${what}: cross-protocol ran without a peer (Mosquitto has no AMQP, so RabbitMQ with its MQTT plugin is the only local peer for it).`,
      );
    }
  }
  return { mosq, rabbit };
}

async function main(): Promise<number> {
  const t0 = performance.now();
  log(`${NAME}: ${COMMAND}`);
  await ensureHarness(run);
  const { libVersions, pidListeningOn } = await loadHarness();
  let snapshot: ReturnType<typeof prepareDist> | null = null;
  let sy: Side;
  let syDetails: Record<string, unknown>;
  if (cfg.targetUrl !== null) {
    let pid = targetPid;
    if (pid === null && isLocal(cfg.targetUrl)) pid = pidListeningOn(urlHostPort(cfg.targetUrl).port);
    if (pid === null)
      anomaly('Switchyard side: pid unknown (--target-url without --target-pid): no CPU/RSS figures.');
    sy = new Side(
      SY,
      null,
      { mqtt: cfg.targetUrl, amqp: targetAmqpUrl },
      pid,
      'already running (--target-url)',
    );
    syDetails = { mode: 'target-url', url: cfg.targetUrl, amqp_url: targetAmqpUrl, pid };
  } else {
    snapshot = prepareDist(run, flag.bool('build', true));
    sy = new Side(SY, new SwitchyardProcess({ snapshot, run, ports: ['amqp', 'mqtt'], nofile: cfg.nofile }));
    syDetails = { mode: 'started', build: snapshot.build };
  }
  const { mosq, rabbit } = await setUpPeers();
  await sy.start();
  await mosq?.start();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const git = gitInfo();
  const mosqVersion = mosquittoVersion(mosquittoBin);
  const redacted = rabbitUrl.replace(/:[^:@/]*@/, ':***@');
  const meta: MqttMeta = {
    type: 'meta',
    runner: 'switchyard bench/mqtt-vs-mosquitto.ts',
    date: run.startedAt.toISOString(),
    command: COMMAND,
    ...machineInfo(),
    libs: libVersions(),
    switchyard: { version: pkg.version, ...git },
    broker_details: {
      switchyard: syDetails,
      mosquitto:
        mosq === null
          ? null
          : mosq.proc instanceof MosquittoProcess
            ? { version: mosqVersion, bin: mosquittoBin, config: mosq.proc.configText('PORT') }
            : { url: mosquittoUrl, pid: mosq.pid },
      rabbitmq: rabbit === null ? null : { mqtt_url: rabbitMqttUrl, amqp_url: redacted, pid: rabbit.pid },
    },
    nofile_hard: nofileLimit()?.hard ?? null,
    settings: { ...cfg },
    loadavg_at_start: loadavg(),
  };
  run.writeRow(meta);

  const rows: HarnessRow[] = [];
  const sides = mosq === null ? [sy] : [sy, mosq];
  for (let pass = 1; pass <= cfg.repeat; pass++) {
    if (cfg.repeat > 1) log(`pass ${pass} of ${cfg.repeat}`);
    let afterConnections = false;
    for (const scenario of cfg.scenarios) {
      for (const item of mqttMatrix(cfg, scenario)) {
        if (scenario === 'mqtt-connections' || scenario === 'mqtt-idle') {
          afterConnections = true;
          for (const side of scenario === 'mqtt-idle' && !cfg.idlePeer ? [sy] : sides) {
            const fresh = await side.restart(`a fresh process for ${scenario}`);
            rows.push(
              ...(scenario === 'mqtt-idle'
                ? await idleItem(side, pass, fresh)
                : await harnessItem(item, side, pass, fresh)),
            );
          }
          continue;
        }
        if (afterConnections) {
          // Thousands of connections just closed: the traffic starts on clean processes.
          for (const side of sides) await side.restart('after the connection steps');
          afterConnections = false;
        }
        if (scenario === 'cross-protocol') {
          if (sy.url('amqp') === null)
            anomaly(
              `cross-protocol ${describe(item)}: skipped on the Switchyard side, which has no AMQP URL (--target-amqp-url).`,
            );
          else {
            await sy.ensureAlive();
            rows.push(...(await harnessItem(item, sy, pass)));
          }
          if (rabbit !== null) rows.push(...(await harnessItem(item, rabbit, pass)));
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
  const endMeta = endLine(run, t0, {
    broker_starts: Object.fromEntries(sides.map((s) => [s.name, s.proc?.starts ?? 0])),
    quiet: {
      waits: quiet.waits,
      spent_s: Math.round(quiet.spent),
      gave_up: quiet.gaveUp,
      below: quiet.below,
    },
  });
  run.writeRow(endMeta);
  const section = mqttSection({ meta, rows, endMeta, cfg, anomalies, mosquittoUrl });
  process.stdout.write(`\n${section}\n`);
  if (writeDocs) {
    putSection('mqtt', `${mqttIntro()}\n\n${section}`);
    log('docs: replaced the MQTT section of docs/benchmarks.md');
  } else log('docs: left unchanged (--quick or --no-docs)');
  log(`${NAME}: done in ${fmt(endMeta.duration_s / 60, 1)} min`);
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

runScript(NAME, run, main, stopAllBrokers);
