/**
 * The Subscribe call over native gRPC, straight on its HTTP/2 stream: one request message, then
 * `started` and the deliveries, each encoded from the core's objects and written once per turn.
 * While the stream does not drain the Subscription is paused, so a slow reader holds a bounded
 * buffer. The call ends when the client cancels (the consumer goes, unsettled deliveries return
 * to the queue), at its deadline, or when the queue is deleted (NOT_FOUND).
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { CoreConnection, Subscription } from '../../core/index.js';
import type { Caller } from '../call.js';
import { SubscribeRequestSchema, SubscribeResponseSchema } from '../../gen/switchyard/v1/broker_pb.js';
import { encodeDeliveryFrame } from '../codec/encode.js';
import { FrameDecoder, FramingError } from '../codec/framing.js';
import { Status } from '../codec/status.js';
import { openSubscription, startedResponse } from '../handlers/subscribe.js';
import type { SubscriptionRegistry } from '../subscription-registry.js';
import { decodeInto, endWithError, type NativeCall, type NativeCallOwner } from './call.js';

export class NativeSubscribe implements NativeCallOwner {
  private readonly decoder: FrameDecoder;
  private readonly onChunk = (chunk: Buffer) => this.read(chunk);
  private readonly onMessage = (m: Buffer) => this.request(m);
  private sub: Subscription | undefined;
  private id: string | undefined;
  private requests = 0;
  private over = false;

  constructor(
    private readonly call: NativeCall,
    private readonly conn: CoreConnection,
    private readonly caller: Caller,
    private readonly registry: SubscriptionRegistry,
    private readonly onClosed: (s: NativeSubscribe) => void,
    maxMessageSize: number,
  ) {
    this.decoder = new FrameDecoder(maxMessageSize);
  }

  start(timeoutMs: number | undefined): void {
    this.call.start(this, timeoutMs);
    this.call.req.on('data', this.onChunk);
    this.call.req.once('end', () => {
      if (this.requests === 0 && !this.call.isEnded) {
        this.call.end(Status.INVALID_ARGUMENT, 'Subscribe needs one request message');
      }
    });
  }

  end(status: number, message: string): void {
    this.call.end(status, message);
  }

  get outboundBytes(): number {
    return this.call.outboundBytes;
  }

  blocked(): void {
    this.sub?.pause();
  }

  unblocked(): void {
    this.sub?.resume();
  }

  overflow(over: boolean): void {
    this.over = over;
    this.sub?.overflow(over);
  }

  closed(): void {
    this.call.req.off('data', this.onChunk);
    if (this.id !== undefined) this.registry.delete(this.id);
    this.sub?.close();
    this.conn.close();
    this.onClosed(this);
  }

  private read(chunk: Buffer): void {
    if (this.call.isEnded) return;
    decodeInto(this.call, this.decoder, chunk, this.onMessage);
  }

  private request(m: Buffer): void {
    if (this.call.isEnded) return;
    if (++this.requests > 1)
      throw new FramingError(Status.INVALID_ARGUMENT, 'Subscribe takes one request message');
    let req: ReturnType<typeof fromBinary<typeof SubscribeRequestSchema>>;
    try {
      req = fromBinary(SubscribeRequestSchema, m);
    } catch (e) {
      throw new FramingError(Status.INTERNAL, `parse binary: ${e instanceof Error ? e.message : String(e)}`);
    }
    const call = this.call;
    const { sub, id } = openSubscription(this.conn, this.registry, this.caller, req, {
      deliver: (subscriptionId, d) => call.sendFrame(encodeDeliveryFrame('subscribe', subscriptionId, d)),
      cancelled: (err) => endWithError(call, err),
    });
    this.sub = sub;
    this.id = id;
    call.send(toBinary(SubscribeResponseSchema, startedResponse(id, sub.queue)));
    if (call.blocked) sub.pause();
    if (this.over) sub.overflow(true);
    sub.start();
  }
}
