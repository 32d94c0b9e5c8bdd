#!/usr/bin/env node
// Confirm-after-fsync check: is every publisher confirm written only after the fdatasync that
// makes its message durable?
//
//   node bench/confirm-fsync.mjs                 # 20,000 messages, 4 publishers x 64 unconfirmed, a consumer
//   node bench/confirm-fsync.mjs --help
//
// The broker (a snapshot of dist/, on a fresh data dir) runs under `strace -f`, which records, in
// order, every file and socket write with its bytes (-xx), every fdatasync/fsync and every file
// created. Publishers send persistent messages whose bodies carry a marker (publisher, sequence
// number); after the run the script replays the trace:
//   - a segment write (pwrite/pwritev on a *.seg file) that has returned makes the markers in its
//     bytes "written" in that file;
//   - an fdatasync/fsync of that file covers what was written to it before the call began; when
//     it returns 0 those messages are "synced";
//   - a segment file created during the run also needs an fsync of its directory that began after
//     the file was created and returned;
//   - every basic.ack / basic.nack the broker writes on a publisher's socket (decoded from the
//     socket's byte stream, with `multiple` expanded) names messages by delivery tag; each must be
//     synced before the write that carries the ack begins. Anything else is a violation.
// A negative control replays the same trace without the fsync events: every confirm must then be
// flagged, which shows the check can fail.
//
// strace slows the broker a lot: the rates here say nothing about performance. Results:
// bench/results/confirm-fsync-<date>.jsonl and a log; the trace goes to bench/results/tmp/ (kept
// with --keep-trace); a markdown section on stdout and in the Durability section of
// docs/benchmarks.md.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { SwitchyardProcess } from './lib-brokers.mjs';
import {
  BENCH_DIR,
  childPids,
  commandLine,
  createRun,
  DOCS_FILE,
  fmt,
  freeName,
  gitInfo,
  loadAmqplib,
  makeFail,
  numberParsers,
  parseCli,
  prepareDist,
  ROOT,
  shq,
  sleep,
  updateDurabilityDocs,
} from './lib-common.mjs';

const QUEUE = 'bench.confirm-fsync';

const HELP = `usage: node bench/confirm-fsync.mjs [flags]

Runs Switchyard under strace -f and checks that every publisher confirm is written after the
fdatasync that covers its message (see the comment at the top of this file).

  --messages N        persistent messages in all (default 20000)
  --publishers P      publisher connections, one ConfirmChannel each (default 4)
  --window W          unconfirmed messages per publisher (default 64)
  --size BYTES        body size (default 64, min 16; bodies over 4 KiB are written by reference)
  --segment-size B    the broker's segment size (SWITCHYARD_STORE_SEGMENT_SIZE; default 262144,
                      so the run rolls over many segments; 0 = the broker's default, 64 MiB)
  --no-consumer       no consumer (by default one consumer acks every message, prefetch 100)
  --strace-s N        strace's string limit in bytes (default 4194304); a truncated write is
                      reported, and its messages count as unverified
  --keep-trace        keep the strace output (bench/results/tmp/confirm-fsync-<date>.trace)
  --check-trace FILE  replay an existing trace only (needs --ports, the publishers' local ports)
  --ports LIST        with --check-trace: publisher local ports in publisher order
  --out FILE.jsonl    results file (default bench/results/confirm-fsync-<date>.jsonl)
  --docs / --no-docs  write the Durability section of docs/benchmarks.md (default yes)
  --no-build          do not rebuild dist/ when src/ is newer
  -h, --help
`;

