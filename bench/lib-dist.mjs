// Shared by bench/backlog.mjs and bench/confirm-fsync.mjs (not a script). Build check and a
// private snapshot of dist/: the broker runs from
// bench/node_modules/.cache/switchyard-snapshot/<run>/dist, so a rebuild of dist/ while a script is
// running (someone editing src/) cannot change the code between a publish phase and a restart.
// The snapshot resolves its dependencies from the repository's node_modules (Node walks up).
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    newest = Math.max(newest, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return newest;
}

/**
 * Rebuilds dist/ when it is missing or older than src/ (unless build is false), as bench/run.mjs
 * does, then snapshots it. Returns { build: description, dir, nodeFlags, remove() }.
 */
/** The built CLI's path, and whether dist/ is missing or older than src/. */
export function distState(root) {
  const distMain = join(root, 'dist', 'cli', 'main.js');
  const stale = !existsSync(distMain) || newestMtime(join(root, 'src')) > newestMtime(join(root, 'dist'));
  return { distMain, stale };
}

export function prepareDist({ root, build, log, logRaw, anomaly }) {
  const { distMain, stale } = distState(root);
  let state = 'up to date';
  if (stale && !build) {
    if (!existsSync(distMain)) throw new Error('dist/ is missing and --no-build was given');
    anomaly('dist/ is older than src/ and --no-build was given: measured the existing dist/.');
    state = 'stale (--no-build)';
  } else if (stale) {
    log('build: npm run build (dist/ missing or older than src/)');
    const r = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
    logRaw(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    if (r.status === 0) state = 'rebuilt';
    else {
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
      const msg = `npm run build failed (exit ${r.status}): ${out}`;
      if (!existsSync(distMain)) throw new Error(msg);
      anomaly(`${msg}. Measured the existing dist/.`);
      state = 'build failed, existing dist/ used';
    }
  }
  return { ...snapshotDist(root), build: state };
}

/**
 * Copies dist/ and package.json to a fresh snapshot directory. Returns { dir, nodeFlags, main,
 * remove() }: run it as process.execPath ...nodeFlags main [args].
 */
export function snapshotDist(root) {
  const base = join(root, 'bench', 'node_modules', '.cache', 'switchyard-snapshot');
  mkdirSync(base, { recursive: true });
  for (const old of readdirSync(base)) {
    // snapshots younger than a day may belong to a run still going
    try {
      if (Date.now() - statSync(join(base, old)).mtimeMs > 86_400_000)
        rmSync(join(base, old), { recursive: true, force: true });
    } catch {}
  }
  const dir = mkdtempSync(join(base, `${new Date().toISOString().slice(0, 10)}-`));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  // the bin's Node flags, from its shebang (#!/usr/bin/env -S node --flag ...)
  const shebang = readFileSync(join(root, 'bin', 'switchyard.js'), 'utf8').split('\n')[0];
  const m = /\bnode((?:\s+--?\S+)*)\s*$/.exec(shebang);
  const nodeFlags = m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
  return {
    dir,
    nodeFlags,
    main: join(dir, 'dist', 'cli', 'main.js'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The durable-queue paging window of a snapshot, from its dist/core/queue.js:
 * { messages, bytes } (bytes null when the build has no byte limit), or null when not exported.
 */
export async function pagingWindow(snapshot) {
  try {
    const q = await import(pathToFileURL(join(snapshot.dir, 'dist', 'core', 'queue.js')).href);
    if (typeof q.PAGE_WINDOW !== 'number') return null;
    return { messages: q.PAGE_WINDOW, bytes: typeof q.PAGE_BYTES === 'number' ? q.PAGE_BYTES : null };
  } catch {
    return null;
  }
}
