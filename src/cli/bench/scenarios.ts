/**
 * The workloads. Each opens its own connections, measures one phase bounded in time, closes what
 * it opened and returns result rows in the agreed JSON form (schema.ts).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep, setImmediate as yieldLoop } from 'node:timers/promises';
import { ADAPTERS, type Adapter, type Closable, type Publisher, waiter, reportFailure } from './adapters.js';
import { LatencyRecorder, type Percentiles } from './histogram.js';
import type { MessagingProtocol, TargetUrls } from './options.js';
import { cpuSpan, ownCpuSpan, rssKib } from './proc.js';
import { countingProxy } from './proxy.js';
import type { ResultRow } from './schema.js';

export interface PhaseContext {
  readonly endpoints: TargetUrls;
  /** Whose CPU counts as the broker's: the broker, and for RPC the services on the path. */
  readonly brokerPid: number | null;
  readonly durationS: number;
  readonly quick: boolean;
  /**
   * Multiplies the waits that only bound a stuck phase (warm-up, in-flight messages after it, the
   * wire phase): a run given a longer --budget than its plan needs waits longer, so a slow machine
   * makes a run slower, not failed. Measured windows do not change.
   */
  readonly patience: number;
  anomaly(msg: string): void;
}

/** Time allowed for in-flight messages to arrive after a phase (times the context's patience). */
const DRAIN_MS = 3000;
/** Messages counted through the proxy for wire bytes per message. */
const WIRE_MESSAGES = { quick: 300, full: 1000 };
/** Upper bound of the wire phase, however slow the protocol (times the context's patience). */
const WIRE_MS = 3000;

let keySeq = 0;
const freshKey = (p: string) => `bench.${p.replace(/[^a-z0-9]/g, '')}.${process.pid}.${keySeq++}`;

/** A body of `size` bytes that starts with its scheduled send time (ms, ASCII): every front end carries text as is. */
export function timedBody(scheduledMs: number, size: number): Buffer {
  return Buffer.from(scheduledMs.toFixed(3).padEnd(size, 'x').slice(0, size));
}

export function scheduledTimeOf(body: Buffer): number {
  return Number.parseFloat(body.toString('latin1', 0, Math.min(24, body.length)));
}

const round1 = (v: number) => Math.round(v * 10) / 10;

function latencyUs(p: Percentiles | null): ResultRow['latency_us'] | undefined {
  if (p === null) return undefined;
  const us = (ms: number) => Math.round(ms * 1000);
  return { p50: us(p.p50), p90: us(p.p90), p99: us(p.p99), p999: us(p.p999), max: us(p.max) };
}

/** Resolves when `cond()` holds or after `ms`; polled, since the condition spans many callbacks. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() >= end) return false;
    await sleep(5);
  }
  return true;
}

function endpoint(ctx: PhaseContext, adapter: Adapter): URL {
  const url = ctx.endpoints[adapter.listener];
  if (url === undefined) throw new Error(`no ${adapter.listener} target`);
  return url;
}

/** The same URL with host:port replaced by the local proxy's. */
function through(url: URL, port: number): URL {
  const u = new URL(url.href);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u;
}

async function closeAll(things: readonly (Closable | Publisher)[]): Promise<void> {
  await Promise.all(things.map((t) => t.close().catch(reportFailure('closing a client'))));
}

/** Publishes as fast as the window allows until `endMs`; returns how many were sent. */
async function pump(
  pub: Publisher,
  body: Buffer,
  endMs: number,
  outstanding: () => number,
  window: number,
  room: { wait(): Promise<void> },
): Promise<number> {
  let sent = 0;
  while (performance.now() < endMs) {
    let ok = true;
    for (let i = 0; i < 100 && ok && outstanding() < window; i++) {
      ok = pub.send(body);
      sent++;
    }
    if (!ok) await Promise.race([pub.drain(), sleep(200)]);
    else if (outstanding() >= window) await Promise.race([room.wait(), sleep(200)]);
    else await yieldLoop();
  }
  return sent;
}

/** Messages published but not received that the sender allows: about 4 MiB, 16 to 1000 messages. */
const windowFor = (size: number) => Math.max(16, Math.min(1000, Math.floor((4 << 20) / size)));

