#!/usr/bin/env node
// The broker's protocols side by side on the same work (issue 6): one Switchyard, and for each
// protocol one publisher and one subscriber in this process doing 1 -> 1 through amq.topic.
//   throughput  max rate for --duration s, at most --window messages published but not yet received
//   latency     --rate msg/s for --duration s; latency = receive time - scheduled send time
//               (coordinated omission corrected: a stalled sender does not hide the wait)
//   wire        --wire-messages messages through a counting TCP proxy: bytes both ways on the
//               publisher's and the subscriber's connections, per message (handshakes excluded)
// Broker CPU per message = broker CPU % / msgs per s, from /proc over the throughput phase.
import { once } from 'node:events';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import {
  commandLine,
  cpuMeter,
  createRun,
  DOCS_FILE,
  fmt,
  gitInfo,
  commitText,
  loadAmqplib,
  machineInfo,
  makeFail,
  mdTable,
  numberParsers,
  parseCli,
  prepareDist,
  putSection,
  ROOT,
  round,
  sleep,
  within,
  countingProxy,
} from './lib-common.mjs';
import { SwitchyardProcess } from './lib-brokers.mjs';

const HELP = `node bench/protocols.mjs [options]

Compares Switchyard's protocols on the same 1 -> 1 work through amq.topic and writes the table
into docs/benchmarks.md (section "protocols").

  --only LIST          protocols to run (default all): amqp,mqtt0,mqtt1,grpc,ws,wsjson,http
  --size BYTES         message size (default 1024)
  --duration S         seconds per throughput and latency phase (default 8; --quick 2)
  --window N           published-but-not-received bound in the throughput phase (default 1000)
  --rate N             msg/s in the latency phase (default 1000)
  --wire-messages N    messages in the wire-bytes phase (default 2000)
  --quick              short phases, results under bench/results/tmp, docs untouched
  --no-docs            leave docs/benchmarks.md as it is
  --no-build           use dist/ as it is
`;

const fail = makeFail('bench:protocols');
const opt = parseCli({
  name: 'bench:protocols',
  help: HELP,
  options: {
    only: { type: 'string' },
    size: { type: 'string' },
    duration: { type: 'string' },
    window: { type: 'string' },
    rate: { type: 'string' },
    'wire-messages': { type: 'string' },
    quick: { type: 'boolean' },
    docs: { type: 'boolean' },
    build: { type: 'boolean' },
  },
});
const { posNum, int: posInt } = numberParsers(fail);
const quick = opt.quick === true;
const cfg = {
  size: posInt('size', opt.size, 1024),
  duration: posNum('duration', opt.duration, quick ? 2 : 8),
  window: posInt('window', opt.window, 1000),
  rate: posInt('rate', opt.rate, 1000),
  wireMessages: posInt('wire-messages', opt['wire-messages'], quick ? 500 : 2000),
  docs: opt.docs !== false && !quick,
  build: opt.build !== false,
};
const ALL = ['amqp', 'mqtt0', 'mqtt1', 'grpc', 'ws', 'wsjson', 'http'];
const only = opt.only ? opt.only.split(',').map((s) => s.trim()) : ALL;
for (const p of only)
  if (!ALL.includes(p)) fail(`--only: unknown protocol '${p}' (known: ${ALL.join(', ')})`);

const run = createRun({ stem: 'protocols', tmp: quick });
const { log, anomaly } = run;

// ---------------------------------------------------------------- message bodies

// The scheduled send time travels in the body as ASCII, so every protocol's body is text of the
// same size (the JSON front ends then carry it as is, not base64).
function bodyAt(t, size) {
  const head = t.toFixed(3);
  return Buffer.from(head.padEnd(size, 'x'));
}
function timeOf(buf) {
  const s = buf.toString('latin1', 0, 24);
  return Number.parseFloat(s);
}

// ---------------------------------------------------------------- protocol clients

// Each: open(ep, key, onBody) -> { send(buf) -> boolean (false: wait for drain()), drain(), close() }
// where ep = { host, amqp, mqtt, http, grpc } ports (direct or through the counting proxies).

