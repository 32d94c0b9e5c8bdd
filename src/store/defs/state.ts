/**
 * The definitions as operations, and the in-memory state they build. The journal is a list of
 * these operations and the snapshot is the state written out as `put` operations, so loading
 * either is the same replay, and the store's live mutations run through the same `apply`:
 * cascades (deleting an exchange deletes its bindings) happen in one place, on replay too.
 *
 * The state keeps each definition as its encoded `put` payload, not as objects: a snapshot is
 * then a concatenation of strings (no encoding work while the broker runs), and callers may go
 * on changing the objects they passed in without changing what is stored.
 *
 * Besides definitions, the state keeps generic records for front ends (MQTT sessions, retained
 * messages): a binary value under a (kind, key) pair, in no vhost. They are payloads too, indexed
 * by kind, then key, so nested maps keep any two pairs apart whatever characters they contain.
 */
import type { HeaderTable } from '../../model/index.js';
import { decodeTable, encodeTable, FormatError } from './codec.js';

/** A virtual host. */
export interface VhostDef {
  readonly name: string;
}

/**
 * A durable exchange (only durable ones are stored; RabbitMQ recovers durable auto-delete
 * exchanges too, so autoDelete is kept). `type` is the core's exchange type name.
 */
export interface ExchangeDef {
  readonly vhost: string;
  readonly name: string;
  readonly type: string;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly args: HeaderTable;
}

/** A durable, non-exclusive, non-auto-delete queue: the only kind that is recovered. */
export interface QueueDef {
  readonly vhost: string;
  readonly name: string;
  readonly args: HeaderTable;
}

/** A stored queue with the id the message log knows it by. */
export interface StoredQueue extends QueueDef {
  readonly id: number;
}

/**
 * A binding. Its identity is everything here (as in the core: source, destination, key and
 * arguments), with the arguments compared exactly (1 and 1n, or keys in another order, are
 * different tables here only if the core also keeps them apart: it never asks to store both).
 */
export interface BindingDef {
  readonly vhost: string;
  readonly source: string;
  readonly destinationKind: 'queue' | 'exchange';
  readonly destination: string;
  readonly routingKey: string;
  readonly args: HeaderTable;
}

export type Op =
  | { readonly t: 'V'; readonly def: VhostDef }
  | { readonly t: 'v'; readonly name: string }
  | { readonly t: 'X'; readonly def: ExchangeDef }
  | { readonly t: 'x'; readonly vhost: string; readonly name: string }
  | { readonly t: 'Q'; readonly def: StoredQueue }
  | { readonly t: 'q'; readonly vhost: string; readonly name: string }
  | { readonly t: 'B'; readonly def: BindingDef }
  | { readonly t: 'b'; readonly def: BindingDef }
  | { readonly t: 'R'; readonly kind: string; readonly key: string; readonly value: Buffer }
  | { readonly t: 'r'; readonly kind: string; readonly key: string };

const js = JSON.stringify;

/**
 * The payload of an operation: a JSON array, positional fields, tag first (upper case = put).
 * With `sorted`, argument tables are written with sorted keys (the canonical form). A record's
 * value is base64 in a JSON string (`["R",kind,key,"base64"]`): payloads are UTF-8 JSON, and
 * base64 is the densest form JSON carries without escapes (4/3; raw bytes in a string cost up
 * to 6 per byte), encoded and decoded natively.
 */
