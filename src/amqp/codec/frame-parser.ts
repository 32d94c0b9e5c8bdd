/**
 * Incremental AMQP 0-9-1 frame parser (spec 4.2.3: type octet, channel short, size long, payload,
 * frame-end 0xCE). Socket chunks go in; whole frames come out through a callback, without an
 * object per frame. A frame that lies inside one chunk is handed out as a `subarray` view of it;
 * only a frame split across chunks is copied, once, when its last byte arrives (as ws's receiver
 * does). The declared size is checked against frame_max as soon as the 7-byte header is known,
 * before a byte of the payload is buffered.
 *
 * Every problem is a SwitchyardError FRAME_ERROR (501), matching RabbitMQ's rabbit_reader:
 * oversize frames (frame_too_large), a bad frame-end octet (invalid_frame_end_marker), an unknown
 * frame type and a heartbeat with a payload (rabbit_command_assembler:analyze_frame → error →
 * frame_error unknown_frame). After a FRAME_ERROR the stream is out of sync: the parser keeps
 * throwing it and the connection must close (RabbitMQ: "we've lost sync with the client").
 */

import type { SwitchyardError } from '../../errors/index.js';
import { FRAME_END, FRAME_HEADER_SIZE, FRAME_OVERHEAD, FrameType } from './constants.js';
import { frameError } from './reader.js';

/** Called once per complete frame. `payload` is valid as long as the caller keeps it. */
export type FrameHandler = (type: number, channel: number, payload: Buffer) => void;

export class FrameParser {
  private maxFrameSize: number;
  private readonly slack: number;

  // A header split across chunks: its first bytes.
  // From the shared pool: an own ArrayBuffer per connection would cost far more than 7 bytes.
  private readonly head = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  private headLen = 0;

  // A frame whose header is known and whose payload and end octet are still arriving.
  private inFrame = false;
  private type = 0;
  private channel = 0;
  private size = 0;
  private parts: Buffer[] = [];
  private partsLen = 0;

  private failed: SwitchyardError | undefined;

  /**
   * @param maxFrameSize frame_max: the largest whole frame (payload + 8) accepted. Before
   *   connection.tune-ok, use FRAME_MIN_SIZE (RabbitMQ's initial_frame_max); after it, the
   *   negotiated value. 0 means no limit (the spec's reading of frame-max 0); a server should not
   *   use it, since a peer could then make it buffer up to 4 GiB.
   * @param slack extra bytes tolerated beyond frame_max. RabbitMQ tolerates 8 (FRAME_SIZE_FUDGE in
   *   rabbit_reader) because some clients size body frames off by one or by the 8 overhead bytes.
   */
  constructor(maxFrameSize: number, slack = 0) {
    this.maxFrameSize = checkLimit(maxFrameSize);
    this.slack = checkLimit(slack);
  }

  /** Changes frame_max (after connection.tune-ok). Takes effect from the next frame header. */
  setMaxFrameSize(n: number): void {
    this.maxFrameSize = checkLimit(n);
  }

  /** Bytes held for an incomplete frame. */
  get buffered(): number {
    return this.headLen + this.partsLen;
  }

  /**
   * Parses a chunk, calling `onFrame` for each complete frame in order. Throws FRAME_ERROR on bad
   * input. If `onFrame` throws, the rest of the chunk is not parsed and the parser must be
   * discarded (the connection is closing anyway).
   */
  push(chunk: Buffer, onFrame: FrameHandler): void {
    if (this.failed !== undefined) throw this.failed;
    const n = chunk.length;
    let pos = 0;

    if (this.headLen > 0) {
      // Complete a header that was split across chunks.
      const want = FRAME_HEADER_SIZE - this.headLen;
      const got = Math.min(n, want);
      chunk.copy(this.head, this.headLen, 0, got);
      this.headLen += got;
      pos = got;
      if (this.headLen < FRAME_HEADER_SIZE) return;
      this.headLen = 0;
      const h = this.head;
      this.beginSplitFrame(h[0]!, (h[1]! << 8) | h[2]!, h.readUInt32BE(3));
    }

    if (this.inFrame) {
      const need = this.size + 1 - this.partsLen;
      if (n - pos < need) {
        if (pos < n) {
          this.parts.push(chunk.subarray(pos));
          this.partsLen += n - pos;
        }
        return;
      }
      this.parts.push(chunk.subarray(pos, pos + need));
      pos += need;
      this.finishSplitFrame(onFrame);
    }

    // Frames inside this chunk: views, no copy.
    while (n - pos >= FRAME_HEADER_SIZE) {
      const type = chunk[pos]!;
      const channel = (chunk[pos + 1]! << 8) | chunk[pos + 2]!;
      const size = chunk.readUInt32BE(pos + 3);
      this.check(type, size);
      const start = pos + FRAME_HEADER_SIZE;
      const end = start + size;
      if (end >= n) {
        // The end octet (at `end`) is not in this chunk: keep what there is and wait.
        this.inFrame = true;
        this.type = type;
        this.channel = channel;
        this.size = size;
        if (start < n) {
          this.parts.push(chunk.subarray(start));
          this.partsLen = n - start;
        }
        return;
      }
      if (chunk[end] !== FRAME_END) this.fail(`invalid frame end octet 0x${chunk[end]!.toString(16)}`);
      pos = end + 1;
      onFrame(type, channel, chunk.subarray(start, end));
    }

    if (pos < n) {
      chunk.copy(this.head, 0, pos, n);
      this.headLen = n - pos;
    }
  }

