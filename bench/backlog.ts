/**
 * Durability benchmark: a large backlog of persistent messages, then recovery.
 *
 *   npm run bench:backlog                        # 2,000,000 x 1 KiB, then restart + drain 100,000
 *   npm run bench:backlog -- --recovery-only     # recovery time of 1,000,000 persisted x 1 KiB
 *   npm run bench:backlog -- --help
 *
 * Backlog mode: Switchyard on a fresh data dir; a durable queue gets N persistent messages
 * (deliveryMode 2) through several ConfirmChannels, each with a window of unconfirmed messages,
 * and NO consumer, so the whole backlog stays in the queue (paged out to the segment log past the
 * in-memory window). Every second: the messages confirmed so far, the confirm rate, the broker's
 * RSS, its CPU, the machine's other CPU and the data dir's size. Then (unless --no-recovery)
 * SIGTERM, a restart on the same data dir (recovery time as the broker prints it, time to "ready",
 * RSS after recovery), and a consumer takes the first --drain messages, checking that each
 * publisher's messages come back in order and without gaps (a sequence number in the body).
 *
 * Recovery-only mode: fills a fresh data dir with N messages the same way, then restarts the broker
 * --restarts times with a warm page cache and --restarts times with the segment files evicted from
 * it first (dd iflag=nocache: only this data dir's files, nothing machine-wide).
 *
 * The broker runs from a snapshot of dist/ (lib/dist-snapshot.ts). Output: a markdown section on
 * stdout and in docs/benchmarks.md ("Durability"); --json FILE keeps the raw lines (meta, one per
 * second, the phase summaries). Every phase has a time or count limit.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { memoryKib } from '../src/cli/bench/proc.js';
import { SwitchyardProcess } from './lib/brokers.js';
import { commandLine, flagReaders, parseCount, parseFlags } from './lib/cli.js';
import { prepareDist, pagingWindow } from './lib/dist-snapshot.js';
import { addDurabilityRun } from './lib/docs-sections.js';
import { fileSystemOf, gitInfo, libraryVersion, loadavg, machineInfo, round } from './lib/machine.js';
import { backlogSection, type BacklogMeta, recoverySection } from './lib/backlog-report.js';
import { type DrainResult, drainPhase, type RestartInfo } from './lib/backlog-drain.js';
import {
  type BacklogConfig,
  evictFromCache,
  type PublishSummary,
  publishPhase,
} from './lib/backlog-phases.js';
import { ROOT } from './lib/paths.js';
import { createRun, endLine, runScript } from './lib/run-context.js';
import { formatNumber as fmt } from '../src/cli/bench/report.js';
import { setTimeout as sleep } from 'node:timers/promises';

const NAME = 'bench:backlog';
const HELP = `usage: npm run bench:backlog -- [flags]      (tsx bench/backlog.ts [flags])

Backlog mode (default): N persistent messages with confirms and no consumer, sampled every second;
then restart on the same data dir and drain the first --drain messages.
Recovery-only mode (--recovery-only [N]): fill N messages, then time the broker's recovery.

  --messages N          messages to publish (default 2,000,000; 1,000,000 with --recovery-only)
  --recovery-only [N]   recovery-only mode; N as --messages
  --size BYTES          body size (default 1024, min 32)
  --publishers P        publisher connections, one ConfirmChannel each (default 4)
  --window W            unconfirmed messages per publisher (default 512)
  --max-seconds S       stop publishing after S seconds and report what was reached (default 600)
  --abort-rss-mb MB     stop publishing when the broker's RSS exceeds MB (default 4096)
  --stall-seconds S     give up when no confirm arrives for S seconds (default 60)
  --no-recovery         backlog mode: stop after the publish phase (no restart, no drain)
  --drain N|all         backlog mode: messages to consume after the restart (default 100000)
  --prefetch N          drain consumer prefetch (default 1000); it acks each message
  --restarts R          recovery-only mode: restarts per cache state (default 3)
  --cache LIST          page cache before a restart: warm, cold or warm,cold (default: warm in
                        backlog mode, warm,cold in recovery-only mode). cold = this data dir's
                        files evicted with dd iflag=nocache
  --start-timeout S     time allowed for a (re)start to print "ready" (default 300)
  --data-dir DIR        use DIR (must be empty or absent) instead of a fresh temporary dir
  --keep-data           leave the data dir in place at the end
  --quick               smoke run: 100,000 messages, --max-seconds 60, --drain 10000; docs untouched
  --json FILE           the raw results as JSON lines (meta, one line per second, phase summaries)
  --log FILE            the detailed log (the broker's output)
  --docs / --no-docs    write the Durability section of docs/benchmarks.md (default: yes, not --quick)
  --no-build            do not rebuild dist/ when src/ is newer
  -h, --help
`;

// --recovery-only takes an optional number, which parseArgs cannot express: it is taken out first.
const args = process.argv.slice(2);
let recoveryOnly: string | null = null;
{
  const i = args.findIndex((a) => a === '--recovery-only' || a.startsWith('--recovery-only='));
  if (i >= 0) {
    const a = args[i]!;
    if (a.includes('=')) {
      recoveryOnly = a.slice(a.indexOf('=') + 1);
      args.splice(i, 1);
    } else if (args[i + 1] !== undefined && parseCount(args[i + 1]!) !== null) {
      recoveryOnly = args[i + 1]!;
      args.splice(i, 2);
    } else {
      recoveryOnly = '';
      args.splice(i, 1);
    }
  }
}
const values = parseFlags({
  name: NAME,
  help: HELP,
  args,
  strings: [
    'messages',
    'size',
    'publishers',
    'window',
    'max-seconds',
    'abort-rss-mb',
    'stall-seconds',
    'drain',
    'prefetch',
    'restarts',
    'cache',
    'start-timeout',
    'data-dir',
    'json',
    'log',
  ],
  booleans: ['recovery', 'keep-data', 'quick', 'docs', 'build'],
});
const flag = flagReaders(NAME, values);
const quick = flag.bool('quick', false);
const mode: 'backlog' | 'recovery' = recoveryOnly === null ? 'backlog' : 'recovery';
const messagesText = recoveryOnly !== null && recoveryOnly !== '' ? recoveryOnly : flag.text('messages');
const cfg: BacklogConfig = {
  mode,
  quick,
  messages:
    messagesText === undefined
      ? quick
        ? 100_000
        : mode === 'recovery'
          ? 1_000_000
          : 2_000_000
      : (parseCount(messagesText) ?? flag.fail(`--messages wants a positive count, got '${messagesText}'`)),
  size: flag.count('size', 1024),
  publishers: flag.count('publishers', 4),
  window: flag.count('window', 512),
  maxSeconds: flag.count('max-seconds', quick ? 60 : 600),
  abortRssMb: flag.count('abort-rss-mb', 4096),
  stallSeconds: flag.count('stall-seconds', 60),
  recovery: flag.bool('recovery', true),
  drain:
    flag.text('drain') === 'all' ? Number.POSITIVE_INFINITY : flag.count('drain', quick ? 10_000 : 100_000),
  prefetch: flag.count('prefetch', 1000),
  restarts: flag.count('restarts', quick ? 1 : 3),
  cache: flag.list('cache', mode === 'recovery' ? 'warm,cold' : 'warm', (c): 'warm' | 'cold' => {
    if (c !== 'warm' && c !== 'cold') throw new Error(`unknown '${c}' (warm, cold)`);
    return c;
  }),
  startTimeoutS: flag.count('start-timeout', 300),
  dataDir: flag.text('data-dir') === undefined ? null : resolve(flag.text('data-dir')!),
  keepData: flag.bool('keep-data', false),
  writeDocs: flag.bool('docs', !quick),
  build: flag.bool('build', true),
};
if (cfg.size < 32) flag.fail('--size must be at least 32 (the body carries sequence numbers)');

const COMMAND = commandLine(`npm run ${NAME}`, process.argv.slice(2), ' -- ');
const run = createRun({ json: flag.text('json') ?? null, log: flag.text('log') ?? null });
const { log, anomaly, anomalies } = run;
/** Stops the broker running now (for a signal or a failure). */
let stopping: (() => void) | null = null;

