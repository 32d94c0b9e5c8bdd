/**
 * The markdown bench/amqp-vs-rabbitmq.ts writes: the intro of docs/benchmarks.md, and one run's
 * section (targets, then throughput, persistent + confirms, latency and idle-connection tables,
 * Switchyard beside RabbitMQ, then the anomalies).
 */
import { formatNumber as fmt, formatSize, renderMarkdownTable } from '../../src/cli/bench/report.js';
import type { PagingWindow } from './dist-snapshot.js';
import type { HarnessRow } from './harness.js';
import type { GitInfo, MachineInfo } from './machine.js';
import {
  cell,
  conditionsLine,
  cpuPerMsg,
  field,
  notesBlock,
  pairs,
  pick,
  ratioCell,
  ratios,
  runHeading,
  ratioText,
} from './peer-tables.js';

export const SY = 'switchyard';
export const RMQ = 'rabbitmq';

export interface AmqpConfig {
  readonly quick: boolean;
  readonly scenarios: readonly ('amqp-connections' | 'amqp-throughput' | 'amqp-latency' | 'amqp-confirm')[];
  readonly warmup: number;
  readonly duration: number;
  readonly drain: number;
  readonly connections: number;
  readonly sizes: readonly number[];
  readonly confirmSizes: readonly number[];
  readonly confirmMaxInflight: number | null;
  readonly rates: readonly number[];
  readonly latencySize: number;
  readonly repeat: number;
  readonly targetUrl: string | null;
}

export interface AmqpMeta extends MachineInfo {
  readonly type: 'meta';
  readonly runner: string;
  readonly date: string;
  readonly command: string;
  readonly libs: Record<string, string>;
  readonly brokers: Record<string, string>;
  readonly broker_details: {
    switchyard: GitInfo & { version: string; server_properties: object };
    rabbitmq: { version?: string; platform?: string; error?: string } | null;
  };
  readonly switchyard_url: string | null;
  readonly build: string;
  readonly paging_window: PagingWindow | null;
  readonly settings: object;
  readonly loadavg_at_start: number[];
}

const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);

export function amqpIntro(meta: AmqpMeta): string {
  return `# Benchmarks

<!-- Written by bench/amqp-vs-rabbitmq.ts (npm run bench:amqp). The intro and "Latest results" are
rewritten on every run; earlier runs move to "History", newest first. Change that script rather
than this file. -->

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
npm run bench:amqp                        # full run: ~4 min; rewrites this file
npm run bench:amqp -- --quick             # smoke run, a few seconds per item; docs untouched
npm run bench:amqp -- -s amqp-throughput --sizes 1k --duration 20 --repeat 3
npm run bench:amqp -- -s confirm --sizes 1k --repeat 3   # persistent + confirms only
npm run bench:amqp -- --switchyard-only   # no RabbitMQ
npm run bench:amqp -- --target-url amqp://guest:guest@127.0.0.1:5673 --switchyard-pid 1234   # a running Switchyard
npm run bench:amqp -- --json run.jsonl    # also keep the harness's raw lines
npm run bench:amqp -- --help
\`\`\`

The runner builds \`dist/\` if it is missing or older than \`src/\`, starts Switchyard on a free port of
127.0.0.1, and runs every item on Switchyard and then on RabbitMQ (\`--rabbit-url\`, default
\`amqp://guest:guest@127.0.0.1:5672\`; skipped when nothing answers there), back to back, so noise hits
both alike. Raw runs are not kept in git: each run below is a table with its date, command and
RabbitMQ's figures; \`--json FILE\` keeps the harness's lines, which its own report turns into tables:
\`node bench/node_modules/.cache/broker-bench/bin/report.js FILE\`. Runs dated 2026-11 were made by
bench/run.mjs, the script \`npm run bench:amqp\` replaced with the same workload; their commands are
shown in today's form.

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
MQTT front end against Mosquitto under "MQTT" (npm run bench:mqtt). Where the broker's time goes (a CPU
profile of the hot path): [performance.md](performance.md).

## Latest results

The latest table below was made with \`${meta.command}\`.

`;
}

/** One ratio target: "1.43x, met" over the passes. */
function ratioTarget(title: string, rs: readonly (number | null)[], min: number, extra = ''): string {
  const ok = rs.filter((x): x is number => x !== null);
  return `${title}: ${ok.length > 0 ? `${ratioText(ok)}, ${ok.every((x) => x >= min) ? 'met' : 'not met'}${extra}` : 'not measured'}`;
}

