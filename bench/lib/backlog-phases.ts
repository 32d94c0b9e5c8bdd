/**
 * The publish phase of bench/backlog.ts: publishing a backlog with confirms and no consumer
 * (sampled every second), the figures taken from it (rate by tenth, RSS slope), and evicting a
 * data dir from the page cache for a cold restart. The drain phase is in backlog-drain.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep, setImmediate as yieldLoop } from 'node:timers/promises';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { memoryKib } from '../../src/cli/bench/proc.js';
import { formatNumber as fmt } from '../../src/cli/bench/report.js';
import type { SwitchyardProcess } from './brokers.js';
import { busiestOthers, type CpuShares, cpuMeter, loadavg, median, round } from './machine.js';
import type { RunContext } from './run-context.js';

export const QUEUE = 'bench.backlog';
/** A timestamp every MILESTONE confirms: the rate by tenth is read from them. */
const MILESTONE = 1000;

export interface BacklogConfig {
  readonly mode: 'backlog' | 'recovery';
  readonly quick: boolean;
  readonly messages: number;
  readonly size: number;
  readonly publishers: number;
  readonly window: number;
  readonly maxSeconds: number;
  readonly abortRssMb: number;
  readonly stallSeconds: number;
  readonly recovery: boolean;
  readonly drain: number;
  readonly prefetch: number;
  readonly restarts: number;
  readonly cache: readonly ('warm' | 'cold')[];
  readonly startTimeoutS: number;
  readonly dataDir: string | null;
  readonly keepData: boolean;
  readonly writeDocs: boolean;
  readonly build: boolean;
}

export const amqpUrl = (b: SwitchyardProcess) => `${b.url('amqp')}?heartbeat=0`;

export async function connect(url: string, run: RunContext): Promise<ChannelModel> {
  const conn = await amqp.connect(url, { noDelay: true });
  // Errors also close the connection, which the phases watch; the log keeps the reason.
  conn.on('error', (e: Error) => run.logRaw(`amqp connection error: ${e.message}`));
  return conn;
}

/** The size of a directory's files, and their number. */
function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        // A segment reclaimed between readdir and stat is simply not counted.
        const st = statSync(p, { throwIfNoEntry: false });
        if (st !== undefined) {
          bytes += st.size;
          files++;
        }
      }
    }
  };
  walk(dir);
  return { bytes, files };
}

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Evicts a data dir's files from the page cache (fadvise DONTNEED through dd), nothing else. */
export function evictFromCache(dir: string): {
  files: number;
  failed: number;
  still_cached_mb: number | null;
} {
  const files = filesUnder(dir);
  let failed = 0;
  for (const f of files)
    if (spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']).status !== 0) failed++;
  let cachedMb: number | null = null;
  try {
    // fincore: the bytes of these files still in the page cache.
    const out = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 16 << 20,
    });
    cachedMb = round(
      out
        .split('\n')
        .filter(Boolean)
        .reduce((a, l) => a + Number(l.trim()), 0) / 1048576,
      1,
    );
  } catch {
    cachedMb = null; // no fincore here: the report says unknown
  }
  return { files: files.length, failed, still_cached_mb: cachedMb };
}

// Body: [0,8) global sequence number, [8,12) publisher index, [12,20) the publisher's own sequence
// number, [20,28) publish time (ms, float64), then filler.
function makeBody(filler: Buffer, global: number, publisher: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(filler.length);
  filler.copy(b, 28, 28);
  b.writeBigUInt64BE(BigInt(global), 0);
  b.writeUInt32BE(publisher, 8);
  b.writeBigUInt64BE(BigInt(seq), 12);
  b.writeDoubleBE(Date.now(), 20);
  return b;
}

interface Sample extends CpuShares {
  readonly type: 'sample';
  readonly phase: string;
  readonly t_s: number;
  readonly published: number;
  readonly confirmed: number;
  readonly rate_1s: number;
  readonly rss_mb: number | null;
  readonly hwm_mb: number | null;
  readonly top_other: [string, number][];
  readonly disk_mb: number;
  readonly files: number;
  readonly load1: number;
}

