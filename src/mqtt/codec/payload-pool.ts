/**
 * Buffers for large payloads, used again once a message is done with them. Each large message
 * otherwise costs a new ArrayBuffer, and at hundreds of MB/s those (external memory to V8) keep
 * it running full collections (docs/performance.md). Reuse is only safe when nothing can still
 * read the bytes, so it is narrow on purpose: a QoS 0/1, non-retained, unstored message that
 * reached exactly one queue and was delivered once, by an MQTT writer (at once or after waiting
 * in the queue); the buffer comes back when that socket write has completed and, at QoS 1, the
 * PUBACK has let the queue drop it. Anything else (redelivered, fanned out, stored, read by
 * another protocol) is left to the garbage collector.
 *
 * One switch turns it off (`mqtt.payloadPool: false`): then every payload is a buffer of its own
 * and every call below does nothing. A pool belongs to one front end, so brokers in one process
 * (tests) do not share one.
 */

/** Pooled sizes, rounded up to a multiple of GRAIN (fixed-size traffic reuses exactly). */
const MIN_SIZE = 16 * 1024;
const MAX_SIZE = 1024 * 1024;
const GRAIN = 8 * 1024;
/** Bytes of free buffers kept in all; more are left to the collector. */
const KEEP_BYTES = 32 * 1024 * 1024;

interface Use {
  /** Writes of it in progress. */
  writes: number;
  /** Times it was handed to a writer or copied out for one. */
  deliveries: number;
  /** Delivered at QoS 1/2: the queue keeps it for a redelivery until the PUBACK. */
  awaitingAck: number;
  /** The publisher found it reached exactly one queue: reusable after its one delivery's writes. */
  sealed: boolean;
}

function sizeClass(n: number): number {
  return Math.ceil(n / GRAIN) * GRAIN;
}

export class PayloadPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private freeBytes = 0;
  private readonly uses = new WeakMap<ArrayBuffer, Use>();
  /** Buffers handed out again (for tests and metrics). */
  reused = 0;

  constructor(readonly enabled: boolean) {}

  /** A buffer of `n` bytes; pooled when the pool is on and n is in the pooled range. */
  take(n: number): Buffer {
    if (!this.enabled || n < MIN_SIZE || n > MAX_SIZE) return Buffer.allocUnsafeSlow(n);
    const cls = sizeClass(n);
    let ab = this.free.get(cls)?.pop();
    if (ab !== undefined) {
      this.freeBytes -= cls;
      this.reused++;
    } else ab = new ArrayBuffer(cls);
    this.uses.set(ab, { writes: 0, deliveries: 0, awaitingAck: 0, sealed: false });
    return Buffer.from(ab, 0, n);
  }

  /**
   * The use of a pooled buffer `b` is a view of (undefined for any other). A view shorter than
   * the smallest pooled size is never tracked: a payload that small (after a large topic) just
   * leaves its buffer to the collector, and most payloads cost no lookup.
   */
  private useOf(b: Buffer): Use | undefined {
    return this.enabled && b.length >= MIN_SIZE ? this.uses.get(b.buffer as ArrayBuffer) : undefined;
  }

  /** A writer is about to write `b` (a view of a pooled buffer or not); call writeDone after. */
  writeStarted(b: Buffer): boolean {
    const u = this.useOf(b);
    if (u === undefined) return false;
    u.writes++;
    u.deliveries++;
    return true;
  }

  /** The write writeStarted announced has completed (or failed). */
  writeDone(b: Buffer): void {
    const u = this.useOf(b);
    if (u === undefined) return;
    u.writes--;
    this.maybeReuse(b.buffer as ArrayBuffer, u);
  }

  /** A delivery that copied the bytes (encoded into a packet of its own): nothing to wait for. */
  deliveredByCopy(b: Buffer): void {
    const u = this.useOf(b);
    if (u === undefined) return;
    u.deliveries++;
    this.maybeReuse(b.buffer as ArrayBuffer, u);
  }

  /** Delivered at QoS 1/2: not reused before acked() (a requeue makes a second delivery: never). */
  awaitAck(b: Buffer): void {
    const u = this.useOf(b);
    if (u !== undefined) u.awaitingAck++;
  }

  /** The PUBACK for a delivery awaitAck announced came, and the queue let the message go. */
  acked(b: Buffer): void {
    const u = this.useOf(b);
    if (u === undefined) return;
    u.awaitingAck--;
    this.maybeReuse(b.buffer as ArrayBuffer, u);
  }

  /**
   * The publisher's verdict: the message reached exactly one queue, so it is delivered at most
   * once (now or later); after that delivery's writes, nothing reads it.
   */
  seal(b: Buffer): void {
    const u = this.useOf(b);
    if (u === undefined) return;
    u.sealed = true;
    this.maybeReuse(b.buffer as ArrayBuffer, u);
  }

  private maybeReuse(ab: ArrayBuffer, u: Use): void {
    if (!u.sealed || u.deliveries !== 1 || u.writes !== 0 || u.awaitingAck !== 0) return;
    this.uses.delete(ab);
    const cls = ab.byteLength;
    let list = this.free.get(cls);
    if (list === undefined) this.free.set(cls, (list = []));
    if (this.freeBytes + cls > KEEP_BYTES) return;
    list.push(ab);
    this.freeBytes += cls;
  }
}
