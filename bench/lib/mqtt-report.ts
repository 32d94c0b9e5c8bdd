/**
 * The markdown bench/mqtt-vs-mosquitto.ts writes into the "MQTT" section of docs/benchmarks.md: the
 * section's intro, and one run (targets, then throughput, fan-out, latency, idle-connection and
 * cross-protocol tables, Switchyard beside Mosquitto or RabbitMQ, then the anomalies).
 */
import { formatNumber as fmt, formatSize, renderMarkdownTable } from '../../src/cli/bench/report.js';
import type { HarnessRow } from './harness.js';
import { commitText, type GitInfo, type MachineInfo, median } from './machine.js';
import {
  both,
  cell,
  conditionsLine,
  cpuPerMsg,
  type Field,
  field,
  notesBlock,
  pairs,
  pick,
  ratioCell,
  ratios,
  runHeading,
  verdict,
} from './peer-tables.js';

export const SY = 'switchyard';
export const MOSQ = 'mosquitto';
export const RMQ = 'rabbitmq';

export interface MqttConfig {
  readonly quick: boolean;
  readonly scenarios: readonly string[];
  readonly warmup: number;
  readonly duration: number;
  readonly drain: number;
  readonly qos: readonly (0 | 1 | 2)[];
  readonly sizes: readonly number[];
  readonly subscribers: number;
  readonly fanoutSize: number;
  readonly rates: readonly number[];
  readonly latencyQos: readonly (0 | 1 | 2)[];
  readonly latencySize: number;
  readonly crossSizes: readonly number[];
  readonly connections: number;
  readonly idleConnections: number;
  readonly idlePerProc: number;
  readonly idlePeer: boolean;
  readonly nofile: number;
  readonly repeat: number;
  readonly mosqMaxInflight: number;
  readonly mosqMaxQueued: number;
  readonly targetUrl: string | null;
}

export interface MqttItem {
  readonly scenario: string;
  readonly qos?: number;
  readonly size?: number;
  readonly rate?: number;
  readonly subscribers?: number;
}

export interface MqttMeta extends MachineInfo {
  readonly type: 'meta';
  readonly runner: string;
  readonly date: string;
  readonly command: string;
  readonly libs: Record<string, string>;
  readonly switchyard: GitInfo & { version: string };
  readonly broker_details: {
    switchyard: Record<string, unknown>;
    mosquitto: Record<string, unknown> | null;
    rabbitmq: Record<string, unknown> | null;
  };
  readonly nofile_hard: number | null;
  readonly settings: object;
  readonly loadavg_at_start: number[];
}

interface EndMeta {
  readonly duration_s: number;
  readonly loadavg_at_end: number[];
  readonly quiet: { waits: number; spent_s: number; gave_up: number; below: number };
}

