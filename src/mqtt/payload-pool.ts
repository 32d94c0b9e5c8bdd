/**
 * Buffers for large payloads, used again once a message is done with them. Each large message
 * otherwise costs a new ArrayBuffer, and at hundreds of MB/s those (external memory to V8) keep
 * it running full collections (docs/performance.md). Reuse is only safe when nothing can still
 * read the bytes, so it is narrow on purpose: a QoS 0/1, non-retained, unstored message that
 * reached exactly one queue and was delivered once, by an MQTT writer (at once or after waiting
 * in the queue); the buffer comes back when that socket write has completed and, at QoS 1, the
 * PUBACK has let the queue drop it. Anything else (redelivered, fanned out, stored, read by
 * another protocol) is left to the garbage collector.
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

const free = new Map<number, ArrayBuffer[]>();
let freeBytes = 0;
const uses = new WeakMap<ArrayBuffer, Use>();

function sizeClass(n: number): number {
  return Math.ceil(n / GRAIN) * GRAIN;
}

/** A buffer of `n` bytes; pooled when n is in the pooled range. */
export function takePayloadBuffer(n: number): Buffer {
  if (n < MIN_SIZE || n > MAX_SIZE) return Buffer.allocUnsafeSlow(n);
  const cls = sizeClass(n);
  let ab = free.get(cls)?.pop();
  if (ab !== undefined) freeBytes -= cls;
  else ab = new ArrayBuffer(cls);
  uses.set(ab, { writes: 0, deliveries: 0, awaitingAck: 0, sealed: false });
  return Buffer.from(ab, 0, n);
}

function useOf(b: Buffer): Use | undefined {
  return uses.get(b.buffer as ArrayBuffer);
}

/** A writer is about to write `b` (a view of a pooled buffer or not); call writeDone after. */
export function writeStarted(b: Buffer): boolean {
  const u = useOf(b);
  if (u === undefined) return false;
  u.writes++;
  u.deliveries++;
  return true;
}

/** The write writeStarted announced has completed (or failed). */
export function writeDone(b: Buffer): void {
  const u = useOf(b);
  if (u === undefined) return;
  u.writes--;
  maybeReuse(b.buffer as ArrayBuffer, u);
}

/** A delivery that copied the bytes (encoded into a packet of its own): nothing to wait for. */
export function deliveredByCopy(b: Buffer): void {
  const u = useOf(b);
  if (u === undefined) return;
  u.deliveries++;
  maybeReuse(b.buffer as ArrayBuffer, u);
}

/** Delivered at QoS 1/2: not reused before acked() (a requeue makes a second delivery: never). */
export function awaitAck(b: Buffer): void {
  const u = useOf(b);
  if (u !== undefined) u.awaitingAck++;
}

/** The PUBACK for a delivery awaitAck announced came, and the queue let the message go. */
export function acked(b: Buffer): void {
  const u = useOf(b);
  if (u === undefined) return;
  u.awaitingAck--;
  maybeReuse(b.buffer as ArrayBuffer, u);
}

/**
 * The publisher's verdict: the message reached exactly one queue, so it is delivered at most
 * once (now or later); after that delivery's writes, nothing reads it.
 */
export function seal(b: Buffer): void {
  const u = useOf(b);
  if (u === undefined) return;
  u.sealed = true;
  maybeReuse(b.buffer as ArrayBuffer, u);
}

function maybeReuse(ab: ArrayBuffer, u: Use): void {
  if (!u.sealed || u.deliveries !== 1 || u.writes !== 0 || u.awaitingAck !== 0) return;
  uses.delete(ab);
  const cls = ab.byteLength;
  let list = free.get(cls);
  if (list === undefined) free.set(cls, (list = []));
  if (freeBytes + cls > KEEP_BYTES) return;
  list.push(ab);
  freeBytes += cls;
}