export interface Decile {
  readonly upto: number;
  readonly at_s: number;
  readonly rate: number;
  readonly rss_mb: number | null;
  readonly broker_cpu_pct: number | null;
  readonly cpu_us_per_msg: number | null;
}

export interface PublishSummary {
  readonly type: 'publish';
  readonly phase: string;
  readonly target: number;
  readonly published: number;
  readonly confirmed: number;
  readonly nacked: number;
  readonly unconfirmed: number;
  readonly complete: boolean;
  readonly stop_reason: string;
  readonly elapsed_s: number;
  readonly publish_s: number;
  readonly rate_avg: number;
  readonly rate_first10: number | null;
  readonly rate_last10: number | null;
  readonly last_over_first: number | null;
  readonly max_rss_mb: number;
  readonly vm_hwm_mb: number | null;
  readonly end_rss_mb: number | null;
  readonly disk_mb: number | null;
  readonly queue_depth: number | null;
  readonly other_cpu_median: number | null;
  readonly other_cpu_max: number;
  readonly blocked: object[];
  readonly errors: string[];
  readonly deciles: Decile[];
  readonly rss_bytes_per_msg: number | null;
  readonly rss_1gib_at: number | null;
  readonly base_rss_mb: number | null;
  readonly rate_1s_min: number | null;
  readonly rate_1s_max: number | null;
  readonly broker_alive: boolean;
}

/** [confirms, ms since the first publish] -> ms at which `n` confirms were reached, interpolated. */
function timeAt(milestones: readonly [number, number][], n: number): number {
  for (let i = 1; i < milestones.length; i++) {
    const [c1, t1] = milestones[i]!;
    if (c1 >= n) {
      const [c0, t0] = milestones[i - 1]!;
      return c1 === c0 ? t1 : t0 + ((n - c0) / (c1 - c0)) * (t1 - t0);
    }
  }
  return milestones.at(-1)![1];
}