const { amqp } = loadAmqplib();
const mqttLib = (await import('mqtt')).default;
const WebSocket = (await import('ws')).default;

const PROTOCOLS = {
  amqp: {
    label: 'AMQP 0-9-1 (transient, no-ack)',
    async open(ep, key, onBody) {
      const sub = await amqp.connect(`amqp://guest:guest@${ep.host}:${ep.amqp}`, { noDelay: true });
      const sch = await sub.createChannel();
      const q = await sch.assertQueue('', { exclusive: true });
      await sch.bindQueue(q.queue, 'amq.topic', key);
      await sch.consume(q.queue, (m) => m && onBody(m.content), { noAck: true });
      const pub = await amqp.connect(`amqp://guest:guest@${ep.host}:${ep.amqp}`, { noDelay: true });
      const pch = await pub.createChannel();
      return {
        send: (buf) => pch.publish('amq.topic', key, buf),
        drain: () => once(pch, 'drain'),
        close: async () => {
          await pub.close();
          await sub.close();
        },
      };
    },
  },
  mqtt0: mqttProtocol(0),
  mqtt1: mqttProtocol(1),
  ws: wsProtocol(true),
  wsjson: wsProtocol(false),
  http: {
    label: 'HTTP POST publish + SSE',
    async open(ep, key, onBody) {
      const agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
      const sse = httpRequest({
        host: ep.host,
        port: ep.http,
        path: `/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=${encodeURIComponent(key)}`,
        headers: { accept: 'text/event-stream' },
      });
      sse.end();
      const [res] = await once(sse, 'response');
      if (res.statusCode !== 200) throw new Error(`SSE: HTTP ${res.statusCode}`);
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk) => {
        pending += chunk;
        let i = pending.indexOf('\n\n');
        while (i >= 0) {
          const event = pending.slice(0, i);
          pending = pending.slice(i + 2);
          for (const line of event.split('\n')) {
            if (line.startsWith('data:')) {
              const d = JSON.parse(line.slice(5));
              onBody(Buffer.from(d.body, d.bodyEncoding === 'base64' ? 'base64' : 'utf8'));
            }
          }
          i = pending.indexOf('\n\n');
        }
      });
      let outstanding = 0;
      let waiter = null;
      const path = `/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=${encodeURIComponent(key)}`;
      return {
        send: (buf) => {
          outstanding++;
          const req = httpRequest(
            {
              host: ep.host,
              port: ep.http,
              path,
              method: 'POST',
              agent,
              headers: { 'content-type': 'text/plain', 'content-length': buf.length },
            },
            (r) => {
              r.resume();
              r.on('end', () => {
                outstanding--;
                if (waiter && outstanding < 32) {
                  const w = waiter;
                  waiter = null;
                  w();
                }
              });
            },
          );
          req.on('error', () => {});
          req.end(buf);
          return outstanding < 64;
        },
        drain: () => (outstanding < 32 ? Promise.resolve() : new Promise((r) => (waiter = r))),
        close: async () => {
          sse.destroy();
          agent.destroy();
        },
      };
    },
  },
  grpc: {
    label: 'gRPC Session (bidi stream, auto-ack)',
    async open(ep, key, onBody) {
      const { openGrpcSession } = await import('./protocols-grpc.mjs');
      return openGrpcSession(ep, key, onBody);
    },
  },
};

function mqttProtocol(qos) {
  return {
    label: `MQTT 3.1.1 QoS ${qos}`,
    async open(ep, key, onBody) {
      const topic = key.replaceAll('.', '/');
      const opts = { protocolVersion: 4, clean: true, reconnectPeriod: 0 };
      const sub = await mqttLib.connectAsync(`mqtt://${ep.host}:${ep.mqtt}`, opts);
      sub.stream.setNoDelay?.(true);
      sub.on('message', (_t, payload) => onBody(payload));
      await sub.subscribeAsync(topic, { qos });
      const pub = await mqttLib.connectAsync(`mqtt://${ep.host}:${ep.mqtt}`, opts);
      pub.stream.setNoDelay?.(true);
      return {
        send: (buf) => {
          pub.publish(topic, buf, { qos });
          return !pub.stream.writableNeedDrain;
        },
        drain: () => once(pub.stream, 'drain'),
        close: async () => {
          await pub.endAsync();
          await sub.endAsync();
        },
      };
    },
  };
}

