/**
 * Replays an `strace -f -tt -T -yy -xx` trace of the broker (bench/confirm-fsync.ts) and checks that
 * every publisher confirm was written after the fdatasync that made its message durable:
 *   - a segment write (pwrite/pwritev on a *.seg file) that has returned makes the markers in its
 *     bytes "written" in that file;
 *   - an fdatasync/fsync of that file covers what was written to it before the call began; when it
 *     returns 0 those messages are "synced";
 *   - a segment file created during the run also needs an fsync of its directory that began after
 *     the file was created and returned;
 *   - every basic.ack / basic.nack the broker writes on a publisher's socket (decoded from the
 *     socket's byte stream, `multiple` expanded) names messages by delivery tag; each must be synced
 *     before the write that carries the ack begins. Anything else is a violation.
 * The controls replay the same trace without the fsync events (or the directory fsyncs only):
 * every confirm must then be flagged, which shows the check can fail.
 */
import { createReadStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

/** [0,4) "CFSY", [4,6) publisher, [6,10) the publisher's sequence number (0-based), then filler. */
const MAGIC = Buffer.from('CFSY');

export function markedBody(size: number, publisher: number, seq: number): Buffer {
  const b = Buffer.alloc(size, 0x2e);
  MAGIC.copy(b, 0);
  b.writeUInt16BE(publisher, 4);
  b.writeUInt32BE(seq, 6);
  return b;
}

/** Markers "publisher:seq" found in some bytes. */
function markersIn(buf: Buffer): string[] {
  const out: string[] = [];
  let i = buf.indexOf(MAGIC);
  while (i >= 0 && i + 10 <= buf.length) {
    out.push(`${buf.readUInt16BE(i + 4)}:${buf.readUInt32BE(i + 6)}`);
    i = buf.indexOf(MAGIC, i + 10);
  }
  return out;
}

const hexBuf = (s: string) => Buffer.from(s.replace(/\\x/g, ''), 'hex');
const LINE_RE = /^(\d+)\s+(\d\d:\d\d:\d\d\.\d+)\s+(.*)$/;
const STR_RE = /"((?:\\x[0-9a-f]{2})*)"(\.\.\.)?/g;

/** The fd annotation of the first argument: a path (hex-encoded by -xx) or a socket. */
function fdTarget(args: string): string | null {
  const m = /^\d+<((?:TCP|TCPv6|UDP|UNIX):\[[^\]]*\]|[^>]*)>/.exec(args);
  if (!m) return null;
  const t = m[1]!;
  return /^(\\x[0-9a-f]{2})+$/.test(t) ? hexBuf(t).toString('utf8') : t;
}

/** The bytes of a write call's string arguments; truncated when strace cut one (-s). */
function writeData(args: string): { data: Buffer; truncated: boolean } {
  const bufs: Buffer[] = [];
  let truncated = false;
  for (const m of args.matchAll(STR_RE)) {
    bufs.push(hexBuf(m[1]!));
    if (m[2] !== undefined) truncated = true;
  }
  return { data: Buffer.concat(bufs), truncated };
}