function rateFigures(milestones: readonly [number, number][], done: number) {
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

function deciles(
  milestones: readonly [number, number][],
  done: number,
  samples: readonly Sample[],
): Decile[] {
  if (done < 10 * MILESTONE || samples.length === 0) return [];
  const out: Decile[] = [];
  for (let k = 1; k <= 10; k++) {
    const a = (done * (k - 1)) / 10;
    const b = (done * k) / 10;
    const ta = timeAt(milestones, a);
    const tb = timeAt(milestones, b);
    const nearest = samples.reduce((best, x) =>
      Math.abs(x.t_s * 1000 - tb) < Math.abs(best.t_s * 1000 - tb) ? x : best,
    );
    // Broker CPU over the 1 s samples that end inside this tenth (each covers the second before it).
    const inside = samples.filter(
      (x) => x.t_s * 1000 > ta && x.t_s * 1000 <= tb && x.broker_cpu_pct !== null,
    );
    const cpu =
      inside.length > 0 ? inside.reduce((sum, x) => sum + x.broker_cpu_pct!, 0) / inside.length : null;
    const rate = (b - a) / ((tb - ta) / 1000);
    out.push({
      upto: Math.round(b),
      at_s: round(tb / 1000, 1),
      rate: Math.round(rate),
      rss_mb: nearest.rss_mb,
      broker_cpu_pct: cpu === null ? null : Math.round(cpu),
      // Approximate: the samples' seconds do not align with the tenth's boundaries.
      cpu_us_per_msg: cpu === null ? null : round(((cpu / 100) * 1e6) / rate, 1),
    });
  }
  return out;
}

/** RSS growth per confirmed message from the first to the last sample, and where 1 GiB falls. */
function rssSlope(samples: readonly Sample[]): {
  rss_bytes_per_msg: number | null;
  rss_1gib_at: number | null;
} {
  const a = samples.find((x) => x.rss_mb !== null && x.confirmed > 0);
  const b = samples.findLast((x) => x.rss_mb !== null);
  if (a === undefined || b === undefined || b.confirmed - a.confirmed < 10_000)
    return { rss_bytes_per_msg: null, rss_1gib_at: null };
  const per = ((b.rss_mb! - a.rss_mb!) * 1048576) / (b.confirmed - a.confirmed);
  const at = per > 0 ? b.confirmed + ((1024 - b.rss_mb!) * 1048576) / per : null;
  return { rss_bytes_per_msg: Math.round(per), rss_1gib_at: at !== null && at > 0 ? Math.round(at) : null };
}

interface Publisher {
  readonly idx: number;
  readonly conn: ChannelModel;
  readonly ch: ConfirmChannel;
  seq: number;
  outstanding: number;
  waiter: (() => void) | null;
  readonly closed: Promise<void>;
}

/**
 * Publishes cfg.messages persistent messages with no consumer, sampling every second; stops at the
 * count, the time limit, an RSS limit, a confirm stall or the broker's exit.
 */
export async function publishPhase(o: {
  broker: SwitchyardProcess;
  label: string;
  cfg: BacklogConfig;
  run: RunContext;
  onRss: (mib: number | null) => void;
}): Promise<PublishSummary> {
  const { broker, label, cfg, run } = o;
  const pid = broker.pid!;
  const url = amqpUrl(broker);
  const N = cfg.messages;
  const W = cfg.window;
  const st = { next: 0, published: 0, confirmed: 0, nacked: 0, stop: false, closing: false };
  let stopReason: string | null = null;
  const blocked: object[] = [];
  const errors: string[] = [];
  const milestones: [number, number][] = [[0, 0]];
  const samples: Sample[] = [];
  let tStart = performance.now();

  const admin = await connect(url, run);
  const ach = await admin.createChannel();
  await ach.assertQueue(QUEUE, { durable: true, autoDelete: false, exclusive: false });
  await admin.close();

  const pubs: Publisher[] = [];
  for (let i = 0; i < cfg.publishers; i++) {
    const conn = await connect(url, run);
    const ch = await conn.createConfirmChannel();
    const closed = new Promise<void>((resolve) => {
      const onClose = (what: string) => (e?: Error) => {
        if (!st.closing && (!st.stop || st.published > st.confirmed + st.nacked))
          errors.push(`publisher ${i} ${what}${e === undefined ? '' : `: ${e.message}`}`);
        resolve();
      };
      ch.on('error', onClose('channel error'));
      ch.on('close', onClose('channel closed'));
      conn.on('close', onClose('connection closed'));
    });
    const at = () => round((performance.now() - tStart) / 1000, 1);
    conn.on('blocked', (reason: string) => {
      blocked.push({ publisher: i, at_s: at(), reason });
      run.log(`publisher ${i}: connection.blocked (${reason})`);
    });
    conn.on('unblocked', () => {
      blocked.push({ publisher: i, at_s: at(), unblocked: true });
      run.log(`publisher ${i}: connection.unblocked`);
    });
    pubs.push({ idx: i, conn, ch, seq: 0, outstanding: 0, waiter: null, closed });
  }

  const baseRss = memoryKib(pid);
  let lastConfirmAt = tStart;
  const wake = (p: Publisher) => {
    const w = p.waiter;
    p.waiter = null;
    w?.();
  };
  const onConfirm = (p: Publisher, err: unknown) => {
    p.outstanding--;
    if (err !== null && err !== undefined) st.nacked++;
    else st.confirmed++;
    const done = st.confirmed + st.nacked;
    lastConfirmAt = performance.now();
    if (done % MILESTONE === 0) milestones.push([done, lastConfirmAt - tStart]);
    if (p.outstanding < W) wake(p);
  };
  const stop = (reason: string) => {
    if (st.stop) return;
    st.stop = true;
    stopReason = reason;
    run.log(`publish: stopping (${reason})`);
    for (const p of pubs) wake(p);
  };
  const filler = Buffer.alloc(cfg.size, 0x61);
  const publishAll = async (p: Publisher) => {
    let sinceYield = 0;
    while (!st.stop && st.next < N) {
      if (p.outstanding >= W) {
        await Promise.race([new Promise<void>((r) => (p.waiter = r)), p.closed]);
        if (p.waiter !== null) break; // closed while waiting
        continue;
      }
      const body = makeBody(filler, st.next++, p.idx, p.seq++);
      p.outstanding++;
      st.published++;
      let ok: boolean;
      try {
        ok = p.ch.publish('', QUEUE, body, { persistent: true }, (err) => onConfirm(p, err));
      } catch (e) {
        errors.push(`publisher ${p.idx}: publish threw: ${(e as Error).message}`);
        stop('publish failed');
        break;
      }
      if (!ok) await Promise.race([once(p.ch, 'drain'), p.closed]);
      // Let confirms and the sampler run now and then.
      if (++sinceYield >= 64) {
        sinceYield = 0;
        await yieldLoop();
      }
    }
  };

  const meter = cpuMeter(pid);
  const others = busiestOthers([pid, process.pid]);
  let lastDone = 0;
  let lastT = tStart;
  let maxRss = 0;
  let lastRss: number | null = null;
  const sample = () => {
    const t = performance.now();
    const done = st.confirmed + st.nacked;
    const mem = memoryKib(pid);
    const disk = dirBytes(broker.dataDir!);
    const rssMb = mem === null ? null : round(mem.rss / 1024, 1);
    if (rssMb !== null) {
      lastRss = rssMb;
      maxRss = Math.max(maxRss, rssMb);
    }
    o.onRss(rssMb);
    const s: Sample = {
      type: 'sample',
      phase: label,
      t_s: round((t - tStart) / 1000, 2),
      published: st.published,
      confirmed: done,
      rate_1s: Math.round((done - lastDone) / ((t - lastT) / 1000)),
      rss_mb: rssMb,
      hwm_mb: mem?.peak == null ? null : round(mem.peak / 1024, 1),
      ...meter(),
      top_other: others(),
      disk_mb: Math.round(disk.bytes / 1048576),
      files: disk.files,
      load1: loadavg()[0]!,
    };
    lastDone = done;
    lastT = t;
    samples.push(s);
    run.writeRow(s);
    const noisy = s.other_cpu_pct !== null && s.other_cpu_pct >= 25;
    const line = `[${String(Math.round(s.t_s)).padStart(4)} s] confirmed ${fmt(done).padStart(9)} (${fmt((done / N) * 100).padStart(3)}%)  ${fmt(s.rate_1s).padStart(7)} msg/s  RSS ${fmt(rssMb).padStart(5)} MiB  broker CPU ${fmt(s.broker_cpu_pct).padStart(3)}%  client ${fmt(s.client_cpu_pct).padStart(3)}%  other ${fmt(s.other_cpu_pct).padStart(3)}%${noisy ? ` (${s.top_other.map(([n, c]) => `${n} ${c}%`).join(', ')})` : ''}  disk ${fmt(s.disk_mb)} MiB`;
    if (samples.length % 5 === 0) run.log(line);
    else run.logRaw(line);
    if (!broker.alive) stop('the broker exited');
    else if (rssMb !== null && rssMb > cfg.abortRssMb)
      stop(`broker RSS ${fmt(rssMb)} MiB > --abort-rss-mb ${cfg.abortRssMb}`);
    else if ((t - tStart) / 1000 >= cfg.maxSeconds) stop(`time limit --max-seconds ${cfg.maxSeconds}`);
    else if (t - lastConfirmAt > cfg.stallSeconds * 1000 && st.published > done)
      stop(`no confirm for ${cfg.stallSeconds} s`);
    if (errors.length > 0) stop(errors[0]!);
  };

  run.log(
    `publish (${label}): ${fmt(N)} x ${fmt(cfg.size)} B persistent, ${cfg.publishers} publishers x ${W} unconfirmed, no consumer; limit ${cfg.maxSeconds} s`,
  );
  tStart = performance.now();
  lastT = tStart;
  lastConfirmAt = tStart;
  const ticker = setInterval(sample, 1000);
  await Promise.all(pubs.map(publishAll));
  const tPublished = performance.now();
  // The outstanding confirms: bounded by the stall limit and 120 s.
  const tWait = performance.now();
  while (
    st.published > st.confirmed + st.nacked &&
    broker.alive &&
    performance.now() - lastConfirmAt < cfg.stallSeconds * 1000 &&
    performance.now() - tWait < 120_000
  )
    await sleep(20);
  const tEnd = performance.now();
  clearInterval(ticker);
  sample();
  const done = st.confirmed + st.nacked;
  if (done % MILESTONE !== 0) milestones.push([done, lastConfirmAt - tStart]);
  const unconfirmed = st.published - done;
  if (unconfirmed > 0) run.anomaly(`${label}: ${fmt(unconfirmed)} published messages were never confirmed`);
  if (st.nacked > 0) run.anomaly(`${label}: ${fmt(st.nacked)} publishes nacked by the broker`);
  for (const e of errors) run.anomaly(`${label}: ${e}`);

  let queueDepth: number | null = null;
  if (broker.alive) {
    try {
      const c = await connect(url, run);
      queueDepth = (await (await c.createChannel()).checkQueue(QUEUE)).messageCount;
      await c.close();
    } catch (e) {
      run.anomaly(`${label}: queue.declare passive failed: ${(e as Error).message}`);
    }
  }
  st.closing = true;
  for (const p of pubs)
    await p.conn.close().catch((e: Error) => run.logRaw(`publisher ${p.idx} close: ${e.message}`));
  if (queueDepth !== null && queueDepth !== st.confirmed)
    run.anomaly(
      `${label}: the queue holds ${fmt(queueDepth)} messages after ${fmt(st.confirmed)} confirmed publishes`,
    );

  const peak = broker.alive ? (memoryKib(pid)?.peak ?? null) : null;
  const others1 = samples.map((s) => s.other_cpu_pct).filter((x): x is number => x !== null);
  const inner = samples.slice(1, -1).map((s) => s.rate_1s);
  const summary: PublishSummary = {
    type: 'publish',
    phase: label,
    target: N,
    published: st.published,
    confirmed: st.confirmed,
    nacked: st.nacked,
    unconfirmed,
    complete: st.confirmed === N,
    stop_reason: stopReason ?? (st.confirmed === N ? 'all confirmed' : 'ended'),
    elapsed_s: round((tEnd - tStart) / 1000, 2),
    publish_s: round((tPublished - tStart) / 1000, 2),
    rate_avg: Math.round(done / ((tEnd - tStart) / 1000)),
    ...rateFigures(milestones, done),
    max_rss_mb: round(maxRss, 1),
    vm_hwm_mb: peak === null ? null : round(peak / 1024, 1),
    end_rss_mb: lastRss,
    disk_mb: samples.at(-1)?.disk_mb ?? null,
    queue_depth: queueDepth,
    other_cpu_median: median(others1),
    other_cpu_max: Math.max(0, ...others1),
    blocked,
    errors,
    deciles: deciles(milestones, done, samples),
    ...rssSlope(samples),
    base_rss_mb: baseRss === null ? null : round(baseRss.rss / 1024, 1),
    rate_1s_min: inner.length > 0 ? Math.min(...inner) : null,
    rate_1s_max: inner.length > 0 ? Math.max(...inner) : null,
    broker_alive: broker.alive,
  };
  if (summary.other_cpu_median !== null && summary.other_cpu_median >= 25)
    run.anomaly(
      `${label}: other jobs used ${fmt(summary.other_cpu_median)}% CPU (median; max ${fmt(summary.other_cpu_max)}%) of one core while publishing (machine busy minus broker minus this client): the rates are noisy, rerun when the machine is quiet`,
    );
  run.writeRow(summary);
  run.log(
    `publish (${label}): ${fmt(st.confirmed)} confirmed of ${fmt(N)} in ${fmt(summary.elapsed_s, 1)} s (${summary.stop_reason}); avg ${fmt(summary.rate_avg)} msg/s, first 10% ${fmt(summary.rate_first10)}, last 10% ${fmt(summary.rate_last10)} (${fmt(summary.last_over_first, 2)}x); max RSS ${fmt(summary.max_rss_mb)} MiB (VmHWM ${fmt(summary.vm_hwm_mb)} MiB); queue depth ${fmt(queueDepth)}`,
  );
  return summary;
}
