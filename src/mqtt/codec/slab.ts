/**
 * Copies of what the reader keeps (payloads, packets cut by a read) go into slices of shared
 * slabs rather than a buffer each: every new ArrayBuffer counts as external memory, and at
 * thousands of large messages a second that alone keeps V8 running full collections. A slab is
 * freed when the last message sliced from it is, so slabs stay small: a small message that
 * waits long in a queue holds at most 128 KiB (a view of a socket read would hold 64 KiB);
 * packets over 16 KiB get a buffer of their own, from the payload pool.
 */
import type { PayloadPool } from './payload-pool.js';

const EMPTY = Buffer.alloc(0);

class Slab {
  private buf = Buffer.allocUnsafeSlow(0);
  private used = 0;

  constructor(private readonly size: number) {}

  take(n: number): Buffer {
    if (this.used + n > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(this.size);
      this.used = 0;
    }
    const b = this.buf.subarray(this.used, this.used + n);
    this.used += (n + 7) & ~7;
    return b;
  }
}

const slab = new Slab(128 * 1024);

/** A buffer of `n` bytes for the reader to keep. */
export function slabAlloc(n: number, pool: PayloadPool): Buffer {
  // Larger buffers come straight from malloc: a big slab costs more (mmap, page faults, zeroing)
  // than it saves in collections (measured with 64 KiB messages).
  return n <= 16 * 1024 ? slab.take(n) : pool.take(n);
}

/** A copy of `b` that outlives the chunk it is a view of. */
export function copyOut(b: Buffer, pool: PayloadPool): Buffer {
  if (b.length === 0) return EMPTY;
  const c = slabAlloc(b.length, pool);
  b.copy(c);
  return c;
}
