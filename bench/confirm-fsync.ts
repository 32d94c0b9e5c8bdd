/**
 * Confirm-after-fsync check: is every publisher confirm written only after the fdatasync that
 * makes its message durable?
 *
 *   npm run bench:confirm-fsync            # 20,000 messages, 4 publishers x 64 unconfirmed, a consumer
 *   npm run bench:confirm-fsync -- --help
 *
 * The broker (a snapshot of dist/, on a fresh data dir) runs under `strace -f`, which records, in
 * order, every file and socket write with its bytes, every fdatasync/fsync and every file created.
 * Publishers send persistent messages whose bodies carry a marker (publisher, sequence number);
 * afterwards lib/strace-replay.ts replays the trace and checks each confirm against the fsyncs.
 * strace slows the broker a lot: the rates here say nothing about performance. Output: a markdown
 * section on stdout and in the Durability section of docs/benchmarks.md; --json FILE keeps the
 * result line; the trace goes to a temporary file (kept with --keep-trace).
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { nearestRank } from '../src/cli/bench/histogram.js';
import { formatNumber as fmt } from '../src/cli/bench/report.js';
import { SwitchyardProcess } from './lib/brokers.js';
import { commandLine, flagReaders, parseFlags, shellQuote } from './lib/cli.js';
import { prepareDist } from './lib/dist-snapshot.js';
import { addDurabilityRun } from './lib/docs-sections.js';
import { childPids, gitInfo, libraryVersion } from './lib/machine.js';
import { notesBlock } from './lib/peer-tables.js';
import { ROOT } from './lib/paths.js';
import { createRun, runScript } from './lib/run-context.js';
import { markedBody, replay } from './lib/strace-replay.js';

const NAME = 'bench:confirm-fsync';
const QUEUE = 'bench.confirm-fsync';
const HELP = `usage: npm run bench:confirm-fsync -- [flags]      (tsx bench/confirm-fsync.ts [flags])

Runs Switchyard under strace -f and checks that every publisher confirm is written after the
fdatasync that covers its message (see bench/lib/strace-replay.ts).

  --messages N        persistent messages in all (default 20000)
  --publishers P      publisher connections, one ConfirmChannel each (default 4)
  --window W          unconfirmed messages per publisher (default 64)
  --size BYTES        body size (default 64, min 16; bodies over 4 KiB are written by reference)
  --segment-size B    the broker's segment size (SWITCHYARD_STORE_SEGMENT_SIZE; default 262144,
                      so the run rolls over many segments; 0 = the broker's default, 64 MiB)
  --no-consumer       no consumer (by default one consumer acks every message, prefetch 100)
  --strace-s N        strace's string limit in bytes (default 4194304); a truncated write is
                      reported, and its messages count as unverified
  --keep-trace        keep the strace output (its path is printed)
  --check-trace FILE  replay an existing trace only (needs --ports, the publishers' local ports)
  --ports LIST        with --check-trace: publisher local ports in publisher order
  --json FILE         the result as a JSON line
  --log FILE          the detailed log (the broker's output)
  --docs / --no-docs  write the Durability section of docs/benchmarks.md (default yes)
  --no-build          do not rebuild dist/ when src/ is newer
  -h, --help
`;

const values = parseFlags({
  name: NAME,
  help: HELP,
  strings: [
    'messages',
    'publishers',
    'window',
    'size',
    'segment-size',
    'strace-s',
    'check-trace',
    'ports',
    'json',
    'log',
  ],
  booleans: ['consumer', 'keep-trace', 'docs', 'build'],
});
const flag = flagReaders(NAME, values);
const checkTrace = flag.text('check-trace');
const cfg = {
  messages: flag.count('messages', 20_000),
  publishers: flag.count('publishers', 4),
  window: flag.count('window', 64),
  size: flag.count('size', 64),
  consumer: flag.bool('consumer', true),
  segmentSize: flag.text('segment-size') === '0' ? 0 : flag.count('segment-size', 262_144),
  straceS: flag.count('strace-s', 4 * 1024 * 1024),
  keepTrace: flag.bool('keep-trace', false) || checkTrace !== undefined,
  checkTrace: checkTrace === undefined ? null : resolve(checkTrace),
  ports: flag.text('ports') === undefined ? null : flag.list('ports', '', Number),
  writeDocs: flag.bool('docs', checkTrace === undefined),
  build: flag.bool('build', true),
};
if (cfg.size < 16) flag.fail('--size must be at least 16');
if (cfg.checkTrace !== null && cfg.ports === null) flag.fail('--check-trace needs --ports');
const COMMAND = commandLine(`npm run ${NAME}`, process.argv.slice(2), ' -- ');
const run = createRun({ json: flag.text('json') ?? null, log: flag.text('log') ?? null });
const { log, logRaw, anomaly, anomalies } = run;

/** The broker under strace, while it runs. */
let tracee: number | null = null;