// binary: publishes and deliveries in the binary frame form (docs/websocket-protocol.md section 5);
// otherwise JSON text frames with the body as a string.
function wsProtocol(binary) {
  return {
    label: `WebSocket (${binary ? 'binary' : 'JSON'} frames, auto-ack)`,
    async open(ep, key, onBody) {
      const url = `ws://${ep.host}:${ep.http}/ws`;
      const sub = await openWs(url);
      sub.on('message', (data, isBinary) => {
        if (isBinary) onBody(data.subarray(5 + data.readUInt32BE(1)));
        else {
          const f = JSON.parse(data.toString());
          if (f.op === 'deliver')
            onBody(Buffer.from(f.body, f.bodyEncoding === 'base64' ? 'base64' : 'utf8'));
        }
      });
      await wsRequest(sub, { op: 'subscribe', sub: 's', exchange: 'amq.topic', key, binary }, 'subscribed');
      const pub = await openWs(url);
      const jsonHead = `{"op":"publish","exchange":"amq.topic","routingKey":${JSON.stringify(key)},"body":`;
      const header = Buffer.from(JSON.stringify({ exchange: 'amq.topic', routingKey: key }));
      const prefix = Buffer.alloc(5 + header.length);
      prefix[0] = 0x01;
      prefix.writeUInt32BE(header.length, 1);
      header.copy(prefix, 5);
      return {
        send: (buf) => {
          if (binary) pub.send(Buffer.concat([prefix, buf]), { binary: true });
          else pub.send(`${jsonHead}${JSON.stringify(buf.toString('utf8'))}}`);
          return pub.bufferedAmount < 1 << 20;
        },
        drain: async () => {
          while (pub.bufferedAmount >= 1 << 19) await sleep(1);
        },
        close: async () => {
          pub.close();
          sub.close();
        },
      };
    },
  };
}

async function openWs(url) {
  const ws = new WebSocket(url, 'switchyard.v1');
  await once(ws, 'open');
  return ws;
}

function wsRequest(ws, frame, answer) {
  const p = new Promise((resolve, reject) => {
    const on = (data) => {
      const f = JSON.parse(data.toString());
      if (f.op === answer) {
        ws.off('message', on);
        resolve(f);
      } else if (f.op === 'error') {
        ws.off('message', on);
        reject(new Error(`${f.code}: ${f.message}`));
      }
    };
    ws.on('message', on);
  });
  ws.send(JSON.stringify(frame));
  return p;
}

// ---------------------------------------------------------------- the phases

let keySeq = 0;
const freshKey = (p) => `bench.${p}.${process.pid}.${keySeq++}`;

async function throughput(name, ep, pid) {
  let received = 0;
  let wake = null;
  const onBody = () => {
    received++;
    if (wake !== null) {
      const w = wake;
      wake = null;
      w();
    }
  };
  const c = await PROTOCOLS[name].open(ep, freshKey(name), onBody);
  const body = bodyAt(0, cfg.size);
  let sent = 0;
  const until = performance.now() + cfg.duration * 1000;
  const cpu = cpuMeter(pid);
  const t0 = performance.now();
  while (performance.now() < until) {
    let ok = true;
    for (let i = 0; i < 100 && ok && sent - received < cfg.window; i++) {
      ok = c.send(body);
      sent++;
    }
    if (!ok) await within(c.drain(), 1000);
    else if (sent - received >= cfg.window) await within(new Promise((r) => (wake = r)), 1000);
    else await yieldLoop();
  }
  const elapsed = (performance.now() - t0) / 1000;
  const got = received;
  const usage = cpu();
  // let what is in flight arrive before the connections close
  const drainUntil = performance.now() + 5000;
  while (received < sent && performance.now() < drainUntil) await sleep(10);
  await c.close();
  const rate = got / elapsed;
  if (received < sent)
    anomaly(`${name}: ${sent - received} of ${sent} messages not received after the phase`);
  return {
    msgs_per_s: Math.round(rate),
    broker_cpu_pct: usage.broker_cpu_pct,
    client_cpu_pct: usage.client_cpu_pct,
    broker_us_per_msg: usage.broker_cpu_pct === null ? null : round((usage.broker_cpu_pct / rate) * 1e4, 1),
  };
}

