#!/usr/bin/env node
// SSE fan-out at scale: `node bench/sse-connections.mjs [--connections K]` (--help for the flags).
//
// Starts a Switchyard from a snapshot of dist/ (HTTP and AMQP on ephemeral ports of 127.0.0.1, a
// temporary data dir), opens K Server-Sent Events subscribers to the fanout exchange amq.fanout
// from a separate client process (each subscriber: its own server-named queue, core connection
// and stream), publishes one message over REST, and checks that every subscriber received it.
// Prints the broker's resident memory per connection, how long opening took, and the fan-out
// time (publish sent → last subscriber has the event, wall clock across the two processes).
//
// The clients run in a child process because one process cannot hold both ends of 10,000
// connections under this machine's open-files limit (20,000): the broker holds K sockets, the
// client process K more. Clients are raw http.get streams (not EventSource) to keep their memory
// small. Everything is time-bounded (--time-limit); the exit code is 0 only if every subscriber
// opened and received the message.
import { fork } from 'node:child_process';
import { Agent, get, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { stopAllBrokers, SwitchyardProcess } from './lib-brokers.mjs';
import {
  commandLine,
  commitText,
  DOCS_FILE,
  fdCount,
  fmt,
  gitInfo,
  machineInfo,
  mdTable,
  putSection,
  makeFail,
  numberParsers,
  parseCli,
  prepareDist,
  procStatus,
  ROOT,
  within,
} from './lib-common.mjs';

const NAME = 'sse-connections';
const HELP = `usage: node bench/sse-connections.mjs [flags]

Opens K SSE subscribers of amq.fanout against a Switchyard started from dist/, publishes one
message and checks every subscriber got it; prints RSS per connection and the fan-out time.

  --connections K      subscribers (default 10000)
  --concurrency N      connection attempts in flight at once (default 256)
  --body-size N        bytes of the published message body (default 64)
  --time-limit S       give up after S seconds in all (default 300)
  --no-build           use dist/ as it is, even when older than src/
  --no-docs            leave docs/benchmarks.md as it is (otherwise a passing run writes its
                       section "sse")
  -h, --help
`;

const wallClock = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- client process

/** Runs in the child: opens the subscribers, reports to the parent over IPC. */
function runClients({ port, connections, concurrency }) {
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const path = '/api/v1/vhosts/%2F/exchanges/amq.fanout/events';
  const receivedAt = new Float64Array(connections);
  const errors = new Map();
  let started = 0;
  let opened = 0;
  let failed = 0;
  let received = 0;
  const t0 = wallClock();
  const settled = () => opened + failed === connections;

  const fail = (why) => {
    failed++;
    errors.set(why, (errors.get(why) ?? 0) + 1);
    next();
  };
  const next = () => {
    if (started < connections) open(started++);
    else if (settled()) {
      process.send({
        type: 'opened',
        opened,
        failed,
        errors: Object.fromEntries(errors),
        ms: wallClock() - t0,
      });
    }
  };
  const open = (i) => {
    const req = get(
      { host: '127.0.0.1', port, path, agent, headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(`HTTP ${res.statusCode}`);
          return;
        }
        opened++;
        res.on('data', (chunk) => {
          // An event is written in one piece, well under a TCP segment: it is never split.
          if (receivedAt[i] === 0 && chunk.includes('event: message')) {
            receivedAt[i] = wallClock();
            if (++received === opened) report();
          }
        });
        res.on('error', () => {});
        next();
      },
    );
    req.on('error', (e) => fail(e.code ?? e.message));
  };
  const report = () => {
    const times = [...receivedAt].filter((t) => t > 0).sort((a, b) => a - b);
    const at = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? null;
    process.send({ type: 'received', received, first: at(0), p50: at(0.5), p99: at(0.99), last: at(1) });
  };
  process.on('message', (m) => {
    if (m.type === 'status') report();
    if (m.type === 'exit') process.exit(0);
  });
  for (let k = 0; k < Math.min(concurrency, connections); k++) next();
}

// ---------------------------------------------------------------- parent

function publish(port, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/vhosts/%2F/exchanges/amq.fanout/publish' },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The next IPC message of `type` from the child, or null after `ms`. */
function nextMessage(child, type, ms) {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('message', on);
      resolve(null);
    }, ms);
    const on = (m) => {
      if (m.type !== type) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });
}

