/**
 * gRPC's Length-Prefixed-Message framing (gRPC over HTTP/2, "Requests"): a 1-byte compressed
 * flag, a 4-byte big-endian length, then the message. Incremental: a message inside one chunk
 * is handed out as a view; only one that spans chunks is copied together; the length is checked
 * against the limit before anything is buffered.
 */

import { Status } from './status.js';

export const FRAME_HEADER = 5;

/** Why the byte stream is not valid framing; the call ends with `grpcStatus`. */
export class FramingError extends Error {
  constructor(
    readonly grpcStatus: number,
    message: string,
  ) {
    super(message);
  }
}

export class FrameDecoder {
  /** Bytes of an unfinished message (or header) carried over from earlier chunks. */
  private partial: Buffer | undefined;
  /** How much of `partial` is filled. */
  private filled = 0;
  /** Length of the message being assembled in `partial` (-1: still reading its header). */
  private want = -1;
  private readonly header = Buffer.alloc(FRAME_HEADER);
  private headerFilled = 0;

  constructor(private readonly maxMessageSize: number) {}

  /**
   * Feeds a chunk; calls `onMessage` for every message it completes, in order. Throws
   * FramingError on a message over the limit or a compressed one (no message encoding is
   * negotiated on this path).
   */
  push(chunk: Buffer, onMessage: (m: Buffer) => void): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.want < 0) {
        // Fast case: a whole header in this chunk.
        if (this.headerFilled === 0 && n - off >= FRAME_HEADER) {
          const len = this.check(chunk[off]!, chunk.readUInt32BE(off + 1));
          off += FRAME_HEADER;
          if (n - off >= len) {
            onMessage(chunk.subarray(off, off + len));
            off += len;
            continue;
          }
          this.begin(len);
          continue;
        }
        const take = Math.min(FRAME_HEADER - this.headerFilled, n - off);
        chunk.copy(this.header, this.headerFilled, off, off + take);
        this.headerFilled += take;
        off += take;
        if (this.headerFilled < FRAME_HEADER) return;
        this.headerFilled = 0;
        const len = this.check(this.header[0]!, this.header.readUInt32BE(1));
        if (len === 0) {
          onMessage(Buffer.alloc(0));
          continue;
        }
        this.begin(len);
        continue;
      }
      const p = this.partial!;
      const take = Math.min(this.want - this.filled, n - off);
      chunk.copy(p, this.filled, off, off + take);
      this.filled += take;
      off += take;
      if (this.filled === this.want) {
        this.partial = undefined;
        this.want = -1;
        onMessage(p);
      }
    }
  }

  /** Whether the input ended cleanly, between two messages. */
  get atBoundary(): boolean {
    return this.want < 0 && this.headerFilled === 0;
  }

  private begin(len: number): void {
    // Its own memory (not the shared pool): the body of a published message may live in a queue.
    this.partial = Buffer.allocUnsafeSlow(len);
    this.filled = 0;
    this.want = len;
  }

  private check(flag: number, len: number): number {
    if (flag !== 0) {
      throw new FramingError(
        Status.INTERNAL,
        flag === 1
          ? 'compressed message, but no grpc-encoding was sent'
          : `invalid compressed flag ${flag} in a message header`,
      );
    }
    if (len > this.maxMessageSize) {
      throw new FramingError(
        Status.RESOURCE_EXHAUSTED,
        `message of ${len} bytes is larger than the limit of ${this.maxMessageSize}`,
      );
    }
    return len;
  }
}
