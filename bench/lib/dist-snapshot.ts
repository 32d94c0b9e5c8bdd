/**
 * The broker the bench/ scripts measure runs from a private snapshot of dist/ (in
 * bench/node_modules/.cache/switchyard-snapshot, which git, biome, eslint and tsc leave alone), so a
 * rebuild of dist/ while a script runs (someone editing src/) cannot change the code between a
 * publish phase and a restart. dist/ is rebuilt first when it is missing or older than src/. The
 * snapshot resolves its dependencies from the repository's node_modules (Node walks up).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { brokerNodeFlags } from '../../src/cli/bench/servers.js';
import { ROOT } from './paths.js';
import type { RunContext } from './run-context.js';

export interface DistSnapshot {
  readonly dir: string;
  /** The Node flags of bin/switchyard.js's shebang, as the installed broker runs. */
  readonly nodeFlags: readonly string[];
  /** The snapshot's dist/cli/main.js. */
  readonly main: string;
  /** 'up to date', 'rebuilt', or what went wrong and what was measured instead. */
  readonly build: string;
  remove(): void;
}

/** Snapshots younger than this may belong to a run still going. */
const KEEP_SNAPSHOT_MS = 86_400_000;

function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

function rebuild(run: RunContext, build: boolean): string {
  const distMain = join(ROOT, 'dist', 'cli', 'main.js');
  const stale = !existsSync(distMain) || newestMtime(join(ROOT, 'src')) > newestMtime(join(ROOT, 'dist'));
  if (!stale) return 'up to date';
  if (!build) {
    if (!existsSync(distMain)) throw new Error('dist/ is missing and --no-build was given');
    run.anomaly('dist/ is older than src/ and --no-build was given: measured the existing dist/.');
    return 'stale (--no-build)';
  }
  run.log('build: npm run build (dist/ missing or older than src/)');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  run.logRaw(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status === 0) return 'rebuilt';
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
  const msg = `npm run build failed (exit ${r.status}): ${out}`;
  if (!existsSync(distMain)) throw new Error(msg);
  run.anomaly(`${msg}. Measured the existing dist/.`);
  return 'build failed, existing dist/ used';
}

/** Rebuilds dist/ when needed (unless `build` is false), then copies it with package.json. */
export function prepareDist(run: RunContext, build: boolean): DistSnapshot {
  const state = rebuild(run, build);
  const base = join(ROOT, 'bench', 'node_modules', '.cache', 'switchyard-snapshot');
  mkdirSync(base, { recursive: true });
  for (const old of readdirSync(base)) {
    const p = join(base, old);
    if (Date.now() - statSync(p).mtimeMs > KEEP_SNAPSHOT_MS) rmSync(p, { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(base, `${new Date().toISOString().slice(0, 10)}-`));
  cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  run.log(`switchyard: runs from ${dir} (dist/ ${state})`);
  return {
    dir,
    nodeFlags: brokerNodeFlags(ROOT),
    main: join(dir, 'dist', 'cli', 'main.js'),
    build: state,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A durable queue's in-memory window of ready messages, as the snapshot's core/queue.js exports it. */
export interface PagingWindow {
  readonly messages: number;
  readonly bytes: number | null;
}

export async function pagingWindow(snapshot: DistSnapshot): Promise<PagingWindow | null> {
  const q = (await import(pathToFileURL(join(snapshot.dir, 'dist', 'core', 'queue.js')).href)) as {
    PAGE_WINDOW?: unknown;
    PAGE_BYTES?: unknown;
  };
  if (typeof q.PAGE_WINDOW !== 'number') return null;
  return { messages: q.PAGE_WINDOW, bytes: typeof q.PAGE_BYTES === 'number' ? q.PAGE_BYTES : null };
}