export function amqpSection(o: {
  meta: AmqpMeta;
  rows: readonly HarnessRow[];
  endMeta: { duration_s: number; loadavg_at_end: number[] };
  cfg: AmqpConfig;
  anomalies: readonly string[];
  paging: PagingWindow | null;
}): string {
  const { meta, rows, cfg } = o;
  const L: string[] = [];
  L.push(
    ...runHeading({ date: meta.date, scenarios: cfg.scenarios, quick: cfg.quick, command: meta.command }),
  );
  const sv = meta.broker_details.switchyard;
  const rv = meta.broker_details.rabbitmq;
  L.push(
    `Switchyard ${sv.version}${sv.commit === undefined ? '' : ` (commit ${sv.commit}${sv.src_modified === true ? ', with uncommitted changes in src/' : ''})`}` +
      `${cfg.targetUrl !== null ? ` at ${meta.switchyard_url}, already running` : `, started by the runner from a snapshot of dist/ (dist/: ${meta.build})`}` +
      `${rv !== null ? `; RabbitMQ ${rv.version ?? '?'}${rv.platform === undefined ? '' : ` (${rv.platform})`}` : '; RabbitMQ not run'}` +
      `; client amqplib@${meta.libs.amqplib ?? '?'}, Node ${meta.node}.`,
    '',
  );
  L.push(
    conditionsLine({
      machine: meta,
      loadavg: [meta.loadavg_at_start[0], o.endMeta.loadavg_at_end[0]],
      rows,
      measured: rows,
      timing: cfg,
      durationS: o.endMeta.duration_s,
    }),
    '',
  );

  const of =
    (scenario: string, extra: (r: HarnessRow) => boolean = () => true) =>
    (r: HarnessRow) =>
      r.scenario === scenario && extra(r);
  const rate = field('msgs_per_s');
  const targets: string[] = [];
  {
    const m = of('amqp-throughput', (r) => r.size === 1024);
    targets.push(
      ratioTarget(
        'transient 1 KiB throughput >= 1.3x RabbitMQ',
        ratios(pick(rows, SY, m), pick(rows, RMQ, m), rate),
        1.3,
      ),
    );
    const c = of('amqp-confirm', (r) => r.size === 1024);
    const a = pick(rows, SY, c);
    const lossy = a.some((x) => (n(x.lost) ?? 0) > 0 || (n(x.nacked) ?? 0) > 0);
    const rs = ratios(
      a.filter((x) => x.error === undefined),
      pick(rows, RMQ, c),
      rate,
    );
    const okRs = rs.filter((x): x is number => x !== null);
    targets.push(
      `persistent + confirm 1 KiB throughput (amqp-confirm) >= 2x RabbitMQ: ${okRs.length > 0 ? `${ratioText(okRs)}, ${okRs.every((x) => x >= 2) && !lossy ? 'met' : 'not met'}${lossy ? ' (Switchyard lost or nacked messages)' : ''}` : 'not measured'}` +
        `${cfg.confirmMaxInflight === null ? '' : ` (with --confirm-max-inflight ${cfg.confirmMaxInflight}, not the harness default)`}` +
        ' (throughput only: that each confirm follows its fsync is checked by npm run bench:confirm-fsync, under "Durability")',
    );
    const l = of('amqp-latency', (r) => r.rate_target === 10_000);
    const ps = pairs(pick(rows, SY, l), pick(rows, RMQ, l)).filter(
      ([x, y]) => (n(x.p99_us) ?? 0) > 0 && (n(y.p99_us) ?? 0) > 0 && x.error === undefined,
    );
    targets.push(
      `p99 latency at 10,000 msg/s no worse than RabbitMQ's: ${ps.length > 0 ? `${ps.map(([x, y]) => `${fmt(n(x.p99_us))} vs ${fmt(n(y.p99_us))} us`).join(' / ')}, ${ps.every(([x, y]) => n(x.p99_us)! <= n(y.p99_us)!) ? 'met' : 'not met'}` : 'not measured'}`,
    );
    const k = pick(rows, SY, of('amqp-connections')).filter((x) => n(x.per_conn_kb) !== null);
    targets.push(
      `<= 10 KiB RSS per idle AMQP connection: ${k.length > 0 ? `${k.map((x) => `${fmt(n(x.per_conn_kb), 1)} KiB`).join(' / ')}, ${k.every((x) => n(x.per_conn_kb)! <= 10) ? 'met' : 'not met'}` : 'not measured'}`,
    );
  }
  L.push('Targets for Switchyard:', '', ...targets.map((t) => `- ${t}`), '');

  const both = (a: HarnessRow[], b: HarnessRow[], name: string, digits = 0) =>
    `${cell(a, field(name), digits)} / ${cell(b, field(name), digits)}`;
  const flowCells = (a: HarnessRow[], b: HarnessRow[]) => [
    cell(a, rate),
    cell(b, rate),
    ratioCell(a, b, rate),
    cell(a, field('broker_cpu_pct')),
    cell(b, field('broker_cpu_pct')),
    cell(a, cpuPerMsg, 1),
    cell(b, cpuPerMsg, 1),
  ];
  const flowHead = [
    'size',
    'Switchyard msgs/s',
    'RabbitMQ msgs/s',
    'ratio',
    'Switchyard CPU%',
    'RabbitMQ CPU%',
    'Switchyard CPU µs/msg',
    'RabbitMQ CPU µs/msg',
  ];

  if (cfg.scenarios.includes('amqp-throughput')) {
    L.push(
      '**Throughput**, msgs/s (amqp-throughput: 1 producer -> default exchange -> 1 transient queue -> 1 consumer, noAck, max rate; ratio = Switchyard / RabbitMQ; CPU µs/msg = broker CPU time per delivered message)',
      '',
      renderMarkdownTable(
        [...flowHead, 'client CPU% (SY / RMQ)', 'lost (SY / RMQ)'],
        cfg.sizes.map((size) => {
          const m = of('amqp-throughput', (r) => r.size === size);
          const a = pick(rows, SY, m);
          const b = pick(rows, RMQ, m);
          return [formatSize(size), ...flowCells(a, b), both(a, b, 'client_cpu_pct'), both(a, b, 'lost')];
        }),
      ),
      '',
    );
  }

  if (cfg.scenarios.includes('amqp-confirm')) {
    const windows = cfg.confirmSizes
      .map((size) => {
        const r = rows.find(
          (x) => x.scenario === 'amqp-confirm' && x.size === size && n(x.max_inflight) !== null,
        );
        return r === undefined ? null : `${fmt(n(r.max_inflight))} at ${formatSize(size)}`;
      })
      .filter((x): x is string => x !== null);
    const p = o.paging;
    const pagingText =
      p === null
        ? 'a window of'
        : `up to ${fmt(p.messages)} messages${p.bytes === null ? '' : ` or ${formatSize(p.bytes)}`} of`;
    L.push(
      '**Persistent + confirms**, msgs/s (amqp-confirm: 1 producer on a ConfirmChannel, persistent messages (deliveryMode 2), at most 256 unconfirmed -> default exchange -> 1 durable queue -> 1 consumer, manual ack of each message, prefetch 100; max rate. Switchyard: fresh process and data dir per row. ' +
        `The harness's end-to-end in-flight window (published - received): ${windows.length > 0 ? windows.join(', ') : '-'}${cfg.confirmMaxInflight === null ? '' : ` (set with --confirm-max-inflight ${cfg.confirmMaxInflight}, not the harness default)`}; Switchyard's durable queues keep ${pagingText} ready messages in memory and page the rest out. ` +
        'Latency = publish to delivery: the send timestamp in the payload (taken just before publish()) to the consumer receiving it, over the measured window. Both brokers deliver before the fsync, so it does not include the confirm; at max rate it is mostly queueing in the in-flight window)',
      '',
      renderMarkdownTable(
        [...flowHead, 'p50 µs (SY / RMQ)', 'p99 µs (SY / RMQ)', 'client CPU% (SY / RMQ)', 'lost (SY / RMQ)'],
        cfg.confirmSizes.map((size) => {
          const m = of('amqp-confirm', (r) => r.size === size);
          const a = pick(rows, SY, m);
          const b = pick(rows, RMQ, m);
          return [
            formatSize(size),
            ...flowCells(a, b),
            both(a, b, 'p50_us'),
            both(a, b, 'p99_us'),
            both(a, b, 'client_cpu_pct'),
            both(a, b, 'lost'),
          ];
        }),
      ),
      '',
    );
  }

  if (cfg.scenarios.includes('amqp-latency')) {
    L.push(
      `**Latency**, microseconds, end to end (amqp-latency: as above at a fixed publish rate, ${formatSize(cfg.latencySize)}; ratio = RabbitMQ p99 / Switchyard p99, above 1 = Switchyard better; CO p99 = from the intended send time)`,
      '',
      renderMarkdownTable(
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
        cfg.rates.map((r) => {
          const m = of('amqp-latency', (x) => x.rate_target === r);
          const a = pick(rows, SY, m);
          const b = pick(rows, RMQ, m);
          return [
            `${fmt(r)}/s`,
            both(a, b, 'msgs_per_s'),
            both(a, b, 'p50_us'),
            cell(a, field('p99_us')),
            cell(b, field('p99_us')),
            ratioCell(a, b, field('p99_us'), true),
            both(a, b, 'p999_us'),
            both(a, b, 'co_p99_us'),
            cell(a, field('broker_cpu_pct')),
            cell(b, field('broker_cpu_pct')),
            cell(a, cpuPerMsg, 1),
            cell(b, cpuPerMsg, 1),
          ];
        }),
      ),
      '',
    );
  }

  if (cfg.scenarios.includes('amqp-connections')) {
    const body: string[][] = [];
    for (const [t, label] of [
      [SY, cfg.targetUrl === null ? 'Switchyard (fresh process)' : 'Switchyard (already running, not fresh)'],
      [RMQ, 'RabbitMQ (long-running service)'],
    ] as const) {
      const g = pick(rows, t, of('amqp-connections'));
      if (g.length === 0) continue;
      const c = (name: string, digits = 0) => cell(g, field(name), digits);
      body.push([
        label,
        c('connections'),
        c('failures'),
        c('broker_rss_before_mb', 1),
        c('broker_rss_after_mb', 1),
        c('per_conn_kb', 1),
        c('conns_per_s'),
        c('broker_cpu_pct'),
        c('broker_rss_after_close_mb', 1),
      ]);
    }
    L.push(
      `**Idle connections** (amqp-connections: ${fmt(cfg.connections)} AMQP connections with one channel each, heartbeat 60 s; KiB/conn = (broker RSS 3 s after opening - RSS before) / connections opened)`,
      '',
      renderMarkdownTable(
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
      '',
    );
  }

  const notes = [...o.anomalies];
  for (const r of rows) {
    const what =
      r.scenario === 'amqp-connections'
        ? `K=${fmt(r.connections_target ?? cfg.connections)}`
        : `${formatSize(r.size ?? 0)}${r.rate_target ? ` @${fmt(r.rate_target)}/s` : ''}`;
    const id = `${r.scenario} ${r.target} ${what}${cfg.repeat > 1 ? ` run ${r.run}` : ''}`;
    if (r.error !== undefined) notes.push(`${id}: error: ${r.error}`);
    if ((n(r.lost) ?? 0) > 0)
      notes.push(`${id}: ${fmt(n(r.lost))} messages lost (of ${fmt(n(r.sent))} sent)`);
    if ((n(r.extra) ?? 0) > 0) notes.push(`${id}: ${fmt(n(r.extra))} extra deliveries (duplicates)`);
    if ((n(r.nacked) ?? 0) > 0) notes.push(`${id}: ${fmt(n(r.nacked))} publishes nacked by the broker`);
    // The in-flight window filled (window_waits): the queue held up to that many ready messages
    // (less <= 100 delivered, unacked). Past the paging window, Switchyard pages out.
    const held = (n(r.max_inflight) ?? 0) - 100;
    const p = o.paging;
    if (
      r.scenario === 'amqp-confirm' &&
      r.target === SY &&
      (n(r.window_waits) ?? 0) > 0 &&
      p !== null &&
      (held > p.messages || (p.bytes !== null && held * (r.size ?? 0) >= p.bytes))
    )
      notes.push(
        `${id}: the harness's in-flight window (${fmt(n(r.max_inflight))}) filled ${fmt(n(r.window_waits))} times in the measured window: the durable queue could then hold more than Switchyard's in-memory window and page out, so part or all of the window may have run on page-out and read-back (p50 ${fmt((n(r.p50_us) ?? 0) / 1000)} ms from publish to delivery)`,
      );
    if ((n(r.stalls) ?? 0) > 0)
      notes.push(`${id}: ${r.stalls} stalls (deliveries stopped for 1 s with the window full)`);
    const target = n(r.rate_target) ?? 0;
    if (target > 0 && (n(r.msgs_per_s) ?? 0) < 0.97 * target)
      notes.push(`${id}: achieved only ${fmt(n(r.msgs_per_s))} of ${fmt(target)} msg/s`);
    if (r.synthetic !== true && Array.isArray(r.broker_pids) && r.broker_pids.length === 0)
      notes.push(`${id}: broker pid unknown, no CPU/RSS figures`);
    if ((n(r.other_cpu_pct) ?? 0) >= 25)
      notes.push(
        `${id}: other jobs used ${fmt(n(r.other_cpu_pct))}% CPU during the window (machine busy minus broker minus client): noisy, rerun to confirm`,
      );
    if ((n(r.client_cpu_pct) ?? 0) >= 95 && target === 0)
      notes.push(
        `${id}: client at ${fmt(n(r.client_cpu_pct))}% CPU: the harness client, not the broker, may be the limit`,
      );
  }
  L.push(...notesBlock(notes, 'No errors, lost messages or stalls.'));
  return L.join('\n');
}