const fail = makeFail('confirm-fsync');
const opt = parseCli({
  name: 'confirm-fsync',
  help: HELP,
  options: {
    messages: { type: 'string' },
    publishers: { type: 'string' },
    window: { type: 'string' },
    size: { type: 'string' },
    consumer: { type: 'boolean' },
    'segment-size': { type: 'string' },
    'strace-s': { type: 'string' },
    'keep-trace': { type: 'boolean' },
    'check-trace': { type: 'string' },
    ports: { type: 'string' },
    out: { type: 'string' },
    docs: { type: 'boolean' },
    build: { type: 'boolean' },
  },
});
const { int: num } = numberParsers(fail);
const cfg = {
  messages: num('messages', opt.messages, 20_000),
  publishers: num('publishers', opt.publishers, 4),
  window: num('window', opt.window, 64),
  size: num('size', opt.size, 64),
  consumer: opt.consumer ?? true,
  segmentSize: opt['segment-size'] === '0' ? 0 : num('segment-size', opt['segment-size'], 262_144),
  straceS: num('strace-s', opt['strace-s'], 4 * 1024 * 1024),
  keepTrace: !!opt['keep-trace'] || !!opt['check-trace'],
  checkTrace: opt['check-trace'] ? resolve(opt['check-trace']) : null,
  ports: opt.ports ? opt.ports.split(',').map(Number) : null,
  writeDocs: opt.docs ?? !opt['check-trace'],
  build: opt.build ?? true,
};
if (cfg.size < 16) fail('--size must be at least 16');
if (cfg.checkTrace && !cfg.ports) fail('--check-trace needs --ports');
const COMMAND = commandLine('node bench/confirm-fsync.mjs', process.argv.slice(2));

// ---------------------------------------------------------------- output

const run = createRun({ stem: 'confirm-fsync', out: opt.out });
const { OUT, startedAt, writeRow, log, logRaw, anomaly, anomalies } = run;
mkdirSync(join(BENCH_DIR, 'results', 'tmp'), { recursive: true });

// ---------------------------------------------------------------- body marker

// [0,4) "CFSY", [4,6) publisher, [6,10) the publisher's sequence number (0-based), rest filler.
const MAGIC = Buffer.from('CFSY');
function makeBody(pub, seq) {
  const b = Buffer.alloc(cfg.size, 0x2e);
  MAGIC.copy(b, 0);
  b.writeUInt16BE(pub, 4);
  b.writeUInt32BE(seq, 6);
  return b;
}
/** Markers "pub:seq" found in a buffer. */
function markersIn(buf) {
  const out = [];
  let i = buf.indexOf(MAGIC);
  while (i >= 0 && i + 10 <= buf.length) {
    out.push(`${buf.readUInt16BE(i + 4)}:${buf.readUInt32BE(i + 6)}`);
    i = buf.indexOf(MAGIC, i + 10);
  }
  return out;
}

// ---------------------------------------------------------------- trace replay

const hexBuf = (s) => Buffer.from(s.replace(/\\x/g, ''), 'hex');
const LINE_RE = /^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(.*)$/;
const STR_RE = /"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?/g;

/** The fd annotation of the first argument: a path (hex-encoded by -xx) or a socket description. */
function fdTarget(args) {
  const m = /^\d+<((?:TCP|TCPv6|UDP|UNIX):\[[^\]]*\]|[^>]*)>/.exec(args);
  if (!m) return null;
  const t = m[1];
  return /^(\\x[0-9a-f]{2})+$/.test(t) ? hexBuf(t).toString('utf8') : t;
}
function writeData(args) {
  const bufs = [];
  let truncated = false;
  STR_RE.lastIndex = 0;
  for (const m of args.matchAll(STR_RE)) {
    bufs.push(hexBuf(m[1]));
    if (m[2]) truncated = true;
  }
  return { data: Buffer.concat(bufs), truncated };
}
function retOf(rest) {
  const m = /\)\s+=\s+(-?\d+)/.exec(rest);
  return m ? Number(m[1]) : null;
}

/**
 * Replays the trace. portToPub: client port -> publisher index. withSyncs false = the negative
 * control (fsync events ignored); withDirSyncs false ignores only the fsyncs of directories.
 * Returns the verdict and statistics.
 */