/** Bytes both ways on the publisher's and the subscriber's connections, per message, handshakes excluded. */
async function wireBytesPerMessage(
  ctx: PhaseContext,
  adapter: Adapter,
  size: number,
  persistent: boolean,
): Promise<number | undefined> {
  const url = endpoint(ctx, adapter);
  const proxy = await countingProxy(url.hostname, Number(url.port));
  const via = through(url, proxy.port);
  let received = 0;
  const opened: (Closable | Publisher)[] = [];
  try {
    const key = freshKey(adapter.label);
    opened.push(await adapter.subscribe(via, key, () => received++, persistent));
    const pub = await adapter.publisher(via, key, persistent);
    opened.push(pub);
    const body = timedBody(0, size);
    // Warm-up: lazily opened state (HTTP keep-alive sockets, credit) is not counted.
    for (let i = 0; i < 20; i++) pub.send(body);
    if (!(await until(() => received >= 20, 2000 * ctx.patience))) return undefined;
    const target = ctx.quick ? WIRE_MESSAGES.quick : WIRE_MESSAGES.full;
    const count = size >= 32 * 1024 ? Math.ceil(target / 5) : target;
    const before = proxy.total();
    const end = performance.now() + WIRE_MS * ctx.patience;
    let sent = 0;
    while (sent < count && performance.now() < end) {
      if (!pub.send(body)) await Promise.race([pub.drain(), sleep(100)]);
      sent++;
      if (sent - (received - 20) >= 100) await until(() => sent - (received - 20) < 50, 1000 * ctx.patience);
    }
    await until(() => received - 20 >= sent, DRAIN_MS * ctx.patience);
    await sleep(50); // trailing acknowledgements (PUBACK, HTTP responses, confirms)
    const got = received - 20;
    return got > 0 ? Math.round((proxy.total() - before) / got) : undefined;
  } finally {
    await closeAll(opened);
    proxy.close();
  }
}

function cpuRows(
  ctx: PhaseContext,
  brokerCpu: number | null,
  clientCpu: number | null,
  messages: number,
): Pick<ResultRow, 'broker_cpu_us_per_msg' | 'client_cpu_us_per_msg' | 'broker_rss_mib'> {
  const out: Pick<ResultRow, 'broker_cpu_us_per_msg' | 'client_cpu_us_per_msg' | 'broker_rss_mib'> = {};
  if (messages > 0) {
    if (brokerCpu !== null) out.broker_cpu_us_per_msg = round1(brokerCpu / messages);
    if (clientCpu !== null) out.client_cpu_us_per_msg = round1(clientCpu / messages);
  }
  const rss = ctx.brokerPid === null ? null : rssKib(ctx.brokerPid);
  if (rss !== null) out.broker_rss_mib = round1(rss / 1024);
  return out;
}

/** 1 -> N at the maximum rate the window allows (N = 1: the throughput scenario). */
export async function maxRate(
  ctx: PhaseContext,
  protocol: MessagingProtocol,
  size: number,
  persistent: boolean,
  subscribers: number,
  durationS: number,
): Promise<ResultRow> {
  const adapter = ADAPTERS[protocol];
  const url = endpoint(ctx, adapter);
  const key = freshKey(protocol);
  let received = 0;
  const room = waiter();
  const window = windowFor(size) * subscribers;
  let sent = 0;
  const onBody = () => {
    received++;
    if (sent * subscribers - received < window / 2) room.notify();
  };
  const opened: (Closable | Publisher)[] = [];
  try {
    for (let i = 0; i < subscribers; i++) opened.push(await adapter.subscribe(url, key, onBody, persistent));
    const pub = await adapter.publisher(url, key, persistent);
    opened.push(pub);
    const body = timedBody(0, size);
    for (let i = 0; i < 50; i++) pub.send(body);
    sent = 50;
    await until(() => received >= 50 * subscribers, 2000 * ctx.patience);
    const base = received;
    const broker = cpuSpan(ctx.brokerPid === null ? [] : [ctx.brokerPid]);
    const client = ownCpuSpan();
    const t0 = performance.now();
    const outstanding = () => sent * subscribers - received;
    // pump counts its own sends; `sent` must move as it goes, for onBody's window check.
    const counted: Publisher = {
      send: (b) => {
        sent++;
        return pub.send(b);
      },
      drain: () => pub.drain(),
      close: () => pub.close(),
    };
    await pump(counted, body, t0 + durationS * 1000, outstanding, window, room);
    let elapsedS = (performance.now() - t0) / 1000;
    let got = received - base;
    const brokerCpu = broker();
    const clientCpu = client();
    await until(() => received >= sent * subscribers, DRAIN_MS * ctx.patience);
    if (got === 0) {
      // Nothing arrived within the window: it was shorter than the path's latency (a very short
      // --duration, or a starved machine). The rate is then what arrived over the time it took.
      got = received - base;
      elapsedS = (performance.now() - t0) / 1000;
    }
    const lost = sent * subscribers - received;
    if (lost > 0)
      ctx.anomaly(
        `${protocol} ${subscribers > 1 ? 'fanout' : 'throughput'} ${size} B: ${lost} deliveries missing after the phase`,
      );
    await closeAll(opened.splice(0));
    const row: ResultRow = {
      type: 'result',
      scenario: subscribers > 1 ? 'fanout' : 'throughput',
      protocol,
      size,
      persistent,
      msgs_per_s: Math.round(got / elapsedS),
      ...cpuRows(ctx, brokerCpu, clientCpu, got),
      errors: lost > 0 ? 1 : 0,
    };
    if (subscribers > 1) {
      row.fanout = subscribers;
      row.published_per_s = Math.round(got / subscribers / elapsedS);
    } else {
      const wire = await wireBytesPerMessage(ctx, adapter, size, persistent);
      if (wire !== undefined) row.wire_bytes_per_msg = wire;
    }
    return row;
  } finally {
    await closeAll(opened);
  }
}

