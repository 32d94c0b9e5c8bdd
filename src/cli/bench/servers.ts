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

/** The Node flags bin/switchyard.js gives the broker (its shebang): the embedded broker runs as installed. */
function brokerNodeFlags(): string[] {
  try {
    const shebang = readFileSync(join(ROOT, 'bin', 'switchyard.js'), 'utf8').split('\n')[0] ?? '';
    const m = /\bnode((?:\s+--?\S+)*)\s*$/.exec(shebang);
    return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
  } catch {
    return [];
  }
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

/** Spawns a node process and waits for its "<name> listening on host:port" lines. */
async function startNode(
  label: string,
  args: readonly string[],
  want: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; ports: Record<string, number> }> {
  const child = spawn(process.execPath, [...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ports: Record<string, number> = {};
  const tail: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (l) => {
      tail.push(l);
      if (tail.length > 20) tail.shift();
      const m = /\b(\w+) listening on (?:\S+):(\d+)/.exec(l);
      if (m) {
        ports[m[1]!] = Number(m[2]);
        if (want.every((p) => ports[p] !== undefined)) ready();
      }
    });
  }
  const exited = once(child, 'exit').then(() => 'exit' as const);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    isReady.then(() => 'ready' as const),
    exited,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), START_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`${label} did not start (${outcome}): ${tail.join(' | ')}`);
  }
  return { child, ports };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const done = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_TIMEOUT_MS))),
  ]);
  clearTimeout(timer);
  if (!done) child.kill('SIGKILL');
}

/** The Inventory service on an ephemeral port. */
export async function startInventory(): Promise<ServerProcess> {
  const main = ownScript('./inventory/main');
  const { child, ports } = await startNode(
    'inventory service',
    [...main.execArgv, main.script, '0'],
    ['inventory'],
    { ...process.env, INVENTORY_SEED: JSON.stringify({ [RPC_SKU]: RPC_STOCK }) },
  );
  return { pid: child.pid!, ports, stop: () => stopChild(child) };
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
    const { child, ports } = await startNode(
      'embedded broker',
      [...brokerNodeFlags(), ...main.execArgv, main.script, ...args],
      ['amqp', 'mqtt', 'http', 'grpc'],
    );
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
