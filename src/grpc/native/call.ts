/**
 * One gRPC call served straight on its HTTP/2 stream, without connect's per-message async
 * pipeline: the path the hot streaming calls (Session, Subscribe) take over native gRPC with
 * protobuf and no message compression. Responses queued during one event-loop turn go out as one
 * write; when the stream's buffer is full (write() returned false) the owner is told to stop
 * producing until 'drain'. The call ends with a status in the trailers: OK when the owner says
 * so, an error status, DEADLINE_EXCEEDED at its grpc-timeout, or without one when the client
 * goes away (RST_STREAM), which the owner hears through `closed()`.
 */
import { constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { asSwitchyardError } from '../../core/index.js';
import type { SwitchyardError } from '../../errors/index.js';
import type { Clock, Timer } from '../../util/clock.js';
import { FRAME_HEADER, type FrameDecoder, FramingError } from '../codec/framing.js';
import { encodeGrpcMessage, Status } from '../codec/status.js';
import { ERROR_CODE_KEY } from '../map.js';

export interface NativeCallOwner {
  /** The stream's buffer is full: stop producing responses and reading requests. */
  blocked(): void;
  /** It drained: go on. */
  unblocked(): void;
  /**
   * The stream holds more than limits.maxOutboundBytes (true) or drained (false): auto-ack
   * deliveries without credit are dropped meanwhile, the rest wait in their queues (issue 15).
   */
  overflow(over: boolean): void;
  /** The call is over (ended by anyone, or the client went away): release everything. */
  closed(): void;
}

/** Ends a call with a broker error: its catalogue status, and its stable code in a trailer. */
export function endWithError(call: NativeCall, e: SwitchyardError): void {
  call.end(e.spec.grpc, e.message, { [ERROR_CODE_KEY]: e.code });
}

/**
 * Feeds a request chunk through the decoder to onMessage. A malformed frame, or a message
 * onMessage refuses, ends the call with its status; false then.
 */
export function decodeInto(
  call: NativeCall,
  decoder: FrameDecoder,
  chunk: Buffer,
  onMessage: (m: Buffer) => void,
): boolean {
  try {
    decoder.push(chunk, onMessage);
    return true;
  } catch (e) {
    if (e instanceof FramingError) call.end(e.grpcStatus, e.message);
    else endWithError(call, asSwitchyardError(e));
    return false;
  }
}

/** Bytes of responses that are written at once, without waiting for the end of the turn. */
const WRITE_BATCH = 64 * 1024;

/**
 * Answers a call that failed before it started with a Trailers-Only response: the status in
 * the only HEADERS frame.
 */
export function refuse(
  res: Http2ServerResponse,
  status: number,
  message: string,
  extra?: Record<string, string>,
): void {
  if (res.headersSent || res.stream.destroyed) return;
  res.writeHead(200, {
    'content-type': 'application/grpc',
    'grpc-status': String(status),
    'grpc-message': encodeGrpcMessage(message),
    ...extra,
  });
  res.end();
}

export class NativeCall {
  /** Framed responses of this turn. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private ended = false;
  private isBlocked = false;
  private isOver = false;
  private timer: Timer | undefined;
  private owner: NativeCallOwner | undefined;
  private readonly flushTask = () => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    readonly req: Http2ServerRequest,
    readonly res: Http2ServerResponse,
    private readonly maxMessageSize: number,
    private readonly clock: Clock,
    /** limits.maxOutboundBytes. */
    private readonly maxOutboundBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Sends the response headers and starts the deadline; `timeoutMs` from grpc-timeout. */
  start(owner: NativeCallOwner, timeoutMs: number | undefined): void {
    this.owner = owner;
    this.res.writeHead(200, { 'content-type': 'application/grpc' });
    this.res.on('drain', () => {
      if (this.isOver && !this.ended) {
        this.isOver = false;
        this.owner!.overflow(false);
      }
      if (!this.isBlocked || this.ended) return;
      this.isBlocked = false;
      this.owner!.unblocked();
    });
    // 'close' comes for every end; before our own end() it means the client reset the stream.
    this.res.once('close', () => this.finished());
    if (timeoutMs !== undefined) {
      this.timer = this.clock.after(timeoutMs, () => this.end(Status.DEADLINE_EXCEEDED, 'deadline exceeded'));
    }
  }

  /** Frames of this turn and what the HTTP/2 stream holds unwritten. */
  get outboundBytes(): number {
    return this.ended ? 0 : this.pendingBytes + this.res.stream.writableLength;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get blocked(): boolean {
    return this.isBlocked;
  }

  /** Queues one encoded response message (framed here). */
  send(message: Uint8Array): void {
    const f = Buffer.allocUnsafe(FRAME_HEADER + message.byteLength);
    f[0] = 0;
    f.writeUInt32BE(message.byteLength, 1);
    f.set(message, FRAME_HEADER);
    this.sendFrame(f);
  }

  /** Queues one framed response; it goes out with the others of this turn, in one write. */
  sendFrame(frame: Buffer): void {
    if (this.ended) return;
    const size = frame.length - FRAME_HEADER;
    if (size > this.maxMessageSize) {
      this.end(
        Status.RESOURCE_EXHAUSTED,
        `response of ${size} bytes is larger than the limit of ${this.maxMessageSize}`,
      );
      return;
    }
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    // A core dispatch loop hands over deliveries synchronously: write (and learn whether the
    // stream is full, which pauses the producer) as soon as a batch is big enough, not only at
    // the end of the turn, or a queue could empty itself into memory in one go.
    if (this.pendingBytes >= WRITE_BATCH) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  /** Writes what is queued now (one write). */
  flush(): void {
    if (this.ended || this.pending.length === 0) return;
    const p = this.pending;
    const frames = p.length === 1 ? p[0]! : Buffer.concat(p, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const ok = this.res.write(frames);
    if (!ok && !this.isBlocked) {
      this.isBlocked = true;
      this.owner!.blocked();
    }
    if (!ok && !this.isOver && this.res.stream.writableLength >= this.maxOutboundBytes) {
      this.isOver = true;
      this.owner!.overflow(true);
    }
  }

  /** Ends the call with a status (after what is queued). */
  end(status: number, message = '', extra?: Record<string, string>): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    const trailers: Record<string, string> = { ...extra, 'grpc-status': String(status) };
    if (message !== '') trailers['grpc-message'] = encodeGrpcMessage(message);
    if (!this.res.stream.destroyed) {
      this.res.addTrailers(trailers);
      const stream = this.res.stream;
      if (!this.req.complete) {
        // The call is complete once the trailers are out; a client that has not half-closed is
        // told so with RST_STREAM(NO_ERROR) after them (gRPC over HTTP/2, "Responses"). The
        // compatibility layer sends the trailers on 'wantTrailers'; a reset submitted in the same
        // tick overtakes them, so it goes one turn later (event-loop order, not time: no clock).
        stream.once('wantTrailers', () => setImmediate(() => stream.close(constants.NGHTTP2_NO_ERROR)));
      }
      this.res.end();
    }
    this.finished();
  }

  private finished(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const o = this.owner;
    this.owner = undefined;
    this.ended = true;
    this.pending = [];
    this.pendingBytes = 0;
    if (o !== undefined) o.closed();
  }
}