  private check(type: number, size: number): void {
    if (type !== FrameType.METHOD && type !== FrameType.HEADER && type !== FrameType.BODY) {
      if (type !== FrameType.HEARTBEAT) this.fail(`unknown frame type ${type}`);
      if (size !== 0) this.fail(`heartbeat frame with a ${size}-byte payload`);
    }
    const max = this.maxFrameSize;
    if (max !== 0 && size + FRAME_OVERHEAD > max + this.slack) {
      this.fail(`frame size ${size + FRAME_OVERHEAD} exceeds frame_max ${max}`);
    }
  }

  private beginSplitFrame(type: number, channel: number, size: number): void {
    this.check(type, size);
    this.inFrame = true;
    this.type = type;
    this.channel = channel;
    this.size = size;
  }

  /** All of a split frame's bytes (payload and end octet) are in `parts`: check and emit it. */
  private finishSplitFrame(onFrame: FrameHandler): void {
    const parts = this.parts;
    const size = this.size;
    const last = parts[parts.length - 1]!;
    const endOctet = last[last.length - 1]!;
    if (endOctet !== FRAME_END) this.fail(`invalid frame end octet 0x${endOctet.toString(16)}`);
    const first = parts[0];
    let payload: Buffer;
    if (first !== undefined && first.length >= size) {
      // Only the header was split: the payload is still one view.
      payload = first.subarray(0, size);
    } else {
      payload = Buffer.allocUnsafe(size);
      let at = 0;
      for (const p of parts) {
        const take = Math.min(size - at, p.length);
        p.copy(payload, at, 0, take);
        at += take;
      }
    }
    const { type, channel } = this;
    this.inFrame = false;
    this.parts = [];
    this.partsLen = 0;
    onFrame(type, channel, payload);
  }

  private fail(message: string): never {
    const e = frameError(message);
    this.failed = e;
    this.parts = [];
    this.partsLen = 0;
    throw e;
  }
}

function checkLimit(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid frame size limit ${n}`);
  return n;
}

// "AMQP" 0 0 9 1, and "AMQP" 1 1 0 9: the 0-9 header, which RabbitMQ also serves as 0-9-1
// (rabbit_reader:version_negotiation({1, 1, 0, 9}, …)), so old clients connect here too.
const HEADER_091 = [0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1] as const;
const HEADER_09 = [0x41, 0x4d, 0x51, 0x50, 1, 1, 0, 9] as const;

/**
 * Checks the 8-byte protocol header a client sends before any frame (spec 4.2.2). 'incomplete'
 * while the bytes so far could still be a valid header, 'mismatch' as soon as they cannot (so an
 * HTTP or TLS client is refused without waiting), 'ok' for 0-9-1 (or RabbitMQ's accepted 0-9).
 * On 'mismatch' the server sends PROTOCOL_HEADER and closes; on 'ok' the bytes after the first 8
 * go to a FrameParser.
 */
export function parseProtocolHeader(buf: Buffer): 'ok' | 'mismatch' | 'incomplete' {
  const n = Math.min(buf.length, 8);
  let is091 = true;
  let is09 = true;
  for (let i = 0; i < n; i++) {
    const b = buf[i];
    if (b !== HEADER_091[i]) is091 = false;
    if (b !== HEADER_09[i]) is09 = false;
  }
  if (!is091 && !is09) return 'mismatch';
  return n < 8 ? 'incomplete' : 'ok';
}