interface ClientResult {
  published: number;
  confirmed: number;
  nacked: number;
  consumed: number;
  publish_s: number;
  ports: number[];
  amqplib: string | null;
  build: string;
}

/** Starts the broker under strace, publishes and consumes, stops it; the trace is in `traceFile`. */
async function runTraced(traceFile: string): Promise<ClientResult> {
  const snapshot = prepareDist(run, cfg.build);
  const dataDir = mkdtempSync(join(os.tmpdir(), 'switchyard-confirm-fsync-'));
  // The same command line as every bench start: AMQP on an ephemeral port, other listeners off.
  const brokerArgs = new SwitchyardProcess({ snapshot, run, ports: ['amqp'] }).args(dataDir);
  const straceArgs = [
    ...['-f', '-qq', '-tt', '-T', '-yy', '-xx', '-s', String(cfg.straceS)],
    ...['-e', 'trace=openat,write,writev,pwrite64,pwritev,pwritev2,sendmsg,sendto,fdatasync,fsync'],
    ...['-o', traceFile, process.execPath, ...brokerArgs],
  ];
  logRaw(`$ strace ${straceArgs.map(shellQuote).join(' ')}`);
  const env = { ...process.env };
  if (cfg.segmentSize > 0) env.SWITCHYARD_STORE_SEGMENT_SIZE = String(cfg.segmentSize);
  const child = spawn('strace', straceArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  run.children.add(child);
  child.once('close', () => run.children.delete(child));
  const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l);
    logRaw(`[strace/switchyard:err] ${l}`);
  });
  const url = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => rej(new Error('Switchyard under strace did not start within 60 s')), 60_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      logRaw(`[switchyard] ${l}`);
      const m = /amqp listening on (\S+):(\d+)/.exec(l);
      if (m) {
        clearTimeout(t);
        res(`amqp://guest:guest@${m[1]}:${m[2]}?heartbeat=0`);
      }
    });
    void exited.then(([code, signal]) => {
      clearTimeout(t);
      rej(
        new Error(
          `strace/Switchyard exited (code ${code}, signal ${signal}): ${stderr.slice(-10).join(' | ')}`,
        ),
      );
    });
  });
  const brokerPid = childPids(child.pid!)[0] ?? null;
  tracee = brokerPid;
  log(`switchyard under strace: pid ${brokerPid}, ${url.replace(/\?.*/, '')}; data dir ${dataDir}`);

  const connect = async (): Promise<ChannelModel> => {
    const c = await amqp.connect(url, { noDelay: true });
    c.on('error', (e: Error) => logRaw(`amqp connection error: ${e.message}`));
    return c;
  };
  const admin = await connect();
  const ach = await admin.createChannel();
  await ach.assertQueue(QUEUE, { durable: true, autoDelete: false });
  let consumed = 0;
  if (cfg.consumer) {
    await ach.prefetch(100);
    await ach.consume(
      QUEUE,
      (m) => {
        if (m === null) return;
        consumed++;
        ach.ack(m);
      },
      { noAck: false },
    );
  }
  interface Pub {
    i: number;
    conn: ChannelModel;
    ch: ConfirmChannel;
    port: number;
    sent: number;
    acked: number;
    nacked: number;
    out: number;
    waiter: (() => void) | null;
  }
  const pubs: Pub[] = [];
  for (let i = 0; i < cfg.publishers; i++) {
    const conn = await connect();
    const ch = await conn.createConfirmChannel();
    ch.on('error', (e: Error) => anomaly(`publisher ${i}: channel error ${e.message}`));
    // The publisher's local port names its connection in the trace (the socket's address pair).
    const port = (conn.connection as unknown as { stream: { localPort: number } }).stream.localPort;
    pubs.push({ i, conn, ch, port, sent: 0, acked: 0, nacked: 0, out: 0, waiter: null });
  }
  const per = Math.ceil(cfg.messages / cfg.publishers);
  const t0 = performance.now();
  await Promise.all(
    pubs.map(async (p) => {
      const n = Math.min(per, cfg.messages - p.i * per);
      for (let s = 0; s < n; s++) {
        while (p.out >= cfg.window) await new Promise<void>((r) => (p.waiter = r));
        p.out++;
        p.sent++;
        const ok = p.ch.publish('', QUEUE, markedBody(cfg.size, p.i, s), { persistent: true }, (err) => {
          p.out--;
          if (err !== null && err !== undefined) p.nacked++;
          else p.acked++;
          const w = p.waiter;
          p.waiter = null;
          w?.();
        });
        if (!ok) await once(p.ch, 'drain');
      }
      await p.ch.waitForConfirms().catch((e: Error) => anomaly(`publisher ${p.i}: ${e.message}`));
    }),
  );
  const publishS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  while (cfg.consumer && consumed < cfg.messages && performance.now() - t1 < 60_000) await sleep(50);
  for (const p of pubs) await p.conn.close();
  await admin.close();
  // Stop the broker, not strace: strace ends when its tracee does.
  if (brokerPid !== null) process.kill(brokerPid, 'SIGTERM');
  else child.kill('SIGTERM');
  const ended = await Promise.race([exited, sleep(30_000).then(() => null)]);
  if (ended === null) {
    anomaly('strace/Switchyard did not exit within 30 s of SIGTERM; killed');
    child.kill('SIGKILL');
    await exited;
  }
  tracee = null;
  rmSync(dataDir, { recursive: true, force: true });
  snapshot.remove();
  return {
    published: pubs.reduce((a, p) => a + p.sent, 0),
    confirmed: pubs.reduce((a, p) => a + p.acked, 0),
    nacked: pubs.reduce((a, p) => a + p.nacked, 0),
    consumed,
    publish_s: Math.round(publishS * 10) / 10,
    ports: pubs.map((p) => p.port),
    amqplib: libraryVersion('amqplib'),
    build: snapshot.build,
  };
}