async function replay(traceFile, portToPub, withSyncs, withDirSyncs = withSyncs) {
  const st = {
    lines: 0,
    segWrites: 0,
    segBytes: 0,
    syncs: 0,
    dirSyncs: 0,
    syncFailures: 0,
    truncatedWrites: 0,
    acksDecoded: 0, // confirms after expanding `multiple`
    nacksDecoded: 0,
    verified: 0,
    violations: 0,
    unverified: 0,
    examples: [],
    batchSizes: [], // messages covered per successful segment fdatasync
    syncUs: [], // fdatasync durations
    segFiles: new Set(),
  };
  const state = new Map(); // marker -> { file, phase: 'written'|'synced', truncated }
  const unsynced = new Map(); // file -> markers written, not yet covered by a sync
  const created = new Map(); // file -> ordinal of its creation
  const otherSyncs = new Map(); // path (not a segment) -> [[entryOrdinal, exitOrdinal]]
  const pending = new Map(); // tid -> { name, args, ordinal, time, extra }
  const streams = new Map(); // socket -> { pub, buf, lastTag, skip }
  const micros = (t) => {
    const [h, m, s] = t.split(':');
    return (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1e6;
  };
  const isSeg = (p) => typeof p === 'string' && p.endsWith('.seg');

  const flag = (kind, pub, tag, time, why) => {
    if (kind === 'violation') st.violations++;
    else st.unverified++;
    if (st.examples.length < 8)
      st.examples.push(`${time} ${kind}: publisher ${pub} delivery tag ${tag}: ${why}`);
  };
  const checkAck = (pub, tag, ordinal, time) => {
    const s = state.get(`${pub}:${tag - 1}`);
    if (!s)
      return flag(
        'violation',
        pub,
        tag,
        time,
        'confirmed, but its message was in no completed segment write',
      );
    if (s.truncated)
      return flag('unverified', pub, tag, time, 'its segment write was truncated in the trace');
    if (s.phase !== 'synced')
      return flag(
        'violation',
        pub,
        tag,
        time,
        `confirmed while only written to ${s.file}, not yet fdatasync'ed`,
      );
    const c = created.get(s.file);
    if (c !== undefined) {
      const ok = (otherSyncs.get(dirname(s.file)) ?? []).some(([en, ex]) => en > c && ex < ordinal);
      if (!ok)
        return flag(
          'violation',
          pub,
          tag,
          time,
          `${s.file} was created in this run and its directory was not fsync'ed first`,
        );
    }
    st.verified++;
  };
  /** Bytes the broker asked to write on a publisher's socket; parsed at the call's entry. */
  const onSocketWrite = (s, data, ordinal, time) => {
    let d = data;
    if (s.skip > 0) {
      // the unwritten tail of an earlier partial write, parsed already
      const n = Math.min(s.skip, d.length);
      s.skip -= n;
      d = d.subarray(n);
    }
    s.buf = s.buf.length ? Buffer.concat([s.buf, d]) : d;
    for (;;) {
      if (s.buf.length < 7) break;
      const size = s.buf.readUInt32BE(3);
      if (s.buf.length < 8 + size) break;
      if (s.buf[0] === 1 && size >= 4) {
        const cls = s.buf.readUInt16BE(7);
        const meth = s.buf.readUInt16BE(9);
        if (cls === 60 && (meth === 80 || meth === 120)) {
          const tag = Number(s.buf.readBigUInt64BE(11));
          const multiple = (s.buf[19] & 1) === 1;
          for (let t = multiple ? s.lastTag + 1 : tag; t <= tag; t++) {
            if (meth === 80) st.acksDecoded++;
            else st.nacksDecoded++;
            checkAck(s.pub, t, ordinal, time);
          }
          s.lastTag = Math.max(s.lastTag, tag);
        }
      }
      s.buf = s.buf.subarray(8 + size);
    }
  };
  /** A call has returned: `tail` is the text holding " = RET". */
  const complete = (p, tail, ordinal, time) => {
    const ret = retOf(tail);
    if (p.sock) {
      // bytes not written (partial write, EAGAIN) come again in a later write: skip them there
      const written = ret !== null && ret > 0 ? ret : 0;
      p.sock.skip += Math.max(0, p.extra.length - written);
      return;
    }
    if (p.name === 'openat') {
      const rp = /=\s+\d+<([^>]*)>/.exec(tail);
      if (rp && /O_CREAT/.test(p.args)) {
        const file = fdTarget(`0<${rp[1]}>`);
        if (isSeg(file)) created.set(file, p.ordinal);
      }
      return;
    }
    if (p.name === 'fdatasync' || p.name === 'fsync') {
      if (ret !== 0) {
        st.syncFailures++;
        return;
      }
      if (isSeg(p.target)) {
        if (!withSyncs) return;
        for (const k of p.extra) {
          const s = state.get(k);
          if (s) s.phase = 'synced';
        }
        st.syncs++;
        st.batchSizes.push(p.extra.length);
        const dur = /<(\d+\.\d+)>\s*$/.exec(tail); // -T: time spent in the call
        st.syncUs.push(dur ? Math.round(Number(dur[1]) * 1e6) : micros(time) - micros(p.time));
      } else if (withDirSyncs) {
        if (!otherSyncs.has(p.target)) otherSyncs.set(p.target, []);
        otherSyncs.get(p.target).push([p.ordinal, ordinal]);
      }
      return;
    }
    if (isSeg(p.target) && ret !== null && ret > 0) {
      st.segWrites++;
      st.segBytes += ret;
      st.segFiles.add(p.target);
      const { data, truncated } = p.extra;
      if (truncated) st.truncatedWrites++;
      if (!unsynced.has(p.target)) unsynced.set(p.target, []);
      for (const k of markersIn(data.subarray(0, ret))) {
        if (state.has(k)) continue; // a later copy (compaction) does not change the first one
        state.set(k, { file: p.target, phase: 'written', truncated });
        unsynced.get(p.target).push(k);
      }
    }
  };

  const rl = createInterface({ input: createReadStream(traceFile), crlfDelay: Number.POSITIVE_INFINITY });
  let ordinal = 0;
  for await (const line of rl) {
    st.lines++;
    const m = LINE_RE.exec(line);
    if (!m) continue;
    ordinal++;
    const [, tid, time, rest] = m;
    if (rest.startsWith('+++') || rest.startsWith('---')) continue;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const p = pending.get(tid);
      pending.delete(tid);
      if (p) complete(p, resumed[2], ordinal, time);
      continue;
    }
    const call = /^(\w+)\((.*)$/.exec(rest);
    if (!call) continue;
    const name = call[1];
    const args = call[2];
    const unfinished = rest.endsWith('<unfinished ...>');
    const p = { name, args, target: fdTarget(args), ordinal, time, extra: null, sock: null };
    if (name === 'fdatasync' || name === 'fsync') {
      if (isSeg(p.target)) {
        // covers what was written to this file before the call began
        p.extra = unsynced.get(p.target) ?? [];
        if (withSyncs) unsynced.set(p.target, []);
      }
    } else if (name !== 'openat') {
      if (isSeg(p.target)) p.extra = writeData(args);
      else if (p.target?.startsWith('TCP:')) {
        // broker side of a connection: TCP:[127.0.0.1:BROKER->127.0.0.1:CLIENT]
        const pm = /->[^\]]*:(\d+)\]$/.exec(p.target);
        const pub = pm ? portToPub.get(Number(pm[1])) : undefined;
        if (pub === undefined) continue;
        if (!streams.has(p.target)) streams.set(p.target, { pub, buf: Buffer.alloc(0), lastTag: 0, skip: 0 });
        const { data, truncated } = writeData(args);
        if (truncated) {
          st.truncatedWrites++;
          st.unverified++;
          if (st.examples.length < 8)
            st.examples.push(`${time}: a socket write to publisher ${pub} was truncated in the trace`);
        }
        p.sock = streams.get(p.target);
        p.extra = data;
        onSocketWrite(p.sock, data, ordinal, time);
      } else continue;
    }
    if (unfinished) pending.set(tid, p);
    else complete(p, rest, ordinal, time);
  }
  st.dirSyncs = [...otherSyncs.entries()]
    .filter(([path]) => [...st.segFiles].some((f) => dirname(f) === path))
    .reduce((a, [, v]) => a + v.length, 0);
  return st;
}

