/**
 * Two connected in-memory Duplex streams: what one writes, the other reads. Protocol sessions
 * take any Duplex, so their tests run without sockets (as aedes and ws test theirs). Node 22.6
 * has stream.duplexPair; this works on Node 20 too.
 *
 * Like a socket, what was written before end() or destroy() is still read by the other side:
 * the end of the stream comes after it, and a destroyed side closes the other once that has read
 * everything (an error destroys it at once).
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  other: End | undefined;
  /** Bytes (and the end, null) written by the peer while this end was not reading. */
  private waiting: (Buffer | null)[] = [];
  private wantsData = false;
  /** The peer's end of the stream has been queued or pushed. */
  private eof = false;

  override _read(): void {
    this.wantsData = true;
    while (this.wantsData && this.waiting.length > 0) this.wantsData = this.push(this.waiting.shift()!);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const other = this.other;
    if (other !== undefined && !other.destroyed) other.receive(chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.other?.receive(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const other = this.other;
    this.other = undefined;
    if (other !== undefined && !other.destroyed) {
      if (err !== null || other.readableEnded) other.destroy();
      else {
        // Closed like a socket: the other side reads what is on its way, then closes.
        other.receive(null);
        other.once('end', () => other.destroy());
      }
    }
    cb(err);
  }

  private receive(chunk: Buffer | null): void {
    if (this.eof) return;
    if (chunk === null) this.eof = true;
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