export function encodeOp(op: Op, sorted = false): string {
  switch (op.t) {
    case 'V':
      return `["V",${js(op.def.name)}]`;
    case 'v':
      return `["v",${js(op.name)}]`;
    case 'X': {
      const d = op.def;
      return `["X",${js(d.vhost)},${js(d.name)},${js(d.type)},${d.autoDelete},${d.internal},${encodeTable(d.args)}]`;
    }
    case 'x':
    case 'q':
      return `["${op.t}",${js(op.vhost)},${js(op.name)}]`;
    case 'Q': {
      const d = op.def;
      return `["Q",${d.id},${js(d.vhost)},${js(d.name)},${encodeTable(d.args)}]`;
    }
    case 'B':
    case 'b': {
      const d = op.def;
      return `["${op.t}",${js(d.vhost)},${js(d.source)},"${d.destinationKind === 'queue' ? 'q' : 'x'}",${js(d.destination)},${js(d.routingKey)},${encodeTable(d.args, sorted)}]`;
    }
    case 'R':
      return `["R",${js(op.kind)},${js(op.key)},"${op.value.toString('base64')}"]`;
    case 'r':
      return `["r",${js(op.kind)},${js(op.key)}]`;
  }
}

/** Decodes a parsed payload; anything malformed is a FormatError (the CRC matched: real damage). */
export function decodeOp(j: unknown): Op {
  if (!Array.isArray(j)) throw new FormatError('record is not an array');
  const a = j as unknown[];
  const s = (i: number): string => {
    const v = a[i];
    if (typeof v !== 'string') throw new FormatError(`record field ${i} is not a string`);
    return v;
  };
  const b = (i: number): boolean => {
    const v = a[i];
    if (typeof v !== 'boolean') throw new FormatError(`record field ${i} is not a boolean`);
    return v;
  };
  switch (a[0]) {
    case 'V':
      return { t: 'V', def: { name: s(1) } };
    case 'v':
      return { t: 'v', name: s(1) };
    case 'X':
      return {
        t: 'X',
        def: {
          vhost: s(1),
          name: s(2),
          type: s(3),
          autoDelete: b(4),
          internal: b(5),
          args: decodeTable(a[6]),
        },
      };
    case 'x':
    case 'q':
      return { t: a[0], vhost: s(1), name: s(2) };
    case 'Q': {
      const id = a[1];
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1)
        throw new FormatError('bad queue id');
      return { t: 'Q', def: { id, vhost: s(2), name: s(3), args: decodeTable(a[4]) } };
    }
    case 'B':
    case 'b': {
      const kind = s(3);
      if (kind !== 'q' && kind !== 'x') throw new FormatError('bad binding destination kind');
      const def: BindingDef = {
        vhost: s(1),
        source: s(2),
        destinationKind: kind === 'q' ? 'queue' : 'exchange',
        destination: s(4),
        routingKey: s(5),
        args: decodeTable(a[6]),
      };
      return { t: a[0], def };
    }
    case 'R':
      return { t: 'R', kind: s(1), key: s(2), value: Buffer.from(s(3), 'base64') };
    case 'r':
      return { t: 'r', kind: s(1), key: s(2) };
    default:
      throw new FormatError(`unknown record type ${js(a[0])}`);
  }
}

/**
 * The key of a named thing in a vhost. The vhost's length comes first, so no pair of names can
 * make two keys collide (names may contain any character, NUL included).
 */
const nameKey = (vhost: string, name: string) => `${vhost.length}:${vhost}${name}`;
/** A binding end: an exchange or a queue in a vhost. */
const endKey = (kind: 'queue' | 'exchange', vhost: string, name: string) =>
  `${kind === 'queue' ? 'q' : 'x'}${nameKey(vhost, name)}`;

/**
 * A binding's identity: its `put` payload with the arguments in canonical order. For most
 * bindings (no arguments, or arguments already in order) that is the payload itself, and the
 * state keeps one string for both.
 */
export function bindingKey(d: BindingDef, payload?: string): string {
  // Without arguments there is no order to canonicalise: the payload is the key (most bindings).
  // The table is the payload's last field, and only an empty one makes it end in `,{}]`.
  if (payload?.endsWith(',{}]')) return payload;
  return encodeOp({ t: 'B', def: d }, true);
}

