/**
 * Slow consumers (issue 15): `npm run bench:slow-consumer -- [--stall S] [--baseline S] [--size B]
 * [--bound B] [--no-docs]`.
 *
 * Per protocol, on a freshly started broker: a flood publisher sends QoS 0 MQTT messages of
 * `size` bytes to topic flood/x as fast as TCP lets it, and a bystander MQTT pair on by/x runs
 * closed-loop (100 QoS 0 messages, wait until all arrived, again). First `baseline` seconds with
 * no subscriber on flood/x (the bystander's baseline rate); then a subscriber on flood/x over the
 * protocol under test reads its handshake and never anything more, for `stall` seconds; then it
 * disconnects. Measured: the broker's RSS growth while stalled (VmRSS, from /proc), 2 s after the
 * disconnect, the bystander's rate while stalled against its baseline, and the broker's drop
 * counters (GET /metrics). Mosquitto (its defaults) runs the MQTT TCP case in the same run.
 *
 * Switchyard runs from source (node --import tsx src/cli/main.ts) on ephemeral ports with
 * limits.maxOutboundBytes = `bound`. Output: a table on stdout and the "slow-consumer" section
 * of docs/benchmarks.md (unless --no-docs). Bounded: every phase has a fixed length, and every
 * wait a deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { get as httpGet } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { create, toBinary } from '@bufbuild/protobuf';
import amqp from 'amqplib';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { memoryKib } from '../src/cli/bench/proc.js';
import { SubscribeRequestSchema } from '../src/gen/switchyard/v1/broker_pb.js';
import { freePort, mosquittoVersion, portOpen } from './lib/brokers.js';
import { putSection } from './lib/docs-sections.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import { ROOT } from './lib/paths.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const STALL_S = flag('stall', 8);
const BASELINE_S = flag('baseline', 3);
const SIZE = flag('size', 1024);
const BOUND = flag('bound', 1024 * 1024);
const DOCS = !args.includes('--no-docs');
/** --only TEXT: the cases whose protocol name contains TEXT (Mosquitto runs with MQTT TCP). */
const ONLY = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '') : '';
const MiB = 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for `cond` up to `ms`; false when it never held. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await sleep(10);
  }
  return true;
}

interface Ports {
  mqtt: number;
  amqp?: number;
  http?: number;
  grpc?: number;
}

interface Broker {
  readonly pid: number;
  readonly ports: Ports;
  stop(): Promise<void>;
}

async function startSwitchyard(): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-slow-'));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/main.ts'),
      '--host',
      '127.0.0.1',
      '--data-dir',
      dir,
      ...['amqp', 'mqtt', 'http', 'grpc'].flatMap((p) => [`--${p}-port`, '0']),
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SWITCHYARD_LIMITS_MAX_OUTBOUND_BYTES: String(BOUND) },
    },
  );
  const ports: Partial<Ports> = {};
  const ready = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('switchyard did not start within 30 s')), 30_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /switchyard: (\w+) listening on [\d.]+:(\d+)/.exec(l);
      if (m) ports[m[1] as keyof Ports] = Number(m[2]);
      if (/\bready\b/.test(l)) {
        clearTimeout(t);
        resolve();
      }
    });
    createInterface({ input: child.stderr! }).on('line', (l) => process.stderr.write(`[switchyard] ${l}\n`));
    child.once('exit', (code) => reject(new Error(`switchyard exited (${code})`)));
  });
  await ready;
  return {
    pid: child.pid!,
    ports: ports as Ports,
    stop: () => stopChild(child, () => rmSync(dir, { recursive: true, force: true })),
  };
}

