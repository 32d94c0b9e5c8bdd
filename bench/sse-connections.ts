/**
 * SSE fan-out at scale: `npm run bench:sse -- [--connections K]` (--help for the flags).
 *
 * Starts a Switchyard from a snapshot of dist/ (HTTP and AMQP on ephemeral ports of 127.0.0.1, a
 * temporary data dir), opens K Server-Sent Events subscribers to the fanout exchange amq.fanout from
 * a separate client process (each subscriber: its own server-named queue, core connection and
 * stream), publishes one message over REST, and checks that every subscriber received it. Prints
 * the broker's resident memory per connection, how long opening took, and the fan-out time (publish
 * sent -> last subscriber has the event, wall clock across the two processes).
 *
 * The clients run in a child process because one process cannot hold both ends of 10,000
 * connections under this machine's open-files limit (20,000). Clients are raw http.get streams (not
 * EventSource) to keep their memory small. Everything is bounded by --time-limit; the exit code is
 * 0 only if every subscriber opened and received the message.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Agent, get, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { nearestRank } from '../src/cli/bench/histogram.js';
import { memoryKib } from '../src/cli/bench/proc.js';
import { formatNumber as fmt, renderMarkdownTable } from '../src/cli/bench/report.js';
import { stopAllBrokers, SwitchyardProcess } from './lib/brokers.js';
import { commandLine, flagReaders, parseFlags } from './lib/cli.js';
import { prepareDist } from './lib/dist-snapshot.js';
import { putSection } from './lib/docs-sections.js';
import { commitText, fdCount, gitInfo, machineInfo } from './lib/machine.js';
import { createRun } from './lib/run-context.js';

const NAME = 'bench:sse';
const HELP = `usage: npm run bench:sse -- [flags]      (tsx bench/sse-connections.ts [flags])

Opens K SSE subscribers of amq.fanout against a Switchyard started from dist/, publishes one
message and checks every subscriber got it; prints RSS per connection and the fan-out time.

  --connections K      subscribers (default 10000)
  --concurrency N      connection attempts in flight at once (default 256)
  --body-size N        bytes of the published message body (default 64)
  --time-limit S       give up after S seconds in all (default 300)
  --json FILE          the summary as a JSON line
  --no-build           use dist/ as it is, even when older than src/
  --no-docs            leave docs/benchmarks.md as it is (otherwise a passing run writes its
                       section "sse")
  -h, --help
`;

const wallClock = () => performance.timeOrigin + performance.now();

type ClientMessage =
  | { type: 'opened'; opened: number; failed: number; errors: Record<string, number>; ms: number }
  | {
      type: 'received';
      received: number;
      first: number | null;
      p50: number | null;
      p99: number | null;
      last: number | null;
    };

// ---------------------------------------------------------------- the client process

/** Runs in the child: opens the subscribers, reports to the parent over IPC. */
function runClients(port: number, connections: number, concurrency: number): void {
  const send = (m: ClientMessage) => process.send!(m);
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const path = '/api/v1/vhosts/%2F/exchanges/amq.fanout/events';
  const receivedAt = new Float64Array(connections);
  const errors: Record<string, number> = {};
  let started = 0;
  let opened = 0;
  let failed = 0;
  let received = 0;
  const t0 = wallClock();
  const report = () => {
    const times = [...receivedAt].filter((t) => t > 0).sort((a, b) => a - b);
    const at = (q: number) => (times.length === 0 ? null : nearestRank(times, q));
    send({
      type: 'received',
      received,
      first: times[0] ?? null,
      p50: at(0.5),
      p99: at(0.99),
      last: times.at(-1) ?? null,
    });
  };
  const next = () => {
    if (started < connections) open(started++);
    else if (opened + failed === connections)
      send({ type: 'opened', opened, failed, errors, ms: wallClock() - t0 });
  };
  const fail = (why: string) => {
    failed++;
    errors[why] = (errors[why] ?? 0) + 1;
    next();
  };
  const open = (i: number) => {
    const req = get(
      { host: '127.0.0.1', port, path, agent, headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          fail(`HTTP ${res.statusCode}`);
          return;
        }
        opened++;
        res.on('data', (chunk: Buffer) => {
          // An event is written in one piece, well under a TCP segment: it is never split.
          if (receivedAt[i] === 0 && chunk.includes('event: message')) {
            receivedAt[i] = wallClock();
            if (++received === opened) report();
          }
        });
        res.on('error', (e) => fail(`stream: ${e.message}`));
        next();
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
  };
  process.on('message', (m: { type: string }) => {
    if (m.type === 'status') report();
    if (m.type === 'exit') process.exit(0);
  });
  for (let k = 0; k < Math.min(concurrency, connections); k++) next();
}

// ---------------------------------------------------------------- the parent

function publish(port: number, body: string): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/vhosts/%2F/exchanges/amq.fanout/publish' },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The child's next IPC message of `type`, or null after `ms`. */
function nextMessage<T extends ClientMessage['type']>(
  child: ChildProcess,
  type: T,
  ms: number,
): Promise<Extract<ClientMessage, { type: T }> | null> {
  return new Promise((resolve) => {
    const on = (m: ClientMessage) => {
      if (m.type !== type) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m as Extract<ClientMessage, { type: T }>);
    };
    const t = setTimeout(() => {
      child.off('message', on);
      resolve(null);
    }, ms);
    child.on('message', on);
  });
}

