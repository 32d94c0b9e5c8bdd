/**
 * What the message log keeps in memory about the log: which messages are live, which queues hold
 * them, where they are, and how many live bytes each segment holds (so disk use can follow the
 * backlog, DESIGN.md section 4). The running log and recovery apply the same operations to it, so
 * a replay after a crash reaches the state the running log had at the last durable record.
 */

/** One live message. Mutable and class-shaped: there is one per message in the backlog. */
export class Entry {
  /** Only during recovery: what is handed to the broker (see recovery.ts). */
  rec: unknown = undefined;
  constructor(
    /** Segment holding the message's current record. */
    public seg: number,
    /** File offset of the message encoding (records.ts). */
    public off: number,
    /** Length of the message encoding; the body is its last `bodyLen` bytes. */
    public len: number,
    public bodyLen: number,
    /** Bytes charged to the segment while the message is live. */
    public size: number,
    /** Queues still holding it. */
    public refs: number,
  ) {}
}

export interface SegmentStat {
  live: number;
  liveBytes: number;
}

export class LogIndex {
  /** Live messages by id, in the log order of their current records (compaction relies on it). */
  readonly entries = new Map<number, Entry>();
  /** Queue id → ids of the live messages it holds, in insertion order. */
  readonly queues = new Map<number, Set<number>>();
  readonly segStats = new Map<number, SegmentStat>();
  /** Queue id → every message of the queue with id ≤ this was delivered at least once. */
  readonly watermarks = new Map<number, number>();
  /** Highest message id ever seen. */
  maxId = 0;
  /** Called when a message leaves its last queue. */
  onDead: ((id: number, e: Entry) => void) | undefined;
  private lastQueue = -1;
  private lastSet: Set<number> | undefined;
  private lastSeg = -1;
  private lastStat: SegmentStat | undefined;

  /** Adds a message held by `queues` (duplicates ignored). Returns undefined if it is already live or has no queue. */
  add(
    id: number,
    queues: readonly number[],
    seg: number,
    off: number,
    len: number,
    bodyLen: number,
    size: number,
  ): Entry | undefined {
    if (id > this.maxId) this.maxId = id;
    if (queues.length === 0 || this.entries.has(id)) return undefined;
    let refs = 0;
    for (let i = 0; i < queues.length; i++) {
      const set = this.queueSet(queues[i]!);
      const before = set.size;
      set.add(id);
      if (set.size !== before) refs++;
    }
    const e = new Entry(seg, off, len, bodyLen, size, refs);
    this.entries.set(id, e);
    this.charge(seg, size);
    return e;
  }

  /** The message left queue q. Returns false if q did not hold it. */
  settle(q: number, id: number): boolean {
    const set = this.queues.get(q);
    if (set === undefined || !set.delete(id)) return false;
    const e = this.entries.get(id);
    if (e !== undefined && --e.refs === 0) this.kill(id, e);
    return true;
  }

  holds(q: number, id: number): boolean {
    return this.queues.get(q)?.has(id) ?? false;
  }

  /** Every message in q leaves it. Returns how many did. */
  purge(q: number): number {
    const set = this.queues.get(q);
    if (set === undefined) return 0;
    const n = set.size;
    for (const id of set) {
      const e = this.entries.get(id);
      if (e !== undefined && --e.refs === 0) this.kill(id, e);
    }
    set.clear();
    return n;
  }

  /** As purge, and the queue and its watermark are forgotten (its id may be reused). */
  deleteQueue(q: number): number {
    const n = this.purge(q);
    this.queues.delete(q);
    if (q === this.lastQueue) this.lastSet = undefined;
    this.watermarks.delete(q);
    return n;
  }

  /** Raises q's delivered watermark; false if it was already that high. */
  mark(q: number, upTo: number): boolean {
    if (upTo <= (this.watermarks.get(q) ?? 0)) return false;
    this.watermarks.set(q, upTo);
    return true;
  }

  /** The message's record moved (compaction): charge the new segment, and keep log order. */
  relocate(id: number, e: Entry, seg: number, off: number, len: number, size: number): void {
    this.discharge(e.seg, e.size);
    e.seg = seg;
    e.off = off;
    e.len = len;
    e.size = size;
    this.charge(seg, size);
    this.entries.delete(id);
    this.entries.set(id, e);
  }

  /** Recovery of a MOVE for a message still known: queues not in `keep` had let it go before the copy. */
  restrict(id: number, keep: readonly number[]): void {
    for (const [q, set] of this.queues) {
      if (set.has(id) && !keep.includes(q)) this.settle(q, id);
    }
  }

  /** The set of queue q, created on first use; the last one is cached (most messages go to one queue). */
  private queueSet(q: number): Set<number> {
    if (q === this.lastQueue && this.lastSet !== undefined) return this.lastSet;
    let set = this.queues.get(q);
    if (set === undefined) this.queues.set(q, (set = new Set()));
    this.lastQueue = q;
    this.lastSet = set;
    return set;
  }

  private charge(seg: number, size: number): void {
    let st = this.lastStat;
    if (st === undefined || this.lastSeg !== seg) {
      st = this.segStats.get(seg);
      if (st === undefined) this.segStats.set(seg, (st = { live: 0, liveBytes: 0 }));
      this.lastSeg = seg;
      this.lastStat = st;
    }
    st.live++;
    st.liveBytes += size;
  }

  private discharge(seg: number, size: number): void {
    const st = this.segStats.get(seg);
    if (st !== undefined) {
      st.live--;
      st.liveBytes -= size;
    }
  }

  private kill(id: number, e: Entry): void {
    this.entries.delete(id);
    this.discharge(e.seg, e.size);
    this.onDead?.(id, e);
  }
}
