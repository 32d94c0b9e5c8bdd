/**
 * Two connected in-memory Duplex streams: what one writes, the other reads. Protocol sessions
 * take any Duplex, so their tests run without sockets (as aedes and ws test theirs). Node 22.6
 * has stream.duplexPair; this works on Node 20 too.
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  other: End | undefined;
  /** Bytes written by the peer while this end was not reading. */
  private waiting: Buffer[] = [];
  private wantsData = false;

  override _read(): void {
    this.wantsData = true;
    while (this.wantsData && this.waiting.length > 0) this.wantsData = this.push(this.waiting.shift()!);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.other!.receive(chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.other!.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const other = this.other;
    this.other = undefined;
    if (other !== undefined && !other.destroyed) other.destroy();
    cb(err);
  }

  private receive(chunk: Buffer): void {
    if (this.wantsData && this.waiting.length === 0) this.wantsData = this.push(chunk);
    else this.waiting.push(chunk);
  }
}

/** [client, server]: bytes written to one are read from the other; destroying one closes both. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new End();
  const b = new End();
  a.other = b;
  b.other = a;
  return [a, b];
}