// ---------------------------------------------------------------- the run

async function runTraced(traceFile) {
  const { amqp, version } = loadAmqplib();
  const snapshot = prepareDist({ root: ROOT, build: cfg.build, log, logRaw, anomaly });
  const dataDir = mkdtempSync(join(os.tmpdir(), 'switchyard-confirm-fsync-'));
  const straceArgs = [
    '-f',
    '-qq',
    '-tt',
    '-T',
    '-yy',
    '-xx',
    '-s',
    String(cfg.straceS),
    '-e',
    'trace=openat,write,writev,pwrite64,pwritev,pwritev2,sendmsg,sendto,fdatasync,fsync',
    '-o',
    traceFile,
    process.execPath,
    // the same command line as every bench start: AMQP on an ephemeral port, other listeners off
    ...new SwitchyardProcess({ snapshot, ctx: run, ports: { amqp: 0 } }).args(dataDir),
  ];
  logRaw(`$ strace ${straceArgs.map(shq).join(' ')}`);
  const env = { ...process.env };
  if (cfg.segmentSize) env.SWITCHYARD_STORE_SEGMENT_SIZE = String(cfg.segmentSize);
  const child = spawn('strace', straceArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.on('close', (code, signal) => r({ code, signal })));
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (l) => {
    stderr.push(l);
    logRaw(`[strace/switchyard:err] ${l}`);
  });
  const url = await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('Switchyard under strace did not start within 60 s')), 60_000);
    createInterface({ input: child.stdout }).on('line', (l) => {
      logRaw(`[switchyard] ${l}`);
      const m = /amqp listening on (\S+):(\d+)/.exec(l);
      if (m) {
        clearTimeout(t);
        res(`amqp://guest:guest@${m[1]}:${m[2]}?heartbeat=0`);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(t);
      rej(
        new Error(
          `strace/Switchyard exited (code ${code}, signal ${signal}): ${stderr.slice(-10).join(' | ')}`,
        ),
      );
    });
  });
  const brokerPid = childPids(child.pid)[0] ?? null;
  log(`switchyard under strace: pid ${brokerPid}, ${url.replace(/\?.*/, '')}; data dir ${dataDir}`);

  const connect = async () => {
    const c = await amqp.connect(url, { noDelay: true });
    c.on('error', () => {});
    return c;
  };
  const admin = await connect();
  const ach = await admin.createChannel();
  await ach.assertQueue(QUEUE, { durable: true, autoDelete: false });
  let consumed = 0;
  if (cfg.consumer) {
    await ach.prefetch(100);
    await ach.consume(
      QUEUE,
      (m) => {
        if (!m) return;
        consumed++;
        ach.ack(m);
      },
      { noAck: false },
    );
  }
  const pubs = [];
  for (let i = 0; i < cfg.publishers; i++) {
    const conn = await connect();
    const ch = await conn.createConfirmChannel();
    ch.on('error', (e) => anomaly(`publisher ${i}: channel error ${e.message}`));
    pubs.push({
      i,
      conn,
      ch,
      port: conn.connection.stream.localPort,
      sent: 0,
      acked: 0,
      nacked: 0,
      out: 0,
      waiter: null,
    });
  }
  const per = Math.ceil(cfg.messages / cfg.publishers);
  const t0 = Date.now();
  await Promise.all(
    pubs.map(async (p) => {
      const n = Math.min(per, cfg.messages - p.i * per);
      for (let s = 0; s < n; s++) {
        while (p.out >= cfg.window) await new Promise((r) => (p.waiter = r));
        p.out++;
        p.sent++;
        const ok = p.ch.publish('', QUEUE, makeBody(p.i, s), { persistent: true }, (err) => {
          p.out--;
          if (err) p.nacked++;
          else p.acked++;
          if (p.waiter) {
            const w = p.waiter;
            p.waiter = null;
            w();
          }
        });
        if (!ok) await once(p.ch, 'drain');
      }
      await p.ch.waitForConfirms().catch(() => {});
    }),
  );
  const publishS = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  while (cfg.consumer && consumed < cfg.messages && Date.now() - t1 < 60_000) await sleep(50);
  for (const p of pubs) await p.conn.close().catch(() => {});
  await admin.close().catch(() => {});
  // stop the broker (not strace): strace ends when its tracee does
  if (brokerPid) process.kill(brokerPid, 'SIGTERM');
  else child.kill('SIGTERM');
  const ex = await Promise.race([exited, sleep(30_000).then(() => null)]);
  if (!ex) {
    anomaly('strace/Switchyard did not exit within 30 s of SIGTERM; killed');
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
  snapshot.remove();
  const client = {
    published: pubs.reduce((a, p) => a + p.sent, 0),
    confirmed: pubs.reduce((a, p) => a + p.acked, 0),
    nacked: pubs.reduce((a, p) => a + p.nacked, 0),
    consumed,
    publish_s: Math.round(publishS * 10) / 10,
    ports: pubs.map((p) => p.port),
    amqplib: version,
    build: snapshot.build,
  };
  return client;
}