async function startMosquitto(): Promise<Broker | null> {
  if (mosquittoVersion('mosquitto') === null) return null;
  const dir = mkdtempSync(join(tmpdir(), 'bench-slow-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  // Its defaults otherwise (max_queued_messages 1000, max_queued_bytes 0, queue_qos0_messages false).
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n`,
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (!(await until(() => child.exitCode === null, 100)) || !(await waitPort(port))) {
    await stopChild(child, () => rmSync(dir, { recursive: true, force: true }));
    return null;
  }
  return {
    pid: child.pid!,
    ports: { mqtt: port },
    stop: () => stopChild(child, () => rmSync(dir, { recursive: true, force: true })),
  };
}

async function waitPort(port: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await portOpen('127.0.0.1', port, 200)) return true;
    await sleep(50);
  }
  return false;
}

async function stopChild(child: ChildProcess, cleanup: () => void): Promise<void> {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  cleanup();
}

// ---- MQTT clients on raw sockets (the same bytes for both brokers) ----------------------------

const connectPacket = (id: string) =>
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId: id,
    keepalive: 0,
  });

/** Resolves once `n` bytes came in, then stops reading `src` for good. */
function readThenStall(src: NodeJS.ReadableStream & { pause(): unknown }, n: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (c: Buffer) => {
      got += c.length;
      if (got < n) return;
      src.removeListener('data', onData);
      src.pause();
      resolve();
    };
    src.on('data', onData);
  });
}

async function mqttSocket(port: number, id: string, subscribe?: string): Promise<Socket> {
  const s = tcpConnect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write(connectPacket(id));
  if (subscribe !== undefined) {
    s.write(
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: subscribe, qos: 0 }] }),
    );
  }
  return s;
}

/** Publishes `packet` as fast as the socket takes it, until stop(). */
async function flood(port: number, topic: string): Promise<{ stop(): void; sent(): number }> {
  const s = await mqttSocket(port, 'flood');
  const packet = mqttPacket.generate({
    cmd: 'publish',
    topic,
    payload: Buffer.alloc(SIZE, 0x61),
    qos: 0,
    retain: false,
    dup: false,
  });
  const batch = Buffer.concat(Array.from({ length: 64 }, () => packet));
  let stopped = false;
  let sent = 0;
  const pump = () => {
    while (!stopped) {
      sent += 64;
      if (!s.write(batch)) return;
    }
  };
  s.on('drain', pump);
  s.on('data', () => {}); // CONNACK
  pump();
  return {
    stop: () => {
      stopped = true;
      s.destroy();
    },
    sent: () => sent,
  };
}

/** The bystander: closed-loop rounds of 100 QoS 0 messages on `topic`; counts what arrived. */
async function bystander(port: number, topic: string) {
  const sub = await mqttSocket(port, 'by-sub', topic);
  const pub = await mqttSocket(port, 'by-pub');
  pub.on('data', () => {});
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let got = 0;
  let subscribed = false;
  parser.on('packet', (p) => {
    if (p.cmd === 'suback') subscribed = true;
    if (p.cmd === 'publish') got++;
  });
  sub.on('data', (c: Buffer) => parser.parse(c));
  if (!(await until(() => subscribed, 10_000))) throw new Error('bystander: no SUBACK');
  const round = Buffer.concat(
    Array.from({ length: 100 }, () =>
      mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload: Buffer.alloc(64, 0x62),
        qos: 0,
        retain: false,
        dup: false,
      }),
    ),
  );
  /** Runs rounds for `ms`; returns messages per second received. A lost message ends a round after 1 s. */
  const run = async (ms: number): Promise<number> => {
    const t0 = Date.now();
    const start = got;
    while (Date.now() - t0 < ms) {
      const want = got + 100;
      pub.write(round);
      await until(() => got >= want, 1000);
    }
    return ((got - start) * 1000) / (Date.now() - t0);
  };
  return {
    run,
    close: () => {
      sub.destroy();
      pub.destroy();
    },
  };
}

// ---- stalled subscribers per protocol ----------------------------------------------------------

type Stall = (b: Broker) => Promise<() => void>;

const STALLS: Record<string, Stall> = {
  'MQTT TCP (QoS 0)': async (b) => {
    const s = await mqttSocket(b.ports.mqtt, 'stalled', 'flood/x');
    await readThenStall(s, 9);
    return () => s.destroy();
  },
  'MQTT WS (QoS 0)': async (b) => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.ports.http}/mqtt`, 'mqtt');
    ws.on('error', () => {});
    await new Promise((r) => ws.once('open', r));
    ws.send(connectPacket('stalled-ws'));
    ws.send(
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/x', qos: 0 }] }),
    );
    await new Promise<void>((resolve) => {
      let got = 0;
      const on = (d: Buffer) => {
        got += d.length;
        if (got < 9) return;
        ws.off('message', on);
        ws.pause();
        resolve();
      };
      ws.on('message', on);
    });
    return () => ws.terminate();
  },
  'AMQP (no-ack)': async (b) => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.ports.amqp}`);
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, 'amq.topic', 'flood.x');
    await ch.consume(q, () => {}, { noAck: true });
    const stream = (conn as unknown as { connection: { stream: Socket } }).connection.stream;
    stream.removeAllListeners('readable');
    stream.pause();
    return () => stream.destroy();
  },
  'gRPC Subscribe (auto ack)': async (b) => {
    const session = h2connect(`http://127.0.0.1:${b.ports.grpc}`);
    session.on('error', () => {});
    const stream = session.request({
      ':method': 'POST',
      ':path': '/switchyard.v1.Broker/Subscribe',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('error', () => {});
    const m = toBinary(
      SubscribeRequestSchema,
      create(SubscribeRequestSchema, {
        source: { case: 'exchange', value: 'amq.topic' },
        bindingKey: 'flood.x',
        autoAck: true,
      }),
    );
    const h = Buffer.alloc(5);
    h.writeUInt32BE(m.length, 1);
    stream.end(Buffer.concat([h, m]));
    await readThenStall(stream, 7);
    return () => session.destroy();
  },
  'native WebSocket (auto ack)': async (b) => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.ports.http}/ws`);
    ws.on('error', () => {});
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ op: 'subscribe', sub: 's', exchange: 'amq.topic', key: 'flood.x' }));
    await new Promise<void>((resolve) => {
      ws.once('message', () => {
        ws.pause();
        resolve();
      });
    });
    return () => ws.terminate();
  },
  'SSE (exchange events)': async (b) => {
    let destroy = () => {};
    await new Promise<void>((resolve, reject) => {
      const req = httpGet(
        `http://127.0.0.1:${b.ports.http}/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=flood.x`,
        (res) => {
          destroy = () => res.destroy();
          void readThenStall(res, 1).then(resolve);
        },
      );
      req.on('error', reject);
    });
    return destroy;
  },
};