async function latency(name, ep) {
  const samples = [];
  const c = await PROTOCOLS[name].open(ep, freshKey(name), (buf) => {
    samples.push(performance.now() - timeOf(buf));
  });
  const interval = 1000 / cfg.rate;
  const total = Math.round(cfg.rate * cfg.duration);
  const start = performance.now() + 50;
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    while (sent < total && start + sent * interval <= now) {
      // Scheduled time, not the actual send time: a late send shows up as latency.
      c.send(bodyAt(start + sent * interval, cfg.size));
      sent++;
    }
    // Timers fire a millisecond or more late, which would add the same ~0.5 ms to every
    // protocol's figure: sleep only when the next send is far, spin on the event loop otherwise.
    const wait = start + sent * interval - performance.now();
    if (wait > 2) await sleep(wait - 1.5);
    else await yieldLoop();
  }
  const until = performance.now() + 5000;
  while (samples.length < total && performance.now() < until) await sleep(5);
  await c.close();
  if (samples.length < total) anomaly(`${name} latency: ${total - samples.length} of ${total} not received`);
  samples.sort((a, b) => a - b);
  const q = (p) =>
    samples.length
      ? round(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] * 1000, 0)
      : null;
  return { p50_us: q(0.5), p99_us: q(0.99), p999_us: q(0.999), max_us: q(1) };
}

async function wireBytes(name, ep) {
  const proxies = {};
  for (const p of ['amqp', 'mqtt', 'http', 'grpc'])
    if (ep[p]) proxies[p] = await countingProxy(ep.host, ep[p]);
  const via = { host: '127.0.0.1' };
  for (const [p, px] of Object.entries(proxies)) via[p] = px.port;
  let received = 0;
  let wake = null;
  const c = await PROTOCOLS[name].open(via, freshKey(name), () => {
    received++;
    if (wake) wake();
  });
  // a few messages first, so lazily set-up state (and HTTP keep-alive sockets) is in place
  const warm = 20;
  const body = bodyAt(0, cfg.size);
  for (let i = 0; i < warm; i++) c.send(body);
  while (received < warm) await within(new Promise((r) => (wake = r)), 1000);
  const before = Object.values(proxies).reduce((s, px) => s + px.total(), 0);
  let sent = 0;
  while (sent < cfg.wireMessages) {
    if (!c.send(body)) await within(c.drain(), 1000);
    sent++;
    if (sent - (received - warm) >= 200) await within(new Promise((r) => (wake = r)), 1000);
  }
  const until = performance.now() + 5000;
  while (received - warm < cfg.wireMessages && performance.now() < until) await sleep(5);
  await sleep(100); // trailing acks (MQTT PUBACK, HTTP responses)
  const after = Object.values(proxies).reduce((s, px) => s + px.total(), 0);
  await c.close();
  for (const px of Object.values(proxies)) px.close();
  return { wire_bytes_per_msg: Math.round((after - before) / cfg.wireMessages) };
}

// ---------------------------------------------------------------- main