const retOf = (rest: string) => {
  const m = /\)\s+=\s+(-?\d+)/.exec(rest);
  return m ? Number(m[1]) : null;
};
const micros = (t: string) => {
  const [h, m, s] = t.split(':');
  return (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1e6;
};
/** A segment file of the log (not a type guard: a false answer says nothing about null). */
const isSegment = (p: string | null): boolean => p?.endsWith('.seg') === true;

export interface ReplayStats {
  lines: number;
  segWrites: number;
  segBytes: number;
  syncs: number;
  dirSyncs: number;
  syncFailures: number;
  truncatedWrites: number;
  /** Confirms after expanding `multiple`. */
  acksDecoded: number;
  nacksDecoded: number;
  verified: number;
  violations: number;
  unverified: number;
  examples: string[];
  /** Messages covered by each successful segment fdatasync. */
  batchSizes: number[];
  /** fdatasync durations, µs. */
  syncUs: number[];
  segFiles: Set<string>;
}

interface Pending {
  name: string;
  args: string;
  target: string | null;
  ordinal: number;
  time: string;
  /** An fsync: the markers it covers; a segment write: its bytes. */
  markers: string[] | null;
  data: { data: Buffer; truncated: boolean } | null;
  sock: SocketStream | null;
  sockBytes: number;
}

interface SocketStream {
  pub: number;
  buf: Buffer;
  lastTag: number;
  /** Bytes of a partial write's unwritten tail, parsed already, that come again. */
  skip: number;
}

/**
 * Replays `traceFile`. portToPub: a publisher's local port -> its index. withSyncs false = the
 * negative control (fsyncs ignored); withDirSyncs false ignores only the directories' fsyncs.
 */
export async function replay(
  traceFile: string,
  portToPub: ReadonlyMap<number, number>,
  withSyncs: boolean,
  withDirSyncs = withSyncs,
): Promise<ReplayStats> {
  const st: ReplayStats = {
    lines: 0,
    segWrites: 0,
    segBytes: 0,
    syncs: 0,
    dirSyncs: 0,
    syncFailures: 0,
    truncatedWrites: 0,
    acksDecoded: 0,
    nacksDecoded: 0,
    verified: 0,
    violations: 0,
    unverified: 0,
    examples: [],
    batchSizes: [],
    syncUs: [],
    segFiles: new Set(),
  };
  const state = new Map<string, { file: string; phase: 'written' | 'synced'; truncated: boolean }>();
  const unsynced = new Map<string, string[]>(); // file -> markers written, not yet covered by a sync
  const created = new Map<string, number>(); // file -> ordinal of its creation
  const otherSyncs = new Map<string, [number, number][]>(); // a directory -> [entry, exit] ordinals
  const pending = new Map<string, Pending>(); // tid -> its unfinished call
  const streams = new Map<string, SocketStream>();

  const flag = (kind: 'violation' | 'unverified', pub: number, tag: number, time: string, why: string) => {
    if (kind === 'violation') st.violations++;
    else st.unverified++;
    if (st.examples.length < 8)
      st.examples.push(`${time} ${kind}: publisher ${pub} delivery tag ${tag}: ${why}`);
  };
  const checkAck = (pub: number, tag: number, ordinal: number, time: string) => {
    const s = state.get(`${pub}:${tag - 1}`);
    if (s === undefined)
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
    if (
      c !== undefined &&
      !(otherSyncs.get(dirname(s.file)) ?? []).some(([en, ex]) => en > c && ex < ordinal)
    )
      return flag(
        'violation',
        pub,
        tag,
        time,
        `${s.file} was created in this run and its directory was not fsync'ed first`,
      );
    st.verified++;
  };
  /** Bytes the broker asked to write on a publisher's socket: AMQP frames, parsed at the call's entry. */
  const onSocketWrite = (s: SocketStream, data: Buffer, ordinal: number, time: string) => {
    let d = data;
    if (s.skip > 0) {
      const n = Math.min(s.skip, d.length);
      s.skip -= n;
      d = d.subarray(n);
    }
    s.buf = s.buf.length > 0 ? Buffer.concat([s.buf, d]) : d;
    while (s.buf.length >= 7) {
      const size = s.buf.readUInt32BE(3);
      if (s.buf.length < 8 + size) break;
      if (s.buf[0] === 1 && size >= 4) {
        const cls = s.buf.readUInt16BE(7);
        const meth = s.buf.readUInt16BE(9);
        if (cls === 60 && (meth === 80 || meth === 120)) {
          // basic.ack (80) or basic.nack (120): delivery tag, then `multiple` in the flags byte.
          const tag = Number(s.buf.readBigUInt64BE(11));
          const multiple = (s.buf[19]! & 1) === 1;
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
  /** A call has returned: `tail` holds its " = RET". */
  const complete = (p: Pending, tail: string, ordinal: number, time: string) => {
    const ret = retOf(tail);
    if (p.sock !== null) {
      // Bytes not written (a partial write, EAGAIN) come again in a later write: skip them there.
      p.sock.skip += Math.max(0, p.sockBytes - (ret !== null && ret > 0 ? ret : 0));
      return;
    }
    if (p.name === 'openat') {
      const rp = /=\s+\d+<([^>]*)>/.exec(tail);
      if (rp && /O_CREAT/.test(p.args)) {
        const file = fdTarget(`0<${rp[1]}>`);
        if (file !== null && isSegment(file)) created.set(file, p.ordinal);
      }
      return;
    }
    if (p.name === 'fdatasync' || p.name === 'fsync') {
      if (ret !== 0) {
        st.syncFailures++;
        return;
      }
      if (isSegment(p.target)) {
        if (!withSyncs) return;
        for (const k of p.markers ?? []) {
          const s = state.get(k);
          if (s !== undefined) s.phase = 'synced';
        }
        st.syncs++;
        st.batchSizes.push(p.markers?.length ?? 0);
        const dur = /<(\d+\.\d+)>\s*$/.exec(tail); // -T: the time spent in the call
        st.syncUs.push(dur ? Math.round(Number(dur[1]) * 1e6) : micros(time) - micros(p.time));
      } else if (withDirSyncs && p.target !== null) {
        const list = otherSyncs.get(p.target) ?? [];
        list.push([p.ordinal, ordinal]);
        otherSyncs.set(p.target, list);
      }
      return;
    }
    if (p.target !== null && isSegment(p.target) && p.data !== null && ret !== null && ret > 0) {
      st.segWrites++;
      st.segBytes += ret;
      st.segFiles.add(p.target);
      if (p.data.truncated) st.truncatedWrites++;
      const list = unsynced.get(p.target) ?? [];
      unsynced.set(p.target, list);
      for (const k of markersIn(p.data.data.subarray(0, ret))) {
        if (state.has(k)) continue; // a later copy (compaction) does not change the first one
        state.set(k, { file: p.target, phase: 'written', truncated: p.data.truncated });
        list.push(k);
      }
    }
  };

  const lines = createInterface({ input: createReadStream(traceFile), crlfDelay: Number.POSITIVE_INFINITY });
  let ordinal = 0;
  for await (const line of lines) {
    st.lines++;
    const m = LINE_RE.exec(line);
    if (!m) continue;
    ordinal++;
    const [, tid, time, rest] = m as unknown as [string, string, string, string];
    if (rest.startsWith('+++') || rest.startsWith('---')) continue;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const p = pending.get(tid);
      pending.delete(tid);
      if (p !== undefined) complete(p, resumed[2]!, ordinal, time);
      continue;
    }
    const call = /^(\w+)\((.*)$/.exec(rest);
    if (!call) continue;
    const p: Pending = {
      name: call[1]!,
      args: call[2]!,
      target: fdTarget(call[2]!),
      ordinal,
      time,
      markers: null,
      data: null,
      sock: null,
      sockBytes: 0,
    };
    if (p.name === 'fdatasync' || p.name === 'fsync') {
      if (p.target !== null && isSegment(p.target)) {
        // It covers what was written to this file before the call began.
        p.markers = unsynced.get(p.target) ?? [];
        if (withSyncs) unsynced.set(p.target, []);
      }
    } else if (p.name !== 'openat') {
      if (isSegment(p.target)) p.data = writeData(p.args);
      else if (p.target?.startsWith('TCP:') === true) {
        // The broker's side of a connection: TCP:[127.0.0.1:BROKER->127.0.0.1:CLIENT].
        const pm = /->[^\]]*:(\d+)\]$/.exec(p.target);
        const pub = pm ? portToPub.get(Number(pm[1])) : undefined;
        if (pub === undefined) continue;
        let s = streams.get(p.target);
        if (s === undefined) {
          s = { pub, buf: Buffer.alloc(0), lastTag: 0, skip: 0 };
          streams.set(p.target, s);
        }
        const { data, truncated } = writeData(p.args);
        if (truncated) {
          st.truncatedWrites++;
          st.unverified++;
          if (st.examples.length < 8)
            st.examples.push(`${time}: a socket write to publisher ${pub} was truncated in the trace`);
        }
        p.sock = s;
        p.sockBytes = data.length;
        onSocketWrite(s, data, ordinal, time);
      } else continue;
    }
    if (rest.endsWith('<unfinished ...>')) pending.set(tid, p);
    else complete(p, rest, ordinal, time);
  }
  st.dirSyncs = [...otherSyncs.entries()]
    .filter(([path]) => [...st.segFiles].some((f) => dirname(f) === path))
    .reduce((a, [, v]) => a + v.length, 0);
  return st;
}