function pct(a, p) {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main() {
  const t0 = Date.now();
  log(`confirm-fsync: ${COMMAND}`);
  const traceFile =
    cfg.checkTrace ?? freeName(join(BENCH_DIR, 'results', 'tmp'), 'confirm-fsync', 'trace', run.day);
  let client = null;
  if (!cfg.checkTrace) {
    if (spawnSync('strace', ['-V']).status !== 0) fail('strace is not installed');
    client = await runTraced(traceFile);
    log(
      `client: ${fmt(client.published)} published, ${fmt(client.confirmed)} confirmed, ${fmt(client.nacked)} nacked, ${fmt(client.consumed)} consumed, in ${client.publish_s} s (under strace)`,
    );
  }
  const ports = client?.ports ?? cfg.ports;
  const portToPub = new Map(ports.map((p, i) => [p, i]));
  log(`replaying ${relative(ROOT, traceFile)}`);
  const st = await replay(traceFile, portToPub, true);
  const neg = await replay(traceFile, portToPub, false);
  const negDir = await replay(traceFile, portToPub, true, false);
  const sum = (a) => a.reduce((x, y) => x + y, 0);
  const result = {
    type: 'result',
    date: startedAt.toISOString(),
    command: COMMAND,
    settings: cfg,
    switchyard: gitInfo(),
    node: process.version,
    client,
    trace_lines: st.lines,
    segment_files: st.segFiles.size,
    segment_writes: st.segWrites,
    segment_mb: Math.round((st.segBytes / 1048576) * 10) / 10,
    segment_fdatasyncs: st.syncs,
    dir_fsyncs: st.dirSyncs,
    sync_failures: st.syncFailures,
    messages_per_fdatasync_avg: st.batchSizes.length
      ? Math.round((sum(st.batchSizes) / st.batchSizes.length) * 10) / 10
      : null,
    messages_per_fdatasync_max: st.batchSizes.length ? Math.max(...st.batchSizes) : null,
    fdatasync_us_p50: pct(st.syncUs, 50),
    fdatasync_us_p99: pct(st.syncUs, 99),
    truncated_writes: st.truncatedWrites,
    confirms_decoded: st.acksDecoded,
    nacks_decoded: st.nacksDecoded,
    verified: st.verified,
    violations: st.violations,
    unverified: st.unverified,
    examples: st.examples,
    negative_control_dirs: { flagged: negDir.violations, of: negDir.acksDecoded + negDir.nacksDecoded },
    negative_control: {
      flagged: neg.violations,
      of: neg.acksDecoded + neg.nacksDecoded,
      examples: neg.examples.slice(0, 2),
    },
    duration_s: Math.round((Date.now() - t0) / 1000),
  };
  writeRow(result);
  if (client && st.acksDecoded !== client.confirmed)
    anomaly(
      `the client received ${fmt(client.confirmed)} confirms but the trace holds ${fmt(st.acksDecoded)} basic.ack confirms`,
    );
  if (st.violations)
    anomaly(
      `${fmt(st.violations)} confirms were written before their message was fdatasync'ed: ${st.examples.join('; ')}`,
    );
  if (st.unverified)
    anomaly(`${fmt(st.unverified)} confirms could not be verified (truncated trace strings)`);
  if (neg.violations !== neg.acksDecoded + neg.nacksDecoded)
    anomaly(
      `negative control: only ${fmt(neg.violations)} of ${fmt(neg.acksDecoded)} confirms flagged without the fsync events`,
    );
  log(
    `result: ${fmt(st.acksDecoded)} confirms decoded, ${fmt(st.verified)} after their fdatasync, ${fmt(st.violations)} violations, ${fmt(st.unverified)} unverified; ${fmt(st.syncs)} segment fdatasyncs (${fmt(result.messages_per_fdatasync_avg, 1)} messages each on average, max ${fmt(result.messages_per_fdatasync_max)}); negative control flagged ${fmt(neg.violations)} of ${fmt(neg.acksDecoded)}`,
  );
  if (!cfg.keepTrace) rmSync(traceFile, { force: true });
  else log(`trace kept: ${relative(ROOT, traceFile)}`);

  const ok =
    st.violations === 0 &&
    st.unverified === 0 &&
    st.acksDecoded > 0 &&
    (!client || st.acksDecoded === client.confirmed);
  const sw = result.switchyard;
  const L = [];
  L.push(
    `#### ${startedAt.toISOString().slice(0, 10)} ${startedAt.toISOString().slice(11, 16)} UTC: confirm after fsync, ${fmt(cfg.messages)} messages`,
  );
  L.push('');
  L.push(`Command: \`${COMMAND}\`. Raw result: \`${relative(ROOT, OUT)}\`.`);
  L.push('');
  L.push(
    `Switchyard ${sw.commit ? `commit ${sw.commit}${sw.src_modified ? ' with uncommitted changes in src/' : ''}` : '?'}${client ? `, dist/ ${client.build}` : ''}, under \`strace -f\` (which slows it down: no performance figures here); ` +
      `${cfg.publishers} publisher${cfg.publishers === 1 ? '' : 's'} x ${cfg.window} unconfirmed, persistent ${fmt(cfg.size)} B messages to one durable queue, ${cfg.consumer ? 'one consumer acking each message (prefetch 100)' : 'no consumer'}; ` +
      `segment size ${cfg.segmentSize ? `${fmt(cfg.segmentSize)} B (SWITCHYARD_STORE_SEGMENT_SIZE, small so that the run crosses segment rolls and reclaims)` : 'the default'}.`,
  );
  L.push('');
  L.push(
    `- every confirm written after the fdatasync that covers its message: **${ok ? 'yes' : 'no'}**: ${fmt(st.acksDecoded)} confirms decoded from the broker's socket writes${client ? ` (the client received ${fmt(client.confirmed)})` : ''}, ${fmt(st.verified)} verified, ${fmt(st.violations)} violations, ${fmt(st.unverified)} unverified${st.nacksDecoded ? `, ${fmt(st.nacksDecoded)} nacks` : ''}`,
  );
  L.push(
    `- group commit: ${fmt(st.segFiles.size)} segment files written, ${fmt(st.segWrites)} segment writes (${fmt(result.segment_mb, 1)} MB) and ${fmt(st.syncs)} segment fdatasyncs, ${fmt(result.messages_per_fdatasync_avg, 1)} messages per fdatasync on average (max ${fmt(result.messages_per_fdatasync_max)}); fdatasync took ${fmt(result.fdatasync_us_p50)} µs at p50, ${fmt(result.fdatasync_us_p99)} µs at p99 (under strace); ${fmt(st.dirSyncs)} directory fsyncs${st.syncFailures ? `; **${fmt(st.syncFailures)} failed syncs**` : ''}`,
  );
  L.push(
    `- negative control (the same trace replayed without the fsync events): ${fmt(neg.violations)} of ${fmt(neg.acksDecoded + neg.nacksDecoded)} confirms flagged${neg.violations > 0 && neg.violations === neg.acksDecoded + neg.nacksDecoded ? ', so the check can fail' : ' (**expected all**)'}`,
  );
  L.push(
    `- second control (the same trace without the directory fsyncs only): ${fmt(negDir.violations)} of ${fmt(negDir.acksDecoded + negDir.nacksDecoded)} confirms flagged (the messages in segment files created during the run${cfg.segmentSize ? '' : ', few with the default segment size'})`,
  );
  L.push('');
  L.push(
    "Limits: the trace shows the order of system calls, so this checks that the broker asks the kernel for the fdatasync and waits for it before it writes the confirm to the socket; whether the disk honours the flush is the virtual disk's business. Messages are recognised by a marker in their bodies; fsyncs are matched per segment file; the first segment file, created at start-up before any publish, needs its directory fsync like the others.",
  );
  L.push('');
  if (anomalies.length) {
    L.push('Errors and anomalies:', '', ...anomalies.map((a) => `- ${a}`), '');
  } else L.push('No errors or anomalies.', '');
  const section = L.join('\n');
  process.stdout.write(`\n${section}\n`);
  if (cfg.writeDocs) {
    updateDurabilityDocs(DOCS_FILE, 'confirm-fsync', startedAt.toISOString(), section);
    log(`docs: updated the Durability section of ${relative(ROOT, DOCS_FILE)}`);
  }
  return ok && !anomalies.length ? 0 : 1;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    log(`confirm-fsync: FAILED: ${e?.stack ?? e}`);
    process.exit(1);
  },
);