interface Entry {
  readonly vhost: string;
  readonly payload: string;
  /** The decoded operation, kept from replay until definitions() hands it out once. */
  op?: Op | undefined;
}
interface QueueEntry extends Entry {
  readonly id: number;
}
/** The bindings at one end (an exchange or a queue); it knows its key so it can remove itself. */
class End extends Set<string> {
  constructor(readonly key: string) {
    super();
  }
}
interface BindingEntry extends Entry {
  readonly ends: readonly [End, End];
}

export class DefsState {
  readonly vhosts = new Map<string, Entry>();
  readonly exchanges = new Map<string, Entry>();
  readonly queues = new Map<string, QueueEntry>();
  readonly bindings = new Map<string, BindingEntry>();
  /** Record payloads by kind, then key. A kind with no records left has no map. */
  readonly records = new Map<string, Map<string, string>>();
  /** Binding keys by the end (source exchange, destination queue or exchange) they touch. */
  private readonly byEnd = new Map<string, End>();
  /** Ids are never reused, so this only grows, also past deleted queues. */
  nextQueueId = 1;

  /** Definitions and records. */
  get size(): number {
    let n = this.vhosts.size + this.exchanges.size + this.queues.size + this.bindings.size;
    for (const m of this.records.values()) n += m.size;
    return n;
  }

  queueId(vhost: string, name: string): number | undefined {
    return this.queues.get(nameKey(vhost, name))?.id;
  }

  /**
   * Applies an operation whose encoded form is `payload`. Returns false when it changes nothing
   * (a put of what is already there, a delete of what is not): such operations are not written.
   */
  apply(op: Op, payload: string, keepOp = false): boolean {
    const kept = keepOp ? op : undefined;
    switch (op.t) {
      case 'V':
        if (this.vhosts.get(op.def.name)?.payload === payload) return false;
        this.vhosts.set(op.def.name, { vhost: op.def.name, payload, op: kept });
        return true;
      case 'v': {
        if (!this.vhosts.delete(op.name)) return false;
        // Everything in the vhost goes with it, as in RabbitMQ.
        for (const [k, e] of this.bindings) if (e.vhost === op.name) this.removeBinding(k, e);
        for (const [k, e] of this.exchanges) if (e.vhost === op.name) this.exchanges.delete(k);
        for (const [k, e] of this.queues) if (e.vhost === op.name) this.queues.delete(k);
        return true;
      }
      case 'X': {
        const k = nameKey(op.def.vhost, op.def.name);
        if (this.exchanges.get(k)?.payload === payload) return false;
        this.exchanges.set(k, { vhost: op.def.vhost, payload, op: kept });
        return true;
      }
      case 'x':
        if (!this.exchanges.delete(nameKey(op.vhost, op.name))) return false;
        this.removeBindingsOf(endKey('exchange', op.vhost, op.name));
        return true;
      case 'Q': {
        const k = nameKey(op.def.vhost, op.def.name);
        if (this.queues.get(k)?.payload === payload) return false;
        this.queues.set(k, { vhost: op.def.vhost, payload, id: op.def.id, op: kept });
        if (op.def.id >= this.nextQueueId) this.nextQueueId = op.def.id + 1;
        return true;
      }
      case 'q':
        if (!this.queues.delete(nameKey(op.vhost, op.name))) return false;
        this.removeBindingsOf(endKey('queue', op.vhost, op.name));
        return true;
      case 'B': {
        const d = op.def;
        const k = bindingKey(d, payload);
        const old = this.bindings.get(k);
        if (old?.payload === payload) return false;
        if (old !== undefined) this.removeBinding(k, old);
        const ends = [
          this.end(endKey('exchange', d.vhost, d.source)),
          this.end(endKey(d.destinationKind, d.vhost, d.destination)),
        ] as const;
        this.bindings.set(k, { vhost: d.vhost, payload: k === payload ? k : payload, ends, op: kept });
        for (const end of ends) end.add(k);
        return true;
      }
      case 'b': {
        const k = bindingKey(op.def);
        const e = this.bindings.get(k);
        if (e === undefined) return false;
        this.removeBinding(k, e);
        return true;
      }
      // Records are never kept decoded (values may be MiB): records() decodes on read.
      case 'R': {
        let m = this.records.get(op.kind);
        if (m === undefined) this.records.set(op.kind, (m = new Map()));
        if (m.get(op.key) === payload) return false;
        m.set(op.key, payload);
        return true;
      }
      case 'r': {
        const m = this.records.get(op.kind);
        if (m === undefined || !m.delete(op.key)) return false;
        if (m.size === 0) this.records.delete(op.kind);
        return true;
      }
    }
  }

