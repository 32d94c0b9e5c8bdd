/**
 * The drain phase of bench/backlog.ts: after a restart, consume the head of the backlog and check
 * each publisher's order and gaps.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryKib } from '../../src/cli/bench/proc.js';
import { formatNumber as fmt } from '../../src/cli/bench/report.js';
import { amqpUrl, type BacklogConfig, connect, type evictFromCache, QUEUE } from './backlog-phases.js';
import type { SwitchyardProcess } from './brokers.js';
import { type CpuShares, cpuMeter, median, round } from './machine.js';
import type { RunContext } from './run-context.js';
export interface RestartInfo {
  readonly type: 'restart';
  readonly phase: string;
  readonly cache: 'warm' | 'cold';
  readonly evicted: ReturnType<typeof evictFromCache> | null;
  readonly pid: number;
  readonly listen_ms: number | null;
  readonly ready_ms: number;
  readonly recovered_queues: number | null;
  readonly recovered_messages: number | null;
  readonly recovery_ms: number | null;
  readonly recovery_note: string | null;
  readonly rss_at_ready_mb: number | null;
  readonly rss_after_5s_mb: number | null;
  readonly vm_hwm_mb: number | null;
  readonly wall_ms: number;
}

export interface DrainResult {
  readonly type: 'drain';
  readonly queue_depth_before: number;
  readonly wanted: number;
  readonly received: number;
  readonly redelivered: number;
  readonly order_errors: number;
  readonly order_examples: string[];
  readonly publishers_seen: number;
  /** Interleaving of publishers: not an error. */
  readonly global_seq_backwards: number;
  readonly first_message_ms: number | null;
  readonly consume_setup_ms: number;
  readonly drain_s: number | null;
  readonly rate: number | null;
  readonly max_rss_mb: number;
  readonly broker_cpu_median: number | null;
  readonly other_cpu_max: number;
  readonly queue_depth_after: number | null;
}

/**
 * Consumes the first cfg.drain messages after a restart (prefetch, an ack each), checking each
 * publisher's sequence numbers; bounded by max(60 s, 1 s per 2,000 messages).
 */
export async function drainPhase(o: {
  broker: SwitchyardProcess;
  expectedDepth: number;
  cfg: BacklogConfig;
  run: RunContext;
}): Promise<DrainResult> {
  const { cfg, run } = o;
  const pid = o.broker.pid!;
  const c = await connect(amqpUrl(o.broker), run);
  const ch = await c.createChannel();
  const depth = (await ch.checkQueue(QUEUE)).messageCount;
  if (depth !== o.expectedDepth)
    run.anomaly(
      `drain: the queue holds ${fmt(depth)} messages after the restart, ${fmt(o.expectedDepth)} were confirmed`,
    );
  const want = Math.min(cfg.drain, depth);
  await ch.prefetch(cfg.prefetch);
  const expect = new Map<number, number>(); // publisher -> its next sequence number
  let got = 0;
  let redelivered = 0;
  let orderErrors = 0;
  let lastGlobal = -1;
  let globalBackwards = 0;
  const examples: string[] = [];
  let tFirst: number | null = null;
  let tLast: number | null = null;
  let maxRss = 0;
  const meter = cpuMeter(pid);
  const cpu: CpuShares[] = [];
  const sampleOnce = () => {
    const m = memoryKib(pid);
    if (m !== null) maxRss = Math.max(maxRss, m.rss / 1024);
    cpu.push(meter());
  };
  const ticker = setInterval(sampleOnce, 1000);
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const t0 = performance.now();
  const { consumerTag } = await ch.consume(
    QUEUE,
    (msg) => {
      if (msg === null) {
        run.anomaly('drain: the consumer was cancelled by the broker');
        finish();
        return;
      }
      if (got >= want) return; // past the target: left unacked, requeued when the channel closes
      const t = performance.now();
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
        if (g < lastGlobal) globalBackwards++;
        lastGlobal = g;
      }
      ch.ack(msg);
      if (got === want) finish();
    },
    { noAck: false },
  );
  const tConsume = performance.now();
  const limitS = Math.max(60, Math.ceil(want / 2000));
  const timedOut = await Promise.race([finished.then(() => false), sleep(limitS * 1000).then(() => true)]);
  clearInterval(ticker);
  sampleOnce(); // a short drain may end before the first tick
  if (timedOut) run.anomaly(`drain: only ${fmt(got)} of ${fmt(want)} messages arrived within ${limitS} s`);
  await ch.cancel(consumerTag);
  await ch.close();
  let after: number | null = null;
  try {
    const ch2 = await c.createChannel();
    after = (await ch2.checkQueue(QUEUE)).messageCount;
    await ch2.close();
  } catch (e) {
    run.anomaly(`drain: the queue depth after the drain could not be read: ${(e as Error).message}`);
  }
  await c.close();
  if (orderErrors > 0)
    run.anomaly(`drain: ${fmt(orderErrors)} messages out of order or missing: ${examples.join('; ')}`);
  if (after !== null && after !== depth - got)
    run.anomaly(
      `drain: the queue holds ${fmt(after)} messages after ${fmt(got)} of ${fmt(depth)} were consumed and acked`,
    );
  const brokerCpu = cpu.map((s) => s.broker_cpu_pct).filter((x): x is number => x !== null);
  const otherCpu = cpu.map((s) => s.other_cpu_pct).filter((x): x is number => x !== null);
  const r: DrainResult = {
    type: 'drain',
    queue_depth_before: depth,
    wanted: want,
    received: got,
    redelivered,
    order_errors: orderErrors,
    order_examples: examples,
    publishers_seen: expect.size,
    global_seq_backwards: globalBackwards,
    first_message_ms: tFirst === null ? null : Math.round(tFirst - tConsume),
    consume_setup_ms: Math.round(tConsume - t0),
    drain_s: tLast === null ? null : round((tLast - tConsume) / 1000, 2),
    rate: tLast === null || tLast === tConsume ? null : Math.round(got / ((tLast - tConsume) / 1000)),
    max_rss_mb: round(maxRss, 1),
    broker_cpu_median: median(brokerCpu),
    other_cpu_max: Math.max(0, ...otherCpu),
    queue_depth_after: after,
  };
  run.writeRow(r);
  run.log(
    `drain: ${fmt(got)} of ${fmt(want)} in ${fmt(r.drain_s, 2)} s (${fmt(r.rate)} msg/s; first after ${fmt(r.first_message_ms)} ms); ${orderErrors > 0 ? `${fmt(orderErrors)} ORDER ERRORS` : 'in order, no gaps'}; redelivered ${fmt(redelivered)}; queue ${fmt(depth)} -> ${fmt(after)}`,
  );
  return r;
}
