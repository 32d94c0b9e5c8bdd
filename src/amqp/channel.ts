/**
 * One AMQP channel's state: its core Session, the publish being assembled, publisher confirms,
 * the open transaction and the replies held for the store; and the delivery sink for its
 * consumers. The method handlers (handlers/) work on it through ChannelContext; it knows its
 * connection only as a ChannelHost.
 */
import type { CoreConnection, DeliverySink, Message, Queue, Session, Written } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import {
  type AmqpMethod,
  type AmqpMethodInit,
  ClassId,
  type OutBuffer,
  writeBasicAck,
  writeContentFrames,
  writeDeliver,
  writeMethodFrame,
} from './codec/index.js';
import type { ChannelContext, MethodId, PendingPublish, Transaction } from './handlers/context.js';
import { type CloseReason, propsBytes, routingKeyOf, toCloseReason } from './map.js';

const CLASS_BASIC = ClassId.BASIC;

/** What a channel needs of its connection. */
export interface ChannelHost {
  readonly out: OutBuffer;
  /** frame_max as negotiated (fixed once the connection runs, before any channel opens). */
  readonly frameMax: number;
  readonly maxMessageSize: number;
  readonly consumerCancelNotify: boolean;
  failedMethod: MethodId | undefined;
  send(channel: number, m: AmqpMethodInit): void;
  wrote(): void;
  /** Confirms of `ch` are to be written at the next flush. */
  confirmPending(ch: AmqpChannel): void;
  /** Runs frames that waited behind a held reply. */
  replay(frames: readonly HeldFrame[], ch: AmqpChannel): void;
  /** Forgets a channel the client closed (its number may be reused). */
  forget(ch: AmqpChannel): void;
  closeWith(r: CloseReason, classId: number, methodId: number): void;
}

/**
 * A frame that arrived while the channel waited for a held reply or a resource alarm; it is
 * handled later, in order.
 */
export interface HeldFrame {
  readonly type: number;
  readonly payload: Buffer;
  /** The decoded method, for a method frame. */
  readonly method: AmqpMethod | undefined;
}

export class AmqpChannel implements ChannelContext, DeliverySink {
  /** 'closing': we sent channel.close and drop everything until channel.close-ok. */
  state: 'open' | 'closing' = 'open';
  readonly session: Session;
  readonly sink: DeliverySink = this;
  readonly out: OutBuffer;
  readonly frameMax: number;
  readonly maxMessageSize: number;
  publishing: PendingPublish | undefined;
  tx: Transaction | undefined;
  confirming = false;
  /**
   * Frames for this channel that arrive while a reply is held; undefined when none is. AMQP
   * replies on a channel go out in request order, so later frames wait behind the held one.
   */
  held: HeldFrame[] | undefined;

  private publishSeq = 0;
  /** Highest publish sequence number confirmed but not yet written (acks coalesce per flush). */
  private confirmUpTo = 0;
  private confirmWritten = 0;
  /** Publishes waiting for the store before their confirm: flat pairs of (seq, epoch), in order. */
  private readonly durableWaits: number[] = [];
  /** The highest epoch a whenDurable callback is registered for. */
  private awaitedEpoch = 0;

  constructor(
    private readonly host: ChannelHost,
    readonly id: number,
    readonly core: CoreConnection,
  ) {
    this.session = core.openSession();
    this.out = host.out;
    this.frameMax = host.frameMax;
    this.maxMessageSize = host.maxMessageSize;
  }

  // --- ChannelContext

  blame(m: MethodId): void {
    this.host.failedMethod = m;
  }

  wrote(): void {
    this.host.wrote();
  }

  send(m: AmqpMethodInit): void {
    this.host.send(this.id, m);
  }

  selectConfirms(): void {
    this.confirming = true;
  }

  /**
   * Confirms the next publish once the store epoch it needs is on disk (0 = at once). Confirms
   * go out in publish order, so a transient message published behind a persistent one waits for it.
   */
  confirmPublished(epoch: number): void {
    const seq = ++this.publishSeq;
    const waiting = this.durableWaits;
    if (epoch === 0 && waiting.length === 0) {
      this.confirmUpTo = seq;
      this.host.confirmPending(this);
      return;
    }
    waiting.push(seq, epoch);
    if (epoch > this.awaitedEpoch) {
      this.awaitedEpoch = epoch;
      this.core.whenDurable(epoch, (err) =>
        err === undefined ? this.durableUpTo(epoch) : this.storeFailed(err),
      );
    }
  }

  /**
   * The store could not make a batch durable: nothing in it may be confirmed. The connection is
   * closed, so the client knows its unconfirmed messages are not safe and can publish them again.
   */
  storeFailed(err: Error): void {
    this.host.closeWith(
      toCloseReason(new SwitchyardError('INTERNAL_ERROR', `message store failed: ${err.message}`)),
      0,
      0,
    );
  }

  private durableUpTo(epoch: number): void {
    if (this.state !== 'open') return;
    const waiting = this.durableWaits;
    let i = 0;
    while (i < waiting.length && waiting[i + 1]! <= epoch) {
      this.confirmUpTo = waiting[i]!;
      i += 2;
    }
    waiting.splice(0, i);
    this.host.confirmPending(this);
  }

  /** Writes the coalesced publisher confirm (called by the connection just before a flush). */
  writeConfirms(): void {
    const upTo = this.confirmUpTo;
    if (upTo === this.confirmWritten || this.state !== 'open') return;
    writeBasicAck(this.out, this.id, upTo, upTo - this.confirmWritten > 1);
    this.confirmWritten = upTo;
  }

  replyAfterWrites(writes: Written, reply: AmqpMethodInit | undefined): void {
    if (writes === undefined) {
      if (reply !== undefined) writeMethodFrame(this.out, this.id, reply);
      return;
    }
    if (reply === undefined) return;
    this.holdUntil(
      (done) =>
        writes.then(done, (e: unknown) =>
          this.host.closeWith(
            toCloseReason(new SwitchyardError('INTERNAL_ERROR', `definitions not stored: ${String(e)}`)),
            0,
            0,
          ),
        ),
      () => writeMethodFrame(this.out, this.id, reply),
    );
  }

  holdUntil(wait: (done: () => void) => void, reply: () => void): void {
    this.held = [];
    wait(() => {
      const queued = this.held ?? [];
      this.held = undefined;
      if (this.state !== 'open') return;
      reply();
      this.host.replay(queued, this);
    });
  }

  end(): void {
    this.release();
    this.host.forget(this);
  }

  // --- DeliverySink

  deliver(consumerTag: string, deliveryTag: number, redelivered: boolean, msg: Message, _queue: Queue): void {
    const out = this.out;
    // Encoded first: a message this wire cannot carry must fail before any of it is written.
    const props = propsBytes(msg);
    writeDeliver(out, this.id, consumerTag, deliveryTag, redelivered, msg.exchange, routingKeyOf(msg));
    writeContentFrames(out, this.id, CLASS_BASIC, props, msg.body, this.frameMax);
    this.host.wrote();
  }

  cancelled(consumerTag: string): void {
    if (this.state !== 'open' || !this.host.consumerCancelNotify) return;
    writeMethodFrame(this.out, this.id, { kind: 'basic.cancel', consumerTag, noWait: true });
    this.host.wrote();
  }

  /** Releases the channel's core state: consumers go, unacked deliveries are requeued. */
  release(): void {
    // Late store callbacks must not confirm on a channel number that a new channel may reuse.
    this.state = 'closing';
    this.held = undefined;
    this.publishing = undefined;
    this.tx = undefined;
    this.session.close();
  }
}
