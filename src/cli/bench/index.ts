/**
 * `switchyard bench` (issue 8): the broker's protocols measured side by side on this machine.
 * See docs/bench.md for the options, the scenarios and the JSON lines it writes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { renderHtml } from './html.js';
import {
  type BenchOptions,
  HELP,
  isRpc,
  type MessagingProtocol,
  parseOptions,
  type TargetUrls,
  UsageError,
} from './options.js';
import { planRun, type Step } from './plan.js';
import { createProgress } from './progress.js';
import { renderTable, tableCells } from './report.js';
import { rpcRow } from './rpc.js';
import { fixedRate, idleConnections, maxRate, type PhaseContext } from './scenarios.js';
import { type MetaLine, parseResults, type ResultRow } from './schema.js';
import { type ServerProcess, startEmbeddedBroker, startInventory } from './servers.js';

/** Set in the re-executed child, so it does not re-execute again. */
const CHILD_ENV = 'SWITCHYARD_BENCH_CHILD';

const version = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * bin/switchyard.js starts Node with a tiny young generation, good for the broker's memory and bad
 * for a load generator's throughput: the bench runs itself again under plain Node flags.
 */
async function reExecWithPlainFlags(argv: readonly string[]): Promise<boolean> {
  if (process.env[CHILD_ENV] === '1') return false;
  if (!process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) return false;
  const fromSource = import.meta.url.endsWith('.ts');
  const main = fileURLToPath(new URL(fromSource ? '../main.ts' : '../main.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [...(fromSource ? ['--import', 'tsx'] : []), main, 'bench', ...argv],
    {
      stdio: 'inherit',
      env: { ...process.env, [CHILD_ENV]: '1' },
    },
  );
  const [code] = (await once(child, 'exit')) as [number | null];
  process.exitCode = code ?? 1;
  return true;
}

function machine(): MetaLine['machine'] {
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model.trim() ?? 'unknown',
    mem_gb: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
  };
}

function embeddedEndpoints(ports: Readonly<Record<string, number>>): TargetUrls {
  return {
    amqp: new URL(`amqp://guest:guest@127.0.0.1:${ports.amqp}`),
    mqtt: new URL(`mqtt://guest:guest@127.0.0.1:${ports.mqtt}`),
    http: new URL(`http://guest:guest@127.0.0.1:${ports.http}`),
    grpc: new URL(`grpc://guest:guest@127.0.0.1:${ports.grpc}`),
  };
}

