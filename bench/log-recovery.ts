/**
 * Recovery time of the message log (the issue: "the time to recover 1,000,000 persisted 1 KiB
 * messages is at most 5 s"). Not a test: run it by hand.
 *
 *   node --import tsx bench/log-recovery.ts [count=1000000] [bodySize=1024] [dir]
 *
 * Writes `count` messages through MessageLog (one queue, all live) unless `dir` already holds a
 * log, then recovers it in a fresh child process, once with loadBodies 'none' and once with
 * 'all', and prints the time MessageLog.open took. The page cache is warm (the log was just
 * written or read); a cold start adds the disk's read time for the log's size.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageLog } from '../src/store/log/message-log.js';

const MiB = 1048576;

async function write(dir: string, count: number, bodySize: number): Promise<void> {
  const { log } = await MessageLog.open(dir);
  const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(bodySize, i + 1));
  const props = Buffer.from('0123456789abcdef01234567'); // ~ an encoded AMQP basic properties
  const t0 = performance.now();
  for (let id = 1; id <= count; id++) {
    log.appendMessage({
      id,
      queues: [1],
      exchange: 'amq.direct',
      routingKey: 'orders.created',
      propsFormat: 1,
      props,
      body: bodies[id & 15]!,
    });
    // Let the group commit run now and then, as a broker's event loop would.
    if (id % 20000 === 0) await log.sync();
  }
  await log.close();
  const s = (performance.now() - t0) / 1000;
  console.log(`wrote ${count} × ${bodySize} B in ${s.toFixed(2)} s (${Math.round(count / s)} msg/s)`);
}

async function recover(dir: string, loadBodies: 'all' | 'none'): Promise<void> {
  const t0 = performance.now();
  const { log, recovered } = await MessageLog.open(dir, { loadBodies, reclaim: false });
  const ms = performance.now() - t0;
  let messages = 0;
  let bodyBytes = 0;
  for (const q of recovered.queues.values()) messages += q.messages.length;
  for (const q of recovered.queues.values()) for (const m of q.messages) bodyBytes += m.body?.length ?? 0;
  const mem = process.memoryUsage();
  const segs = log.segments().length;
  await log.close();
  console.log(
    `recover loadBodies=${loadBodies}: ${messages} messages, ${recovered.records} records, ${segs} segments in ` +
      `${(ms / 1000).toFixed(2)} s (scan+replay ${(recovered.durationMs / 1000).toFixed(2)} s); ` +
      (loadBodies === 'all' ? `${Math.round(bodyBytes / MiB)} MiB of bodies in memory; ` : '') +
      `rss ${Math.round(mem.rss / MiB)} MiB, heap ${Math.round(mem.heapUsed / MiB)} MiB`,
  );
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === '--recover') {
  await recover(rest[0]!, rest[1] === 'all' ? 'all' : 'none');
} else {
  const count = Number(mode ?? 1_000_000);
  const bodySize = Number(rest[0] ?? 1024);
  const given = rest[1];
  const dir = given ?? join(tmpdir(), `switchyard-recover-bench-${count}-${bodySize}`);
  if (!existsSync(dir)) await write(dir, count, bodySize);
  for (const load of ['none', 'all'] as const) {
    const r = spawnSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--recover', dir, load],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) process.exitCode = 1;
  }
  if (given === undefined) await rm(dir, { recursive: true, force: true });
}
