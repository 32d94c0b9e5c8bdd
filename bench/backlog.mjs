#!/usr/bin/env node
// Durability benchmark: a large backlog of persistent messages, then recovery.
//
//   node bench/backlog.mjs                        # 2,000,000 x 1 KiB, then restart + drain 100,000
//   node bench/backlog.mjs --recovery-only        # recovery time of 1,000,000 persisted x 1 KiB
//   node bench/backlog.mjs --help
//
// Backlog mode: starts Switchyard on a fresh data dir, declares a durable queue and publishes N
// persistent messages (deliveryMode 2) through several ConfirmChannels, each with a window of
// unconfirmed messages, with NO consumer, so the whole backlog stays in the queue (paged out to the
// segment log past the in-memory window). Every second it samples the messages confirmed so far,
// the confirm rate, the broker's RSS (/proc/PID/status VmRSS), its CPU, the machine's other CPU and
// the data dir's size. Reports the rate over the first and last 10% of the messages, the peak RSS
// and the total time. Then (unless --no-recovery) it stops the broker with SIGTERM, restarts it on
// the same data dir (recovery time as the broker prints it, time to "ready", RSS after recovery),
// and consumes the first --drain messages, checking that each publisher's messages come back in
// order and without gaps (a sequence number in the body).
//
// Recovery-only mode: fills a fresh data dir with N messages the same way, then restarts the broker
// --restarts times with a warm page cache and --restarts times with the segment files evicted from
// the page cache first (dd iflag=nocache: only this data dir's files, nothing machine-wide).
//
// The broker runs from a snapshot of dist/ taken at the start (bench/node_modules/.cache/), so a
// rebuild of dist/ during the run cannot change the code between the publish phase and the restart.
// Results: bench/results/{backlog,recovery}-<date>.jsonl (meta, one line per second, phase
// summaries) and a log next to it; a markdown section on stdout and in docs/benchmarks.md
// ("Durability"), which bench/run.mjs keeps when it rewrites the file.
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stopAllBrokers, SwitchyardProcess } from './lib-brokers.mjs';
import {
  commandLine,
  cpuMeter,
  createRun,
  DOCS_FILE,
  fmt,
  fmtSize,
  gitInfo,
  loadAmqplib,
  makeFail,
  mdTable,
  median,
  numberParsers,
  otherProcs,
  pagingWindow,
  parseCli,
  prepareDist,
  procStatus,
  ROOT,
  round,
  sleep,
  updateDurabilityDocs,
} from './lib-common.mjs';

const QUEUE = 'bench.backlog';

const HELP = `usage: node bench/backlog.mjs [flags]

Backlog mode (default): N persistent messages with confirms and no consumer, sampled every second;
then restart on the same data dir and drain the first --drain messages.
Recovery-only mode (--recovery-only [N]): fill N messages, then time the broker's recovery.

  --messages N          messages to publish (default 2,000,000; 1,000,000 with --recovery-only)
  --recovery-only [N]   recovery-only mode; N as --messages
  --size BYTES          body size (default 1024, min 32)
  --publishers P        publisher connections, one ConfirmChannel each (default 4)
  --window W            unconfirmed messages per publisher (default 512)
  --max-seconds S       stop publishing after S seconds and report what was reached (default 600)
  --abort-rss-mb MB     stop publishing when the broker's RSS exceeds MB (default 4096)
  --stall-seconds S     give up when no confirm arrives for S seconds (default 60)
  --no-recovery         backlog mode: stop after the publish phase (no restart, no drain)
  --drain N|all         backlog mode: messages to consume after the restart (default 100000)
  --prefetch N          drain consumer prefetch (default 1000); it acks each message
  --restarts R          recovery-only mode: restarts per cache state (default 3)
  --cache LIST          page cache before a restart: warm, cold or warm,cold (default: warm in
                        backlog mode, warm,cold in recovery-only mode). cold = this data dir's
                        files evicted with dd iflag=nocache
  --start-timeout S     time allowed for a (re)start to print "ready" (default 300)
  --data-dir DIR        use DIR (must be empty or absent) instead of a fresh temporary dir
  --keep-data           leave the data dir in place at the end
  --quick               smoke run: 100,000 messages, --max-seconds 60, --drain 10000;
                        results in bench/results/tmp/, docs untouched
  --out FILE.jsonl      results file (default bench/results/<mode>-<date>.jsonl)
  --docs / --no-docs    write the Durability section of docs/benchmarks.md (default: yes, not --quick)
  --no-build            do not rebuild dist/ when src/ is newer
  -h, --help
`;

// ---------------------------------------------------------------- arguments

