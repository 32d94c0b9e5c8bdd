/**
 * The definitions store: vhosts, durable exchanges, recoverable queues (with their log ids) and
 * bindings, and front ends' keyed records (MQTT sessions, retained messages), kept in one
 * directory as a snapshot plus an append-only journal. Why not lmdb: see
 * docs/storage-decisions.md (measured: durable declares 1.5x faster, a third of the disk, no
 * native addon; lmdb loads faster and keeps less heap, by margins that do not matter here).
 *
 * Files, all in the store's own directory:
 *   defs.snapshot      every definition and record as a `put` record, between a header (format
 *                      version, generation, next queue id) and an end record with the count
 *   defs.journal.<g>   the operations since snapshot generation g, after a header record
 *   defs.snapshot.tmp  a snapshot being written; deleted at open (it never became the snapshot)
 *
 * Durability. A mutation changes the in-memory state at once (so ids and cascades are known
 * synchronously) and returns a promise that resolves when the change is on disk: its record is
 * written and the journal fdatasync'ed. Mutations that arrive while a flush is running share the
 * next one (group commit), so concurrent declares cost one flush per batch, not per declare.
 * Promises resolve in call order.
 *
 * Compaction. When the journal outgrows max(compactBytes, snapshot size) the next batch is made
 * durable by writing a new snapshot instead: take the state (synchronously, so it holds exactly
 * the mutations applied so far), write it to defs.snapshot.tmp, fdatasync, rename over
 * defs.snapshot, fsync the directory, then start defs.journal.<g+1> and delete the old journal.
 * A crash at any step leaves either the old snapshot with its whole journal, or the new snapshot
 * (and an old journal, which open deletes).
 *
 * Crashes. A torn journal tail (a write cut short: short record or CRC mismatch) was never
 * acknowledged; open truncates it and says how many bytes it dropped. A record that passes its
 * CRC but does not decode, a damaged snapshot, or a journal newer than the snapshot is not a
 * crash artefact: open refuses, rather than start with definitions silently missing.
 *
 * A failed write (EIO, ENOSPC) poisons the store: that mutation and every later one reject, as
 * the file may now end in a partial record. The broker should stop; the next open repairs it.
 */