async function main() {
  log(
    `protocols: ${only.join(', ')}; ${cfg.size} B, ${cfg.duration} s per phase, window ${cfg.window}, latency at ${cfg.rate}/s`,
  );
  const snapshot = prepareDist({ root: ROOT, build: cfg.build, log, logRaw: run.logRaw, anomaly });
  const proc = new SwitchyardProcess({
    snapshot,
    ctx: run,
    ports: { amqp: 0, mqtt: 0, http: 0, grpc: 0 },
  });
  const info = await proc.start();
  const ep = { host: '127.0.0.1' };
  for (const p of ['amqp', 'mqtt', 'http', 'grpc']) ep[p] = info.listeners[p]?.port;
  const rows = [];
  try {
    for (const name of only) {
      log(`${name}: throughput`);
      const row = { protocol: name, label: PROTOCOLS[name].label, size: cfg.size };
      try {
        Object.assign(row, await throughput(name, ep, info.pid));
        log(`${name}: latency at ${cfg.rate}/s`);
        Object.assign(row, await latency(name, ep));
        log(`${name}: wire bytes`);
        Object.assign(row, await wireBytes(name, ep));
      } catch (e) {
        anomaly(`${name}: ${e.message}`);
        row.error = e.message;
      }
      log(`${name}: ${JSON.stringify(row)}`);
      run.writeRow(row);
      rows.push(row);
    }
  } finally {
    await proc.stop(10);
    proc.cleanup();
    snapshot.remove();
  }
  const amqpRate = rows.find((r) => r.protocol === 'amqp')?.msgs_per_s;
  const table = mdTable(
    ['protocol', 'msg/s', 'vs AMQP', 'broker µs/msg', 'p50 µs', 'p99 µs', 'wire B/msg'],
    rows.map((r) => [
      r.label,
      r.error ? `error: ${r.error}` : fmt(r.msgs_per_s),
      amqpRate && r.msgs_per_s ? `${round(r.msgs_per_s / amqpRate, 2)}x` : '',
      r.broker_us_per_msg ?? '',
      fmt(r.p50_us),
      fmt(r.p99_us),
      fmt(r.wire_bytes_per_msg),
    ]),
  );
  process.stdout.write(`\n${table}\n`);
  if (run.anomalies.length)
    process.stdout.write(`\nanomalies:\n${run.anomalies.map((a) => `- ${a}`).join('\n')}\n`);
  if (cfg.docs) {
    const g = gitInfo();
    const m = machineInfo();
    putSection(
      DOCS_FILE,
      'protocols',
      `## Protocols side by side

<!-- Written by bench/protocols.mjs. -->

One Switchyard; per protocol one publisher and one subscriber in the bench process, 1 -> 1 through
\`amq.topic\`, ${cfg.size} B bodies. Throughput: max rate for ${cfg.duration} s with at most
${cfg.window} messages published but not yet received. Latency: ${cfg.rate} msg/s, receive time minus
scheduled send time. Wire bytes: both directions of the publisher's and the subscriber's
connections, counted by a TCP proxy, per message (handshakes excluded). Broker µs/msg: broker CPU
over the throughput phase divided by messages. Client-side limits apply: the bench process runs
both clients on one core, so compare broker µs/msg first. The work is not quite equal: a gRPC
\`Session\` publish is always confirmed (one confirm frame per message back to the publisher), the
AMQP and MQTT QoS 0 publishes are not. Clients: amqplib, MQTT.js, \`ws\` (binary: the compact
frame form of docs/websocket-protocol.md section 5), node:http (keep-alive POSTs, one SSE stream),
and for gRPC node:http2 with hand-encoded publishes (bench/protocols-grpc.mjs; connect-node's own
client would be the bottleneck). Rerun: \`npm run bench:protocols\` (about 6 minutes; \`--quick\` for a
smoke run, \`--only grpc,ws\` for some protocols, \`--help\`).

${run.day}, ${commitText(g)}, ${m.cpus} x ${m.cpu_model}, ${m.node}; command: \`${commandLine('node bench/protocols.mjs')}\`

${table}
${run.anomalies.length ? `\nAnomalies:\n${run.anomalies.map((a) => `- ${a}`).join('\n')}\n` : ''}`,
    );
    log(`docs/benchmarks.md: section "protocols" written`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:protocols: ${e.stack ?? e}\n`);
    process.exit(1);
  },
);