async function main(): Promise<void> {
  const values = parseFlags({
    name: NAME,
    help: HELP,
    strings: ['connections', 'concurrency', 'body-size', 'time-limit', 'json'],
    booleans: ['build', 'docs'],
  });
  const flag = flagReaders(NAME, values);
  const connections = flag.count('connections', 10_000);
  const concurrency = flag.count('concurrency', 256);
  const bodySize = flag.count('body-size', 64);
  const limitS = flag.count('time-limit', 300);
  const deadline = Date.now() + limitS * 1000;
  const left = () => Math.max(1, deadline - Date.now());
  const run = createRun({ json: flag.text('json') ?? null, log: null });
  const snapshot = prepareDist(run, flag.bool('build', true));
  const broker = new SwitchyardProcess({ snapshot, run, ports: ['amqp', 'http'], nofile: 20_000 });
  let child: ChildProcess | undefined;
  let ok = false;
  const overall = setTimeout(() => {
    run.anomaly(`time limit of ${limitS} s reached`);
    child?.kill('SIGKILL');
    stopAllBrokers();
    process.exit(1);
  }, limitS * 1000);
  try {
    const started = await broker.start();
    const port = Number(new URL(broker.url('http')!).port);
    const idle = memoryKib(started.pid)!.rss;
    run.log(`broker pid ${started.pid}, HTTP port ${port}, idle RSS ${fmt(idle / 1024, 1)} MiB`);
    child = fork(
      fileURLToPath(import.meta.url),
      ['--client', String(port), String(connections), String(concurrency)],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    const opened = await nextMessage(child, 'opened', left());
    if (opened === null) throw new Error('the clients did not finish opening in time');
    run.log(
      `opened ${opened.opened} of ${connections} in ${fmt(opened.ms / 1000, 1)} s${opened.failed > 0 ? `; ${opened.failed} failed: ${JSON.stringify(opened.errors)}` : ''}`,
    );
    const withStreams = memoryKib(started.pid)!.rss;
    const fds = fdCount(started.pid);
    const received = nextMessage(child, 'received', Math.min(left(), 60_000));
    const t0 = wallClock();
    const pub = await publish(port, 'x'.repeat(bodySize));
    const confirmMs = wallClock() - t0;
    let r = await received;
    if (r === null) {
      child.send({ type: 'status' });
      r = await nextMessage(child, 'received', 5000);
    }
    const after = memoryKib(started.pid)!.rss;
    const since = (t: number | null | undefined) => (t === null || t === undefined ? null : t - t0);
    const summary = {
      connections,
      opened: opened.opened,
      failed: opened.failed,
      open_s: opened.ms / 1000,
      broker_rss_idle_mib: idle / 1024,
      broker_rss_with_streams_mib: withStreams / 1024,
      broker_rss_after_fanout_mib: after / 1024,
      rss_per_connection_kib: opened.opened > 0 ? (withStreams - idle) / opened.opened : null,
      broker_fds: fds,
      publish_status: pub.status,
      publish_answer: pub.body,
      confirm_ms: confirmMs,
      received: r?.received ?? 0,
      fanout_first_ms: since(r?.first),
      fanout_p50_ms: since(r?.p50),
      fanout_p99_ms: since(r?.p99),
      fanout_last_ms: since(r?.last),
      anomalies: run.anomalies,
    };
    run.writeRow(summary);
    ok = summary.opened === connections && summary.received === connections && pub.status === 200;
    process.stdout.write(
      [
        `SSE subscribers: ${fmt(summary.opened)} of ${fmt(connections)} opened in ${fmt(summary.open_s, 1)} s`,
        `broker RSS: ${fmt(summary.broker_rss_idle_mib, 1)} MiB idle, ${fmt(summary.broker_rss_with_streams_mib, 1)} MiB with the streams -> ${fmt(summary.rss_per_connection_kib, 1)} KiB per connection (${fmt(fds)} fds)`,
        `publish: HTTP ${pub.status} ${pub.body} after ${fmt(confirmMs, 1)} ms`,
        `fan-out: ${fmt(summary.received)} of ${fmt(summary.opened)} received; first ${fmt(summary.fanout_first_ms, 1)} ms, p50 ${fmt(summary.fanout_p50_ms, 1)} ms, p99 ${fmt(summary.fanout_p99_ms, 1)} ms, last ${fmt(summary.fanout_last_ms, 1)} ms after the publish was sent`,
        `result: ${ok ? 'every subscriber got the message' : 'FAILED'}`,
        '',
      ].join('\n'),
    );
    if (ok && flag.bool('docs', true)) {
      const day = new Date().toISOString().slice(0, 16).replace('T', ' ');
      const m = machineInfo();
      putSection(
        'sse',
        `## SSE subscribers on one process

<!-- Written by bench/sse-connections.ts. -->

${fmt(connections)} Server-Sent Events subscribers of \`amq.fanout\` (each its own server-named queue)
from a second process, then one REST publish that every one of them must receive. Rerun:
\`npm run bench:sse\` (about 30 s; \`--help\`).

${day} UTC, ${commitText(gitInfo())}, ${m.cpus} x ${m.cpu_model}, ${m.node}; command: \`${commandLine(`npm run ${NAME}`, process.argv.slice(2), ' -- ')}\`

${renderMarkdownTable(
  ['subscribers', 'opened in', 'broker RSS per stream', 'received', 'fan-out p50', 'fan-out last'],
  [
    [
      fmt(connections),
      `${fmt(summary.open_s, 1)} s`,
      `${fmt(summary.rss_per_connection_kib, 1)} KiB`,
      fmt(summary.received),
      `${fmt(summary.fanout_p50_ms)} ms`,
      `${fmt(summary.fanout_last_ms)} ms`,
    ],
  ],
)}
`,
      );
      run.log('docs/benchmarks.md: section "sse" written');
    }
  } finally {
    clearTimeout(overall);
    const c = child;
    if (c !== undefined && c.exitCode === null) {
      c.send({ type: 'exit' });
      await new Promise<void>((done) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          done();
        }, 5000);
        c.once('exit', () => {
          clearTimeout(t);
          done();
        });
      });
    }
    await broker.stop(20);
    snapshot.remove();
  }
  process.exitCode = ok ? 0 : 1;
}

if (process.argv[2] === '--client') {
  const [port, connections, concurrency] = process.argv.slice(3).map(Number) as [number, number, number];
  runClients(port, connections, concurrency);
} else await main();