import { open, readdir, readFile, rename, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { mkdirPrivate, openPrivate } from '../private-files.js';
import { dirname, join } from 'node:path';
import { SwitchyardError } from '../../errors/index.js';
import { FormatError, frame, MAX_RECORD, scanRecords } from './codec.js';
import {
  type BindingDef,
  DefsState,
  decodeOp,
  type ExchangeDef,
  encodeOp,
  type Op,
  type QueueDef,
  RecordsView,
  type StoredQueue,
  type VhostDef,
} from './state.js';

export const FORMAT_VERSION = 1;
const SNAPSHOT = 'defs.snapshot';
const SNAPSHOT_TMP = 'defs.snapshot.tmp';
const JOURNAL_RE = /^defs\.journal\.(\d+)$/;
const journalName = (gen: number) => `defs.journal.${gen}`;

/** Everything the store holds, decoded. */
export interface Definitions {
  readonly vhosts: VhostDef[];
  readonly exchanges: ExchangeDef[];
  readonly queues: StoredQueue[];
  readonly bindings: BindingDef[];
  /** The id the next new queue gets (ids are never reused). */
  readonly nextQueueId: number;
}

export interface DefinitionsStoreOptions {
  /** Journal size that triggers a compaction, when larger than the snapshot. Default 4 MiB. */
  readonly compactBytes?: number;
}

/** What open found, for the startup log. */
export interface OpenReport {
  /** Bytes of a torn journal tail that were dropped (never acknowledged). */
  readonly discardedBytes: number;
  /** Definitions and records loaded. */
  readonly count: number;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

interface Batch {
  chunks: Buffer[];
  bytes: number;
  waiters: Waiter[];
}

const newBatch = (): Batch => ({ chunks: [], bytes: 0, waiters: [] });

export class DefinitionsStore {
  private batch = newBatch();
  private flushing: Promise<void> | undefined;
  private failed: SwitchyardError | undefined;
  private closed = false;
  /** Called once, when a failed write poisons the store (the owner reports it: issue 15). */
  onFailed: ((err: Error) => void) | undefined;

  private constructor(
    readonly dir: string,
    private readonly state: DefsState,
    private journal: FileHandle,
    private gen: number,
    private journalBytes: number,
    private snapshotBytes: number,
    private readonly compactBytes: number,
    readonly report: OpenReport,
  ) {}

  /** Opens (creating if needed) the store in `dir`, repairing a torn journal tail. */
  static async open(dir: string, opts: DefinitionsStoreOptions = {}): Promise<DefinitionsStore> {
    const compactBytes = opts.compactBytes ?? 4 * 1024 * 1024;
    await mkdirDurable(dir);
    const names = await readdir(dir);
    if (names.includes(SNAPSHOT_TMP)) await unlink(join(dir, SNAPSHOT_TMP));

    const state = new DefsState();
    let gen = 0;
    let snapshotBytes = 0;
    if (names.includes(SNAPSHOT)) {
      const buf = await readFile(join(dir, SNAPSHOT));
      gen = guard(dir, SNAPSHOT, () => loadSnapshot(buf, state));
      snapshotBytes = buf.length;
    }
    for (const n of names) {
      const g = Number(JOURNAL_RE.exec(n)?.[1] ?? Number.NaN);
      if (g < gen) await unlink(join(dir, n)); // left by a compaction that crashed before deleting it
      if (g > gen)
        throw corrupt(dir, `${n} is newer than the snapshot (generation ${gen}): files are missing`);
    }

    const jpath = join(dir, journalName(gen));
    let journal: FileHandle;
    let journalBytes: number;
    let discardedBytes = 0;
    const buf = names.includes(journalName(gen)) ? await readFile(jpath) : undefined;
    const scan = buf === undefined ? undefined : scanRecords(buf);
    if (buf === undefined || scan === undefined || scan.payloads.length === 0) {
      // No journal, or one whose header never made it to disk: nothing in it was acknowledged.
      discardedBytes = buf?.length ?? 0;
      ({ fh: journal, bytes: journalBytes } = await createJournal(dir, gen));
    } else {
      guard(dir, journalName(gen), () => replayJournal(scan.payloads, gen, state));
      discardedBytes = buf.length - scan.validBytes;
      if (discardedBytes > 0) await truncate(jpath, scan.validBytes);
      journal = await open(jpath, 'r+');
      if (discardedBytes > 0) await journal.datasync();
      journalBytes = scan.validBytes;
    }

    const store = new DefinitionsStore(dir, state, journal, gen, journalBytes, snapshotBytes, compactBytes, {
      discardedBytes,
      count: state.size,
    });
    // A long journal (many changes since the last snapshot) makes every later start slower.
    if (journalBytes > store.compactThreshold) {
      try {
        await store.compact();
      } catch (e) {
        await store.journal.close();
        throw e;
      }
    }
    return store;
  }

  /**
   * The current definitions (including mutations not yet durable), decoded. The first call after
   * open hands out what replay already decoded; later calls decode again.
   */
  definitions(): Definitions {
    const vhosts: VhostDef[] = [];
    const exchanges: ExchangeDef[] = [];
    const queues: StoredQueue[] = [];
    const bindings: BindingDef[] = [];
    for (const e of this.state.entries()) {
      const op = e.op ?? decodeOp(JSON.parse(e.payload));
      e.op = undefined;
      if (op.t === 'V') vhosts.push(op.def);
      else if (op.t === 'X') exchanges.push(op.def);
      else if (op.t === 'Q') queues.push(op.def);
      else if (op.t === 'B') bindings.push(op.def);
    }
    return { vhosts, exchanges, queues, bindings, nextQueueId: this.state.nextQueueId };
  }

  /** The id of a stored queue; known as soon as putQueue was called, before it is durable. */
  queueId(vhost: string, name: string): number | undefined {
    return this.state.queueId(vhost, name);
  }

  putVhost(def: VhostDef): Promise<void> {
    return this.mutate({ t: 'V', def });
  }

  /** Deletes a vhost with every exchange, queue and binding in it. */
  deleteVhost(name: string): Promise<void> {
    return this.mutate({ t: 'v', name });
  }

  putExchange(def: ExchangeDef): Promise<void> {
    return this.mutate({ t: 'X', def });
  }

  /** Deletes an exchange and every binding from or to it. */
  deleteExchange(vhost: string, name: string): Promise<void> {
    return this.mutate({ t: 'x', vhost, name });
  }

  /**
   * Stores a queue and resolves to its id once durable. A new queue gets the next id (also
   * available at once through queueId); storing an existing queue again keeps its id.
   */
  putQueue(def: QueueDef): Promise<number> {
    const id = this.state.queueId(def.vhost, def.name) ?? this.state.nextQueueId;
    return this.mutate({ t: 'Q', def: { vhost: def.vhost, name: def.name, args: def.args, id } }, id);
  }

  /** Deletes a queue and every binding to it. */
  deleteQueue(vhost: string, name: string): Promise<void> {
    return this.mutate({ t: 'q', vhost, name });
  }

  /** Stores a binding. Its ends are not checked: bindings from amq.* exchanges are stored too. */
  putBinding(def: BindingDef): Promise<void> {
    return this.mutate({ t: 'B', def });
  }

  /** Deletes a binding; pass the arguments it was stored with (the core's Binding.args). */
  deleteBinding(def: BindingDef): Promise<void> {
    return this.mutate({ t: 'b', def });
  }

  /**
   * Stores (or replaces) the record `key` of `kind`; resolves once it is on disk (same
   * group-commit journal as definitions). The value is copied at once. It is stored as base64,
   * so at most 48 MiB (a record is at most MAX_RECORD); a larger one rejects with
   * CONTENT_TOO_LARGE.
   */
  putRecord(kind: string, key: string, value: Buffer): Promise<void> {
    return this.mutate({ t: 'R', kind, key, value });
  }

  /** Removes a record (no-op if absent); resolves once on disk. Records are in no vhost. */
  deleteRecord(kind: string, key: string): Promise<void> {
    return this.mutate({ t: 'r', kind, key });
  }

  /**
   * The records of one kind as they are now (after recovery: as recovered), including changes
   * not yet durable. The map reads through to the store, so it also sees later changes; a value
   * is decoded when read, a fresh Buffer each time.
   */
  records(kind: string): ReadonlyMap<string, Buffer> {
    return new RecordsView(this.state, kind);
  }

  /** Waits for pending writes, then closes the journal. Later mutations reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.journal.close();
  }

  private get compactThreshold(): number {
    return Math.max(this.compactBytes, this.snapshotBytes);
  }

  /**
   * Applies `op` and resolves to `value` once it is durable (no extra promise hop, so callbacks
   * run in call order).
   */
  private mutate(op: Op): Promise<void>;
  private mutate<T>(op: Op, value: T): Promise<T>;
  private mutate<T>(op: Op, value?: T): Promise<T | undefined> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.closed)
      return Promise.reject(new SwitchyardError('INTERNAL_ERROR', `definitions store ${this.dir} is closed`));
    let payload: string;
    try {
      payload = encodeOp(op);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    // Open would take a longer record for a torn write, and drop it with everything after it.
    // (A string's UTF-8 is at most 3 bytes per UTF-16 unit: most payloads skip the count.)
    if (payload.length > MAX_RECORD / 3 && Buffer.byteLength(payload) > MAX_RECORD)
      return Promise.reject(
        new SwitchyardError(
          'CONTENT_TOO_LARGE',
          `definitions store ${this.dir}: a record is larger than ${MAX_RECORD} bytes`,
        ),
      );
    // A mutation that changes nothing writes nothing, but still resolves only after every
    // earlier one: callers may rely on "resolved" meaning "all I did before is durable".
    if (this.state.apply(op, payload)) {
      const rec = frame(payload);
      this.batch.chunks.push(rec);
      this.batch.bytes += rec.length;
    } else if (this.flushing === undefined) {
      return Promise.resolve(value);
    }
    const p = new Promise<T | undefined>((resolve, reject) =>
      this.batch.waiters.push({ resolve: () => resolve(value), reject }),
    );
    this.flushing ??= this.flushLoop();
    return p;
  }

  /** Writes batches until none is left; never rejects (failures go to the waiters). */
  private async flushLoop(): Promise<void> {
    try {
      while (this.batch.waiters.length > 0) {
        const b = this.batch;
        this.batch = newBatch();
        try {
          if (b.bytes > 0) {
            // compact() takes the state before its first await, so the snapshot holds exactly
            // what was applied up to now: this batch and nothing later.
            if (this.journalBytes + b.bytes > this.compactThreshold) await this.compact();
            else await this.append(b);
          }
        } catch (e) {
          this.failed = new SwitchyardError(
            'INTERNAL_ERROR',
            `definitions store ${this.dir}: write failed: ${e instanceof Error ? e.message : String(e)}`,
          );
          this.failed.cause = e;
          for (const w of [...b.waiters, ...this.batch.waiters]) w.reject(this.failed);
          this.batch = newBatch();
          this.onFailed?.(this.failed);
          return;
        }
        for (const w of b.waiters) w.resolve();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async append(b: Batch): Promise<void> {
    const buf = b.chunks.length === 1 ? b.chunks[0]! : Buffer.concat(b.chunks, b.bytes);
    await writeAll(this.journal, buf, this.journalBytes);
    await this.journal.datasync();
    this.journalBytes += buf.length;
  }

  private async compact(): Promise<void> {
    const gen = this.gen + 1;
    // Taken before the first await: exactly the mutations applied so far. Payloads are
    // immutable strings, so framing them can then proceed in slices without blocking.
    const head = `["H",${FORMAT_VERSION},${gen},${this.state.nextQueueId}]`;
    const snap = await encodeSnapshot(head, Array.from(this.state.payloads()));
    const tmp = join(this.dir, SNAPSHOT_TMP);
    const fh = await openPrivate(tmp, 'w');
    try {
      await writeAll(fh, snap, 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, SNAPSHOT));
    await syncDir(this.dir);
    // The new snapshot is now the truth; the old journal is only garbage.
    const old = this.journal;
    const oldGen = this.gen;
    this.gen = gen;
    this.snapshotBytes = snap.length;
    const j = await createJournal(this.dir, gen);
    this.journal = j.fh;
    this.journalBytes = j.bytes;
    await old.close();
    await unlink(join(this.dir, journalName(oldGen)));
  }
}

/**
 * Frames a snapshot. 60,000 definitions take ~40 ms to frame, a pause the broker's other
 * connections should not feel, so the work yields to the event loop every few thousand, or
 * every few MiB (records such as retained messages can be large).
 */
async function encodeSnapshot(head: string, payloads: readonly string[]): Promise<Buffer> {
  const chunks = [frame(head)];
  let bytes = 0;
  for (let i = 0; i < payloads.length; i++) {
    const rec = frame(payloads[i]!);
    chunks.push(rec);
    bytes += rec.length;
    if (i % 4096 === 4095 || bytes > 4 * 1024 * 1024) {
      bytes = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  chunks.push(frame(`["E",${payloads.length}]`));
  return Buffer.concat(chunks);
}

/** Loads a snapshot into `state`; returns its generation. Any flaw is damage (it was renamed into place whole). */
function loadSnapshot(buf: Buffer, state: DefsState): number {
  const { payloads, validBytes } = scanRecords(buf);
  if (validBytes !== buf.length) throw new FormatError(`bad record at byte ${validBytes}`);
  const head: unknown = JSON.parse(payloads[0] ?? 'null');
  const end: unknown = JSON.parse(payloads[payloads.length - 1] ?? 'null');
  if (!Array.isArray(head) || head[0] !== 'H') throw new FormatError('no header record');
  if (head[1] !== FORMAT_VERSION) throw new FormatError(`unknown format version ${String(head[1])}`);
  const [, , gen, nextQueueId] = head as unknown[];
  if (typeof gen !== 'number' || typeof nextQueueId !== 'number') throw new FormatError('bad header record');
  if (!Array.isArray(end) || end[0] !== 'E' || end[1] !== payloads.length - 2)
    throw new FormatError('no end record, or a wrong count');
  for (let i = 1; i < payloads.length - 1; i++) {
    const p = payloads[i]!;
    const op = decodeOp(JSON.parse(p));
    if (op.t !== 'V' && op.t !== 'X' && op.t !== 'Q' && op.t !== 'B' && op.t !== 'R')
      throw new FormatError('delete in a snapshot');
    state.apply(op, p, true);
  }
  state.nextQueueId = Math.max(state.nextQueueId, nextQueueId);
  return gen;
}

function replayJournal(payloads: readonly string[], gen: number, state: DefsState): void {
  const head: unknown = JSON.parse(payloads[0]!);
  if (!Array.isArray(head) || head[0] !== 'J' || head[1] !== FORMAT_VERSION || head[2] !== gen)
    throw new FormatError(`bad header record (expected format ${FORMAT_VERSION}, generation ${gen})`);
  for (let i = 1; i < payloads.length; i++) {
    const p = payloads[i]!;
    state.apply(decodeOp(JSON.parse(p)), p, true);
  }
}

/** Creates (or empties) the journal of `gen`, durably: header flushed, directory entry too. */
async function createJournal(dir: string, gen: number): Promise<{ fh: FileHandle; bytes: number }> {
  const fh = await openPrivate(join(dir, journalName(gen)), 'w+');
  try {
    const head = frame(`["J",${FORMAT_VERSION},${gen}]`);
    await writeAll(fh, head, 0);
    await fh.datasync();
    await syncDir(dir);
    return { fh, bytes: head.length };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, pos: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
    off += bytesWritten;
  }
}

/**
 * fsyncs a directory, so that a file created or renamed in it survives a power loss. Windows
 * cannot open a directory; there NTFS journals the metadata itself.
 */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** mkdir -p, then fsync each new directory's parent so the new entries are durable. */
async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdirPrivate(dir);
  if (first === undefined) return;
  const made: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    made.push(d);
    if (d === first || dirname(d) === d) break;
  }
  for (const d of made.reverse()) await syncDir(dirname(d));
}

function corrupt(dir: string, what: string): SwitchyardError {
  return new SwitchyardError('INTERNAL_ERROR', `definitions store ${dir} is damaged: ${what}`);
}

function guard<T>(dir: string, file: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof FormatError || e instanceof SyntaxError) throw corrupt(dir, `${file}: ${e.message}`);
    throw e;
  }
}
