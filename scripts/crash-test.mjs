#!/usr/bin/env node
/**
 * Crash test: start the broker, publish persistent messages with confirms on several connections
 * while a consumer acks manually, kill -9 the broker at a random moment, restart it on the same
 * data directory, and check by message id that every confirmed message that was not acked is
 * there after the restart. The random moment is counted from the first confirm, so that a busy
 * machine (slow to start the broker) cannot make a cycle that checks nothing. Bounded in cycles
 * and time.
 *
 *   node scripts/crash-test.mjs [--cycles 20] [--seed N] [--min-ms 300] [--max-ms 2500] [--json]
 *
 * Exit code 0 when no confirmed message was lost. Redeliveries (duplicates) are counted and reported.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import amqp from 'amqplib';

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string', default: '20' },
    seed: { type: 'string', default: String(Date.now() % 100000) },
    'min-ms': { type: 'string', default: '300' },
    'max-ms': { type: 'string', default: '2500' },
    publishers: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const cycles = Number(args.cycles);
let seed = Number(args.seed);
const rand = () => {
  // mulberry32: a reproducible sequence from --seed
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const root = join(import.meta.dirname, '..');
const QUEUE = 'crash-test';
const log = (m) => {
  if (!args.json) process.stderr.write(`[crash-test] ${m}\n`);
};

function startBroker(dataDir) {
  const child = spawn(
    join(root, 'bin', 'switchyard.js'),
    [
      '--host',
      '127.0.0.1',
      '--amqp-port',
      '0',
      '--mqtt-port',
      '0',
      '--http-port',
      '0',
      '--grpc-port',
      '0',
      '--data-dir',
      dataDir,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const ready = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`broker did not start: ${out}`)), 30_000);
    const onData = (d) => {
      out += d.toString();
      const m = /amqp listening on [\d.]+:(\d+)/.exec(out);
      if (m && out.includes('ready')) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`broker exited (${code}) before it was ready: ${out}`));
    });
  });
  return { child, ready, output: () => out };
}

/** Publishes persistent messages with ids `${p}-${n}` until stopped; records the confirmed ones. */
async function publisher(url, p, confirmed, stop) {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => {});
  await ch.assertQueue(QUEUE, { durable: true });
  for (let n = 0; !stop.done && n < 1_000_000; n++) {
    const id = `${p}-${n}`;
    try {
      await new Promise((resolve, reject) =>
        ch.sendToQueue(QUEUE, Buffer.from(id), { persistent: true, messageId: id }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      confirmed.add(id);
    } catch {
      return;
    }
  }
}

/** Consumes with manual acks; an id counts as acked once its ack was written (the broker may not have it). */
async function consumer(url, received, acked) {
  const conn = await amqp.connect(url);
  conn.on('error', () => {});
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  await ch.assertQueue(QUEUE, { durable: true });
  await ch.prefetch(50);
  await ch.consume(QUEUE, (m) => {
    if (m === null) return;
    const id = m.properties.messageId;
    received.set(id, (received.get(id) ?? 0) + 1);
    // Ack every other message at once and the rest a little later: some are unacked at the crash.
    if (rand() < 0.5) {
      ch.ack(m);
      acked.add(id);
    } else {
      setTimeout(() => {
        try {
          ch.ack(m);
          acked.add(id);
        } catch (e) {
          // The broker was killed first: this ack never went out, so the message must still be
          // there after the restart (it is not in `acked`), which is what the check expects.
          lateAcksLost.push(`${id}: ${e.message}`);
        }
      }, 20);
    }
  });
  return conn;
}

/** Acks that could not be written because the broker was already gone (logged per cycle). */
const lateAcksLost = [];

/** After a restart: drains the queue and returns the ids in it. */
async function drain(url) {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  await ch.assertQueue(QUEUE, { durable: true });
  const ids = [];
  for (;;) {
    const m = await ch.get(QUEUE, { noAck: true });
    if (m === false) break;
    ids.push(m.properties.messageId);
  }
  await conn.close();
  return ids;
}

const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-crash-'));
const totals = { cycles: 0, confirmed: 0, lost: 0, redelivered: 0, recovered: 0 };
// A hang guard, far above what a cycle takes (a few seconds; more on a busy machine).
const deadline = Date.now() + cycles * 60_000;
try {
  for (let c = 1; c <= cycles && Date.now() < deadline; c++) {
    const b = startBroker(dataDir);
    const port = await b.ready;
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    // What survived the previous crash is drained first, so each cycle checks its own messages.
    const confirmed = new Set();
    const received = new Map();
    const acked = new Set();
    const stop = { done: false };
    const cons = await consumer(url, received, acked);
    const pubs = Array.from({ length: Number(args.publishers) }, (_, p) =>
      publisher(url, `c${c}p${p}`, confirmed, stop),
    );
    // Bounded: a broker that confirms nothing in 30 s is a failure the totals will show.
    for (let i = 0; i < 3000 && confirmed.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const after = Number(args['min-ms']) + rand() * (Number(args['max-ms']) - Number(args['min-ms']));
    await new Promise((r) => setTimeout(r, after));
    b.child.kill('SIGKILL');
    stop.done = true;
    await new Promise((r) => b.child.once('exit', r));
    await Promise.allSettled(pubs);
    // The broker is dead, so closing its connection may fail: nothing is lost by that.
    await cons.close().catch((e) => log(`closing the consumer after the kill: ${e.message}`));

    const b2 = startBroker(dataDir);
    const port2 = await b2.ready;
    const left = new Set(await drain(`amqp://guest:guest@127.0.0.1:${port2}`));
    b2.child.kill('SIGTERM');
    await new Promise((r) => b2.child.once('exit', r));

    // A confirmed message must be either acked before the crash (its ack written; the broker may
    // not have received it, then it is also still there) or in the queue after the restart.
    const lost = [...confirmed].filter((id) => !left.has(id) && !acked.has(id));
    const redelivered = [...left].filter((id) => received.has(id)).length;
    totals.cycles++;
    totals.confirmed += confirmed.size;
    totals.lost += lost.length;
    totals.redelivered += redelivered;
    totals.recovered += left.size;
    log(
      `cycle ${c}: killed after ${Math.round(after)} ms; ${confirmed.size} confirmed, ${acked.size} acked, ${left.size} recovered (${redelivered} seen before the crash), ${lost.length} lost`,
    );
    if (lost.length > 0) log(`  lost ids (first 10): ${lost.slice(0, 10).join(', ')}`);
    if (lateAcksLost.length > 0) log(`  ${lateAcksLost.splice(0).length} late acks not sent (broker gone)`);
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
if (args.json) process.stdout.write(`${JSON.stringify(totals)}\n`);
else log(`done: ${JSON.stringify(totals)}`);
process.exit(totals.lost === 0 && totals.cycles > 0 ? 0 : 1);
