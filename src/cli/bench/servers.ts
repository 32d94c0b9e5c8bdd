/**
 * The processes a bench run starts: the embedded broker (this same CLI, every listener on port 0,
 * a temporary data dir) and, for the RPC scenario, the Inventory service (./inventory, the one of
 * examples/order-inventory) with the broker's gateway pointed at it. Separate processes, so their
 * CPU and RSS can be read from /proc apart from the load generator's. Both run as built (dist/) or,
 * from a source checkout, through tsx, the same way as this module.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** Stock the Inventory starts with: no RPC phase can run it out (int32). */
export const RPC_SKU = 'bench';
const RPC_STOCK = 2_000_000_000;

export interface ServerProcess {
  readonly pid: number;
  /** Listener name ('amqp', 'mqtt', 'http', 'grpc', 'inventory') -> port. */
  readonly ports: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * The Node flags bin/switchyard.js gives the broker (its shebang), so a broker started here runs as
 * installed. `root`: the package directory whose bin/ to read.
 */
export function brokerNodeFlags(root = ROOT): string[] {
  let shebang: string;
  try {
    shebang = readFileSync(join(root, 'bin', 'switchyard.js'), 'utf8').split('\n')[0] ?? '';
  } catch {
    return [];
  }
  const m = /\bnode((?:\s+--?\S+)*)\s*$/.exec(shebang);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

/**
 * A module of this package as a script to run: `relative` (no extension) from this module, the .ts
 * file under tsx when this module runs from source, the .js file of dist/ otherwise.
 */
function ownScript(relative: string): { script: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    script: fileURLToPath(new URL(`${relative}${fromSource ? '.ts' : '.js'}`, import.meta.url)),
    execArgv: fromSource ? ['--import', 'tsx'] : [],
  };
}

export interface StartOptions {
  readonly label: string;
  /** Default: this Node binary. */
  readonly command?: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Listener names whose "<name> listening on host:port" lines must all be seen. */
  readonly listeners: readonly string[];
  /** A line that must be seen too (the broker's "ready", after recovery). */
  readonly readyLine?: RegExp;
  readonly timeoutMs?: number;
  /** Every line of stdout and stderr, with the milliseconds since the spawn. */
  readonly onLine?: (line: string, ms: number, stream: 'stdout' | 'stderr') => void;
}

export interface Started {
  readonly child: ChildProcess;
  /** Listener name -> port. */
  readonly ports: Record<string, number>;
  /** Milliseconds from the spawn to the first "listening" line, and to readiness. */
  readonly listenMs: number | null;
  readonly readyMs: number;
}

/**
 * Spawns a server and resolves once it printed its "<name> listening on host:port" lines (and
 * `readyLine`); kills it and rejects, with the last lines of its output, when it exits first or
 * does not get there within the time limit.
 */
export async function startProcess(o: StartOptions): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(o.command ?? process.execPath, [...o.args], {
    cwd: ROOT,
    env: o.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ports: Record<string, number> = {};
  const tail: string[] = [];
  let listenMs: number | null = null;
  let sawReadyLine = o.readyLine === undefined;
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const check = () => {
    if (sawReadyLine && o.listeners.every((p) => ports[p] !== undefined)) ready();
  };
  for (const [name, stream] of [
    ['stdout', child.stdout!],
    ['stderr', child.stderr!],
  ] as const) {
    createInterface({ input: stream }).on('line', (l) => {
      const ms = performance.now() - t0;
      o.onLine?.(l, ms, name);
      tail.push(l);
      if (tail.length > 20) tail.shift();
      const m = /\b(\w+) listening on (?:\S+):(\d+)/.exec(l);
      if (m) {
        ports[m[1]!] = Number(m[2]);
        listenMs ??= Math.round(ms);
      }
      if (o.readyLine?.test(l) === true) sawReadyLine = true;
      check();
    });
  }
  const exited = once(child, 'exit').then(() => 'exited' as const);
  let timer: NodeJS.Timeout | undefined;
  const limitMs = o.timeoutMs ?? START_TIMEOUT_MS;
  const outcome = await Promise.race([
    isReady.then(() => 'ready' as const),
    exited,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), limitMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    child.kill('SIGKILL');
    const why = outcome === 'timeout' ? `not ready within ${Math.round(limitMs / 1000)} s` : 'exited';
    throw new Error(`${o.label} did not start (${why}): ${tail.join(' | ')}`);
  }
  return { child, ports, listenMs, readyMs: Math.round(performance.now() - t0) };
}

export interface Stopped {
  /** Milliseconds from SIGTERM to the exit. */
  readonly ms: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Killed with SIGKILL after the time limit. */
  readonly forced: boolean;
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves when the process is gone. */
export async function stopChild(child: ChildProcess, timeoutMs = STOP_TIMEOUT_MS): Promise<Stopped> {
  if (child.exitCode !== null || child.signalCode !== null)
    return { ms: 0, code: child.exitCode, signal: child.signalCode, forced: false };
  const t0 = performance.now();
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const first = await Promise.race([
    exited,
    new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (first !== null)
    return { ms: Math.round(performance.now() - t0), code: first[0], signal: first[1], forced: false };
  child.kill('SIGKILL');
  const [code, signal] = await exited;
  return { ms: Math.round(performance.now() - t0), code, signal, forced: true };
}

/** The Inventory service on an ephemeral port. */
export async function startInventory(): Promise<ServerProcess> {
  const main = ownScript('./inventory/main');
  const { child, ports } = await startProcess({
    label: 'inventory service',
    args: [...main.execArgv, main.script, '0'],
    listeners: ['inventory'],
    env: { ...process.env, INVENTORY_SEED: JSON.stringify({ [RPC_SKU]: RPC_STOCK }) },
  });
  return {
    pid: child.pid!,
    ports,
    stop: async () => {
      await stopChild(child);
    },
  };
}

/**
 * The embedded broker: every listener on 127.0.0.1 port 0, a fresh data dir removed on stop; with
 * `inventoryPort`, a gateway to the Inventory service (docs/gateway.md).
 */
export async function startEmbeddedBroker(inventoryPort: number | null): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  const args = ['--host', '127.0.0.1', '--data-dir', join(dir, 'data')];
  for (const p of ['amqp', 'mqtt', 'http', 'grpc']) args.push(`--${p}-port`, '0');
  if (inventoryPort !== null) {
    const config = join(dir, 'switchyard.json');
    // JSON is YAML: no YAML writer needed. The definitions come by server reflection, which needs
    // neither .proto files nor the buf compiler (neither is part of an installed package).
    writeFileSync(
      config,
      JSON.stringify({
        gateway: {
          upstreams: [{ name: 'inventory', address: `http://127.0.0.1:${inventoryPort}`, reflection: true }],
        },
      }),
    );
    args.push('--config', config);
  }
  const main = ownScript('../main');
  try {
    const { child, ports } = await startProcess({
      label: 'embedded broker',
      args: [...brokerNodeFlags(), ...main.execArgv, main.script, ...args],
      listeners: ['amqp', 'mqtt', 'http', 'grpc'],
    });
    return {
      pid: child.pid!,
      ports,
      stop: async () => {
        await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
