/**
 * The Mosquitto command-line clients (mosquitto_pub and mosquitto_sub, libmosquitto 2.x) for the
 * interop suites: mosquitto_sub runs with `-d` (so its debug lines tell when the SUBACK came: the
 * tests wait for that, never sleep) under `stdbuf -oL` (so those lines arrive as they are
 * printed), and prints each message as one JSON line (`-F %j`, which includes the v5
 * properties). Every subscriber has `-W` as a last bound and is killed when the file ends.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after } from 'node:test';
import { uniq } from './helpers.js';
import { skipUnless } from './support/tools.js';
import { run } from './interop-support.js';

const SUB = '/usr/bin/mosquitto_sub';
const PUB = '/usr/bin/mosquitto_pub';
const STDBUF = '/usr/bin/stdbuf';
export const skip = await skipUnless('mosquitto-clients');

/** The last bound on any one subscriber (`-W`, seconds); tests wait far less. */
const SUB_TIMEOUT_S = 20;

/** One message as mosquitto_sub's `-F %j` prints it. */
export interface Received {
  readonly topic: string;
  readonly qos: number;
  readonly retain: number;
  readonly payload: string;
  readonly properties?: {
    readonly 'response-topic'?: string;
    readonly 'correlation-data'?: string;
    readonly 'content-type'?: string;
    readonly 'user-properties'?: Record<string, string>;
    readonly [k: string]: unknown;
  };
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const c of running) c.kill('SIGKILL');
});

/** A running mosquitto_sub: its messages, its debug log, and bounded waits on both. */
export class Sub {
  readonly messages: Received[] = [];
  readonly log: string[] = [];
  exit: Exit | undefined;
  readonly closed: Promise<Exit>;
  private stderr = '';
  private partial = '';
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly args: readonly string[],
  ) {
    running.add(child);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      const lines = (this.partial + d).split('\n');
      this.partial = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('{')) this.messages.push(JSON.parse(l) as Received);
        else this.log.push(l);
      }
      this.wake();
    });
    child.stderr!.on('data', (d: string) => {
      this.stderr += d;
    });
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        running.delete(child);
        this.exit = { code, signal };
        this.wake();
        resolve(this.exit);
      });
    });
  }

  /** Starts mosquitto_sub; unless `ready` is false, resolves once the SUBACK has arrived. */
  static async start(port: number, args: readonly string[], ready = true): Promise<Sub> {
    const all = [
      '-d',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-W',
      String(SUB_TIMEOUT_S),
      '-F',
      '%j',
      ...args,
    ];
    const s = new Sub(spawn(STDBUF, ['-oL', SUB, ...all], { stdio: ['ignore', 'pipe', 'pipe'] }), all);
    if (ready) await s.until(() => s.log.some((l) => l.includes('received SUBACK')), 'the SUBACK');
    return s;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  transcript(): string {
    return `mosquitto_sub ${this.args.join(' ')}\n${this.log.join('\n')}\n${this.messages.map((m) => JSON.stringify(m)).join('\n')}\n${this.stderr}`;
  }

  /** Waits (bounded) until `pred` holds; fails early if mosquitto_sub exits first. */
  async until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.exit !== undefined) {
        throw new Error(
          `mosquitto_sub exited (${JSON.stringify(this.exit)}) before ${what}:\n${this.transcript()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}:\n${this.transcript()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /** The first `n` messages, once they have arrived. */
  async take(n: number, ms?: number): Promise<Received[]> {
    await this.until(() => this.messages.length >= n, `${n} message(s)`, ms);
    return this.messages.slice(0, n);
  }

  /** Waits for a `-C` / `-E` subscriber to finish by itself (bounded) and checks it exited 0. */
  async finished(ms = 10_000): Promise<void> {
    await this.until(() => this.exit !== undefined, 'mosquitto_sub to exit', ms).catch(() => {});
    assert.deepEqual(this.exit, { code: 0, signal: null }, this.transcript());
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.exit === undefined) this.child.kill(signal);
    return this.closed;
  }
}

export const payloads = (ms: readonly Received[]): string[] => ms.map((m) => m.payload);

/** `-t topic -m payload`. */
export const msg = (topic: string, payload: string): string[] => ['-t', topic, '-m', payload];

/** A will: `--will-topic topic --will-payload payload`. */
export const willArgs = (topic: string, payload: string): string[] => [
  '--will-topic',
  topic,
  '--will-payload',
  payload,
];

/** `-D command property value...`: an MQTT 5 property for the CONNECT, PUBLISH or will. */
export const prop = (command: string, name: string, ...value: string[]): string[] => [
  '-D',
  command,
  name,
  ...value,
];

/** Runs mosquitto_pub against `port` to completion (bounded); fails unless it exits 0. */
export async function pubTo(port: number, args: readonly string[], input?: string): Promise<string> {
  const all = ['-h', '127.0.0.1', '-p', String(port), ...args];
  const r = await run(PUB, all, { timeoutMs: 10_000, ...(input === undefined ? {} : { input }) });
  assert.equal(r.code, 0, `mosquitto_pub ${all.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Runs mosquitto_sub against `port` to completion (bounded): for `-E` (subscribe and leave) and refusals. */
export function subOnceTo(port: number, args: readonly string[]) {
  return run(SUB, ['-h', '127.0.0.1', '-p', String(port), '-W', '10', ...args], { timeoutMs: 15_000 });
}

/** A fresh topic prefix (no wildcard characters). */
export const topicBase = (what: string) => uniq(`cli/${what}`).replaceAll('-', '_');
