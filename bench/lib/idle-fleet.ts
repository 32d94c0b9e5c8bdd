/**
 * Many idle MQTT connections, more than one client process can hold (the MQTT runner's mqtt-idle
 * step, 50,000 by default): opener processes (idle-opener.ts) started one after another, each with
 * up to `perProc` connections from its own source addresses 127.0.0.N, 2,500 per address (so no
 * address runs out of ephemeral ports and bind() stays fast). Reads the broker's RSS before and
 * after, checks the connections are still open after a pause, then closes everything. Every wait
 * is bounded.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { cpuMicros, memoryKib } from '../../src/cli/bench/proc.js';
import { withNofile } from './brokers.js';
import { cpuMeter, fdCount, nofileLimit, round } from './machine.js';
import type { RunContext } from './run-context.js';

const OPENER = fileURLToPath(new URL('./idle-opener.ts', import.meta.url));
/** Connections per source address. */
const PER_SOURCE = 2500;
// 127.0.0.N source addresses, new ones for each opener; a random start, so that back-to-back runs
// use different ones.
let nextIp = 10 + Math.floor(Math.random() * 240);
function nextSourceIps(n: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < n; k++) {
    out.push(`127.0.0.${nextIp}`);
    nextIp = nextIp >= 250 ? 10 : nextIp + 1;
  }
  return out;
}

interface OpenerMessage {
  type: string;
  [field: string]: unknown;
}

/** An opener process and its JSON-line messages. */
class Opener {
  readonly child: ChildProcessWithoutNullStreams;
  readonly sources: string;
  readonly stderr: string[] = [];
  private waiters: { type: string; resolve: (m: OpenerMessage) => void }[] = [];
  private readonly exited: Promise<null>;