async function main(): Promise<number> {
  const t0 = performance.now();
  log(`${NAME}: ${COMMAND}`);
  const snapshot = prepareDist(run, cfg.build);
  const paging = await pagingWindow(snapshot);
  let dataDir = cfg.dataDir;
  if (dataDir !== null) {
    if (existsSync(dataDir) && readdirSync(dataDir).length > 0)
      flag.fail(`--data-dir ${dataDir} is not empty`);
    mkdirSync(dataDir, { recursive: true });
  } else dataDir = mkdtempSync(join(os.tmpdir(), `switchyard-${mode}-`));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const meta: BacklogMeta = {
    type: 'meta',
    runner: 'switchyard bench/backlog.ts',
    mode,
    date: run.startedAt.toISOString(),
    command: COMMAND,
    settings: { ...cfg, drain: Number.isFinite(cfg.drain) ? cfg.drain : 'all' },
    switchyard: { version: pkg.version, ...gitInfo() },
    build: snapshot.build,
    paging_window: paging,
    amqplib: libraryVersion('amqplib'),
    ...machineInfo(),
    data_dir: dataDir,
    data_fs: fileSystemOf(dataDir),
    loadavg_at_start: loadavg(),
  };
  run.writeRow(meta);
  log(`data dir: ${dataDir} on ${meta.data_fs}; load average ${loadavg().join(' ')}`);

  let lastRssMb: number | null = null;
  const broker = (label: string) =>
    new SwitchyardProcess({
      snapshot,
      run,
      label: `switchyard ${label}`,
      dataDir: dataDir!,
      ports: ['amqp'],
      startTimeoutS: cfg.startTimeoutS,
      exitNote: () => `last RSS sample ${lastRssMb ?? '?'} MiB`,
    });
  const onRss = (mib: number | null) => {
    if (mib !== null) lastRssMb = mib;
  };

  /** Starts a broker on the data dir (after evicting it from the page cache for 'cold'). */
  const restart = async (
    label: string,
    cache: 'warm' | 'cold',
  ): Promise<{ b: SwitchyardProcess; info: RestartInfo }> => {
    const evicted = cache === 'cold' ? evictFromCache(dataDir!) : null;
    if (evicted !== null)
      log(
        `cache: evicted ${evicted.files} files of the data dir (${evicted.failed} failed; still cached ${fmt(evicted.still_cached_mb)} MiB)`,
      );
    const b = broker(label);
    stopping = () => b.kill();
    const t = performance.now();
    const start = await b.start();
    const atReady = memoryKib(start.pid);
    await sleep(5000);
    const settled = memoryKib(start.pid);
    const mib = (kib: number | null | undefined) =>
      kib === null || kib === undefined ? null : round(kib / 1024, 1);
    const info: RestartInfo = {
      type: 'restart',
      phase: label,
      cache,
      evicted,
      pid: start.pid,
      listen_ms: start.listen_ms,
      ready_ms: start.ready_ms,
      recovered_queues: start.recovered?.queues ?? null,
      recovered_messages: start.recovered?.messages ?? null,
      recovery_ms: start.recovered?.ms ?? null,
      recovery_note: start.recovered?.note ?? null,
      rss_at_ready_mb: mib(atReady?.rss),
      rss_after_5s_mb: mib(settled?.rss),
      vm_hwm_mb: mib(settled?.peak),
      wall_ms: Math.round(performance.now() - t),
    };
    if (start.recovered === null) anomaly(`${label}: the broker printed no "recovered ..." line`);
    else
      log(`${b.label}: recovered ${fmt(start.recovered.messages)} messages in ${fmt(start.recovered.ms)} ms`);
    onRss(info.rss_after_5s_mb);
    return { b, info };
  };

  let pub: PublishSummary | null = null;
  let rst: (RestartInfo & { stop_ms: number; stop_code: number | null; stop_signal: string | null }) | null =
    null;
  let drain: DrainResult | null = null;
  const restarts: (RestartInfo & { prev_stop_ms: number })[] = [];
  let exitCode = 0;
  try {
    const b1 = broker('fill');
    stopping = () => b1.kill();
    const info1 = await b1.start();
    if (info1.recovered !== null && info1.recovered.messages !== 0)
      anomaly(`fresh data dir, yet the broker recovered ${info1.recovered.messages} messages`);
    pub = await publishPhase({ broker: b1, label: mode === 'backlog' ? 'backlog' : 'fill', cfg, run, onRss });
    if (!b1.alive) exitCode = 1;
    else if (mode === 'backlog' && !cfg.recovery) await b1.stop(60);
    else {
      const s = (await b1.stop(60))!;
      log(`switchyard (fill): stopped by SIGTERM in ${s.ms} ms (code ${s.code}, signal ${s.signal})`);
      if (s.code !== 0)
        anomaly(
          `the broker's graceful stop ended with code ${s.code}, signal ${s.signal}${s.forced ? ' (killed after the limit)' : ''}`,
        );
      let prevStopMs = s.ms;
      if (mode === 'backlog') {
        const { b: b2, info } = await restart('restart', cfg.cache[0]!);
        rst = { ...info, stop_ms: s.ms, stop_code: s.code, stop_signal: s.signal };
        run.writeRow(rst);
        if (info.recovered_messages !== pub.confirmed)
          anomaly(
            `restart: recovered ${fmt(info.recovered_messages)} messages, ${fmt(pub.confirmed)} were confirmed`,
          );
        if (cfg.drain > 0 && b2.alive)
          drain = await drainPhase({ broker: b2, expectedDepth: pub.confirmed, cfg, run });
        const s2 = await b2.stop(60);
        log(`switchyard (restart): stopped in ${s2?.ms} ms (code ${s2?.code})`);
      } else {
        for (const cache of cfg.cache) {
          for (let i = 0; i < cfg.restarts; i++) {
            const { b, info } = await restart(`restart-${cache}-${i + 1}`, cache);
            const row = { ...info, prev_stop_ms: prevStopMs };
            restarts.push(row);
            run.writeRow(row);
            if (info.recovered_messages !== pub.confirmed)
              anomaly(
                `${info.phase}: recovered ${fmt(info.recovered_messages)} messages, ${fmt(pub.confirmed)} were confirmed`,
              );
            const stopped = (await b.stop(60))!;
            prevStopMs = stopped.ms;
            if (stopped.code !== 0)
              anomaly(
                `${info.phase}: graceful stop ended with code ${stopped.code}, signal ${stopped.signal}`,
              );
          }
        }
      }
    }
  } catch (e) {
    exitCode = 1;
    anomaly(`run failed: ${(e as Error).stack ?? String(e)}`);
    stopping?.();
  }
  const endMeta = endLine(run, t0);
  run.writeRow(endMeta);
  if (!cfg.keepData) rmSync(dataDir, { recursive: true, force: true });
  else log(`data dir kept: ${dataDir}`);
  snapshot.remove();
  if (pub === null) {
    log(`${NAME}: no results`);
    return 1;
  }
  const section =
    mode === 'backlog'
      ? backlogSection({ meta, endMeta, cfg, pub, rst, drain, anomalies })
      : recoverySection({ meta, endMeta, cfg, pub, restarts, anomalies });
  process.stdout.write(`\n${section}\n`);
  if (cfg.writeDocs) {
    addDurabilityRun(mode, meta.date, section);
    log('docs: updated the Durability section of docs/benchmarks.md');
  } else log('docs: left unchanged (--quick or --no-docs)');
  log(`${NAME}: done in ${fmt(endMeta.duration_s / 60, 1)} min`);
  return exitCode !== 0 || anomalies.length > 0 ? 1 : 0;
}

runScript(NAME, run, main, () => stopping?.());
