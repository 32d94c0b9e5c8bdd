#!/usr/bin/env node
// The same call two ways (issue 7): Inventory.UpdateStock as REST/JSON through Switchyard's gateway
// (HTTP/1.1 keep-alive -> gateway -> gRPC upstream) and as native gRPC straight to the Inventory
// service (HTTP/2, hand-encoded protobuf). Two processes: the Inventory service and the broker
// (src/ run through tsx, no build); the clients run in this process.
//   latency     1 call in flight for --duration s: p50/p99 per call
//   throughput  --concurrency calls in flight for --duration s: calls/s, p50/p99, and CPU per call
//               of the server side (broker + Inventory for REST, Inventory alone for gRPC), /proc
//   wire        --wire-calls calls through a counting TCP proxy: bytes both ways per call
// The REST path does strictly more work (one more hop): this measures what the hop and the JSON
// mapping cost, which is the usual "gRPC is cheaper than REST/JSON" claim on this hardware.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import {
  CLK_TCK,
  commandLine,
  commitText,
  createRun,
  DOCS_FILE,
  fmt,
  gitInfo,
  loadavg,
  machineInfo,
  makeFail,
  mdTable,
  numberParsers,
  parseCli,
  procTicks,
  putSection,
  ROOT,
  round,
  within,
  countingProxy,
} from './lib-common.mjs';

const HELP = `node bench/gateway.mjs [options]

UpdateStock as REST/JSON through the gateway and as native gRPC to the service; writes the table
into docs/benchmarks.md (section "gateway").

  --duration S        seconds per latency and throughput phase (default 6; --quick 2)
  --concurrency N     calls in flight in the throughput phase (default 16)
  --wire-calls N      calls in the wire-bytes phase (default 2000; --quick 300)
  --quick             short phases, results under bench/results/tmp, docs untouched
  --no-docs           leave docs/benchmarks.md as it is
`;

const fail = makeFail('bench:gateway');
const opt = parseCli({
  name: 'bench:gateway',
  help: HELP,
  options: {
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    'wire-calls': { type: 'string' },
    quick: { type: 'boolean' },
    docs: { type: 'boolean' },
  },
});
const { posNum, int: posInt } = numberParsers(fail);
const quick = opt.quick === true;
const cfg = {
  duration: posNum('duration', opt.duration, quick ? 2 : 6),
  concurrency: posInt('concurrency', opt.concurrency, 16),
  wireCalls: posInt('wire-calls', opt['wire-calls'], quick ? 300 : 2000),
  docs: opt.docs !== false && !quick,
};

const run = createRun({ stem: 'gateway', tmp: quick });
const { log, anomaly } = run;

const SKU = 'bench';
/** Enough stock that no phase runs out (int32). */
const STOCK = 2_000_000_000;
const START_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------- server processes

