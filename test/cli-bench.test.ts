/**
 * `switchyard bench` end to end: a short run of every protocol against the embedded broker, its
 * JSON lines checked against the agreed schema, --compare, usage errors, and the HTML report's
 * charts drawn in headless Chromium.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';
import { PROTOCOL_IDS } from '../src/cli/bench/options.js';
import { metaLine, resultLine, summaryLine } from '../src/cli/bench/schema.js';
import { chromiumPath, skipUnless } from './support/tools.js';
import { tempDir } from './support/temp.js';

const MAIN = 'src/cli/main.ts';
const dir = tempDir('switchyard-cli-bench-');
const jsonFile = join(dir, 'run.jsonl');
const htmlFile = join(dir, 'run.html');

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

// The limit only stops a hung run (a busy machine makes tsx alone take seconds to start).
function bench(args: readonly string[], limitMs = 100_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'bench', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench ${args.join(' ')}: no exit within ${limitMs} ms\n${stderr}`));
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let first: Outcome;

// The run's time budget and this test's limit only stop a hung run: the verdict must not depend
// on how busy the machine is (--quick's own 28 s budget drops the last rows on a loaded one).
const HANG_MS = 600_000;

before(
  async () => {
    first = await bench(
      [
        '--quick',
        '--budget',
        String(HANG_MS / 1000),
        '--duration',
        '0.3',
        '--idle',
        '40',
        '--fanout',
        '3',
        '--json',
        jsonFile,
        '--html',
        htmlFile,
      ],
      HANG_MS,
    );
  },
  { timeout: HANG_MS + 10_000 },
);

test('a quick run writes schema-valid JSON lines with non-zero throughput for every protocol', () => {
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const lines = readFileSync(jsonFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  metaLine.parse(lines[0]);
  const summary = summaryLine.parse(lines.at(-1));
  const results = lines.slice(1, -1).map((l) => resultLine.parse(l));
  assert.equal(summary.rows, results.length);
  for (const r of results) assert.ok(r.msgs_per_s > 0 && r.errors === 0, JSON.stringify(r));
  for (const p of PROTOCOL_IDS)
    assert.ok(
      results.some((r) => r.protocol === p),
      `no row for ${p}`,
    );
  for (const s of ['throughput', 'latency', 'fanout', 'rpc', 'idle'])
    assert.ok(
      results.some((r) => r.scenario === s),
      `no ${s} row`,
    );
  const latency = results.filter((r) => r.scenario === 'latency');
  for (const r of latency) {
    const l = r.latency_us!;
    assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
  }
  for (const r of results.filter((x) => x.scenario === 'throughput'))
    assert.ok(r.wire_bytes_per_msg! > r.size, `${r.protocol}: wire bytes ${r.wire_bytes_per_msg}`);
  assert.match(first.stdout, /scenario\s+protocol\s+size/);
});

test('--compare adds a change column', async () => {
  const r = await bench([
    '--quick',
    '--duration',
    '0.3',
    '--protocols',
    'amqp,mqtt-qos0',
    '--scenarios',
    'throughput',
    '--compare',
    jsonFile,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const head = r.stdout.split('\n').find((l) => l.startsWith('scenario'))!;
  assert.match(head, /msg\/s\s+change/);
  assert.match(r.stdout, /throughput\s+amqp\s+1 KiB\s+transient\s+[\d,]+\s+[+-]?\d+%/);
});

test('bad options: a clear message and exit code 2', async () => {
  for (const args of [
    ['--protocols', 'smtp'],
    ['--duration', 'soon'],
    ['--compare', join(dir, 'missing.jsonl')],
  ]) {
    const r = await bench(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^switchyard bench: .+\n\(see switchyard bench --help\)/);
  }
});

test('the HTML report draws its charts in headless Chromium', {
  skip: await skipUnless('chromium'),
}, async () => {
  const browser = await puppeteer.launch({
    executablePath: chromiumPath()!,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const external: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith('file:')) external.push(req.url());
    });
    await page.goto(pathToFileURL(htmlFile).href);
    const charts = await page.$$eval('svg.chart', (svgs) =>
      svgs.map((s) => ({
        id: s.getAttribute('data-chart'),
        shapes: s.querySelectorAll('rect, circle, polyline, path').length,
        width: s.getBoundingClientRect().width,
      })),
    );
    const ids = charts.map((c) => c.id);
    for (const id of ['throughput', 'latency', 'wire', 'fanout', 'rpc', 'idle'])
      assert.ok(ids.includes(id), `no ${id} chart`);
    for (const c of charts) assert.ok(c.shapes > 0 && c.width > 0, `chart ${c.id}: ${c.shapes} shapes`);
    assert.deepEqual(errors, []);
    assert.deepEqual(external, []);
  } finally {
    await browser.close();
  }
});