  constructor(o: {
    host: string;
    port: number;
    count: number;
    prefix: string;
    concurrency: number;
    keepalive: number;
    maxOpenS: number;
    maxFailures: number;
    run: RunContext;
  }) {
    const ips = nextSourceIps(Math.max(1, Math.ceil(o.count / PER_SOURCE)));
    this.sources = ips.length > 1 ? `${ips[0]}-${ips.at(-1)!.split('.').at(-1)}` : ips[0]!;
    const args = [
      ...process.execArgv,
      OPENER,
      ...['--host', o.host, '--port', String(o.port), '--count', String(o.count), '--src-ip', ips.join(',')],
      ...['--prefix', o.prefix, '--concurrency', String(o.concurrency), '--keepalive', String(o.keepalive)],
      ...[
        '--max-open-s',
        String(Math.max(1, Math.round(o.maxOpenS))),
        '--max-failures',
        String(o.maxFailures),
      ],
    ];
    const [command, wrapped] = withNofile(process.execPath, args, o.count + 256);
    this.child = spawn(command, wrapped, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve(null)));
    this.child.on('error', (e) => this.stderr.push(e.message));
    this.child.stdin.on('error', (e) => o.run.logRaw(`[idle opener ${this.sources}] stdin: ${e.message}`));
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      let m: OpenerMessage;
      try {
        m = JSON.parse(l) as OpenerMessage;
      } catch {
        o.run.logRaw(`[idle opener ${this.sources}] ${l}`);
        return;
      }
      if (m.type !== 'progress') o.run.logRaw(`[idle opener ${this.sources}] ${l}`);
      for (const w of this.waiters.filter((x) => x.type === m.type)) w.resolve(m);
      this.waiters = this.waiters.filter((x) => x.type !== m.type);
    });
    createInterface({ input: this.child.stderr }).on('line', (l) => {
      o.run.logRaw(`[idle opener ${this.sources}:err] ${l}`);
      this.stderr.push(l);
      if (this.stderr.length > 20) this.stderr.shift();
    });
  }

  /** The next message of `type`; null on a timeout or the process's exit. */
  async next(type: string, timeoutMs: number): Promise<OpenerMessage | null> {
    const got = new Promise<OpenerMessage>((resolve) => this.waiters.push({ type, resolve }));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    try {
      return await Promise.race([got, this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  send(command: string): void {
    if (this.child.stdin.writable) this.child.stdin.write(`${command}\n`);
  }

  /** Asks it to close its connections and exit; SIGKILL after `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    this.send('close');
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (late) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** A result row: the harness's connection fields where they mean the same, and the fleet's own. */
export type FleetRow = Record<string, unknown>;

const mib = (kib: number | null | undefined) =>
  kib === null || kib === undefined ? null : round(kib / 1024, 1);

/**
 * Opens `count` idle MQTT connections to host:port within `maxOpenS`, waits `settleS`, reads the
 * broker's memory, checks the connections are still open, and closes them.
 */
export async function idleFleet(o: {
  host: string;
  port: number;
  count: number;
  perProc: number;
  brokerPid: number | null;
  maxOpenS: number;
  run: RunContext;
  concurrency?: number;
  keepalive?: number;
  settleS?: number;
}): Promise<FleetRow> {
  const concurrency = o.concurrency ?? 64;
  const keepalive = o.keepalive ?? 60;
  const settleS = o.settleS ?? 3;
  const procs = Math.ceil(o.count / o.perProc);
  const pid = o.brokerPid;
  const result: FleetRow = {
    connections_target: o.count,
    opener_processes: procs,
    per_process: Math.ceil(o.count / procs),
    concurrency_per_process: concurrency,
    keepalive_s: keepalive,
    client_nofile_hard: nofileLimit()?.hard ?? null,
    broker_pids: pid === null ? [] : [pid],
    broker_nofile: pid === null ? null : nofileLimit(pid),
  };
  const prefix = `y${randomBytes(3).toString('hex')}`;
  const openers: Opener[] = [];
  let accepted = 0;
  let failed = 0;
  const errors: Record<string, number> = {};
  let firstError: string | null = null;
  let stopReason: string | null = null;
  try {
    await sleep(1000);
    const before = pid === null ? null : memoryKib(pid);
    const fdsBefore = pid === null ? null : fdCount(pid);
    const meter = pid === null ? null : cpuMeter(pid);
    const t0 = performance.now();
    for (let k = 0; k < procs; k++) {
      const want = Math.min(Math.ceil(o.count / procs), o.count - accepted - failed);
      const left = o.maxOpenS - (performance.now() - t0) / 1000;
      if (want <= 0) break;
      if (left <= 1) {
        stopReason = `time limit ${o.maxOpenS} s`;
        break;
      }
      const op = new Opener({
        host: o.host,
        port: o.port,
        count: want,
        prefix: `${prefix}${k.toString(36)}`,
        concurrency,
        keepalive,
        maxOpenS: left,
        maxFailures: Math.max(100, Math.round(want * 0.02)),
        run: o.run,
      });
      openers.push(op);
      const opened = await op.next('opened', (left + 30) * 1000);
      if (opened === null) {
        stopReason = `opener ${k + 1} (${op.sources}) gave no result: ${op.stderr.slice(-5).join(' | ') || 'no output'}`;
        break;
      }
      accepted += Number(opened.accepted);
      failed += Number(opened.failed);
      for (const [e, n] of Object.entries(opened.errors as Record<string, number>))
        errors[e] = (errors[e] ?? 0) + n;
      firstError ??= (opened.first_error as string | null) ?? null;
      o.run.log(
        `  .. opener ${k + 1}/${procs} from ${op.sources}: ${opened.accepted} accepted, ${opened.failed} failed in ${round(Number(opened.open_s), 2)} s${opened.stop_reason ? ` (stopped: ${opened.stop_reason})` : ''}; ${accepted} open in all`,
      );
      if (opened.stop_reason) {
        stopReason = `opener ${k + 1}: ${opened.stop_reason}`;
        break;
      }
    }
    const openS = (performance.now() - t0) / 1000;
    const cpu = meter?.() ?? null;
    // The openers are this step's client: their CPU so far (they started after t0).
    const openerUs = openers.reduce((a, op) => a + (cpuMicros(op.child.pid!) ?? 0), 0);
    const openersPct = openS > 0 ? (openerUs / 1e6 / openS) * 100 : 0;
    await sleep(settleS * 1000);
    const after = pid === null ? null : memoryKib(pid);
    let stillOpen = 0;
    let dropped = 0;
    for (const op of openers) {
      op.send('status');
      const s = await op.next('status', 10_000);
      stillOpen += Number(s?.open ?? 0);
      dropped += Number(s?.dropped ?? 0);
    }
    Object.assign(result, {
      connections: accepted,
      failures: failed,
      errors,
      first_error: firstError,
      stop_reason: stopReason,
      all_accepted: accepted === o.count && failed === 0,
      still_open_after_settle: stillOpen,
      dropped_by_broker: dropped,
      open_s: round(openS, 2),
      conns_per_s: openS > 0 ? Math.round(accepted / openS) : null,
      broker_rss_before_mb: mib(before?.rss),
      broker_rss_after_mb: mib(after?.rss),
      broker_rss_mb: mib(after?.rss),
      broker_hwm_mb: mib(after?.peak),
      broker_fds_before: fdsBefore,
      broker_fds_after: pid === null ? null : fdCount(pid),
      per_conn_kb:
        before !== null && after !== null && accepted > 0
          ? round((after.rss - before.rss) / accepted, 2)
          : null,
      broker_cpu_pct: cpu?.broker_cpu_pct ?? null,
      client_cpu_pct: cpu === null ? null : Math.round(cpu.client_cpu_pct + openersPct),
      other_cpu_pct:
        cpu?.other_cpu_pct == null ? null : Math.round(Math.max(0, cpu.other_cpu_pct - openersPct)),
      settle_s: settleS,
    });
    if (accepted !== o.count || failed !== 0)
      result.error = `${accepted} of ${o.count} accepted, ${failed} failed${firstError === null ? '' : ` (first: ${firstError})`}${stopReason === null ? '' : `; stopped: ${stopReason}`}`;
    else if (stillOpen < accepted)
      result.error = `${accepted - stillOpen} of ${accepted} connections were closed by the broker within ${settleS} s`;
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
  } finally {
    const tc = performance.now();
    await Promise.all(openers.map((op) => op.close(60_000)));
    result.close_s = round((performance.now() - tc) / 1000, 2);
    await sleep(2000);
    result.broker_rss_after_close_mb = pid === null ? null : mib(memoryKib(pid)?.rss);
  }
  return result;
}
