/**
 * The brokers the bench/ scripts start and stop themselves: Switchyard (from a dist/ snapshot) and a
 * private Mosquitto, each a child process whose output goes to the run's log and whose unexpected
 * exit is an anomaly; and the small network probes that decide whether a peer is there at all.
 * Starting and stopping are src/cli/bench/servers.ts's, as for `switchyard bench`'s own broker.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProcess, type Stopped, stopChild } from '../../src/cli/bench/servers.js';
import type { DistSnapshot } from './dist-snapshot.js';
import type { RunContext } from './run-context.js';

/** Whether something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const end = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => end(false));
    s.on('connect', () => end(true));
    s.on('error', () => end(false));
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const DEFAULT_PORTS: Record<string, number> = {
  'amqp:': 5672,
  'amqps:': 5671,
  'mqtt:': 1883,
  'mqtts:': 8883,
};

export function urlHostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || DEFAULT_PORTS[u.protocol] || 0 };
}

export const isLocal = (url: string): boolean =>
  ['127.0.0.1', 'localhost', '::1'].includes(urlHostPort(url).host);

/**
 * [command, args] that run `command args` with the open-files limit raised to `nofile` (or to the
 * hard limit, when this user may not raise it that far). exec keeps the pid the command's.
 */
export function withNofile(
  command: string,
  args: readonly string[],
  nofile: number | null,
): [string, string[]] {
  if (nofile === null) return [command, [...args]];
  const script = `ulimit -n ${Math.floor(nofile)} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
  return ['bash', ['-c', script, 'bash', command, ...args]];
}

const running = new Set<ManagedProcess>();

/** SIGTERM to every broker started here that still runs (for a signal handler). */
export function stopAllBrokers(): void {
  for (const b of running) b.kill();
}

/** A broker process: started, watched (an exit nobody asked for is an anomaly), stopped with timing. */
abstract class ManagedProcess {
  protected child: ChildProcess | null = null;
  private expectedExit = false;
  /** How many times it was started. */
  starts = 0;

  constructor(
    readonly label: string,
    protected readonly run: RunContext,
    private readonly exitNote: () => string = () => '',
  ) {}

  /** Takes a just-started child under watch. */
  protected adopt(child: ChildProcess): void {
    this.child = child;
    this.expectedExit = false;
    this.starts++;
    running.add(this);
    child.once('exit', (code, signal) => {
      running.delete(this);
      if (this.expectedExit) return;
      const note = this.exitNote();
      this.run.anomaly(
        `${this.label} (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}${note === '' ? '' : `; ${note}`}`,
      );
    });
  }

  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  kill(): void {
    this.expectedExit = true;
    this.child?.kill('SIGTERM');
  }

  /** SIGTERM, SIGKILL after `limitS` (an anomaly); null when it never ran. */
  async stop(limitS = 12): Promise<Stopped | null> {
    const child = this.child;
    if (child === null) return null;
    this.expectedExit = true;
    const r = await stopChild(child, limitS * 1000);
    if (r.forced)
      this.run.anomaly(`${this.label} (pid ${child.pid}) did not stop within ${limitS} s of SIGTERM; killed`);
    this.child = null;
    running.delete(this);
    this.cleanup();
    return r;
  }

  protected cleanup(): void {}
}

/** What a Switchyard start printed: times from the spawn, and what it recovered. */
export interface StartInfo {
  readonly pid: number;
  readonly listen_ms: number | null;
  readonly ready_ms: number;
  readonly recovered: {
    readonly queues: number;
    readonly messages: number;
    readonly ms: number;
    /** "(N damaged records skipped)" and the like. */
    readonly note: string | null;
  } | null;
}

export type Listener = 'amqp' | 'mqtt' | 'http' | 'grpc';
const LISTENERS: readonly Listener[] = ['amqp', 'mqtt', 'http', 'grpc'];

/**
 * Switchyard from a dist/ snapshot on 127.0.0.1, with the listeners in `ports` on ephemeral ports
 * and every other one off, so a run never binds 5672 or 1883 by accident. dataDir: kept as given;
 * null = a fresh temporary directory per start, removed at stop.
 */
export class SwitchyardProcess extends ManagedProcess {
  private dir: string | null = null;
  private listeners: Partial<Record<string, number>> = {};

  constructor(
    private readonly o: {
      snapshot: DistSnapshot;
      run: RunContext;
      label?: string;
      dataDir?: string;
      ports: readonly Listener[];
      nofile?: number;
      env?: NodeJS.ProcessEnv;
      startTimeoutS?: number;
      exitNote?: () => string;
    },
  ) {
    super(o.label ?? 'switchyard', o.run, o.exitNote);
  }

  get dataDir(): string | null {
    return this.dir;
  }

  /** The broker's command line after the node binary (strace runs it the same way). */
  args(dataDir: string): string[] {
    const a = [...this.o.snapshot.nodeFlags, this.o.snapshot.main, '--host', '127.0.0.1'];
    for (const l of LISTENERS) a.push(`--${l}-port`, this.o.ports.includes(l) ? '0' : 'off');
    return [...a, '--data-dir', dataDir];
  }

  async start(): Promise<StartInfo> {
    const dir = this.o.dataDir ?? mkdtempSync(join(os.tmpdir(), 'switchyard-bench-'));
    this.dir = dir;
    let recovered: StartInfo['recovered'] = null;
    const [command, args] = withNofile(process.execPath, this.args(dir), this.o.nofile ?? null);
    let started: Awaited<ReturnType<typeof startProcess>>;
    try {
      started = await startProcess({
        label: this.label,
        command,
        args,
        ...(this.o.env === undefined ? {} : { env: this.o.env }),
        listeners: this.o.ports,
        readyLine: /\bready\b/,
        timeoutMs: (this.o.startTimeoutS ?? 30) * 1000,
        onLine: (line, ms, stream) => {
          this.run.logRaw(
            `[${this.label}${stream === 'stderr' ? ':err' : ''} +${Math.round(ms)} ms] ${line}`,
          );
          const m = /recovered (\d+) durable queues with (\d+) messages in (\d+) ms(.*)$/.exec(line);
          if (m)
            recovered = {
              queues: Number(m[1]),
              messages: Number(m[2]),
              ms: Number(m[3]),
              note: m[4]!.trim() || null,
            };
        },
      });
    } catch (e) {
      this.cleanup();
      throw e;
    }
    this.adopt(started.child);
    this.listeners = started.ports;
    const ports = Object.entries(started.ports).map(([p, n]) => `${p} ${n}`);
    this.run.log(
      `${this.label}: pid ${started.child.pid}, ${ports.join(', ')}; ready +${started.readyMs} ms`,
    );
    return { pid: started.child.pid!, listen_ms: started.listenMs, ready_ms: started.readyMs, recovered };
  }

  /** amqp://guest:guest@127.0.0.1:PORT, mqtt://127.0.0.1:PORT...; null without that listener. */
  url(listener: Listener): string | null {
    const port = this.listeners[listener];
    if (port === undefined) return null;
    return listener === 'amqp' ? `amqp://guest:guest@127.0.0.1:${port}` : `${listener}://127.0.0.1:${port}`;
  }

  protected override cleanup(): void {
    if (this.o.dataDir === undefined && this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A private Mosquitto on a free port of 127.0.0.1 with a generated config (anonymous, no
 * persistence, errors and warnings to stderr, the given per-client queue limits), in a temporary
 * directory removed at stop. Each start is a fresh process.
 */
export class MosquittoProcess extends ManagedProcess {
  private dir: string | null = null;
  port: number | null = null;

  constructor(
    private readonly o: {
      bin: string;
      run: RunContext;
      label?: string;
      maxInflight: number;
      maxQueued: number;
      nofile: number | null;
    },
  ) {
    super(o.label ?? 'mosquitto', o.run);
  }

  configText(port: number | string): string {
    return [
      `# written by bench/ (${this.label}): a private instance for one benchmark run`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'connection_messages false',
      // Per client: QoS 1/2 messages past the in-flight limit wait in the client's queue, and a
      // full queue drops them; the harness's window (500 per subscriber) stays below it.
      `max_inflight_messages ${this.o.maxInflight}`,
      `max_queued_messages ${this.o.maxQueued}`,
      'max_connections -1',
      '',
    ].join('\n');
  }

  async start(): Promise<void> {
    // A port found free may be taken before Mosquitto binds it: a few tries.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const dir = mkdtempSync(join(os.tmpdir(), 'bench-mosquitto-'));
      this.dir = dir;
      const port = await freePort();
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(conf, this.configText(port));
      const [command, args] = withNofile(this.o.bin, ['-c', conf], this.o.nofile);
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const tail: string[] = [];
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (l) => {
          this.run.logRaw(`[${this.label}] ${l}`);
          tail.push(l);
        });
      }
      this.adopt(child);
      const t0 = performance.now();
      while (this.alive && performance.now() - t0 < 10_000) {
        if (await portOpen('127.0.0.1', port, 500)) {
          this.port = port;
          this.run.log(`${this.label}: pid ${child.pid}, mqtt 127.0.0.1:${port} (${conf})`);
          return;
        }
        await sleep(50);
      }
      const why = this.alive ? 'did not listen within 10 s' : `exited: ${tail.join(' | ')}`;
      await this.stop(5);
      if (attempt === 3) throw new Error(`${this.label} ${why}`);
      this.run.log(`${this.label}: ${why}; retrying on another port`);
    }
  }

  url(): string | null {
    return this.port === null ? null : `mqtt://127.0.0.1:${this.port}`;
  }

  protected override cleanup(): void {
    if (this.dir !== null) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `mosquitto -h`'s version, e.g. '2.0.11'; null when it does not run. */
export function mosquittoVersion(bin: string): string | null {
  const r = spawnSync(bin, ['-h'], { encoding: 'utf8', timeout: 10_000 });
  return /mosquitto version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)?.[1] ?? null;
}