/** The items of a scenario, in run order. */
export function mqttMatrix(cfg: MqttConfig, scenario: string): MqttItem[] {
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

const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const rate = field('msgs_per_s');

function targetLines(rows: readonly HarnessRow[], cfg: MqttConfig): string[] {
  const L: string[] = [];
  const ratioTarget = (title: string, match: (r: HarnessRow) => boolean, min: number) => {
    const parts: string[] = [];
    const all: (number | null)[] = [];
    for (const size of [...new Set(rows.filter(match).map((r) => r.size ?? 0))].sort((x, y) => x - y)) {
      const m = (r: HarnessRow) => match(r) && r.size === size;
      const rs = ratios(pick(rows, SY, m), pick(rows, MOSQ, m), (r) =>
        r.error === undefined ? r.msgs_per_s : null,
      );
      if (rs.length === 0) continue;
      all.push(...rs);
      parts.push(`${formatSize(size)} ${rs.map((x) => (x === null ? '-' : `${fmt(x, 2)}x`)).join(' / ')}`);
    }
    const ok = all.length > 0 ? all.every((x) => x !== null && x >= min) : null;
    L.push(`${title}: ${parts.length > 0 ? `${parts.join('; ')}: ` : ''}${verdict(ok)}`);
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
    const m = (r: HarnessRow) => r.scenario === 'mqtt-latency' && r.rate_target === 10_000;
    const ps = pairs(pick(rows, SY, m), pick(rows, MOSQ, m)).filter(
      ([a, b]) =>
        a.qos === b.qos && (n(a.p99_us) ?? 0) > 0 && (n(b.p99_us) ?? 0) > 0 && a.error === undefined,
    );
    const lagging = pick(rows, SY, m).filter((r) => (n(r.msgs_per_s) ?? 0) < 0.97 * (r.rate_target ?? 0));
    const ok =
      ps.length > 0 ? ps.every(([a, b]) => n(a.p99_us)! <= n(b.p99_us)!) && lagging.length === 0 : null;
    const detail = ps
      .map(([a, b]) => `QoS ${a.qos} ${fmt(n(a.p99_us))} vs ${fmt(n(b.p99_us))} µs`)
      .join(' / ');
    L.push(
      `p99 latency at 10,000 msg/s <= Mosquitto's: ${ps.length > 0 ? `${detail}${lagging.length > 0 ? ' (Switchyard did not keep the rate)' : ''}: ` : ''}${verdict(ok)}`,
    );
  }
  {
    const k = rows.filter(
      (r) =>
        r.target === SY &&
        (r.scenario === 'mqtt-connections' || r.scenario === 'mqtt-idle') &&
        n(r.per_conn_kb) !== null,
    );
    const ok = k.length > 0 ? k.every((r) => n(r.per_conn_kb)! <= 4) : null;
    const detail = k
      .map(
        (r) =>
          `${fmt(n(r.per_conn_kb), 2)} KiB (${fmt(n(r.connections))} connections${r.scenario === 'mqtt-idle' ? ', raw TCP' : ', MQTT.js'})`,
      )
      .join('; ');
    L.push(`<= 4 KiB RSS per idle MQTT connection: ${detail}${k.length > 0 ? ': ' : ''}${verdict(ok)}`);
  }
  {
    const k = rows.filter((r) => r.target === SY && r.scenario === 'mqtt-idle');
    const full = cfg.idleConnections >= 50_000;
    const ok =
      k.length > 0 && full
        ? k.every((r) => r.all_accepted === true && r.still_open_after_settle === r.connections)
        : null;
    const limit = k
      .map((r) => (r.broker_nofile as { soft?: number } | null)?.soft)
      .find((x) => typeof x === 'number');
    const detail = k
      .map((r) => {
        const acc = n(r.connections) ?? 0;
        const closed = acc - (n(r.still_open_after_settle) ?? acc);
        return `${fmt(acc)} of ${fmt(n(r.connections_target))} accepted${(n(r.failures) ?? 0) > 0 ? `, ${fmt(n(r.failures))} failed` : ''}${acc > 0 && closed !== 0 ? `, ${fmt(closed)} closed by the broker` : ''}`;
      })
      .join(' / ');
    const limitNote =
      limit !== undefined && limit < cfg.idleConnections + 64
        ? ` (the broker's open-files limit was ${fmt(limit)}: ${limit < cfg.nofile ? `the hard limit here, which this user may not raise (ulimit -n ${cfg.nofile} was asked for)` : 'as asked with --nofile'}, and its sockets and its own files share it, so it could not hold ${fmt(cfg.idleConnections)} connections here)`
        : '';
    L.push(
      `${fmt(50_000)} concurrent idle connections accepted: ${detail}${k.length > 0 ? ': ' : ''}${full ? verdict(ok) : `not measured (this run asked for ${fmt(cfg.idleConnections)})`}${limitNote}`,
    );
  }
  return L;
}

export function mqttSection(o: {
  meta: MqttMeta;
  rows: readonly HarnessRow[];
  endMeta: EndMeta;
  cfg: MqttConfig;
  anomalies: readonly string[];
  mosquittoUrl: string | null;
}): string {
  const { meta, rows, cfg } = o;
  const L: string[] = [];
  L.push(
    ...runHeading({ date: meta.date, scenarios: cfg.scenarios, quick: cfg.quick, command: meta.command }),
  );
  const sd = meta.broker_details.switchyard;
  const syText =
    cfg.targetUrl !== null
      ? `Switchyard at ${cfg.targetUrl}, already running (--target-url)`
      : `Switchyard ${meta.switchyard.version}${commitText(meta.switchyard) === '' ? '' : ` (${commitText(meta.switchyard)})`}, started by the runner from a snapshot of dist/ (dist/: ${String(sd.build)}), AMQP and MQTT on ephemeral ports of 127.0.0.1`;
  const md = meta.broker_details.mosquitto;
  const mosqText =
    md === null
      ? 'Mosquitto not run'
      : o.mosquittoUrl !== null
        ? `Mosquitto at ${o.mosquittoUrl}, already running`
        : `Mosquitto ${String(md.version ?? '?')}, a private instance started by the runner (\`listener PORT 127.0.0.1\`, \`allow_anonymous true\`, \`persistence false\`, \`max_inflight_messages ${cfg.mosqMaxInflight}\`, \`max_queued_messages ${cfg.mosqMaxQueued}\`, log to stderr: errors and warnings)`;
  const rd = meta.broker_details.rabbitmq;
  L.push(
    `${syText}; ${mosqText}${rd === null ? '' : `; cross-protocol peer RabbitMQ at ${String(rd.mqtt_url)} + ${String(rd.amqp_url)}`}; client mqtt@${meta.libs.mqtt ?? '?'} and amqplib@${meta.libs.amqplib ?? '?'}, Node ${meta.node}. Open-files limit asked for the brokers ${fmt(cfg.nofile)}, hard limit here ${fmt(meta.nofile_hard)}.`,
    '',
  );
  // The idle step's openers are its client: their CPU is not other jobs'.
  const measured = rows.filter((r) => r.scenario !== 'mqtt-idle');
  const q = o.endMeta.quiet;
  const waited =
    q.waits > 0
      ? `, of which ${fmt(q.spent_s)} s waiting for other processes to use less than ${q.below}% of a core before ${q.waits} runs (${q.gave_up > 0 ? `in vain ${q.gave_up === 1 ? 'once' : `${q.gave_up} times`}` : 'each time with success'})`
      : '';
  L.push(
    conditionsLine({
      machine: meta,
      loadavg: [meta.loadavg_at_start[0], o.endMeta.loadavg_at_end[0]],
      rows,
      measured,
      timing: cfg,
      durationS: o.endMeta.duration_s,
      wallNote: waited,
    }),
    '',
  );
  const otherMedian = median(measured.map((r) => n(r.other_cpu_pct)).filter((x): x is number => x !== null));
  if (otherMedian !== null && otherMedian >= 25)
    L.push(
      `**A noisy run: other processes used a median ${fmt(otherMedian)}% of a core (of the 200% this machine has) during the measured windows, so the client and the brokers did not get a core each. Ratios and verdicts below can be off by a factor of 2 or more (two identical Mosquittos differed by up to 2.1x under similar load); rerun on a quiet machine, with --repeat 3, before drawing conclusions.**`,
      '',
    );
  L.push('Targets for Switchyard:', '', ...targetLines(rows, cfg).map((t) => `- ${t}`), '');

  const f = (name: string): Field => field(name);
  const flowCells = (a: HarnessRow[], b: HarnessRow[]) => [
    cell(a, rate),
    cell(b, rate),
    ratioCell(a, b, rate),
    cell(a, f('broker_cpu_pct')),
    cell(b, f('broker_cpu_pct')),
    cell(a, cpuPerMsg, 1),
    cell(b, cpuPerMsg, 1),
    both(a, b, f('broker_rss_mb'), 1),
    both(a, b, f('p50_us')),
    both(a, b, f('p99_us')),
    both(a, b, f('client_cpu_pct')),
    both(a, b, f('lost')),
  ];
  const flowHead = (what: string, peer = 'Mosquitto', p = 'M') => [
    `Switchyard ${what}`,
    `${peer} ${what}`,
    'ratio',
    'Switchyard CPU%',
    `${peer} CPU%`,
    'Switchyard CPU µs/msg',
    `${peer} CPU µs/msg`,
    `RSS MB (SY / ${p})`,
    `p50 µs (SY / ${p})`,
    `p99 µs (SY / ${p})`,
    `client CPU% (SY / ${p})`,
    `lost (SY / ${p})`,
  ];

  if (cfg.scenarios.includes('mqtt-throughput')) {
    L.push(
      "**Throughput**, msgs/s (mqtt-throughput: 1 publisher -> topic -> 1 subscriber, same QoS both sides, clean session, MQTT 3.1.1, max rate within the harness's 500-message end-to-end window; QoS 1 with at most 256 un-PUBACKed; ratio = Switchyard / Mosquitto; CPU µs/msg = broker CPU time per delivered message; p50/p99 at max rate are mostly queueing in the window)",
      '',
      renderMarkdownTable(
        ['QoS', 'size', ...flowHead('msgs/s')],
        mqttMatrix(cfg, 'mqtt-throughput').map((it) => {
          const m = (r: HarnessRow) =>
            r.scenario === 'mqtt-throughput' && r.qos === it.qos && r.size === it.size;
          return [String(it.qos), formatSize(it.size!), ...flowCells(pick(rows, SY, m), pick(rows, MOSQ, m))];
        }),
      ),
      '',
    );
  }
  if (cfg.scenarios.includes('mqtt-fanout')) {
    const m = (r: HarnessRow) => r.scenario === 'mqtt-fanout';
    L.push(
      `**Fan-out**, deliveries/s summed over the subscribers (mqtt-fanout: 1 publisher -> ${cfg.subscribers} subscribers, each with a one-level wildcard subscription, QoS 0, ${formatSize(cfg.fanoutSize)}, max rate; CPU µs/msg = broker CPU time per delivery)`,
      '',
      renderMarkdownTable(
        ['subscribers', ...flowHead('deliveries/s')],
        [[String(cfg.subscribers), ...flowCells(pick(rows, SY, m), pick(rows, MOSQ, m))]],
      ),
      '',
    );
  }
  if (cfg.scenarios.includes('mqtt-latency')) {
    L.push(
      `**Latency**, microseconds, end to end (mqtt-latency: as mqtt-throughput at a fixed publish rate, ${formatSize(cfg.latencySize)}; p99 ratio = Mosquitto p99 / Switchyard p99, above 1 = Switchyard better; CO p99 = from the intended send time, which counts a publisher held back)`,
      '',
      renderMarkdownTable(
        [
          'rate',
          'QoS',
          'achieved msgs/s (SY / M)',
          'p50 (SY / M)',
          'Switchyard p99',
          'Mosquitto p99',
          'p99 ratio',
          'p99.9 (SY / M)',
          'CO p99 (SY / M)',
          'Switchyard CPU%',
          'Mosquitto CPU%',
          'Switchyard CPU µs/msg',
          'Mosquitto CPU µs/msg',
          'RSS MB (SY / M)',
        ],
        mqttMatrix(cfg, 'mqtt-latency').map((it) => {
          const m = (r: HarnessRow) =>
            r.scenario === 'mqtt-latency' && r.qos === it.qos && r.rate_target === it.rate;
          const a = pick(rows, SY, m);
          const b = pick(rows, MOSQ, m);
          return [
            `${fmt(it.rate)}/s`,
            String(it.qos),
            both(a, b, rate),
            both(a, b, f('p50_us')),
            cell(a, f('p99_us')),
            cell(b, f('p99_us')),
            ratioCell(a, b, f('p99_us'), true),
            both(a, b, f('p999_us')),
            both(a, b, f('co_p99_us')),
            cell(a, f('broker_cpu_pct')),
            cell(b, f('broker_cpu_pct')),
            cell(a, cpuPerMsg, 1),
            cell(b, cpuPerMsg, 1),
            both(a, b, f('broker_rss_mb'), 1),
          ];
        }),
      ),
      '',
    );
  }
  const connectionSteps = ['mqtt-connections', 'mqtt-idle'];
  if (rows.some((r) => connectionSteps.includes(r.scenario))) {
    const body: string[][] = [];
    for (const [t, name] of [
      [SY, 'Switchyard'],
      [MOSQ, 'Mosquitto'],
    ] as const) {
      for (const step of connectionSteps) {
        const g = pick(rows, t, (r) => r.scenario === step);
        if (g.length === 0) continue;
        const c = (k: string, digits = 0) => cell(g, f(k), digits);
        body.push([
          `${name}${g.some((r) => r.fresh_process === false) ? ' (not fresh)' : ''}`,
          step,
          c('connections'),
          c('failures'),
          c('broker_rss_before_mb', 1),
          c('broker_rss_after_mb', 1),
          c('per_conn_kb', 2),
          c('conns_per_s'),
          c('broker_cpu_pct'),
          c('broker_rss_after_close_mb', 1),
          step === 'mqtt-idle' ? cell(g, (r) => (r.broker_nofile as { soft?: number } | null)?.soft) : '-',
        ]);
      }
    }
    L.push(
      `**Idle connections** (KiB/conn = (broker RSS 3 s after the last connection - RSS before) / connections open. mqtt-connections: the harness opens ${fmt(cfg.connections)} MQTT.js connections (clean session, keep-alive 60 s, 100 connecting at a time) from one process. mqtt-idle: ${fmt(cfg.idleConnections)} raw-TCP connections, each a minimal MQTT 3.1.1 CONNECT answered by CONNACK, keep-alive 60 s with PINGREQs, from opener processes of up to ${fmt(cfg.idlePerProc)} connections each (64 connecting at a time), started one after another, each from its own source addresses 127.0.0.N (2,500 connections per address); it stops when more than 2% of an opener's connections fail. Each step starts on a freshly started broker where the runner owns it)`,
      '',
      renderMarkdownTable(
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
      '',
    );
  }
  if (rows.some((r) => r.scenario === 'cross-protocol')) {
    L.push(
      '**Cross-protocol**, msgs/s (cross-protocol: MQTT QoS 0 publisher, topic bench/<id>/t -> broker -> AMQP consumer on a queue bound to amq.topic with routing key bench.<id>.t, noAck, max rate; the peer is RabbitMQ, as Mosquitto has no AMQP; "vs own MQTT" = Switchyard cross-protocol / Switchyard MQTT -> MQTT QoS 0 at the same size in this run)',
      '',
      renderMarkdownTable(
        ['size', ...flowHead('msgs/s', 'RabbitMQ', 'R'), 'vs own MQTT'],
        cfg.crossSizes.map((size) => {
          const m = (r: HarnessRow) => r.scenario === 'cross-protocol' && r.size === size;
          const a = pick(rows, SY, m);
          const own = pick(
            rows,
            SY,
            (r) => r.scenario === 'mqtt-throughput' && r.qos === 0 && r.size === size,
          );
          return [formatSize(size), ...flowCells(a, pick(rows, RMQ, m)), ratioCell(a, own, rate)];
        }),
      ),
      '',
    );
  }

  const notes = [...o.anomalies];
  const clientBound: string[] = [];
  const noisy: string[] = [];
  for (const r of rows) {
    const connectionStep = connectionSteps.includes(r.scenario);
    const target = n(r.rate_target) ?? 0;
    const what = connectionStep
      ? `K=${fmt(n(r.connections_target))}`
      : `${r.qos === undefined ? '' : `QoS ${r.qos} `}${formatSize(r.size ?? 0)}${target > 0 ? ` @${fmt(target)}/s` : ''}`;
    const id = `${r.scenario} ${r.target} ${what}${cfg.repeat > 1 ? ` run ${r.run ?? 1}` : ''}`;
    if (r.error !== undefined) notes.push(`${id}: error: ${r.error}`);
    if ((n(r.lost) ?? 0) > 0)
      notes.push(
        `${id}: ${fmt(n(r.lost))} messages lost (of ${fmt((n(r.sent) ?? 0) * (r.subscribers ?? 1))} expected)`,
      );
    if ((n(r.extra) ?? 0) > 0) notes.push(`${id}: ${fmt(n(r.extra))} extra deliveries (duplicates)`);
    if ((n(r.stalls) ?? 0) > 0)
      notes.push(`${id}: ${r.stalls} stalls (deliveries stopped for 1 s with the window full)`);
    if ((n(r.puback_errors) ?? 0) > 0) notes.push(`${id}: ${fmt(n(r.puback_errors))} PUBACK errors`);
    if (target > 0 && (n(r.msgs_per_s) ?? 0) < 0.97 * target)
      notes.push(`${id}: achieved only ${fmt(n(r.msgs_per_s))} of ${fmt(target)} msg/s`);
    if (r.synthetic !== true && Array.isArray(r.broker_pids) && r.broker_pids.length === 0)
      notes.push(`${id}: broker pid unknown, no CPU/RSS figures`);
    if (r.scenario !== 'mqtt-idle' && (n(r.other_cpu_pct) ?? 0) >= 25)
      noisy.push(`${id} (${fmt(n(r.other_cpu_pct))}%)`);
    if ((n(r.client_cpu_pct) ?? 0) >= 95 && target === 0 && !connectionStep)
      clientBound.push(`${id} (${fmt(n(r.client_cpu_pct))}%)`);
  }
  if (noisy.length > 0)
    notes.push(
      `other jobs used 25% of a core or more during the window (machine busy minus broker minus client), so these rows are noisy; rerun to confirm: ${noisy.join(', ')}`,
    );
  if (clientBound.length > 0)
    notes.push(
      `client at 95% CPU or more, so the harness client, not the broker, may be the limit (read CPU µs/msg there): ${clientBound.join(', ')}`,
    );
  L.push(...notesBlock(notes, 'No errors, lost messages or stalls.'));
  return L.join('\n');
}

export function mqttIntro(): string {
  return `## MQTT

<!-- Written by bench/mqtt-vs-mosquitto.ts (npm run bench:mqtt): the whole section is replaced by
every full run; bench/amqp-vs-rabbitmq.ts keeps it as it is. Change that script rather than this text. -->

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
Raw runs are not kept in git (\`--json FILE\` keeps one). A run dated 2026-11 was made by
bench/mqtt.mjs, which this runner replaced with the same workload; its command is shown in today's form.

\`\`\`sh
npm run bench:mqtt                              # full run, 5-7 min: this section
npm run bench:mqtt -- --quick                   # smoke run, ~1.5 min; docs untouched
npm run bench:mqtt -- -s throughput --qos 1 --sizes 1k --repeat 3
npm run bench:mqtt -- -s idle --idle-connections 50000
npm run bench:mqtt -- --help
\`\`\``;
}
