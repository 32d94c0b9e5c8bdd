/**
 * Switchyard's AMQP front end against RabbitMQ: `npm run bench:amqp -- [flags]` (--help).
 *
 * Runs the neutral broker-bench harness (lib/harness.ts) against a Switchyard it starts itself (or
 * one given with --target-url) and, in the same run, against RabbitMQ when something answers on
 * --rabbit-url. Each matrix item (scenario x size x rate) runs on Switchyard and then on RabbitMQ,
 * back to back, so machine noise hits both alike. Connection scenarios run first, on a freshly
 * started Switchyard (a long-running process keeps freed heap, which hides per-connection memory).
 * amqp-confirm (persistent messages, durable queue, publisher confirms) gets a freshly started
 * Switchyard on a fresh data dir for every item, so no run reads or reclaims another's segment log.
 *
 * Output: a markdown section on stdout, and docs/benchmarks.md rewritten (intro + latest table,
 * older tables kept under "History"; the sections other scripts own are kept as they are, see
 * lib/docs-sections.ts); --json FILE keeps the harness's raw lines. --quick leaves the docs alone.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import { isLocal, portOpen, stopAllBrokers, SwitchyardProcess, urlHostPort } from './lib/brokers.js';
import { commandLine, flagReaders, parseFlags } from './lib/cli.js';
import { pagingWindow, type PagingWindow, prepareDist } from './lib/dist-snapshot.js';
import { putLatestRun } from './lib/docs-sections.js';
import { amqpIntro, amqpSection, type AmqpConfig, type AmqpMeta, RMQ, SY } from './lib/amqp-report.js';
import {
  baseArgs,
  ensureHarness,
  flowArgs,
  type HarnessRow,
  loadHarness,
  runHarness,
} from './lib/harness.js';
import { gitInfo, loadavg, machineInfo } from './lib/machine.js';
import { ROOT } from './lib/paths.js';
import { createRun, endLine, runScript } from './lib/run-context.js';
import { formatNumber as fmt, formatSize } from '../src/cli/bench/report.js';

const NAME = 'bench:amqp';
// Run order: amqp-confirm last, so its disk traffic (and RabbitMQ's lazy clean-up of its durable
// queue) does not overlap the transient scenarios.
const ALL_SCENARIOS = ['amqp-connections', 'amqp-throughput', 'amqp-latency', 'amqp-confirm'] as const;
type Scenario = (typeof ALL_SCENARIOS)[number];
const ALIASES: Record<string, Scenario> = {
  connections: 'amqp-connections',
  throughput: 'amqp-throughput',
  latency: 'amqp-latency',
  confirm: 'amqp-confirm',
};
const TAG = 'switchyard-bench';

const HELP = `usage: npm run bench:amqp -- [flags]      (tsx bench/amqp-vs-rabbitmq.ts [flags])

Benchmarks Switchyard's AMQP front end with the broker-bench harness and, in the same run,
RabbitMQ when it answers on --rabbit-url. Rewrites docs/benchmarks.md.

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
                         docs/benchmarks.md untouched

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
  --json FILE            the harness's raw results as JSON lines (first line: the run's metadata)
  --log FILE             the detailed log (harness and broker output)
  --docs / --no-docs     rewrite docs/benchmarks.md (default: yes, except with --quick)
  --no-build             do not rebuild dist/ even when src/ is newer
  -h, --help
`;

const values = parseFlags({
  name: NAME,
  help: HELP,
  hint: `npm run ${NAME} -- --help`,
  strings: [
    'scenarios',
    'sizes',
    'confirm-sizes',
    'confirm-max-inflight',
    'rates',
    'latency-size',
    'connections',
    'duration',
    'warmup',
    'drain',
    'repeat',
    'rabbit-url',
    'target-url',
    'switchyard-pid',
    'timeout',
    'json',
    'log',
  ],
  booleans: ['quick', 'switchyard-only', 'docs', 'build'],
  short: { scenarios: 's' },
});
const flag = flagReaders(NAME, values);
const quick = flag.bool('quick', false);
const wanted = new Set(
  flag.list('scenarios', ALL_SCENARIOS.join(','), (s) => {
    const name = ALIASES[s] ?? s;
    if (!(ALL_SCENARIOS as readonly string[]).includes(name))
      throw new Error(`unknown scenario '${s}' (known: ${ALL_SCENARIOS.join(', ')})`);
    return name as Scenario;
  }),
);
const cfg: AmqpConfig = {
  quick,
  scenarios: ALL_SCENARIOS.filter((s) => wanted.has(s)),
  warmup: flag.number('warmup', quick ? 1 : 2),
  duration: flag.number('duration', quick ? 3 : 10),
  drain: flag.number('drain', quick ? 2 : 5),
  connections: flag.count('connections', quick ? 200 : 1000),
  sizes: flag.sizes('sizes', '16,1k,64k'),
  confirmSizes: flag.sizes('confirm-sizes', flag.text('sizes') ?? '16,1k,64k'),
  confirmMaxInflight:
    flag.text('confirm-max-inflight') === undefined ? null : flag.count('confirm-max-inflight', 1),
  rates: flag.list('rates', '1000,10000', (r) => {
    const n = Number(r);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`'${r}' is not a positive rate`);
    return n;
  }),
  latencySize: flag.sizes('latency-size', '64')[0]!,
  repeat: flag.count('repeat', 1),
  targetUrl: flag.url('target-url', null),
};
const rabbitUrl = flag.url('rabbit-url', 'amqp://guest:guest@127.0.0.1:5672')!;
const switchyardOnly = flag.bool('switchyard-only', false);
const switchyardPid = flag.text('switchyard-pid') === undefined ? null : flag.count('switchyard-pid', 1);
const timeoutS = flag.text('timeout') === undefined ? null : flag.number('timeout', 1);
const writeDocs = flag.bool('docs', !quick);
const COMMAND = commandLine(`npm run ${NAME}`, process.argv.slice(2), ' -- ');

const run = createRun({ json: flag.text('json') ?? null, log: flag.text('log') ?? null });
const { log, anomalies } = run;

/** AMQP server properties (product, version), or why there are none. */
async function serverProps(url: string): Promise<{ version?: string; platform?: string; error?: string }> {
  try {
    const conn = await Promise.race([
      amqp.connect(url),
      sleep(5000).then(() => {
        throw new Error('no answer within 5 s');
      }),
    ]);
    const p = conn.connection.serverProperties as Record<string, unknown>;
    await conn.close();
    const s = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
    return {
      ...(p.version === undefined ? {} : { version: s(p.version)! }),
      ...(p.platform === undefined ? {} : { platform: s(p.platform)! }),
    };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Erlang VMs, RabbitMQ's first. */
function beamPids(): number[] {
  const out: { pid: number; rabbit: boolean }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let comm: string;
    let cmd: string;
    try {
      comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue; // it ended meanwhile
    }
    if (comm === 'beam.smp') out.push({ pid: Number(d), rabbit: cmd.includes('rabbit') });
  }
  return out.sort((a, b) => Number(b.rabbit) - Number(a.rabbit)).map((x) => x.pid);
}

/**
 * RabbitMQ's socket limit and use: from `rabbitmqctl status`, else estimated from the node's
 * open-files soft limit the way RabbitMQ 3.x derives it. null when unknown.
 */
function rabbitSockets(pid: number | null): { limit: number; used: number; how: string } | null {
  try {
    const out = execFileSync('rabbitmqctl', ['status', '--formatter', 'json'], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const fd = (JSON.parse(out) as { file_descriptors?: { sockets_limit?: number; sockets_used?: number } })
      .file_descriptors;
    if (typeof fd?.sockets_limit === 'number')
      return { limit: fd.sockets_limit, used: fd.sockets_used ?? 0, how: 'rabbitmqctl status' };
  } catch (e) {
    log(`rabbitmq: rabbitmqctl status gave nothing (${(e as Error).message.split('\n')[0]}); estimating`);
  }
  for (const p of pid === null ? beamPids() : [pid]) {
    let limits: string;
    try {
      limits = readFileSync(`/proc/${p}/limits`, 'utf8');
    } catch {
      continue;
    }
    const m = /Max open files\s+(\d+)/.exec(limits);
    if (m)
      return {
        limit: Math.floor((Number(m[1]) - 97) * 0.9) - 2,
        used: 0,
        how: `estimated from the open-files limit ${m[1]} of pid ${p}`,
      };
  }
  return null;
}

interface Target {
  name: string;
  url: string;
  pid: number | 'auto' | null;
  note?: string;
  fresh?: boolean;
  connections?: number;
}

/**
 * RabbitMQ accepts TCP connections beyond its socket limit but never completes their AMQP handshake,
 * and amqplib has no connect timeout, so the harness would hang (and starve that RabbitMQ's other
 * clients): the connection count to use for it.
 */
function rabbitConnections(rabbit: Target): number {
  const want = cfg.connections;
  if (!isLocal(rabbit.url)) return want;
  const s = rabbitSockets(typeof rabbit.pid === 'number' ? rabbit.pid : null);
  if (s === null) return want;
  const headroom = Math.max(50, Math.round(s.limit * 0.1));
  const room = s.limit - s.used - headroom;
  if (room >= want) return want;
  const k = Math.max(10, room);
  const note = `RabbitMQ amqp-connections ran with ${k} connections, not ${want}: its socket limit is ${s.limit} (${s.used} in use; ${s.how}), and ${headroom} are left for its other clients. Past the limit RabbitMQ accepts TCP but never finishes the AMQP handshake, so the harness would hang. KiB/conn is still a per-connection figure.`;
  if (!anomalies.includes(note)) anomalies.push(note);
  log(`rabbitmq: ${note}`);
  return k;
}

interface Item {
  scenario: Scenario;
  size?: number;
  rate?: number;
}

function matrix(scenario: Scenario): Item[] {
  if (scenario === 'amqp-connections') return [{ scenario }];
  if (scenario === 'amqp-throughput') return cfg.sizes.map((size) => ({ scenario, size }));
  if (scenario === 'amqp-confirm') return cfg.confirmSizes.map((size) => ({ scenario, size }));
  return cfg.rates.map((rate) => ({ scenario, size: cfg.latencySize, rate }));
}

/** One harness invocation: the result rows (a synthetic error row when it wrote none). */
function runItem(item: Item, target: Target, pass: number): Promise<HarnessRow[]> {
  const maxOpen = quick ? 60 : 120;
  const args = [
    ...baseArgs({ scenario: item.scenario, target: target.name, pass, tag: TAG, pid: target.pid }),
    '--url',
    target.url,
  ];
  const connections = target.connections ?? cfg.connections;
  let limitS = maxOpen + 150;
  if (item.scenario === 'amqp-connections')
    args.push('--connections', String(connections), '--max-open', String(maxOpen));
  else {
    const flow = flowArgs(cfg, item.size!);
    args.push(...flow.args);
    limitS = flow.timeoutS;
    if (item.scenario === 'amqp-confirm' && cfg.confirmMaxInflight !== null)
      args.push('--max-inflight', String(cfg.confirmMaxInflight));
    if (item.rate !== undefined) args.push('--rate', String(item.rate));
  }
  const what =
    item.scenario === 'amqp-connections'
      ? `K=${connections}`
      : `${formatSize(item.size!)}${item.rate === undefined ? '' : ` @${item.rate}/s`}`;
  const label = `${item.scenario} ${target.name} ${what}`;
  log(`run ${pass}: ${label}${target.pid === null ? '' : ` (broker pid ${target.pid})`}`);
  return runHarness(run, {
    args,
    label,
    timeoutS: timeoutS ?? limitS,
    decorate: (row) => {
      if (target.note !== undefined) row.runner_note = target.note;
      if (target.fresh !== undefined && item.scenario === 'amqp-connections')
        row.fresh_process = target.fresh;
    },
    errorBase: {
      scenario: item.scenario,
      target: target.name,
      ...(item.scenario === 'amqp-connections'
        ? { connections_target: connections }
        : { size: item.size!, rate_target: item.rate ?? 0 }),
      tag: TAG,
      run: pass,
    },
  });
}

async function main(): Promise<number> {
  const t0 = performance.now();
  log(`${NAME}: ${COMMAND}`);
  await ensureHarness(run);
  const { libVersions, pidListeningOn } = await loadHarness();
  let sy: SwitchyardProcess | null = null;
  let snapshot: ReturnType<typeof prepareDist> | null = null;
  let paging: PagingWindow | null = null;
  let build = 'not needed (--target-url)';
  if (cfg.targetUrl === null) {
    snapshot = prepareDist(run, flag.bool('build', true));
    build = snapshot.build;
    paging = await pagingWindow(snapshot);
  }

  let rabbit: (Target & { props: Awaited<ReturnType<typeof serverProps>> }) | null = null;
  if (!switchyardOnly) {
    const { host, port } = urlHostPort(rabbitUrl);
    if (await portOpen(host, port)) {
      const props = await serverProps(rabbitUrl);
      if (props.error !== undefined)
        anomalies.push(
          `RabbitMQ at ${host}:${port} answers on TCP but AMQP connect failed (${props.error}); its rows will show the errors.`,
        );
      let pid: number | 'auto' | null = null;
      if (isLocal(rabbitUrl)) {
        if (pidListeningOn(port) !== null) pid = 'auto';
        else {
          pid = beamPids()[0] ?? null;
          if (pid === null)
            anomalies.push(
              'RabbitMQ pid not found (neither by port nor as beam.smp): no CPU/RSS figures for it.',
            );
          else log(`rabbitmq: no pid found by its listening port; using beam.smp pid ${pid}`);
        }
      }
      rabbit = { name: RMQ, url: rabbitUrl, pid, props };
      log(`rabbitmq: ${host}:${port} ${props.version ?? props.error ?? ''} (pid ${pid})`);
    } else {
      log(`rabbitmq: nothing answers on ${host}:${port}; Switchyard only`);
      anomalies.push(`Nothing answered on ${host}:${port}: RabbitMQ was not run.`);
    }
  }

  let syTarget: Target;
  if (cfg.targetUrl !== null) {
    let pid = switchyardPid;
    if (pid === null && isLocal(cfg.targetUrl)) pid = pidListeningOn(urlHostPort(cfg.targetUrl).port);
    if (pid === null)
      anomalies.push(
        'Switchyard pid unknown (--target-url without --switchyard-pid): no CPU/RSS figures for it.',
      );
    syTarget = { name: SY, url: cfg.targetUrl, pid, fresh: false, note: 'already running (--target-url)' };
    if (cfg.scenarios.includes('amqp-confirm'))
      anomalies.push(
        'amqp-confirm ran on the already running Switchyard (--target-url): not on a fresh data dir.',
      );
  } else {
    sy = new SwitchyardProcess({ snapshot: snapshot!, run, ports: ['amqp'] });
    await sy.start();
    syTarget = { name: SY, url: sy.url('amqp')!, pid: sy.pid };
  }
  const syProps = await serverProps(syTarget.url);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const git = gitInfo();
  const meta: AmqpMeta = {
    type: 'meta',
    runner: 'switchyard bench/amqp-vs-rabbitmq.ts',
    date: run.startedAt.toISOString(),
    command: COMMAND,
    ...machineInfo(),
    libs: libVersions(),
    brokers: {
      switchyard: `${pkg.version}${git.commit === undefined ? '' : ` (commit ${git.commit}${git.src_modified === true ? ', src/ modified' : ''})`}`,
      ...(rabbit === null ? {} : { rabbitmq: rabbit.props.version ?? `unknown (${rabbit.props.error})` }),
    },
    broker_details: {
      switchyard: { version: pkg.version, ...git, server_properties: syProps },
      rabbitmq: rabbit?.props ?? null,
    },
    switchyard_url: cfg.targetUrl === null ? null : cfg.targetUrl.replace(/:[^:@/]*@/, ':***@'),
    build,
    paging_window: paging,
    settings: { ...cfg },
    loadavg_at_start: loadavg(),
  };
  run.writeRow(meta);

  const rows: HarnessRow[] = [];
  for (let pass = 1; pass <= cfg.repeat; pass++) {
    if (cfg.repeat > 1) log(`pass ${pass} of ${cfg.repeat}`);
    for (const scenario of cfg.scenarios) {
      for (const item of matrix(scenario)) {
        if (sy !== null) {
          // A fresh process for idle memory; a fresh data dir (an empty segment log) for confirms;
          // a restart after a crash (already an anomaly).
          const why =
            scenario === 'amqp-connections'
              ? 'a fresh process'
              : scenario === 'amqp-confirm'
                ? 'a fresh data dir'
                : sy.alive
                  ? null
                  : 'it is not running';
          if (why !== null) {
            log(`switchyard: restarting (${why})`);
            await sy.stop();
            await sy.start();
          }
          syTarget = {
            name: SY,
            url: sy.url('amqp')!,
            pid: sy.pid,
            fresh: scenario === 'amqp-connections',
            ...(scenario === 'amqp-confirm' ? { note: 'fresh process and data dir' } : {}),
          };
        }
        rows.push(...(await runItem(item, syTarget, pass)));
        if (rabbit !== null) {
          if (scenario === 'amqp-connections') rabbit.connections = rabbitConnections(rabbit);
          rows.push(...(await runItem(item, rabbit, pass)));
        }
      }
    }
  }
  await sy?.stop();
  snapshot?.remove();
  const endMeta = endLine(run, t0, {
    switchyard_starts: sy?.starts ?? 0,
  });
  run.writeRow(endMeta);
  const section = amqpSection({ meta, rows, endMeta, cfg, anomalies, paging });
  process.stdout.write(`\n${section}\n`);
  if (writeDocs) {
    putLatestRun(amqpIntro(meta), meta.date, section);
    log('docs: rewrote docs/benchmarks.md');
  } else log('docs: left unchanged (--quick or --no-docs)');
  log(`${NAME}: done in ${fmt(endMeta.duration_s / 60, 1)} min`);
  return rows.some((r) => r.error !== undefined) ? 1 : 0;
}

runScript(NAME, run, main, stopAllBrokers);