// --recovery-only takes an optional number, which parseArgs cannot express: pull it out first.
const rawArgs = process.argv.slice(2);
let recoveryOnly = null;
{
  const i = rawArgs.findIndex((a) => a === '--recovery-only' || a.startsWith('--recovery-only='));
  if (i >= 0) {
    const a = rawArgs[i];
    if (a.includes('=')) {
      recoveryOnly = a.slice(a.indexOf('=') + 1);
      rawArgs.splice(i, 1);
    } else if (rawArgs[i + 1] !== undefined && /^[\d_,.]+[kKmM]?$/.test(rawArgs[i + 1])) {
      recoveryOnly = rawArgs[i + 1];
      rawArgs.splice(i, 2);
    } else {
      recoveryOnly = '';
      rawArgs.splice(i, 1);
    }
  }
}
const fail = makeFail('backlog');
const opt = parseCli({
  name: 'backlog',
  help: HELP,
  args: rawArgs,
  options: {
    messages: { type: 'string' },
    size: { type: 'string' },
    publishers: { type: 'string' },
    window: { type: 'string' },
    'max-seconds': { type: 'string' },
    'abort-rss-mb': { type: 'string' },
    'stall-seconds': { type: 'string' },
    recovery: { type: 'boolean' },
    drain: { type: 'string' },
    prefetch: { type: 'string' },
    restarts: { type: 'string' },
    cache: { type: 'string' },
    'start-timeout': { type: 'string' },
    'data-dir': { type: 'string' },
    'keep-data': { type: 'boolean' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    docs: { type: 'boolean' },
    build: { type: 'boolean' },
  },
});
const { count } = numberParsers(fail);

const quick = !!opt.quick;
const mode = recoveryOnly !== null ? 'recovery' : 'backlog';
const cfg = {
  mode,
  quick,
  messages: count(
    'messages',
    recoveryOnly || opt.messages,
    quick ? 100_000 : mode === 'recovery' ? 1_000_000 : 2_000_000,
  ),
  size: count('size', opt.size, 1024),
  publishers: count('publishers', opt.publishers, 4),
  window: count('window', opt.window, 512),
  maxSeconds: count('max-seconds', opt['max-seconds'], quick ? 60 : 600),
  abortRssMb: count('abort-rss-mb', opt['abort-rss-mb'], 4096),
  stallSeconds: count('stall-seconds', opt['stall-seconds'], 60),
  recovery: opt.recovery ?? true,
  drain: opt.drain === 'all' ? Number.POSITIVE_INFINITY : count('drain', opt.drain, quick ? 10_000 : 100_000),
  prefetch: count('prefetch', opt.prefetch, 1000),
  restarts: count('restarts', opt.restarts, quick ? 1 : 3),
  cache: (opt.cache ?? (mode === 'recovery' ? 'warm,cold' : 'warm')).split(',').filter(Boolean),
  startTimeout: count('start-timeout', opt['start-timeout'], 300),
  dataDir: opt['data-dir'] ? resolve(opt['data-dir']) : null,
  keepData: !!opt['keep-data'],
  writeDocs: opt.docs ?? !quick,
  build: opt.build ?? true,
};
if (cfg.size < 32) fail('--size must be at least 32 (the body carries sequence numbers)');
for (const c of cfg.cache) if (c !== 'warm' && c !== 'cold') fail(`--cache: unknown '${c}' (warm, cold)`);

const COMMAND = commandLine('node bench/backlog.mjs', process.argv.slice(2));

// ---------------------------------------------------------------- output and logging

const run = createRun({ stem: mode, tmp: quick, out: opt.out });
const { OUT, writeRow, log, logRaw, anomaly, anomalies, startedAt } = run;
const now = () => performance.now();

// ---------------------------------------------------------------- /proc

function dirBytes(dir) {
  let n = 0;
  let files = 0;
  const walk = (d) => {
    let names;
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else {
          n += st.size;
          files++;
        }
      } catch {}
    }
  };
  walk(dir);
  return { bytes: n, files };
}
function listFiles(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) listFiles(p, out);
    else if (st.isFile()) out.push(p);
  }
  return out;
}
/** Evicts this data dir's files from the page cache (fadvise DONTNEED through dd). */
function evictFromCache(dir) {
  const files = listFiles(dir);
  let failed = 0;
  for (const f of files) {
    const r = spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
    if (r.status !== 0) failed++;
  }
  let cachedKb = null;
  try {
    // fincore: bytes of these files still in the page cache
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 16 << 20,
    });
    cachedKb = out
      .split('\n')
      .filter(Boolean)
      .reduce((a, l) => a + Number(l.trim()) / 1024, 0);
  } catch {}
  return {
    files: files.length,
    failed,
    still_cached_mb: cachedKb === null ? null : round(cachedKb / 1024, 1),
  };
}

// ---------------------------------------------------------------- the broker process

let snapshot = null;
/** Switchyard on `dataDir`, kept across restarts; amqpUrl without heartbeats. */
class Broker extends SwitchyardProcess {
  constructor(dataDir, label) {
    super({
      snapshot,
      ctx: run,
      label: `switchyard ${label}`,
      dataDir,
      ports: { amqp: 0 },
      startTimeoutS: cfg.startTimeout,
      exitNote: () => `last RSS sample ${lastRssMb ?? '?'} MB`,
    });
  }

  get amqpUrl() {
    return `${this.url('amqp')}?heartbeat=0`;
  }

  /** Starts it; resolves when "ready" is printed: { pid, listen_ms, ready_ms, recovered, ... }. */
  async start() {
    const info = await super.start();
    if (info.recovered)
      log(
        `${this.label}: recovered ${fmt(info.recovered.queues)} queues, ${fmt(info.recovered.messages)} messages in ${fmt(info.recovered.ms)} ms; listening +${info.listen_ms} ms`,
      );
    return info;
  }

  /** SIGTERM; resolves {ms, code, signal, forced}. */
  stop(limitS = 60) {
    return super.stop(limitS);
  }
}
process.on('SIGINT', () => {
  stopAllBrokers();
  process.exit(130);
});
process.on('SIGTERM', () => {
  stopAllBrokers();
  process.exit(143);
});

// ---------------------------------------------------------------- AMQP client

const { amqp, version: amqplibVersion } = loadAmqplib();

async function connect(url) {
  const conn = await amqp.connect(url, { noDelay: true });
  conn.on('error', () => {});
  return conn;
}

// Body: [0,8) global sequence number, [8,12) publisher index, [12,20) the publisher's own
// sequence number, [20,28) publish time (ms, float64), rest filler.
let FILLER = null;
function makeBody(size, gseq, pub, pseq) {
  FILLER ??= Buffer.alloc(size, 0x61);
  const b = Buffer.allocUnsafe(size);
  FILLER.copy(b, 28, 28);
  b.writeBigUInt64BE(BigInt(gseq), 0);
  b.writeUInt32BE(pub, 8);
  b.writeBigUInt64BE(BigInt(pseq), 12);
  b.writeDoubleBE(Date.now(), 20);
  return b;
}

// ---------------------------------------------------------------- publish phase

const MILESTONE = 1000; // a timestamp every MILESTONE confirms
let lastRssMb = null;

/**
 * Publishes cfg.messages persistent messages, with no consumer, sampling every second.
 * Returns the phase summary (see the fields below).
 */