const percentile = (values: readonly number[], q: number) =>
  values.length === 0
    ? null
    : nearestRank(
        [...values].sort((a, b) => a - b),
        q,
      );

async function main(): Promise<number> {
  const t0 = performance.now();
  const started = run.startedAt.toISOString();
  log(`${NAME}: ${COMMAND}`);
  const traceDir = cfg.checkTrace === null ? mkdtempSync(join(os.tmpdir(), 'confirm-fsync-')) : null;
  const traceFile = cfg.checkTrace ?? join(traceDir!, 'strace.trace');
  let client: ClientResult | null = null;
  if (cfg.checkTrace === null) {
    if (spawnSync('strace', ['-V']).status !== 0) flag.fail('strace is not installed');
    client = await runTraced(traceFile);
    log(
      `client: ${fmt(client.published)} published, ${fmt(client.confirmed)} confirmed, ${fmt(client.nacked)} nacked, ${fmt(client.consumed)} consumed, in ${client.publish_s} s (under strace)`,
    );
  }
  const portToPub = new Map((client?.ports ?? cfg.ports!).map((p, i) => [p, i] as [number, number]));
  log(`replaying ${traceFile}`);
  const st = await replay(traceFile, portToPub, true);
  const neg = await replay(traceFile, portToPub, false);
  const negDir = await replay(traceFile, portToPub, true, false);
  const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
  const perSync =
    st.batchSizes.length > 0 ? Math.round((sum(st.batchSizes) / st.batchSizes.length) * 10) / 10 : null;
  const result = {
    type: 'result',
    date: started,
    command: COMMAND,
    settings: cfg,
    switchyard: gitInfo(),
    node: process.version,
    client,
    trace_lines: st.lines,
    segment_files: st.segFiles.size,
    segment_writes: st.segWrites,
    segment_mb: Math.round((st.segBytes / 1048576) * 10) / 10,
    segment_fdatasyncs: st.syncs,
    dir_fsyncs: st.dirSyncs,
    sync_failures: st.syncFailures,
    messages_per_fdatasync_avg: perSync,
    messages_per_fdatasync_max: st.batchSizes.length > 0 ? Math.max(...st.batchSizes) : null,
    fdatasync_us_p50: percentile(st.syncUs, 0.5),
    fdatasync_us_p99: percentile(st.syncUs, 0.99),
    truncated_writes: st.truncatedWrites,
    confirms_decoded: st.acksDecoded,
    nacks_decoded: st.nacksDecoded,
    verified: st.verified,
    violations: st.violations,
    unverified: st.unverified,
    examples: st.examples,
    negative_control_dirs: { flagged: negDir.violations, of: negDir.acksDecoded + negDir.nacksDecoded },
    negative_control: {
      flagged: neg.violations,
      of: neg.acksDecoded + neg.nacksDecoded,
      examples: neg.examples.slice(0, 2),
    },
    duration_s: Math.round((performance.now() - t0) / 1000),
  };
  run.writeRow(result);
  if (client !== null && st.acksDecoded !== client.confirmed)
    anomaly(
      `the client received ${fmt(client.confirmed)} confirms but the trace holds ${fmt(st.acksDecoded)} basic.ack confirms`,
    );
  if (st.violations > 0)
    anomaly(
      `${fmt(st.violations)} confirms were written before their message was fdatasync'ed: ${st.examples.join('; ')}`,
    );
  if (st.unverified > 0)
    anomaly(`${fmt(st.unverified)} confirms could not be verified (truncated trace strings)`);
  const negAll = neg.acksDecoded + neg.nacksDecoded;
  if (neg.violations !== negAll)
    anomaly(
      `negative control: only ${fmt(neg.violations)} of ${fmt(neg.acksDecoded)} confirms flagged without the fsync events`,
    );
  log(
    `result: ${fmt(st.acksDecoded)} confirms decoded, ${fmt(st.verified)} after their fdatasync, ${fmt(st.violations)} violations, ${fmt(st.unverified)} unverified; ${fmt(st.syncs)} segment fdatasyncs (${fmt(perSync, 1)} messages each on average); negative control flagged ${fmt(neg.violations)} of ${fmt(neg.acksDecoded)}`,
  );
  if (!cfg.keepTrace && traceDir !== null) rmSync(traceDir, { recursive: true, force: true });
  else log(`trace kept: ${traceFile}`);

  const ok =
    st.violations === 0 &&
    st.unverified === 0 &&
    st.acksDecoded > 0 &&
    (client === null || st.acksDecoded === client.confirmed);
  const sw = result.switchyard;
  const L = [
    `#### ${started.slice(0, 10)} ${started.slice(11, 16)} UTC: confirm after fsync, ${fmt(cfg.messages)} messages`,
    '',
    `Command: \`${COMMAND}\`.`,
    '',
    `Switchyard ${sw.commit === undefined ? '?' : `commit ${sw.commit}${sw.src_modified === true ? ' with uncommitted changes in src/' : ''}`}${client === null ? '' : `, dist/ ${client.build}`}, under \`strace -f\` (which slows it down: no performance figures here); ` +
      `${cfg.publishers} publisher${cfg.publishers === 1 ? '' : 's'} x ${cfg.window} unconfirmed, persistent ${fmt(cfg.size)} B messages to one durable queue, ${cfg.consumer ? 'one consumer acking each message (prefetch 100)' : 'no consumer'}; ` +
      `segment size ${cfg.segmentSize > 0 ? `${fmt(cfg.segmentSize)} B (SWITCHYARD_STORE_SEGMENT_SIZE, small so that the run crosses segment rolls and reclaims)` : 'the default'}.`,
    '',
    `- every confirm written after the fdatasync that covers its message: **${ok ? 'yes' : 'no'}**: ${fmt(st.acksDecoded)} confirms decoded from the broker's socket writes${client === null ? '' : ` (the client received ${fmt(client.confirmed)})`}, ${fmt(st.verified)} verified, ${fmt(st.violations)} violations, ${fmt(st.unverified)} unverified${st.nacksDecoded > 0 ? `, ${fmt(st.nacksDecoded)} nacks` : ''}`,
    `- group commit: ${fmt(st.segFiles.size)} segment files written, ${fmt(st.segWrites)} segment writes (${fmt(result.segment_mb, 1)} MB) and ${fmt(st.syncs)} segment fdatasyncs, ${fmt(perSync, 1)} messages per fdatasync on average (max ${fmt(result.messages_per_fdatasync_max)}); fdatasync took ${fmt(result.fdatasync_us_p50)} µs at p50, ${fmt(result.fdatasync_us_p99)} µs at p99 (under strace); ${fmt(st.dirSyncs)} directory fsyncs${st.syncFailures > 0 ? `; **${fmt(st.syncFailures)} failed syncs**` : ''}`,
    `- negative control (the same trace replayed without the fsync events): ${fmt(neg.violations)} of ${fmt(negAll)} confirms flagged${neg.violations > 0 && neg.violations === negAll ? ', so the check can fail' : ' (**expected all**)'}`,
    `- second control (the same trace without the directory fsyncs only): ${fmt(negDir.violations)} of ${fmt(negDir.acksDecoded + negDir.nacksDecoded)} confirms flagged (the messages in segment files created during the run${cfg.segmentSize > 0 ? '' : ', few with the default segment size'})`,
    '',
    "Limits: the trace shows the order of system calls, so this checks that the broker asks the kernel for the fdatasync and waits for it before it writes the confirm to the socket; whether the disk honours the flush is the virtual disk's business. Messages are recognised by a marker in their bodies; fsyncs are matched per segment file; the first segment file, created at start-up before any publish, needs its directory fsync like the others.",
    '',
    ...notesBlock(anomalies, 'No errors or anomalies.'),
  ];
  const section = L.join('\n');
  process.stdout.write(`\n${section}\n`);
  if (cfg.writeDocs) {
    addDurabilityRun('confirm-fsync', started, section);
    log('docs: updated the Durability section of docs/benchmarks.md');
  }
  return ok && anomalies.length === 0 ? 0 : 1;
}

runScript(NAME, run, main, () => {
  // strace detaches on SIGTERM (it is among run.children); the broker itself is stopped here.
  if (tracee !== null) process.kill(tracee, 'SIGTERM');
});
