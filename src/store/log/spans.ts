/**
 * Reading many message bodies at once: recovery's loadBodies, and paging a run of a long queue
 * back in. Bodies that lie close together in a segment are read with one pread.
 *
 * Paging hands out views of the read buffer (zero-copy, as the scanner's payloads; STYLE.md),
 * or copies when the bodies fill less than half of it, so settled neighbours are not kept alive.
 *
 * Recovery reads into a few large arenas instead of one buffer per span: V8 starts a major GC
 * each time retained external memory grows by about 64 MB, and for a 1 GiB backlog one buffer
 * per 8 MiB span meant a dozen full marks of a heap holding a million messages. Arenas are
 * filled in log order, so they free up as the queues drain.
 */
import type { Entry } from './log-index.js';
import type { SegmentLog } from './segments.js';

/** One pread reads at most this many bytes, merging bodies less than GAP apart. */
const SPAN = 8 * 1048576;
const GAP = 64 * 1024;
/** Reads kept in flight. */
const READERS = 4;
/** Recovery's body arenas. */
const ARENA = 256 * 1048576;
const EMPTY = Buffer.alloc(0);

interface Span {
  seg: number;
  start: number;
  end: number;
  bytes: number;
  entries: Entry[];
}

function bodyStart(e: Entry): number {
  return e.off + e.len - e.bodyLen;
}

/** Groups non-empty bodies into spans; empty ones go to `onEmpty`. */
function group(entries: Iterable<Entry>, onEmpty: (e: Entry) => void): Span[] {
  const spans: Span[] = [];
  let cur: Span | undefined;
  for (const e of entries) {
    if (e.bodyLen === 0) {
      onEmpty(e);
      continue;
    }
    const start = bodyStart(e);
    const end = start + e.bodyLen;
    if (
      cur === undefined ||
      e.seg !== cur.seg ||
      start < cur.end ||
      start - cur.end > GAP ||
      end - cur.start > SPAN
    ) {
      cur = { seg: e.seg, start, end, bytes: 0, entries: [] };
      spans.push(cur);
    }
    cur.entries.push(e);
    cur.end = end;
    cur.bytes += e.bodyLen;
  }
  return spans;
}

/** Runs `work` over the spans with READERS in flight. */
async function eachSpan(spans: Span[], work: (sp: Span, reader: number) => Promise<void>): Promise<void> {
  let next = 0;
  const reader = async (r: number): Promise<void> => {
    while (next < spans.length) await work(spans[next++]!, r);
  };
  await Promise.all(Array.from({ length: Math.min(READERS, spans.length) }, (_, r) => reader(r)));
}

/** Paging: the bodies of `entries` (any order), each a view of its span or a copy. */
export async function readBodySpans(
  segs: SegmentLog,
  entries: Iterable<Entry>,
  onBody: (e: Entry, body: Buffer) => void,
): Promise<void> {
  const spans = group(entries, (e) => onBody(e, EMPTY));
  await eachSpan(spans, async (sp) => {
    const buf = await segs.read({ segment: sp.seg, offset: sp.start, length: sp.end - sp.start });
    const dense = sp.bytes * 2 >= buf.length;
    for (const e of sp.entries) {
      const view = buf.subarray(bodyStart(e) - sp.start, bodyStart(e) - sp.start + e.bodyLen);
      onBody(e, dense ? view : Buffer.from(view));
    }
  });
}

/**
 * Recovery: the bodies of `entries` (log order) in arenas. A dense span is read straight into its
 * arena (the kernel fills the pages on the threadpool; the few bytes of headers between bodies
 * come along); a sparse span is read into a scratch buffer and only its bodies are copied.
 */
export async function loadBodiesIntoArenas(
  segs: SegmentLog,
  entries: readonly Entry[],
  onBody: (e: Entry, body: Buffer) => void,
): Promise<void> {
  const spans = group(entries, (e) => onBody(e, EMPTY));
  const dense = (sp: Span): boolean => sp.bytes * 2 >= sp.end - sp.start;
  // Place every span first (in log order), so the concurrent reads know where their bytes go.
  let total = 0;
  for (const sp of spans) total += dense(sp) ? sp.end - sp.start : sp.bytes;
  const place = new Map<Span, { arena: Buffer; at: number }>();
  let arena = EMPTY;
  let pos = 0;
  for (const sp of spans) {
    const need = dense(sp) ? sp.end - sp.start : sp.bytes;
    if (pos + need > arena.length) {
      arena = Buffer.allocUnsafe(Math.max(need, Math.min(ARENA, total)));
      pos = 0;
    }
    place.set(sp, { arena, at: pos });
    pos += need;
    total -= need;
  }
  const scratch: Buffer[] = [];
  await eachSpan(spans, async (sp, r) => {
    const { arena: a, at } = place.get(sp)!;
    const len = sp.end - sp.start;
    const loc = { segment: sp.seg, offset: sp.start, length: len };
    if (dense(sp)) {
      await segs.readInto(loc, a, at);
      for (const e of sp.entries) {
        const from = at + bodyStart(e) - sp.start;
        onBody(e, a.subarray(from, from + e.bodyLen));
      }
      return;
    }
    let buf = scratch[r];
    if (buf === undefined || buf.length < len) scratch[r] = buf = Buffer.allocUnsafe(len);
    await segs.readInto(loc, buf, 0);
    let to = at;
    for (const e of sp.entries) {
      const from = bodyStart(e) - sp.start;
      buf.copy(a, to, from, from + e.bodyLen);
      onBody(e, a.subarray(to, to + e.bodyLen));
      to += e.bodyLen;
    }
  });
}