/**
 * Fixed rate, latency = receive time - scheduled send time: a sender that falls behind does not
 * hide the wait (coordinated omission).
 */
export async function fixedRate(
  ctx: PhaseContext,
  protocol: MessagingProtocol,
  size: number,
  rate: number,
  durationS: number,
): Promise<ResultRow> {
  const adapter = ADAPTERS[protocol];
  const url = endpoint(ctx, adapter);
  const key = freshKey(protocol);
  const rec = new LatencyRecorder(Math.ceil(rate * durationS));
  let received = 0;
  let measuring = false;
  const opened: (Closable | Publisher)[] = [];
  try {
    opened.push(
      await adapter.subscribe(
        url,
        key,
        (b) => {
          received++;
          if (measuring) rec.record(performance.now() - scheduledTimeOf(b));
        },
        false,
      ),
    );
    const pub = await adapter.publisher(url, key, false);
    opened.push(pub);
    for (let i = 0; i < 20; i++) pub.send(timedBody(0, size));
    await until(() => received >= 20, 2000 * ctx.patience);
    measuring = true;
    const interval = 1000 / rate;
    const total = Math.max(1, Math.round(rate * durationS));
    const start = performance.now() + 5;
    const broker = cpuSpan(ctx.brokerPid === null ? [] : [ctx.brokerPid]);
    let sent = 0;
    while (sent < total) {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        pub.send(timedBody(start + sent * interval, size));
        sent++;
      }
      // Timers fire a millisecond or more late, which would add to every figure: sleep only
      // when the next send is far away, spin on the event loop otherwise.
      const wait = start + sent * interval - performance.now();
      if (wait > 2) await sleep(wait - 1.5);
      else await yieldLoop();
    }
    await until(() => rec.count >= total, DRAIN_MS * ctx.patience);
    const elapsedS = (performance.now() - start) / 1000;
    const brokerCpu = broker();
    const lost = total - rec.count;
    if (lost > 0) ctx.anomaly(`${protocol} latency: ${lost} of ${total} messages not received`);
    const row: ResultRow = {
      type: 'result',
      scenario: 'latency',
      protocol,
      size,
      persistent: false,
      rate,
      msgs_per_s: Math.round(rec.count / elapsedS),
      // No client CPU: the sender spins between sends on purpose, so its CPU says nothing.
      ...cpuRows(ctx, brokerCpu, null, rec.count),
      errors: lost > 0 ? 1 : 0,
    };
    const lat = latencyUs(rec.percentiles());
    if (lat !== undefined) row.latency_us = lat;
    return row;
  } finally {
    await closeAll(opened);
  }
}

/** Opens `count` idle connections; the broker's RSS growth per connection. */
export async function idleConnections(
  ctx: PhaseContext,
  protocol: MessagingProtocol,
  count: number,
  limitS: number,
): Promise<ResultRow> {
  const adapter = ADAPTERS[protocol];
  const url = endpoint(ctx, adapter);
  const conns: Closable[] = [];
  let errors = 0;
  const before = ctx.brokerPid === null ? null : rssKib(ctx.brokerPid);
  const t0 = performance.now();
  const end = t0 + limitS * 1000;
  let next = 0;
  // A few dozen handshakes at a time: quicker than one by one, gentler than all at once.
  const worker = async () => {
    while (next < count && performance.now() < end) {
      next++;
      try {
        conns.push(await adapter.idle(url));
      } catch {
        errors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 32 }, worker));
    const openS = (performance.now() - t0) / 1000;
    if (conns.length < count) ctx.anomaly(`${protocol} idle: ${conns.length} of ${count} connections opened`);
    // Let the broker finish per-connection set-up before reading its RSS.
    await sleep(ctx.quick ? 300 : 1000);
    const after = ctx.brokerPid === null ? null : rssKib(ctx.brokerPid);
    const row: ResultRow = {
      type: 'result',
      scenario: 'idle',
      protocol,
      size: 0,
      persistent: false,
      connections: conns.length,
      msgs_per_s: Math.round(conns.length / openS),
      errors,
    };
    if (after !== null) row.broker_rss_mib = round1(after / 1024);
    if (before !== null && after !== null && conns.length > 0)
      row.rss_kib_per_connection = round1((after - before) / conns.length);
    return row;
  } finally {
    await closeAll(conns);
  }
}
