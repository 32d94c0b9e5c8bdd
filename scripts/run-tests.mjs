#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node:test through tsx (or the files given).
// Node 20's --test takes no globs, so the list is made here.
//
// Beside the usual report, scripts/skip-reporter.mjs records every skipped test. The run ends
// with one line per reason (a suite whose tool is not installed says what to install), and with
// SWITCHYARD_REQUIRE_TOOLS=1 (set by .ci/run) any skipped test fails the run: CI must not go
// green by quietly running less.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** The reporter node:test would pick by itself: spec on a terminal, TAP otherwise before Node 23. */
function defaultReporter() {
  const major = Number(process.versions.node.split('.')[0]);
  return process.stdout.isTTY || major >= 23 ? 'spec' : 'tap';
}

/** The skipped tests the reporter wrote, grouped by reason. */
function readSkips(file) {
  const byReason = new Map();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    // No file: the run ended before the reporter wrote anything (it creates the file lazily).
    if (e.code !== 'ENOENT') throw e;
  }
  let count = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const { file: f, name, reason } = JSON.parse(line);
    count++;
    const key = reason || '(no reason given)';
    const where =
      f === null ? name : relative(process.cwd(), f.startsWith('file:') ? new URL(f).pathname : f);
    if (!byReason.has(key)) byReason.set(key, new Set());
    byReason.get(key).add(where);
  }
  return { count, byReason };
}

/**
 * node:test's timeout applies to each test and to each file as a whole. It is a hang guard, not
 * a verdict: a file that takes 40 s on an idle machine takes minutes on a busy one (2 shared
 * cores, other jobs), and must not fail for it.
 */
const HANG_MS = 600_000;

const only = process.argv.slice(2);
const files = only.length > 0 ? only : [...walk('src', []), ...walk('test', [])].sort();
const work = mkdtempSync(join(tmpdir(), 'switchyard-run-tests-'));
const skipsFile = join(work, 'skips.jsonl');
const skipReporter = pathToFileURL(join(import.meta.dirname, 'skip-reporter.mjs')).href;

// Which Node ran the suite, for CI logs that run it on several (stderr: stdout may be TAP).
console.error(`# node:test on Node ${process.version}, ${files.length} files`);
let status;
try {
  const r = spawnSync(
    process.execPath,
    [
      ...['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${HANG_MS}`],
      ...['--test-reporter', defaultReporter(), '--test-reporter-destination', 'stdout'],
      ...['--test-reporter', skipReporter, '--test-reporter-destination', skipsFile],
      ...files,
    ],
    { stdio: 'inherit' },
  );
  status = r.status ?? 1;
  const { count, byReason } = readSkips(skipsFile);
  if (count > 0) {
    console.log(`\nskipped: ${count} (tests and suites), by reason:`);
    for (const [reason, where] of byReason) console.log(`  ${reason}  [${[...where].join(', ')}]`);
    if (process.env.SWITCHYARD_REQUIRE_TOOLS === '1') {
      console.log('SWITCHYARD_REQUIRE_TOOLS=1: a skipped test fails the run (CI installs every tool).');
      if (status === 0) status = 1;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(status);