/** Dropped messages per protocol, from GET /metrics. */
async function drops(b: Broker): Promise<Record<string, number>> {
  if (b.ports.http === undefined) return {};
  const text = await new Promise<string>((resolve, reject) => {
    httpGet(`http://127.0.0.1:${b.ports.http}/metrics`, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (s += c));
      res.on('end', () => resolve(s));
    }).on('error', reject);
  });
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^switchyard_outbound_dropped_messages_total\{protocol="(\w+)"\} (\d+)$/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}

const rssMiB = (pid: number) => (memoryKib(pid)?.rss ?? Number.NaN) / 1024;

interface Row {
  broker: string;
  protocol: string;
  baseline: number;
  stalled: number;
  growth: number;
  afterClose: number;
  flooded: number;
  dropped: number | null;
}

async function runCase(
  brokerName: string,
  start: () => Promise<Broker | null>,
  protocol: string,
  stall: Stall,
): Promise<Row | null> {
  const b = await start();
  if (b === null) return null;
  try {
    const by = await bystander(b.ports.mqtt, 'by/x');
    const f = await flood(b.ports.mqtt, 'flood/x');
    await by.run(1000); // warm-up
    const baseline = await by.run(BASELINE_S * 1000);
    const rss0 = rssMiB(b.pid);
    const d0 = await drops(b);
    const sent0 = f.sent();
    const close = await stall(b);
    const stalled = await by.run(STALL_S * 1000);
    const rss1 = rssMiB(b.pid);
    const flooded = f.sent() - sent0;
    const d1 = await drops(b);
    close();
    f.stop();
    await sleep(2000);
    const rss2 = rssMiB(b.pid);
    by.close();
    const sum = (d: Record<string, number>) => Object.values(d).reduce((a, x) => a + x, 0);
    return {
      broker: brokerName,
      protocol,
      baseline,
      stalled,
      growth: rss1 - rss0,
      afterClose: rss2 - rss0,
      flooded,
      dropped: b.ports.http === undefined ? null : sum(d1) - sum(d0),
    };
  } finally {
    await b.stop();
  }
}