  private end(key: string): End {
    let end = this.byEnd.get(key);
    if (end === undefined) this.byEnd.set(key, (end = new End(key)));
    return end;
  }

  private removeBindingsOf(key: string): void {
    const end = this.byEnd.get(key);
    if (end === undefined) return;
    for (const k of [...end]) {
      const e = this.bindings.get(k);
      if (e !== undefined) this.removeBinding(k, e);
    }
  }

  private removeBinding(k: string, e: BindingEntry): void {
    this.bindings.delete(k);
    for (const end of e.ends) {
      end.delete(k);
      if (end.size === 0) this.byEnd.delete(end.key);
    }
  }

  /** Every definition: vhosts, exchanges, queues, then bindings. */
  entries(): Iterable<Entry> {
    return concat(
      this.vhosts.values(),
      this.exchanges.values(),
      this.queues.values(),
      this.bindings.values(),
    );
  }

  /** The `put` payload of everything: the definitions, then the records (a snapshot's body). */
  *payloads(): Generator<string> {
    for (const e of this.entries()) yield e.payload;
    for (const m of this.records.values()) yield* m.values();
  }
}

/** A record's value, decoded afresh from its `put` payload. */
export function recordValue(payload: string): Buffer {
  const op = decodeOp(JSON.parse(payload));
  if (op.t !== 'R') throw new FormatError('not a record');
  return op.value;
}

/**
 * The records of one kind, read through to the state: it sees later puts and deletes, and
 * decodes a value only when it is read, each read a fresh Buffer the caller may keep or change.
 */
export class RecordsView implements ReadonlyMap<string, Buffer> {
  constructor(
    private readonly state: DefsState,
    private readonly kind: string,
  ) {}

  private get map(): ReadonlyMap<string, string> {
    return this.state.records.get(this.kind) ?? EMPTY;
  }

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): Buffer | undefined {
    const p = this.map.get(key);
    return p === undefined ? undefined : recordValue(p);
  }

  keys(): MapIterator<string> {
    return this.map.keys();
  }

  *values(): MapIterator<Buffer> {
    for (const p of this.map.values()) yield recordValue(p);
  }

  *entries(): MapIterator<[string, Buffer]> {
    for (const [k, p] of this.map) yield [k, recordValue(p)];
  }

  [Symbol.iterator](): MapIterator<[string, Buffer]> {
    return this.entries();
  }

  forEach(
    f: (value: Buffer, key: string, map: ReadonlyMap<string, Buffer>) => void,
    thisArg?: unknown,
  ): void {
    for (const [k, v] of this.entries()) f.call(thisArg, v, k, this);
  }
}

const EMPTY: ReadonlyMap<string, string> = new Map();

function* concat<T>(...its: Iterable<T>[]): Generator<T> {
  for (const it of its) yield* it;
}

/**
 * Whether a queue with these options is stored and recovered: durable, and neither exclusive nor
 * auto-delete (both die with their connection or last consumer, so a restart must not bring them
 * back). Bindings are worth storing when both of their ends are stored (or built in, like amq.*).
 */
export function isRecoverableQueue(o: {
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
}): boolean {
  return o.durable && !o.exclusive && !o.autoDelete;
}