/** The options as recorded in the meta line: plain JSON. */
function optionsRecord(o: BenchOptions): Record<string, unknown> {
  return {
    quick: o.quick,
    duration_s: o.durationS,
    budget_s: o.budgetS,
    protocols: o.protocols,
    scenarios: o.scenarios,
    sizes: o.sizes,
    rate: o.rate,
    fanout: o.fanout,
    idle: o.idle,
    concurrency: o.concurrency,
    persistent: o.persistent,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

interface Servers {
  endpoints: TargetUrls;
  brokerPid: number | null;
  rpc: { rest?: URL; grpc?: URL; restPids: number[]; grpcPids: number[] } | null;
  /** A broker of its own for one step (embedded only): idle memory is measured on a fresh one. */
  fresh: (() => Promise<ServerProcess>) | null;
  stop(): Promise<void>;
}

async function startServers(o: BenchOptions, anomaly: (m: string) => void): Promise<Servers> {
  if (o.targets !== null) {
    const r = o.rpcTargets;
    return {
      endpoints: o.targets,
      brokerPid: o.brokerPid,
      rpc: r === null ? null : { ...r, restPids: o.brokerPid === null ? [] : [o.brokerPid], grpcPids: [] },
      fresh: null,
      stop: async () => {},
    };
  }
  const wantRpc = o.scenarios.includes('rpc') && o.protocols.some(isRpc);
  let inventory: ServerProcess | null = null;
  if (wantRpc) {
    try {
      inventory = await startInventory();
    } catch (e) {
      anomaly(`rpc: the Inventory service did not start: ${(e as Error).message}`);
    }
  }
  let broker: ServerProcess;
  try {
    broker = await startEmbeddedBroker(inventory?.ports.inventory ?? null);
  } catch (e) {
    await inventory?.stop();
    throw e;
  }
  const inv = inventory;
  return {
    endpoints: embeddedEndpoints(broker.ports),
    brokerPid: broker.pid,
    rpc:
      inv === null
        ? null
        : {
            rest: new URL(`http://127.0.0.1:${broker.ports.http}`),
            grpc: new URL(`grpc://127.0.0.1:${inv.ports.inventory}`),
            restPids: [broker.pid, inv.pid],
            grpcPids: [inv.pid],
          },
    fresh: () => startEmbeddedBroker(null),
    stop: async () => {
      await broker.stop();
      await inv?.stop();
    },
  };
}

async function runStep(step: Step, o: BenchOptions, servers: Servers, ctx: PhaseContext): Promise<ResultRow> {
  const p = step.protocol;
  switch (step.scenario) {
    case 'throughput':
      return maxRate(ctx, p as MessagingProtocol, step.size, step.persistent, 1, step.durationS);
    case 'fanout':
      return maxRate(ctx, p as MessagingProtocol, step.size, false, o.fanout, step.durationS);
    case 'latency':
      return fixedRate(ctx, p as MessagingProtocol, step.size, o.rate, step.durationS);
    case 'idle': {
      // A broker that has carried traffic keeps its grown heap: new connections would fit in
      // memory it already holds and show as almost nothing per connection.
      const own = servers.fresh === null ? null : await servers.fresh();
      try {
        const c =
          own === null ? ctx : { ...ctx, endpoints: embeddedEndpoints(own.ports), brokerPid: own.pid };
        return await idleConnections(
          c,
          p as MessagingProtocol,
          o.idle,
          Math.max(5, step.durationS * 4) * ctx.patience,
        );
      } finally {
        await own?.stop();
      }
    }
    case 'rpc': {
      const rpc = servers.rpc!;
      const rest = p === 'rpc-rest';
      const url = rest ? rpc.rest : rpc.grpc;
      if (url === undefined) throw new Error(`no ${rest ? 'http' : 'grpc'}:// --rpc-target`);
      return rpcRow(rest ? 'rpc-rest' : 'rpc-grpc', {
        url,
        serverPids: rest ? rpc.restPids : rpc.grpcPids,
        brokerPid: servers.brokerPid,
        concurrency: o.concurrency,
        durationS: step.durationS,
        quick: o.quick,
        patience: ctx.patience,
      });
    }
  }
}

/** A row for a step that failed: zero throughput and an error, so the run's exit code says so. */
function failedRow(step: Step): ResultRow {
  return {
    type: 'result',
    scenario: step.scenario,
    protocol: step.protocol,
    size: step.size,
    persistent: step.persistent,
    msgs_per_s: 0,
    errors: 1,
  };
}

export async function run(argv: string[]): Promise<void> {
  let o: BenchOptions;
  let earlier: ResultRow[] | undefined;
  try {
    o = parseOptions(argv);
    if (o.compare !== null) {
      try {
        earlier = parseResults(readFileSync(o.compare, 'utf8'));
      } catch (e) {
        throw new UsageError(`--compare ${o.compare}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`switchyard bench: ${e.message}\n(see switchyard bench --help)\n`);
    process.exitCode = 2;
    return;
  }
  if (o.help) {
    process.stdout.write(HELP);
    return;
  }
  if (await reExecWithPlainFlags(argv)) return;

  const started = new Date();
  const t0 = performance.now();
  const deadline = t0 + o.budgetS * 1000;
  const anomalies: string[] = [];
  const progress = createProgress(process.stderr, t0);
  const anomaly = (m: string) => {
    anomalies.push(m);
    progress.note(`!! ${m}`);
  };
  const rows: ResultRow[] = [];
  const servers = await startServers(o, anomaly);
  try {
    const rpcMissing =
      servers.rpc !== null
        ? null
        : o.targets !== null
          ? 'no --rpc-target given with --target'
          : 'the Inventory service did not start';
    const { steps, notes } = planRun(o, servers.endpoints, rpcMissing);
    for (const n of notes) anomaly(n);
    // A budget beyond the plan's estimate is spent on patience: the per-step bounds and the waits
    // for a stuck phase grow with it, so that on a slow or loaded machine a run takes longer
    // instead of failing (the measured windows keep their length).
    const planned = steps.reduce((a, s) => a + s.estimateS, 0);
    const patience = Math.max(1, o.budgetS / Math.max(1, planned));
    const ctxFor = (s: Step): PhaseContext => ({
      endpoints: servers.endpoints,
      brokerPid: servers.brokerPid,
      durationS: s.durationS,
      quick: o.quick,
      patience,
      anomaly,
    });
    for (const [i, step] of steps.entries()) {
      const remainingS = steps.slice(i).reduce((a, s) => a + s.estimateS, 0);
      const leftMs = deadline - performance.now();
      if (leftMs < step.estimateS * 1000) {
        anomaly(
          `time budget (${o.budgetS} s) reached: ${steps.length - i} steps not run, from ${step.label}`,
        );
        break;
      }
      progress.step(i, steps.length, step.label, remainingS);
      try {
        rows.push(
          await withTimeout(
            runStep(step, o, servers, ctxFor(step)),
            Math.min(leftMs, (step.estimateS * 3000 + 5000) * patience),
            step.label,
          ),
        );
      } catch (e) {
        anomaly(`${step.label}: ${(e as Error).message}`);
        rows.push(failedRow(step));
      }
    }
  } finally {
    progress.done();
    await servers.stop();
  }
  const finished = new Date();
  const meta: MetaLine = {
    type: 'meta',
    schema: 1,
    started: started.toISOString(),
    finished: finished.toISOString(),
    target:
      o.targets === null
        ? 'embedded'
        : Object.values(o.targets)
            .map((u: URL) => `${u.protocol}//${u.host}`)
            .join(','),
    switchyard: version,
    node: process.version,
    machine: machine(),
    options: optionsRecord(o),
  };
  const durationS = Math.round((performance.now() - t0) / 100) / 10;
  process.stdout.write(`\n${renderTable(tableCells(rows, earlier))}\n`);
  if (anomalies.length > 0)
    process.stdout.write(`\nanomalies:\n${anomalies.map((a) => `- ${a}`).join('\n')}\n`);
  process.stdout.write(`\n${rows.length} rows in ${durationS} s\n`);
  if (o.json !== null) {
    const lines = [meta, ...rows, { type: 'summary', rows: rows.length, duration_s: durationS, anomalies }];
    writeFileSync(o.json, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
  }
  if (o.html !== null) writeFileSync(o.html, renderHtml(meta, rows, anomalies, earlier));
  const ok = rows.length > 0 && rows.every((r) => r.msgs_per_s > 0 && r.errors === 0);
  process.exitCode = ok ? 0 : 1;
  // A step that timed out may leave a socket open; it must not keep the process alive.
  setTimeout(() => process.exit(), 2000).unref();
}
