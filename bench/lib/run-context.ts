/**
 * What every bench/ script run keeps: progress on stderr, the detailed log (broker and harness
 * output) in a file only when asked for (--log FILE), raw JSON lines only when asked for (--json
 * FILE; results meant for people go into docs/benchmarks.md as tables), the anomalies the report
 * must name, and child processes with a time bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loadavg } from './machine.js';
import { ROOT } from './paths.js';

export interface ChildOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stderrTail: readonly string[];
}

export interface ChildOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** SIGTERM after this many seconds, SIGKILL 5 s later. */
  readonly timeoutS: number;
  readonly label: string;
  /** Lines of stdout and stderr; default: into the log. */
  readonly onStdout?: (line: string) => void;
  readonly onStderr?: (line: string) => void;
}

export interface RunContext {
  readonly startedAt: Date;
  /** A progress line: stderr, and the log file. */
  log(msg: string): void;
  /** Detail for the log file only. */
  logRaw(line: string): void;
  /** Something the report must mention. */
  anomaly(msg: string): void;
  readonly anomalies: string[];
  /** One JSON line into the --json file (nothing without one). */
  writeRow(row: object): void;
  /** Runs a command to its end or its time bound; never rejects. */
  runChild(command: string, args: readonly string[], o: ChildOptions): Promise<ChildOutcome>;
  /** The children still running, for a signal handler. */
  readonly children: Set<ChildProcess>;
}

function truncated(file: string | null): string | null {
  if (file === null) return null;
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, '');
  return path;
}

export function createRun(files: { json: string | null; log: string | null }): RunContext {
  const jsonFile = truncated(files.json);
  const logFile = truncated(files.log);
  const anomalies: string[] = [];
  const children = new Set<ChildProcess>();
  const logRaw = (line: string) => {
    if (logFile !== null) appendFileSync(logFile, `${line}\n`);
  };
  const log = (msg: string) => {
    const line = `[${new Date().toISOString().slice(11, 19)}] ${msg}`;
    process.stderr.write(`${line}\n`);
    logRaw(line);
  };
  return {
    startedAt: new Date(),
    log,
    logRaw,
    anomaly(msg) {
      anomalies.push(msg);
      log(`!! ${msg}`);
    },
    anomalies,
    writeRow(row) {
      if (jsonFile !== null) appendFileSync(jsonFile, `${JSON.stringify(row)}\n`);
    },
    children,
    runChild(command, args, o) {
      return new Promise((done) => {
        const child = spawn(command, [...args], {
          cwd: o.cwd ?? ROOT,
          env: o.env ?? process.env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.add(child);
        const stderrTail: string[] = [];
        let timedOut = false;
        let killTimer: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
          timedOut = true;
          log(`${o.label}: timed out after ${o.timeoutS} s, SIGTERM to pid ${child.pid}`);
          child.kill('SIGTERM');
          killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
        }, o.timeoutS * 1000);
        createInterface({ input: child.stdout! }).on('line', o.onStdout ?? logRaw);
        createInterface({ input: child.stderr! }).on('line', (l) => {
          stderrTail.push(l);
          if (stderrTail.length > 40) stderrTail.shift();
          (o.onStderr ?? logRaw)(l);
        });
        const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
          clearTimeout(timer);
          clearTimeout(killTimer);
          children.delete(child);
          if (error !== undefined) stderrTail.push(error.message);
          done({ code, signal, timedOut, stderrTail });
        };
        child.on('error', (e) => finish(null, null, e));
        child.on('close', (code, signal) => finish(code, signal));
      });
    },
  };
}

/**
 * Runs a script's `main` and exits with its code. SIGINT, SIGTERM or a failure first stop the
 * children and call `stop` (the brokers the script started), so nothing is left running.
 */
export function runScript(
  name: string,
  run: RunContext,
  main: () => Promise<number>,
  stop: () => void,
): void {
  const abandon = () => {
    for (const c of run.children) c.kill('SIGTERM');
    stop();
  };
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)
    process.on(signal, () => {
      abandon();
      process.exit(code);
    });
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      run.log(`${name}: FAILED: ${(e as Error).stack ?? String(e)}`);
      abandon();
      process.exit(1);
    },
  );
}

/** The last JSON line of a run: when it ended, how long it took, the load then, its anomalies. */
export function endLine<T extends object>(
  run: RunContext,
  startedMs: number,
  extra: T = {} as T,
): T & {
  type: 'meta';
  phase: 'end';
  date: string;
  duration_s: number;
  loadavg_at_end: number[];
  anomalies: string[];
} {
  return {
    type: 'meta',
    phase: 'end',
    date: new Date().toISOString(),
    duration_s: Math.round((performance.now() - startedMs) / 1000),
    loadavg_at_end: loadavg(),
    ...extra,
    anomalies: run.anomalies,
  };
}