const rows: Row[] = [];
const t0 = Date.now();
for (const [protocol, stall] of Object.entries(STALLS)) {
  if (!protocol.includes(ONLY)) continue;
  process.stderr.write(`switchyard, ${protocol}...\n`);
  const r = await runCase('Switchyard', startSwitchyard, protocol, stall);
  if (r !== null) rows.push(r);
}
const mosq = mosquittoVersion('mosquitto');
if ('MQTT TCP (QoS 0)'.includes(ONLY)) {
  process.stderr.write(`mosquitto ${mosq ?? '(not installed)'}, MQTT TCP...\n`);
  const m = await runCase(
    `Mosquitto ${mosq ?? ''}`.trim(),
    startMosquitto,
    'MQTT TCP (QoS 0)',
    STALLS['MQTT TCP (QoS 0)']!,
  );
  if (m !== null) rows.push(m);
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const pct = (r: Row) => `${Math.round((100 * r.stalled) / r.baseline)} %`;
const table = [
  '| broker | stalled subscriber | bystander msg/s, baseline | bystander msg/s, stalled | kept | RSS growth, stalled (MiB) | 2 s after it left (MiB) | flood msgs while stalled | dropped |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.broker} | ${r.protocol} | ${Math.round(r.baseline)} | ${Math.round(r.stalled)} | ${pct(r)} | ${f1(r.growth)} | ${f1(r.afterClose)} | ${r.flooded} | ${r.dropped ?? 'n/a'} |`,
  ),
].join('\n');
const git = gitInfo();
const machine = machineInfo();
const command = `npm run bench:slow-consumer${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const section = `## Slow consumers

${new Date().toISOString().slice(0, 10)}, \`${command}\` (bench/slow-consumer.ts) on ${machine.cpus} × ${machine.cpu_model},
${machine.mem_gb} GB, Node ${machine.node}, commit ${git.commit ?? '?'}${git.src_modified === true ? ' (src/ modified)' : ''}.
Each row is a fresh broker: a flood publisher sends ${SIZE}-byte QoS 0 MQTT messages to flood/x as
fast as TCP takes them; a bystander MQTT pair on by/x runs closed-loop rounds of 100 QoS 0
messages: ${BASELINE_S} s with nobody on flood/x (baseline), then ${STALL_S} s with a subscriber
on flood/x that reads its handshake and nothing more, over the protocol named; then it
disconnects. RSS growth is the broker's VmRSS at the end of the stall minus before it, and 2 s
after the subscriber left. Switchyard: limits.maxOutboundBytes = ${BOUND / MiB} MiB; dropped is its
counter (GET /metrics) over the stall. Mosquitto: its defaults, in the same run.

${table}

Reading: "kept" is the bystander's rate while stalled over its baseline; on a shared machine both
move with the load of other processes, so read it over several runs. RSS growth includes what
the V8 heap and the allocator keep after the stalled phase's extra work (first use of the
protocol's code paths and buffers), so it is not comparable to the bound byte for byte; what
shows the bound holds is that it does not grow with the flood ("dropped" follows "flood msgs":
what was routed to the stalled subscriber was dropped, not kept). n/a: the figure could not be read (no /proc entry, or no
counter: Mosquitto has none here).
`;
process.stdout.write(`${section}\n(${Math.round((Date.now() - t0) / 1000)} s)\n`);
if (DOCS) putSection('slow-consumer', section);
