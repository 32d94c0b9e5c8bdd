/**
 * The Session call over native gRPC, straight on its HTTP/2 stream: each data chunk is cut into
 * messages, each message is handled synchronously by the same SessionCall the connect path uses,
 * and every response of the turn goes out in one write. While the stream does not drain, the
 * session's subscriptions pause and requests are not read (HTTP/2 flow control then holds the
 * client back), so a slow reader costs a bounded buffer and stalls no one else. A session that
 * publishes is not read either while a resource alarm blocks publishers (PublishGate).
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { CoreConnection } from '../../core/index.js';
import {
  SessionRequestSchema,
  type SessionResponse,
  SessionResponseSchema,
} from '../../gen/switchyard/v1/broker_pb.js';
import { encodeConfirmFrame, encodeDeliveryFrame } from '../codec/encode.js';
import { FrameDecoder, FramingError } from '../codec/framing.js';
import { Status } from '../codec/status.js';
import type { TraceMetadata } from '../map.js';
import type { PublishGate } from '../publish-gate.js';
import { SessionCall } from '../session-call.js';
import { decodeInto, type NativeCall, type NativeCallOwner } from './call.js';

/** Why the request stream is not read; a bit each. */
const OUTPUT_FULL = 1;
const PUBLISHERS_BLOCKED = 2;

export class NativeSession implements NativeCallOwner {
  private readonly decoder: FrameDecoder;
  private readonly session: SessionCall;
  private readonly onChunk = (chunk: Buffer) => this.read(chunk);
  private readonly onMessage = (m: Buffer) => this.handle(m);
  private inputDone = false;
  private readingPaused = 0;
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly call: NativeCall,
    private readonly conn: CoreConnection,
    private readonly gate: PublishGate,
    private readonly onClosed: (s: NativeSession) => void,
    trace: TraceMetadata,
    maxMessageSize: number,
  ) {
    this.decoder = new FrameDecoder(maxMessageSize);
    this.session = new SessionCall(conn, trace, {
      delivery: (subscription, d) => call.sendFrame(encodeDeliveryFrame('session', subscription, d)),
      confirm: (id, routed) => call.sendFrame(encodeConfirmFrame(id, routed)),
      push: (r: SessionResponse) => call.send(toBinary(SessionResponseSchema, r)),
    });
  }

  /** Opens the call (response headers) and starts reading requests. */
  start(timeoutMs: number | undefined): void {
    this.call.start(this, timeoutMs);
    const req = this.call.req;
    req.on('data', this.onChunk);
    req.once('end', () => this.inputEnded());
    this.unwatch = this.gate.watch((blocked) => {
      if (!blocked) this.resumeReading(PUBLISHERS_BLOCKED);
      else if (this.session.publisher) this.pauseReading(PUBLISHERS_BLOCKED);
    });
  }

  /** Ends the call now with a status (shutdown). */
  end(status: number, message: string): void {
    this.call.end(status, message);
  }

  get outboundBytes(): number {
    return this.call.outboundBytes;
  }

  blocked(): void {
    this.session.pause();
    this.pauseReading(OUTPUT_FULL);
  }

  unblocked(): void {
    this.session.resume();
    this.resumeReading(OUTPUT_FULL);
  }

  overflow(over: boolean): void {
    this.session.overflow(over);
  }

  closed(): void {
    this.call.req.off('data', this.onChunk);
    this.unwatch?.();
    this.session.close();
    this.conn.close();
    this.onClosed(this);
  }

  private pauseReading(reason: number): void {
    if (this.readingPaused === 0) this.call.req.pause();
    this.readingPaused |= reason;
  }

  private resumeReading(reason: number): void {
    if ((this.readingPaused & reason) === 0) return;
    this.readingPaused &= ~reason;
    if (this.readingPaused === 0 && !this.inputDone) this.call.req.resume();
  }

  private read(chunk: Buffer): void {
    if (this.call.isEnded) return;
    if (!decodeInto(this.call, this.decoder, chunk, this.onMessage)) return;
    // Everything this chunk caused goes out in one write, now rather than at the end of the turn.
    this.call.flush();
    // What was read is accepted; nothing more is read from a publisher while publishers are blocked.
    if (this.session.publisher && this.gate.shut) this.pauseReading(PUBLISHERS_BLOCKED);
  }

  private handle(m: Buffer): void {
    if (this.call.isEnded) return;
    let req: ReturnType<typeof fromBinary<typeof SessionRequestSchema>>;
    try {
      req = fromBinary(SessionRequestSchema, m);
    } catch (e) {
      // As grpc-go and connect: a request that is not valid protobuf is INTERNAL.
      throw new FramingError(Status.INTERNAL, `parse binary: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.session.handle(req);
  }

  /** The client half-closed: answer what is pending, then end with OK. */
  private inputEnded(): void {
    this.inputDone = true;
    if (this.call.isEnded) return;
    if (!this.decoder.atBoundary) {
      this.call.end(Status.INTERNAL, 'request stream ended inside a message');
      return;
    }
    const settled = this.session.whenSettled();
    if (settled === undefined) this.call.end(Status.OK);
    else void settled.then(() => this.call.end(Status.OK));
  }
}