async function publishPhase(broker, label) {
  const N = cfg.messages;
  const W = cfg.window;
  const st = {
    next: 0,
    published: 0,
    confirmed: 0,
    nacked: 0,
    stop: false,
    stopReason: null,
    blocked: [],
    errors: [],
  };
  const milestones = [[0, 0]]; // [confirmed, ms since the first publish]
  const samples = [];

  // queue
  const admin = await connect(broker.amqpUrl);
  const ach = await admin.createChannel();
  await ach.assertQueue(QUEUE, { durable: true, autoDelete: false, exclusive: false });
  await ach.close();
  await admin.close();

  const pubs = [];
  for (let i = 0; i < cfg.publishers; i++) {
    const conn = await connect(broker.amqpUrl);
    const ch = await conn.createConfirmChannel();
    const p = { idx: i, conn, ch, seq: 0, outstanding: 0, waiter: null, closed: null };
    p.closed = new Promise((r) => {
      const onClose = (what) => (e) => {
        if (!st.closing && (!st.stop || st.published > st.confirmed + st.nacked))
          st.errors.push(`publisher ${i} ${what}${e ? `: ${e.message ?? e}` : ''}`);
        r();
      };
      ch.on('error', onClose('channel error'));
      ch.on('close', onClose('channel closed'));
      conn.on('close', onClose('connection closed'));
    });
    conn.on('blocked', (reason) => {
      st.blocked.push({ publisher: i, at_s: round((now() - tStart) / 1000, 1), reason: String(reason) });
      log(`publisher ${i}: connection.blocked (${reason})`);
    });
    conn.on('unblocked', () => {
      st.blocked.push({ publisher: i, at_s: round((now() - tStart) / 1000, 1), unblocked: true });
      log(`publisher ${i}: connection.unblocked`);
    });
    pubs.push(p);
  }

  const baseRssMb = round((procStatus(broker.pid).rssKb ?? 0) / 1024, 1); // before the first publish
  let tStart = now();
  let lastConfirmAt = tStart;
  const onConfirm = (p, err) => {
    p.outstanding--;
    if (err) st.nacked++;
    else st.confirmed++;
    const done = st.confirmed + st.nacked;
    lastConfirmAt = now();
    if (done % MILESTONE === 0) milestones.push([done, lastConfirmAt - tStart]);
    if (p.waiter && p.outstanding < W) {
      const w = p.waiter;
      p.waiter = null;
      w();
    }
  };
  const wakeAll = () => {
    for (const p of pubs) {
      if (p.waiter) {
        const w = p.waiter;
        p.waiter = null;
        w();
      }
    }
  };
  const stop = (reason) => {
    if (st.stop) return;
    st.stop = true;
    st.stopReason = reason;
    log(`publish: stopping (${reason})`);
    wakeAll();
  };

  async function run(p) {
    let sinceYield = 0;
    for (;;) {
      if (st.stop) break;
      if (p.outstanding >= W) {
        await Promise.race([new Promise((r) => (p.waiter = r)), p.closed]);
        if (p.waiter === null || p.outstanding < W) continue;
        break; // closed
      }
      if (st.next >= N) break;
      const g = st.next++;
      const body = makeBody(cfg.size, g, p.idx, p.seq++);
      p.outstanding++;
      st.published++;
      let ok;
      try {
        ok = p.ch.publish('', QUEUE, body, { persistent: true }, (err) => onConfirm(p, err));
      } catch (e) {
        st.errors.push(`publisher ${p.idx}: publish threw: ${e.message ?? e}`);
        stop('publish failed');
        break;
      }
      if (!ok) await Promise.race([once(p.ch, 'drain').catch(() => {}), p.closed]);
      if (++sinceYield >= 64) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
  }

  // sampler
  const meter = cpuMeter(broker.pid);
  const others = otherProcs([broker.pid, process.pid]);
  let lastDone = 0;
  let lastT = tStart;
  let maxRss = 0;
  const sample = () => {
    const t = now();
    const done = st.confirmed + st.nacked;
    const { rssKb, hwmKb } = procStatus(broker.pid);
    const cpu = meter();
    const disk = dirBytes(broker.dataDir);
    const rssMb = rssKb === null ? null : round(rssKb / 1024, 1);
    if (rssMb !== null) {
      lastRssMb = rssMb;
      maxRss = Math.max(maxRss, rssMb);
    }
    const s = {
      type: 'sample',
      phase: label,
      t_s: round((t - tStart) / 1000, 2),
      published: st.published,
      confirmed: done,
      rate_1s: Math.round((done - lastDone) / ((t - lastT) / 1000)),
      rss_mb: rssMb,
      hwm_mb: hwmKb === null ? null : round(hwmKb / 1024, 1),
      ...cpu,
      top_other: others(),
      disk_mb: round(disk.bytes / 1048576, 0),
      files: disk.files,
      load1: round(os.loadavg()[0], 2),
    };
    lastDone = done;
    lastT = t;
    samples.push(s);
    writeRow(s);
    const line = `[${String(Math.round(s.t_s)).padStart(4)} s] confirmed ${fmt(done).padStart(9)} (${fmt((done / N) * 100, 0).padStart(3)}%)  ${fmt(s.rate_1s).padStart(7)} msg/s  RSS ${fmt(rssMb, 0).padStart(5)} MB  broker CPU ${fmt(s.broker_cpu_pct).padStart(3)}%  client ${fmt(s.client_cpu_pct).padStart(3)}%  other ${fmt(s.other_cpu_pct).padStart(3)}%${s.other_cpu_pct >= 25 ? ` (${s.top_other.map(([n, c]) => `${n} ${c}%`).join(', ')})` : ''}  disk ${fmt(s.disk_mb)} MB`;
    if (samples.length % 5 === 0) log(line);
    else logRaw(line);
    // stop conditions
    if (!broker.alive) stop('the broker exited');
    else if (rssMb !== null && rssMb > cfg.abortRssMb)
      stop(`broker RSS ${fmt(rssMb)} MB > --abort-rss-mb ${cfg.abortRssMb}`);
    else if ((t - tStart) / 1000 >= cfg.maxSeconds && !st.stop)
      stop(`time limit --max-seconds ${cfg.maxSeconds}`);
    else if (t - lastConfirmAt > cfg.stallSeconds * 1000 && st.published > done)
      stop(`no confirm for ${cfg.stallSeconds} s`);
    if (st.errors.length && !st.stop) stop(st.errors[0]);
  };

  log(
    `publish (${label}): ${fmt(N)} x ${fmt(cfg.size)} B persistent, ${cfg.publishers} publishers x ${cfg.window} unconfirmed, no consumer; limit ${cfg.maxSeconds} s`,
  );
  tStart = now();
  lastT = tStart;
  lastConfirmAt = tStart;
  const ticker = setInterval(sample, 1000);
  await Promise.all(pubs.map(run));
  const tPublished = now();
  // wait for the outstanding confirms
  const tWait = now();
  while (
    st.published > st.confirmed + st.nacked &&
    broker.alive &&
    now() - lastConfirmAt < cfg.stallSeconds * 1000 &&
    now() - tWait < 120_000
  )
    await sleep(20);
  const tEnd = now();
  clearInterval(ticker);
  sample();
  const done = st.confirmed + st.nacked;
  if (done % MILESTONE !== 0) milestones.push([done, lastConfirmAt - tStart]);
  const unconfirmed = st.published - done;
  if (unconfirmed > 0) anomaly(`${label}: ${fmt(unconfirmed)} published messages were never confirmed`);
  if (st.nacked > 0) anomaly(`${label}: ${fmt(st.nacked)} publishes nacked by the broker`);
  for (const e of st.errors) anomaly(`${label}: ${e}`);

  // queue depth as the broker reports it
  let queueDepth = null;
  if (broker.alive) {
    try {
      const c = await connect(broker.amqpUrl);
      const ch = await c.createChannel();
      queueDepth = (await ch.checkQueue(QUEUE)).messageCount;
      await c.close();
    } catch (e) {
      anomaly(`${label}: queue.declare passive failed: ${e.message ?? e}`);
    }
  }
  st.closing = true;
  for (const p of pubs) {
    try {
      await p.conn.close();
    } catch {}
  }
  if (queueDepth !== null && queueDepth !== st.confirmed)
    anomaly(
      `${label}: the queue holds ${fmt(queueDepth)} messages after ${fmt(st.confirmed)} confirmed publishes`,
    );

  const { hwmKb } = broker.alive ? procStatus(broker.pid) : { hwmKb: null };
  const summary = {
    type: 'publish',
    phase: label,
    target: N,
    published: st.published,
    confirmed: st.confirmed,
    nacked: st.nacked,
    unconfirmed,
    complete: st.confirmed === N,
    stop_reason: st.stopReason ?? (st.confirmed === N ? 'all confirmed' : 'ended'),
    elapsed_s: round((tEnd - tStart) / 1000, 2),
    publish_s: round((tPublished - tStart) / 1000, 2),
    rate_avg: Math.round(done / ((tEnd - tStart) / 1000)),
    ...rateFigures(milestones, done),
    max_rss_mb: round(maxRss, 1),
    vm_hwm_mb: hwmKb === null ? null : round(hwmKb / 1024, 1),
    end_rss_mb: lastRssMb,
    disk_mb: samples.at(-1)?.disk_mb ?? null,
    queue_depth: queueDepth,
    other_cpu_median: median(samples.map((s) => s.other_cpu_pct).filter((x) => typeof x === 'number')),
    other_cpu_max: Math.max(0, ...samples.map((s) => s.other_cpu_pct).filter((x) => typeof x === 'number')),
    blocked: st.blocked,
    errors: st.errors,
    deciles: deciles(milestones, done, samples),
    ...rssSlope(samples),
    base_rss_mb: baseRssMb,
    rate_1s_min: samples.length > 2 ? Math.min(...samples.slice(1, -1).map((s) => s.rate_1s)) : null,
    rate_1s_max: samples.length > 2 ? Math.max(...samples.slice(1, -1).map((s) => s.rate_1s)) : null,
    broker_alive: broker.alive,
  };
  if (summary.other_cpu_median !== null && summary.other_cpu_median >= 25)
    anomaly(
      `${label}: other jobs used ${fmt(summary.other_cpu_median)}% CPU (median; max ${fmt(summary.other_cpu_max)}%) of one core while publishing (machine busy minus broker minus this client): the rates are noisy, rerun when the machine is quiet`,
    );
  writeRow(summary);
  log(
    `publish (${label}): ${fmt(st.confirmed)} confirmed of ${fmt(N)} in ${fmt(summary.elapsed_s, 1)} s (${summary.stop_reason}); avg ${fmt(summary.rate_avg)} msg/s, first 10% ${fmt(summary.rate_first10)}, last 10% ${fmt(summary.rate_last10)} (${fmt(summary.last_over_first, 2)}x); max RSS ${fmt(summary.max_rss_mb)} MB (VmHWM ${fmt(summary.vm_hwm_mb)} MB); queue depth ${fmt(queueDepth)}`,
  );
  return summary;
}

/** RSS growth per confirmed message between the first and the last sample, and where 1 GiB falls. */
function rssSlope(samples) {
  const a = samples.find((x) => typeof x.rss_mb === 'number' && x.confirmed > 0);
  const b = samples.findLast((x) => typeof x.rss_mb === 'number');
  if (!a || !b || b.confirmed - a.confirmed < 10_000) return { rss_bytes_per_msg: null, rss_1gib_at: null };
  const per = ((b.rss_mb - a.rss_mb) * 1048576) / (b.confirmed - a.confirmed);
  const at = per > 0 ? b.confirmed + ((1024 - b.rss_mb) * 1048576) / per : null;
  return { rss_bytes_per_msg: Math.round(per), rss_1gib_at: at && at > 0 ? Math.round(at) : null };
}
/** ms at which `n` confirms were reached, interpolated between milestones */
function timeAt(milestones, n) {
  for (let i = 1; i < milestones.length; i++) {
    const [c1, t1] = milestones[i];
    if (c1 >= n) {
      const [c0, t0] = milestones[i - 1];
      return c1 === c0 ? t1 : t0 + ((n - c0) / (c1 - c0)) * (t1 - t0);
    }
  }
  return milestones.at(-1)[1];
}
function rateFigures(milestones, done) {
  if (done < 10 * MILESTONE) return { rate_first10: null, rate_last10: null, last_over_first: null };
  const tenth = done / 10;
  const first = tenth / (timeAt(milestones, tenth) / 1000);
  const last = tenth / ((timeAt(milestones, done) - timeAt(milestones, done - tenth)) / 1000);
  return {
    rate_first10: Math.round(first),
    rate_last10: Math.round(last),
    last_over_first: round(last / first, 3),
  };
}
function deciles(milestones, done, samples) {
  if (done < 10 * MILESTONE) return [];
  const out = [];
  for (let k = 1; k <= 10; k++) {
    const a = (done * (k - 1)) / 10;
    const b = (done * k) / 10;
    const ta = timeAt(milestones, a);
    const tb = timeAt(milestones, b);
    const s = samples.reduce(
      (best, x) => (Math.abs(x.t_s * 1000 - tb) < Math.abs(best.t_s * 1000 - tb) ? x : best),
      samples[0],
    );
    // broker CPU over the 1 s samples that end inside this tenth (each covers the second before it)
    const inside = samples.filter(
      (x) => x.t_s * 1000 > ta && x.t_s * 1000 <= tb && typeof x.broker_cpu_pct === 'number',
    );
    const cpu = inside.length ? inside.reduce((sum, x) => sum + x.broker_cpu_pct, 0) / inside.length : null;
    const rate = (b - a) / ((tb - ta) / 1000);
    out.push({
      upto: Math.round(b),
      at_s: round(tb / 1000, 1),
      rate: Math.round(rate),
      rss_mb: s?.rss_mb ?? null,
      broker_cpu_pct: cpu === null ? null : Math.round(cpu),
      // approximate: the samples' seconds do not align with the tenth's boundaries
      cpu_us_per_msg: cpu === null ? null : round(((cpu / 100) * 1e6) / rate, 1),
    });
  }
  return out;
}

// ---------------------------------------------------------------- restart and drain

async function restart(dataDir, label, cache) {
  let evicted = null;
  if (cache === 'cold') {
    evicted = evictFromCache(dataDir);
    log(
      `cache: evicted ${evicted.files} files of the data dir from the page cache (${evicted.failed} failed; still cached ${fmt(evicted.still_cached_mb)} MB)`,
    );
  }
  const b = new Broker(dataDir, label);
  const t0 = now();
  const info = await b.start();
  const at = procStatus(b.pid);
  await sleep(5000);
  const settled = procStatus(b.pid);
  const r = {
    type: 'restart',
    phase: label,
    cache,
    evicted,
    pid: info.pid,
    listen_ms: info.listen_ms,
    ready_ms: info.ready_ms,
    recovered_queues: info.recovered?.queues ?? null,
    recovered_messages: info.recovered?.messages ?? null,
    recovery_ms: info.recovered?.ms ?? null,
    recovery_note: info.recovered?.note ?? null,
    rss_at_ready_mb: at.rssKb === null ? null : round(at.rssKb / 1024, 1),
    rss_after_5s_mb: settled.rssKb === null ? null : round(settled.rssKb / 1024, 1),
    vm_hwm_mb: settled.hwmKb === null ? null : round(settled.hwmKb / 1024, 1),
    wall_ms: Math.round(now() - t0),
  };
  if (!info.recovered) anomaly(`${label}: the broker printed no "recovered ..." line`);
  lastRssMb = r.rss_after_5s_mb;
  return { broker: b, info: r };
}

async function drainPhase(broker, expectedDepth) {
  const c = await connect(broker.amqpUrl);
  const ch = await c.createChannel();
  const depth = (await ch.checkQueue(QUEUE)).messageCount;
  if (expectedDepth !== null && depth !== expectedDepth)
    anomaly(
      `drain: the queue holds ${fmt(depth)} messages after the restart, ${fmt(expectedDepth)} were confirmed`,
    );
  const want = Math.min(cfg.drain, depth);
  await ch.prefetch(cfg.prefetch);
  const expect = new Map(); // publisher -> next per-publisher seq
  let got = 0;
  let redelivered = 0;
  let orderErrors = 0;
  let lastG = -1;
  let globalBackwards = 0;
  const examples = [];
  let tFirst = null;
  let tLast = null;
  let maxRss = 0;
  const meter = cpuMeter(broker.pid);
  const cpuSamples = [];
  const ticker = setInterval(() => {
    const { rssKb } = procStatus(broker.pid);
    if (rssKb !== null) maxRss = Math.max(maxRss, rssKb / 1024);
    cpuSamples.push(meter());
  }, 1000);
  let resolveDone;
  const finished = new Promise((r) => (resolveDone = r));
  const t0 = now();
  const { consumerTag } = await ch.consume(
    QUEUE,
    (msg) => {
      if (msg === null) {
        anomaly('drain: the consumer was cancelled by the broker');
        resolveDone();
        return;
      }
      if (got >= want) return; // past the target: left unacked, requeued when the channel closes
      const t = now();
      tFirst ??= t;
      tLast = t;
      got++;
      if (msg.fields.redelivered) redelivered++;
      const b = msg.content;
      if (b.length !== cfg.size) {
        orderErrors++;
        if (examples.length < 5) examples.push(`message ${got}: ${b.length} bytes, want ${cfg.size}`);
      } else {
        const g = Number(b.readBigUInt64BE(0));
        const p = b.readUInt32BE(8);
        const s = Number(b.readBigUInt64BE(12));
        const e = expect.get(p) ?? 0;
        if (s !== e) {
          orderErrors++;
          if (examples.length < 5)
            examples.push(`message ${got}: publisher ${p} seq ${s}, expected ${e} (global ${g})`);
        }
        expect.set(p, s + 1);
        if (g < lastG) globalBackwards++;
        lastG = g;
      }
      ch.ack(msg);
      if (got === want) resolveDone();
    },
    { noAck: false },
  );
  const tConsume = now();
  const limit = Math.max(60, Math.ceil(want / 2000));
  const timedOut = await Promise.race([finished.then(() => false), sleep(limit * 1000).then(() => true)]);
  clearInterval(ticker);
  {
    // a last sample: a short drain may end before the first tick
    const { rssKb } = procStatus(broker.pid);
    if (rssKb !== null) maxRss = Math.max(maxRss, rssKb / 1024);
    cpuSamples.push(meter());
  }
  if (timedOut) anomaly(`drain: only ${fmt(got)} of ${fmt(want)} messages arrived within ${limit} s`);
  try {
    await ch.cancel(consumerTag);
  } catch {}
  try {
    await ch.close();
  } catch {}
  let after = null;
  try {
    const ch2 = await c.createChannel();
    after = (await ch2.checkQueue(QUEUE)).messageCount;
    await ch2.close();
  } catch {}
  await c.close().catch(() => {});
  if (orderErrors)
    anomaly(`drain: ${fmt(orderErrors)} messages out of order or missing: ${examples.join('; ')}`);
  if (after !== null && after !== depth - got)
    anomaly(
      `drain: the queue holds ${fmt(after)} messages after ${fmt(got)} of ${fmt(depth)} were consumed and acked`,
    );
  const r = {
    type: 'drain',
    queue_depth_before: depth,
    wanted: want,
    received: got,
    redelivered,
    order_errors: orderErrors,
    order_examples: examples,
    publishers_seen: expect.size,
    global_seq_backwards: globalBackwards, // interleaving of publishers; not an error
    first_message_ms: tFirst === null ? null : Math.round(tFirst - tConsume),
    consume_setup_ms: Math.round(tConsume - t0),
    drain_s: tLast === null ? null : round((tLast - tConsume) / 1000, 2),
    rate: tLast === null || tLast === tConsume ? null : Math.round(got / ((tLast - tConsume) / 1000)),
    max_rss_mb: round(maxRss, 1),
    broker_cpu_median: median(cpuSamples.map((s) => s.broker_cpu_pct).filter((x) => typeof x === 'number')),
    other_cpu_max: Math.max(
      0,
      ...cpuSamples.map((s) => s.other_cpu_pct).filter((x) => typeof x === 'number'),
    ),
    queue_depth_after: after,
  };
  writeRow(r);
  log(
    `drain: ${fmt(got)} of ${fmt(want)} in ${fmt(r.drain_s, 2)} s (${fmt(r.rate)} msg/s; first after ${fmt(r.first_message_ms)} ms); ${orderErrors ? `${fmt(orderErrors)} ORDER ERRORS` : 'in order, no gaps'}; redelivered ${fmt(redelivered)}; queue ${fmt(depth)} -> ${fmt(after)}`,
  );
  return r;
}

// ---------------------------------------------------------------- markdown

const metMark = (ok) => (ok === null ? 'not measured' : ok ? 'met' : '**not met**');

function headerLines(meta, endMeta) {
  const L = [];
  L.push(
    `Command: \`${meta.command}\`. Raw results: \`${relative(ROOT, OUT)}\` (one JSON line per second and per phase).`,
  );
  L.push('');
  L.push(
    `Switchyard ${meta.switchyard.version}${meta.switchyard.commit ? ` (commit ${meta.switchyard.commit}${meta.switchyard.src_modified ? ', with uncommitted changes in src/' : ''})` : ''}, dist/ ${meta.build}, run from a snapshot of dist/; paging window ${meta.paging_window ? `${fmt(meta.paging_window.messages)} messages${meta.paging_window.bytes ? ` / ${fmt(meta.paging_window.bytes / 1048576)} MiB` : ''} per durable queue` : 'unknown'}; client amqplib@${meta.amqplib}, Node ${meta.node}; data dir on ${meta.data_fs}. ` +
      `Machine: ${meta.cpus} x ${meta.cpu_model}, ${meta.mem_gb} GiB RAM. Load average (1 min) at start ${fmt(meta.loadavg_at_start[0], 2)}, at end ${fmt(endMeta.loadavg_at_end[0], 2)}. Wall time ${fmt(endMeta.duration_s / 60, 1)} min.`,
  );
  L.push('');
  return L;
}

function backlogSection(meta, endMeta, pub, rst, drain) {
  const L = [];
  const when = `${meta.date.slice(0, 10)} ${meta.date.slice(11, 16)} UTC`;
  L.push(`#### ${when}: backlog of ${fmt(cfg.messages)} x ${fmtSize(cfg.size)}${quick ? ' (quick)' : ''}`);
  L.push('');
  L.push(...headerLines(meta, endMeta));
  L.push(
    `Publish phase: ${cfg.publishers} publisher connections, one ConfirmChannel each, at most ${cfg.window} unconfirmed per channel, persistent ${fmtSize(cfg.size)} messages to one durable queue, no consumer; time limit ${cfg.maxSeconds} s.`,
  );
  L.push('');
  const peak = Math.max(pub.vm_hwm_mb ?? 0, pub.max_rss_mb ?? 0);
  const rssOk = peak > 0 ? peak < 1024 : null;
  const rateOk = pub.last_over_first === null ? null : pub.last_over_first >= 2 / 3;
  const full = pub.complete;
  L.push('Targets:');
  L.push('');
  L.push(
    `- backlog of ${fmt(cfg.messages)} reached: ${full ? 'yes' : `**no**: ${fmt(pub.confirmed)} confirmed (${fmt((pub.confirmed / cfg.messages) * 100, 1)}%), stopped: ${pub.stop_reason}`}`,
  );
  L.push(
    `- broker RSS < 1 GiB (1,024 MiB) during the backlog: peak ${fmt(peak, 0)} MiB (VmHWM; highest 1 s sample ${fmt(pub.max_rss_mb, 0)} MiB), ${metMark(rssOk)}${full ? '' : ' (for the part reached)'}`,
  );
  L.push(
    `- publish rate over the last 10% >= 2/3 of the first 10%: ${fmt(pub.rate_last10)} vs ${fmt(pub.rate_first10)} msg/s = ${fmt(pub.last_over_first, 2)}x, ${metMark(rateOk)}${full ? '' : ' (10% of what was reached)'}`,
  );
  if (rst) {
    const recOk = rst.recovered_messages === pub.confirmed;
    L.push(
      `- every confirmed message recovered: ${fmt(rst.recovered_messages)} of ${fmt(pub.confirmed)}, ${recOk ? 'yes' : '**no**'}`,
    );
    const rpeak = Math.max(rst.vm_hwm_mb ?? 0, rst.rss_after_5s_mb ?? 0);
    L.push(
      `- the same backlog after the restart (recovered, nothing read back yet) also under 1 GiB: peak ${fmt(rpeak, 0)} MiB (VmHWM after recovery), ${rpeak ? (rpeak < 1024 ? 'yes' : '**no**') : 'not measured'}${rpeak >= 0.9 * 1024 && rpeak < 1024 ? ', within 10% of the limit' : ''}`,
    );
  }
  if (drain) {
    L.push(
      `- first ${fmt(drain.received)} messages back in order, without gaps: ${drain.order_errors === 0 && drain.received === drain.wanted ? 'yes' : `**no** (${fmt(drain.order_errors)} errors, ${fmt(drain.received)} of ${fmt(drain.wanted)} received)`}`,
    );
  }
  L.push('');
  L.push(
    `Publish: ${fmt(pub.confirmed)} confirmed in ${fmt(pub.elapsed_s, 1)} s, ${fmt(pub.rate_avg)} msg/s on average (1 s rates ${fmt(pub.rate_1s_min)}-${fmt(pub.rate_1s_max)}); first 10% ${fmt(pub.rate_first10)} msg/s, last 10% ${fmt(pub.rate_last10)} msg/s. ` +
      `RSS at the end ${fmt(pub.end_rss_mb, 0)} MiB${pub.rss_bytes_per_msg ? ` (${fmt(pub.rss_bytes_per_msg)} bytes of RSS per message in the backlog, from the first to the last 1 s sample${pub.rss_1gib_at ? `; at that slope 1 GiB is reached near ${fmt(pub.rss_1gib_at / 1e6, 1)} million messages` : ''})` : ''}; data dir ${fmt(pub.disk_mb)} MiB; queue depth reported by the broker ${fmt(pub.queue_depth)}. ` +
      `"Other" CPU (machine busy minus broker minus this client) median ${fmt(pub.other_cpu_median)}%, max ${fmt(pub.other_cpu_max)}% of one core.` +
      (pub.nacked ? ` **${fmt(pub.nacked)} nacked.**` : '') +
      (pub.unconfirmed ? ` **${fmt(pub.unconfirmed)} never confirmed.**` : ''),
  );
  L.push('');
  if (pub.deciles.length) {
    L.push(
      'By tenth of the messages confirmed (rate within that tenth; RSS at the 1 s sample nearest its end; broker CPU = mean of the 1 s samples ending inside the tenth, % of one core, all threads; µs/msg = that CPU / the rate, approximate):',
    );
    L.push('');
    L.push(
      mdTable(
        ['messages', 'at s', 'msg/s', 'RSS MiB', 'broker CPU%', 'broker CPU µs/msg'],
        pub.deciles.map((d) => [
          fmt(d.upto),
          fmt(d.at_s, 1),
          fmt(d.rate),
          fmt(d.rss_mb, 0),
          fmt(d.broker_cpu_pct),
          fmt(d.cpu_us_per_msg, 1),
        ]),
      ),
    );
    L.push('');
  }
  if (rst) {
    L.push(
      `Restart on the same data dir (SIGTERM took ${fmt(rst.stop_ms)} ms${rst.stop_code !== 0 ? `, exit code ${rst.stop_code}, signal ${rst.stop_signal}` : ''}; page cache warm): the broker reported **recovered ${fmt(rst.recovered_queues)} durable queues with ${fmt(rst.recovered_messages)} messages in ${fmt(rst.recovery_ms)} ms**${rst.recovery_note ? ` ${rst.recovery_note}` : ''}; "listening" after ${fmt(rst.listen_ms)} ms and "ready" after ${fmt(rst.ready_ms)} ms from spawn; RSS ${fmt(rst.rss_at_ready_mb, 0)} MiB at ready, ${fmt(rst.rss_after_5s_mb, 0)} MiB 5 s later${rst.recovered_messages ? ` (${fmt(((rst.rss_after_5s_mb - (pub.base_rss_mb ?? 0)) * 1048576) / rst.recovered_messages)} bytes per recovered message above the fresh broker's ${fmt(pub.base_rss_mb, 0)} MiB)` : ''}.`,
    );
    L.push('');
  }
  if (drain) {
    L.push(
      `Drain after the restart: one consumer, prefetch ${cfg.prefetch}, an ack per message: ${fmt(drain.received)} messages in ${fmt(drain.drain_s, 2)} s = **${fmt(drain.rate)} msg/s** (first message ${fmt(drain.first_message_ms)} ms after basic.consume-ok; broker CPU median ${fmt(drain.broker_cpu_median)}%; peak RSS ${fmt(drain.max_rss_mb, 0)} MiB); ${drain.order_errors === 0 ? "each publisher's messages in order with no gap" : `**${fmt(drain.order_errors)} out of order or missing**: ${drain.order_examples.join('; ')}`}; redelivered flag on ${fmt(drain.redelivered)}; queue depth ${fmt(drain.queue_depth_before)} -> ${fmt(drain.queue_depth_after)}.`,
    );
    L.push('');
  }
  L.push(...anomalyLines());
  return L.join('\n');
}

function recoverySection(meta, endMeta, pub, restarts) {
  const L = [];
  const when = `${meta.date.slice(0, 10)} ${meta.date.slice(11, 16)} UTC`;
  L.push(`#### ${when}: recovery of ${fmt(cfg.messages)} x ${fmtSize(cfg.size)}${quick ? ' (quick)' : ''}`);
  L.push('');
  L.push(...headerLines(meta, endMeta));
  L.push(
    `Filled by ${cfg.publishers} publishers x ${cfg.window} unconfirmed: ${fmt(pub.confirmed)} confirmed in ${fmt(pub.elapsed_s, 1)} s (${fmt(pub.rate_avg)} msg/s; peak RSS ${fmt(Math.max(pub.vm_hwm_mb ?? 0, pub.max_rss_mb ?? 0), 0)} MiB); data dir ${fmt(pub.disk_mb)} MiB. ` +
      `Then SIGTERM and ${cfg.restarts} restart(s) per cache state on the same data dir. warm = the segment files in the page cache (as just after writing them); cold = this data dir's files evicted from the page cache with \`dd iflag=nocache\` just before the start (the disk is a virtual disk, whose host may cache too).`,
  );
  L.push('');
  const ok = restarts.filter((r) => typeof r.recovery_ms === 'number');
  const worst = ok.length ? Math.max(...ok.map((r) => r.recovery_ms)) : null;
  const byCache = (c) => ok.filter((r) => r.cache === c).map((r) => r.recovery_ms);
  L.push('Targets:');
  L.push('');
  L.push(
    `- recovery of ${fmt(cfg.messages)} messages <= 5 s (as the broker reports it): ${cfg.cache
      .map((c) => {
        const v = byCache(c);
        return `${c} ${v.length ? `${v.map((x) => fmt(x / 1000, 2)).join(' / ')} s` : '-'}`;
      })
      .join(
        '; ',
      )}; ${worst === null ? 'not measured' : worst <= 5000 ? 'met' : '**not met**'}${cfg.messages < 1_000_000 ? ' (fewer messages than the target names)' : ''}`,
  );
  L.push(
    `- every message recovered: ${restarts.every((r) => r.recovered_messages === pub.confirmed) ? `yes (${fmt(pub.confirmed)} each time)` : `**no**: ${restarts.map((r) => fmt(r.recovered_messages)).join(' / ')} of ${fmt(pub.confirmed)}`}`,
  );
  L.push('');
  L.push(
    mdTable(
      [
        'restart',
        'cache',
        'recovered messages',
        'recovery ms (broker)',
        '"listening" ms',
        '"ready" ms',
        'RSS at ready MiB',
        'RSS +5 s MiB',
        'SIGTERM before it ms',
      ],
      restarts.map((r, i) => [
        String(i + 1),
        r.cache,
        fmt(r.recovered_messages),
        fmt(r.recovery_ms),
        fmt(r.listen_ms),
        fmt(r.ready_ms),
        fmt(r.rss_at_ready_mb, 0),
        fmt(r.rss_after_5s_mb, 0),
        fmt(r.prev_stop_ms),
      ]),
    ),
  );
  L.push('');
  L.push('"listening" and "ready" are from the spawn of the process (Node start-up included).');
  L.push('');
  L.push(...anomalyLines());
  return L.join('\n');
}
function anomalyLines() {
  if (!anomalies.length) return ['No errors, crashes or lost messages.', ''];
  return ['Errors and anomalies:', '', ...anomalies.map((a) => `- ${a}`), ''];
}

// ---------------------------------------------------------------- main

function fsOf(dir) {
  try {
    const out = execFileSync('df', ['-hT', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')
      .at(-1)
      .split(/\s+/);
    return `${out[0]} (${out[1]}, ${out[4]} free)`;
  } catch {
    return '?';
  }
}

async function main() {
  const t0 = now();
  log(`backlog: ${COMMAND}`);
  log(`backlog: results -> ${relative(ROOT, OUT)}, log -> ${relative(ROOT, run.LOG)}`);
  snapshot = prepareDist({ root: ROOT, build: cfg.build, log, logRaw, anomaly });
  const build = snapshot.build;
  const paging = await pagingWindow(snapshot);
  log(`switchyard: running from ${relative(ROOT, snapshot.dir)} (node ${snapshot.nodeFlags.join(' ')})`);

  let dataDir = cfg.dataDir;
  if (dataDir) {
    if (existsSync(dataDir) && readdirSync(dataDir).length) fail(`--data-dir ${dataDir} is not empty`);
    mkdirSync(dataDir, { recursive: true });
  } else dataDir = mkdtempSync(join(os.tmpdir(), `switchyard-${mode}-`));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const meta = {
    type: 'meta',
    runner: 'switchyard bench/backlog.mjs',
    mode,
    date: startedAt.toISOString(),
    command: COMMAND,
    settings: { ...cfg, drain: Number.isFinite(cfg.drain) ? cfg.drain : 'all' },
    switchyard: { version: pkg.version, ...gitInfo() },
    build,
    paging_window: paging,
    node: process.version,
    amqplib: amqplibVersion,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model?.trim() ?? 'CPU',
    mem_gb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    data_dir: dataDir,
    data_fs: fsOf(dataDir),
    loadavg_at_start: os.loadavg().map((x) => round(x, 2)),
  };
  writeRow(meta);
  log(
    `data dir: ${dataDir} on ${meta.data_fs}; load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  let pub = null;
  let rst = null;
  let drain = null;
  const restarts = [];
  let exitCode = 0;
  try {
    const b1 = new Broker(dataDir, 'fill');
    const info1 = await b1.start();
    if (info1.recovered && info1.recovered.messages !== 0)
      anomaly(`fresh data dir, yet the broker recovered ${info1.recovered.messages} messages`);
    pub = await publishPhase(b1, mode === 'backlog' ? 'backlog' : 'fill');
    if (!b1.alive) {
      exitCode = 1;
    } else if (mode === 'backlog' && !cfg.recovery) {
      await b1.stop();
    } else {
      const s = await b1.stop();
      log(`switchyard (fill): stopped by SIGTERM in ${s.ms} ms (code ${s.code}, signal ${s.signal})`);
      if (s.code !== 0)
        anomaly(
          `the broker's graceful stop ended with code ${s.code}, signal ${s.signal}${s.forced ? ' (killed after the limit)' : ''}`,
        );
      let prevStop = s;
      if (mode === 'backlog') {
        const { broker: b2, info } = await restart(dataDir, 'restart', cfg.cache[0]);
        rst = { ...info, stop_ms: s.ms, stop_code: s.code, stop_signal: s.signal };
        writeRow(rst);
        if (info.recovered_messages !== pub.confirmed)
          anomaly(
            `restart: recovered ${fmt(info.recovered_messages)} messages, ${fmt(pub.confirmed)} were confirmed`,
          );
        if (cfg.drain > 0 && b2.alive) drain = await drainPhase(b2, pub.confirmed);
        const s2 = await b2.stop();
        log(`switchyard (restart): stopped in ${s2.ms} ms (code ${s2.code})`);
      } else {
        for (const cache of cfg.cache) {
          for (let i = 0; i < cfg.restarts; i++) {
            const { broker: b, info } = await restart(dataDir, `restart-${cache}-${i + 1}`, cache);
            info.prev_stop_ms = prevStop.ms;
            restarts.push(info);
            writeRow(info);
            if (info.recovered_messages !== pub.confirmed)
              anomaly(
                `${info.phase}: recovered ${fmt(info.recovered_messages)} messages, ${fmt(pub.confirmed)} were confirmed`,
              );
            prevStop = await b.stop();
            if (prevStop.code !== 0)
              anomaly(
                `${info.phase}: graceful stop ended with code ${prevStop.code}, signal ${prevStop.signal}`,
              );
          }
        }
      }
    }
  } catch (e) {
    exitCode = 1;
    anomaly(`run failed: ${e?.stack ?? e}`);
    stopAllBrokers();
  }
  const endMeta = {
    type: 'meta',
    phase: 'end',
    date: new Date().toISOString(),
    duration_s: Math.round((now() - t0) / 1000),
    loadavg_at_end: os.loadavg().map((x) => round(x, 2)),
    anomalies,
  };
  writeRow(endMeta);
  if (!cfg.keepData) rmSync(dataDir, { recursive: true, force: true });
  else log(`data dir kept: ${dataDir}`);
  try {
    snapshot.remove();
  } catch {}

  if (!pub) {
    log('backlog: no results');
    return 1;
  }
  const section =
    mode === 'backlog'
      ? backlogSection(meta, endMeta, pub, rst, drain)
      : recoverySection(meta, endMeta, pub, restarts);
  process.stdout.write(`\n${section}\n`);
  if (cfg.writeDocs) {
    updateDurabilityDocs(DOCS_FILE, mode, meta.date, section);
    log(`docs: updated the Durability section of ${relative(ROOT, DOCS_FILE)}`);
  } else log('docs: left unchanged (--quick or --no-docs)');
  log(`backlog: done in ${fmt(endMeta.duration_s / 60, 1)} min`);
  return exitCode || (anomalies.length ? 1 : 0);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    log(`backlog: FAILED: ${e?.stack ?? e}`);
    stopAllBrokers();
    process.exit(1);
  },
);