async function main() {
  const fail = makeFail(NAME);
  const { int } = numberParsers(fail);
  const values = parseCli({
    name: NAME,
    help: HELP,
    options: {
      connections: { type: 'string' },
      concurrency: { type: 'string' },
      'body-size': { type: 'string' },
      'time-limit': { type: 'string' },
      build: { type: 'boolean', default: true },
      docs: { type: 'boolean', default: true },
    },
  });
  const connections = int('connections', values.connections, 10_000);
  const concurrency = int('concurrency', values.concurrency, 256);
  const bodySize = int('body-size', values['body-size'], 64);
  const limitS = int('time-limit', values['time-limit'], 300);
  const deadline = Date.now() + limitS * 1000;
  const left = () => Math.max(1, deadline - Date.now());

  const anomalies = [];
  const ctx = {
    log: (m) => process.stderr.write(`${m}\n`),
    logRaw: () => {},
    anomaly: (m) => {
      anomalies.push(m);
      process.stderr.write(`!! ${m}\n`);
    },
  };
  const snapshot = prepareDist({ root: ROOT, build: values.build, ...ctx });
  const broker = new SwitchyardProcess({
    snapshot,
    ctx,
    label: 'switchyard',
    ports: { amqp: 0, http: 0 },
    nofile: 20_000,
  });
  let child;
  let ok = false;
  const overall = setTimeout(() => {
    ctx.anomaly(`time limit of ${limitS} s reached`);
    child?.kill('SIGKILL');
    stopAllBrokers();
    process.exit(1);
  }, limitS * 1000);
  try {
    await broker.start();
    const port = broker.listeners.http.port;
    const idle = procStatus(broker.pid).rssKb;
    ctx.log(`broker pid ${broker.pid}, HTTP port ${port}, idle RSS ${fmt(idle / 1024, 1)} MiB`);

    child = fork(
      fileURLToPath(import.meta.url),
      ['--client', String(port), String(connections), String(concurrency)],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    const opened = await nextMessage(child, 'opened', left());
    if (opened === null) throw new Error('the clients did not finish opening in time');
    ctx.log(
      `opened ${opened.opened} of ${connections} in ${fmt(opened.ms / 1000, 1)} s` +
        (opened.failed ? `; ${opened.failed} failed: ${JSON.stringify(opened.errors)}` : ''),
    );
    const withStreams = procStatus(broker.pid);
    const fds = fdCount(broker.pid);

    const body = 'x'.repeat(bodySize);
    const received = nextMessage(child, 'received', left());
    const t0 = wallClock();
    const pub = await publish(port, body);
    const confirmMs = wallClock() - t0;
    let r = await within(received, Math.min(left(), 60_000));
    if (r === null) {
      child.send({ type: 'status' });
      r = await nextMessage(child, 'received', 5000);
    }
    const rssAfter = procStatus(broker.pid);
    const perConn = opened.opened ? ((withStreams.rssKb - idle) * 1024) / opened.opened : null;
    const summary = {
      connections,
      opened: opened.opened,
      failed: opened.failed,
      open_s: opened.ms / 1000,
      broker_rss_idle_mib: idle / 1024,
      broker_rss_with_streams_mib: withStreams.rssKb / 1024,
      broker_rss_after_fanout_mib: rssAfter.rssKb / 1024,
      rss_per_connection_kib: perConn === null ? null : perConn / 1024,
      broker_fds: fds,
      publish_status: pub.status,
      publish_answer: pub.body,
      confirm_ms: confirmMs,
      received: r?.received ?? 0,
      fanout_first_ms: r?.first ? r.first - t0 : null,
      fanout_p50_ms: r?.p50 ? r.p50 - t0 : null,
      fanout_p99_ms: r?.p99 ? r.p99 - t0 : null,
      fanout_last_ms: r?.last ? r.last - t0 : null,
      anomalies,
    };
    ok = summary.opened === connections && summary.received === connections && pub.status === 200;
    process.stdout.write(
      [
        `SSE subscribers: ${fmt(summary.opened)} of ${fmt(connections)} opened in ${fmt(summary.open_s, 1)} s`,
        `broker RSS: ${fmt(summary.broker_rss_idle_mib, 1)} MiB idle, ${fmt(summary.broker_rss_with_streams_mib, 1)} MiB with the streams → ${fmt(summary.rss_per_connection_kib, 1)} KiB per connection (${fmt(fds)} fds)`,
        `publish: HTTP ${pub.status} ${pub.body} after ${fmt(confirmMs, 1)} ms`,
        `fan-out: ${fmt(summary.received)} of ${fmt(summary.opened)} received; first ${fmt(summary.fanout_first_ms, 1)} ms, p50 ${fmt(summary.fanout_p50_ms, 1)} ms, p99 ${fmt(summary.fanout_p99_ms, 1)} ms, last ${fmt(summary.fanout_last_ms, 1)} ms after the publish was sent`,
        `result: ${ok ? 'every subscriber got the message' : 'FAILED'}`,
        JSON.stringify(summary),
        '',
      ].join('\n'),
    );
    if (ok && values.docs) writeDocs(summary);
  } finally {
    clearTimeout(overall);
    if (child !== undefined && child.exitCode === null) {
      child.send({ type: 'exit' });
      await new Promise((res) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          res();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(t);
          res();
        });
      });
    }
    await broker.stop(20);
    snapshot.remove();
  }
  process.exitCode = ok ? 0 : 1;
}

function writeDocs(s) {
  const g = gitInfo();
  const m = machineInfo();
  const day = new Date().toISOString().slice(0, 16).replace('T', ' ');
  putSection(
    DOCS_FILE,
    'sse',
    `## SSE subscribers on one process

<!-- Written by bench/sse-connections.mjs. -->

${fmt(s.connections)} Server-Sent Events subscribers of \`amq.fanout\` (each its own server-named queue)
from a second process, then one REST publish that every one of them must receive. Rerun:
\`node bench/sse-connections.mjs\` (about 30 s; \`--help\`).

${day} UTC, ${commitText(g)}, ${m.cpus} x ${m.cpu_model}, ${m.node}; command: \`${commandLine('node bench/sse-connections.mjs')}\`

${mdTable(
  ['subscribers', 'opened in', 'broker RSS per stream', 'received', 'fan-out p50', 'fan-out last'],
  [
    [
      fmt(s.connections),
      `${fmt(s.open_s, 1)} s`,
      `${fmt(s.rss_per_connection_kib, 1)} KiB`,
      fmt(s.received),
      `${fmt(s.fanout_p50_ms, 0)} ms`,
      `${fmt(s.fanout_last_ms, 0)} ms`,
    ],
  ],
)}
`,
  );
  process.stderr.write('docs/benchmarks.md: section "sse" written\n');
}

if (process.argv[2] === '--client') {
  const [port, connections, concurrency] = process.argv.slice(3).map(Number);
  runClients({ port, connections, concurrency });
} else {
  await main();
}