/** Spawns `node --import tsx ARGS` and resolves with its pid and the ports it says it listens on. */
async function startNode(label, args, want) {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, INVENTORY_SEED: JSON.stringify({ [SKU]: STOCK }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  run.children.add(child);
  const ports = {};
  let ready;
  const isReady = new Promise((r) => (ready = r));
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (l) => {
      run.logRaw(`${label}: ${l}`);
      const m = /\b(\w+) listening on (?:\S+):(\d+)/.exec(l);
      if (m) {
        ports[m[1]] = Number(m[2]);
        if (want.every((p) => ports[p] !== undefined)) ready();
      }
    });
  }
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${label} exited (${code}) before it was ready; see ${run.LOG}`);
  });
  const ok = await within(Promise.race([isReady.then(() => true), exited]), START_TIMEOUT_MS, false);
  if (!ok) {
    child.kill('SIGKILL');
    throw new Error(`${label} not ready within ${START_TIMEOUT_MS / 1000} s`);
  }
  exited.catch(() => {});
  return {
    pid: child.pid,
    ports,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      if ((await within(once(child, 'exit'), 10_000, 'timeout')) === 'timeout') child.kill('SIGKILL');
    },
  };
}

async function startServers() {
  const inventory = await startNode(
    'inventory',
    ['examples/order-inventory/inventory-service.ts', '0'],
    ['inventory'],
  );
  const dir = mkdtempSync(join(os.tmpdir(), 'switchyard-bench-gateway-'));
  const proto = join(ROOT, 'examples/order-inventory/proto');
  const configFile = join(dir, 'switchyard.json');
  // JSON is YAML: the config file needs no YAML writer.
  writeFileSync(
    configFile,
    JSON.stringify({
      gateway: {
        upstreams: [
          {
            name: 'inventory',
            address: `http://127.0.0.1:${inventory.ports.inventory}`,
            protoFiles: [join(proto, 'inventory/v1/inventory.proto')],
            importPaths: [proto],
          },
        ],
      },
    }),
  );
  const broker = await startNode(
    'switchyard',
    [
      'src/cli/main.ts',
      '--config',
      configFile,
      '--host',
      '127.0.0.1',
      '--data-dir',
      join(dir, 'data'),
      '--amqp-port',
      '0',
      '--mqtt-port',
      '0',
      '--grpc-port',
      '0',
      '--http-port',
      '0',
    ],
    ['http'],
  );
  return {
    inventory,
    broker,
    stop: async () => {
      await broker.stop();
      await inventory.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------- the two clients

// Each: open(port) -> { call() -> Promise<void> (rejects on a failed call), close() }.

const REST_BODY = JSON.stringify({ quantity: 1 });

const CLIENTS = {
  rest: {
    label: 'REST/JSON via gateway',
    open(port) {
      const agent = new HttpAgent({ keepAlive: true, maxSockets: 256 });
      const call = () =>
        new Promise((resolve, reject) => {
          const req = httpRequest(
            {
              host: '127.0.0.1',
              port,
              agent,
              method: 'POST',
              path: `/v1/stock/${SKU}:update`,
              headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REST_BODY) },
            },
            (res) => {
              const chunks = [];
              res.on('data', (c) => chunks.push(c));
              res.on('end', () => {
                if (res.statusCode === 200) resolve();
                else
                  reject(
                    new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 200)}`),
                  );
              });
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end(REST_BODY);
        });
      return { call, close: async () => agent.destroy() };
    },
  },
  grpc: {
    label: 'native gRPC direct',
    open(port) {
      const session = http2Connect(`http://127.0.0.1:${port}`);
      session.on('error', () => {});
      // OrderItem { sku = 1: "bench", quantity = 2: 1 }, in a gRPC length-prefixed frame.
      const sku = Buffer.from(SKU);
      const msg = Buffer.concat([Buffer.from([0x0a, sku.length]), sku, Buffer.from([0x10, 0x01])]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
      const headers = {
        ':method': 'POST',
        ':path': '/inventory.v1.Inventory/UpdateStock',
        'content-type': 'application/grpc',
        te: 'trailers',
      };
      const call = () =>
        new Promise((resolve, reject) => {
          const stream = session.request(headers);
          let status = null;
          let message = '';
          stream.on('response', (h) => {
            if (h['grpc-status'] !== undefined) status = h['grpc-status'];
          });
          stream.on('trailers', (t) => {
            status = t['grpc-status'];
            message = t['grpc-message'] ?? '';
          });
          stream.on('data', () => {});
          stream.on('error', reject);
          stream.on('close', () => {
            if (status === '0') resolve();
            else reject(new Error(`grpc-status ${status}: ${message}`));
          });
          stream.end(frame);
        });
      return { call, close: async () => session.close() };
    },
  },
};

// ---------------------------------------------------------------- the phases

const quantile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null;

/** `concurrency` loops of back-to-back calls for the phase's duration: rate, latencies, errors. */
async function closedLoop(client, concurrency, pids) {
  const samples = [];
  let errors = 0;
  let lastError = '';
  const ticks0 = pids.map(procTicks);
  const t0 = performance.now();
  const until = t0 + cfg.duration * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      const s = performance.now();
      try {
        await client.call();
        samples.push(performance.now() - s);
      } catch (e) {
        errors++;
        lastError = e.message;
        // A failing path would spin: errors count, but each one costs a pause.
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  const ticks = pids.map(procTicks).reduce((s, t, i) => s + (t ?? 0) - (ticks0[i] ?? 0), 0);
  samples.sort((a, b) => a - b);
  const calls = samples.length;
  return {
    calls_per_s: Math.round(calls / elapsed),
    p50_us: calls ? Math.round(quantile(samples, 0.5) * 1000) : null,
    p99_us: calls ? Math.round(quantile(samples, 0.99) * 1000) : null,
    server_cpu_pct: round((ticks / CLK_TCK / elapsed) * 100, 1),
    server_us_per_call: calls ? round(((ticks / CLK_TCK) * 1e6) / calls, 1) : null,
    errors,
    last_error: lastError,
  };
}

/** Bytes both ways per call on the client's connection, one call at a time after a warm-up. */
async function wireBytes(name, port) {
  const proxy = await countingProxy('127.0.0.1', port);
  const client = CLIENTS[name].open(proxy.port);
  try {
    for (let i = 0; i < 20; i++) await client.call();
    const before = proxy.total();
    for (let i = 0; i < cfg.wireCalls; i++) await client.call();
    await new Promise((r) => setTimeout(r, 100)); // trailing window updates and pings
    return { wire_bytes_per_call: Math.round((proxy.total() - before) / cfg.wireCalls) };
  } finally {
    await client.close();
    proxy.close();
  }
}

// ---------------------------------------------------------------- main

async function main() {
  log(`gateway: ${cfg.duration} s per phase, concurrency ${cfg.concurrency}, ${cfg.wireCalls} wire calls`);
  const loadBefore = loadavg();
  const servers = await startServers();
  const paths = {
    rest: { port: servers.broker.ports.http, pids: [servers.broker.pid, servers.inventory.pid] },
    grpc: { port: servers.inventory.ports.inventory, pids: [servers.inventory.pid] },
  };
  const rows = [];
  try {
    for (const name of ['rest', 'grpc']) {
      const { port, pids } = paths[name];
      const row = { path: name, label: CLIENTS[name].label };
      try {
        const client = CLIENTS[name].open(port);
        // Warm-up: JIT, connections, the gateway's upstream channel.
        for (let i = 0; i < 200; i++) await client.call();
        log(`${name}: latency, 1 in flight`);
        const one = await closedLoop(client, 1, pids);
        Object.assign(row, { lat_p50_us: one.p50_us, lat_p99_us: one.p99_us });
        log(`${name}: throughput, ${cfg.concurrency} in flight`);
        Object.assign(row, await closedLoop(client, cfg.concurrency, pids));
        await client.close();
        log(`${name}: wire bytes`);
        Object.assign(row, await wireBytes(name, port));
        if (row.errors) anomaly(`${name}: ${row.errors} failed calls, last: ${row.last_error}`);
      } catch (e) {
        anomaly(`${name}: ${e.message}`);
        row.error = e.message;
      }
      log(`${name}: ${JSON.stringify(row)}`);
      run.writeRow(row);
      rows.push(row);
    }
  } finally {
    await servers.stop();
  }

  const table = mdTable(
    [
      'path',
      'p50 µs (1 in flight)',
      'p99 µs (1 in flight)',
      `calls/s (${cfg.concurrency} in flight)`,
      'p50 µs',
      'p99 µs',
      'server CPU µs/call',
      'wire B/call',
    ],
    rows.map((r) => [
      r.label,
      r.error ? `error: ${r.error}` : fmt(r.lat_p50_us),
      fmt(r.lat_p99_us),
      fmt(r.calls_per_s),
      fmt(r.p50_us),
      fmt(r.p99_us),
      fmt(r.server_us_per_call, 1),
      fmt(r.wire_bytes_per_call),
    ]),
  );
  const [rest, grpc] = ['rest', 'grpc'].map((p) => rows.find((r) => r.path === p && !r.error));
  const ratio = (k) => (rest?.[k] && grpc?.[k] ? `${round(rest[k] / grpc[k], 1)}x` : '-');
  const summary =
    rest && grpc
      ? `REST/JSON through the gateway, relative to native gRPC: ${ratio('lat_p50_us')} the unloaded p50 latency, ` +
        `${ratio('server_us_per_call')} the server CPU per call, ${ratio('wire_bytes_per_call')} the bytes on the wire, ` +
        `${rest.calls_per_s && grpc.calls_per_s ? `${round(rest.calls_per_s / grpc.calls_per_s, 2)}x` : '-'} the throughput.`
      : '';
  process.stdout.write(`\n${table}\n${summary}\n`);
  if (run.anomalies.length)
    process.stdout.write(`\nanomalies:\n${run.anomalies.map((a) => `- ${a}`).join('\n')}\n`);
  if (cfg.docs) {
    const g = gitInfo();
    const m = machineInfo();
    putSection(
      DOCS_FILE,
      'gateway',
      `## gRPC gateway: REST/JSON vs native gRPC

<!-- Written by bench/gateway.mjs. -->

The same \`inventory.v1.Inventory/UpdateStock\` call (examples/order-inventory) two ways: as
REST/JSON (\`POST /v1/stock/bench:update\`, node:http keep-alive) through Switchyard's gateway,
which calls the Inventory service over gRPC; and as native gRPC (node:http2, hand-encoded
protobuf) straight to the Inventory service. The Inventory service and the broker are separate
processes (src/ through tsx); the clients run in the bench process on the same machine. Latency:
one call in flight for ${cfg.duration} s. Throughput: ${cfg.concurrency} calls in flight for ${cfg.duration} s, with
their p50/p99. Server CPU per call: /proc CPU time of the processes on the path (broker +
Inventory for REST, Inventory alone for gRPC) over the throughput phase, divided by calls. Wire
bytes: both directions of the client's connection, through a counting TCP proxy, per call. The
REST path has one more hop than the gRPC path, so the difference is the cost of the gateway
(HTTP/1.1 + JSON outside, HTTP/2 + protobuf inside), which is what a client choosing between the
two pays. Rerun: \`npm run bench:gateway\` (about a minute; \`--quick\`, \`--help\`).

${run.day}, ${commitText(g)}, ${m.cpus} x ${m.cpu_model}, ${m.node}, load average before the run ${loadBefore.join(' ')} (other work on the machine makes every figure worse); command: \`${commandLine('node bench/gateway.mjs')}\`

${table}

${summary}
${run.anomalies.length ? `\nAnomalies:\n${run.anomalies.map((a) => `- ${a}`).join('\n')}\n` : ''}`,
    );
    log('docs/benchmarks.md: section "gateway" written');
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`bench:gateway: ${e.stack ?? e}\n`);
    for (const c of run.children) c.kill('SIGKILL');
    process.exit(1);
  },
);
