/**
 * One AMQP channel: method handling, content assembly for basic.publish, publisher confirms,
 * transactions, and the delivery sink for its consumers. A channel maps onto one core Session.
 */
import { randomBytes } from 'node:crypto';
import {
  type ConsumeOptions,
  type CoreConnection,
  type DeliverySink,
  type Exchange,
  type HeaderTable,
  Message,
  Pause,
  type Queue,
  REPLY_TO,
  type Session,
  type SettleOutcome,
  type Written,
} from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import {
  AMQP_PROPERTIES_CODEC as AMQP_CODEC,
  type AmqpMethod,
  type AmqpMethodInit,
  encodeProperties,
  writeBasicAck,
  writeContentFrames,
  writeDeliver,
  writeGetOk,
  writeMethodFrame,
  writeReturn,
} from './codec/index.js';
import type { AmqpConnection } from './connection.js';
import { carriableProperties, cutToShortString, fitsShortString } from './codec/carriable.js';

const CLASS_BASIC = 60;
/** Property flag bits of the basic class (AMQP 0-9-1 section 4.2.6.1, class basic). */
const FLAG_CONTENT_TYPE = 0x8000;
const FLAG_CONTENT_ENCODING = 0x4000;
const FLAG_HEADERS = 0x2000;
const FLAG_DELIVERY_MODE = 0x1000;
const FLAG_REPLY_TO = 0x0200;
const FLAG_USER_ID = 0x0010;
/** Bodies smaller than this are copied out of the socket chunk so a queued message does not pin it. */
const COPY_BODY_BELOW = 16 * 1024;

interface PendingPublish {
  readonly exchange: Exchange;
  readonly routingKey: string;
  readonly mandatory: boolean;
  props: Buffer | undefined;
  bodySize: number;
  received: number;
  parts: Buffer[];
}

interface TxPublish {
  readonly exchange: Exchange;
  readonly msg: Message;
  readonly mandatory: boolean;
}

interface TxSettle {
  readonly tag: number;
  readonly multiple: boolean;
  readonly outcome: SettleOutcome;
}

export class AmqpChannel implements DeliverySink {
  /** 'closing': we sent channel.close and drop everything until channel.close-ok. */
  state: 'open' | 'closing' = 'open';
  readonly session: Session;
  private pending: PendingPublish | undefined;
  private confirming = false;
  private publishSeq = 0;
  /** Highest publish sequence number confirmed but not yet written (acks coalesce per flush). */
  confirmUpTo = 0;
  private confirmWritten = 0;
  /** Publishes waiting for the store before their confirm: flat pairs of (seq, epoch), in order. */
  private readonly durableWaits: number[] = [];
  /** The highest epoch a whenDurable callback is registered for. */
  private awaitedEpoch = 0;
  private tx: { publishes: TxPublish[]; settles: TxSettle[] } | undefined;

  constructor(
    readonly conn: AmqpConnection,
    readonly id: number,
    private readonly core: CoreConnection,
  ) {
    this.session = core.openSession();
  }

  /** Handles a method frame for this channel. Throws SwitchyardError for the caller to map. */
  handleMethod(m: AmqpMethod): void {
    if (this.pending !== undefined) {
      // RabbitMQ's connection.close names the basic.publish whose content was expected.
      this.conn.failedMethod = { classId: CLASS_BASIC, methodId: 40 };
      throw new SwitchyardError(
        'UNEXPECTED_FRAME',
        `expected content header for class 60, got non content header frame instead`,
      );
    }
    const core = this.core;
    const out = this.conn.out;
    const ch = this.id;
    switch (m.kind) {
      case 'basic.publish': {
        if (m.immediate) throw new SwitchyardError('NOT_IMPLEMENTED', 'immediate=true');
        const x = core.admitPublish(m.exchange, m.routingKey, 'accept');
        this.pending = {
          exchange: x,
          routingKey: m.routingKey,
          mandatory: m.mandatory,
          props: undefined,
          bodySize: 0,
          received: 0,
          parts: [],
        };
        return;
      }
      case 'basic.ack':
        return this.settle(m.deliveryTag, m.multiple, 'ack');
      case 'basic.nack':
        return this.settle(m.deliveryTag, m.multiple, m.requeue ? 'requeue' : 'discard');
      case 'basic.reject':
        return this.settle(m.deliveryTag, false, m.requeue ? 'requeue' : 'discard');
      case 'basic.qos':
        if (m.prefetchSize !== 0)
          throw new SwitchyardError('NOT_IMPLEMENTED', `prefetch_size!=0 (${m.prefetchSize})`);
        if (m.global) this.session.prefetch = m.prefetchCount;
        else this.session.consumerPrefetch = m.prefetchCount;
        writeMethodFrame(out, ch, { kind: 'basic.qos-ok' });
        this.session.kick();
        return;
      case 'basic.consume':
        return this.consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.noWait, m.arguments);
      case 'basic.cancel': {
        this.session.removeConsumer(m.consumerTag);
        if (!m.noWait) writeMethodFrame(out, ch, { kind: 'basic.cancel-ok', consumerTag: m.consumerTag });
        return;
      }
      case 'basic.get':
        return this.get(m.queue, m.noAck);
      case 'basic.recover':
      case 'basic.recover-async':
        if (!m.requeue) throw new SwitchyardError('NOT_IMPLEMENTED', 'requeue=false');
        this.session.recover();
        if (m.kind === 'basic.recover') writeMethodFrame(out, ch, { kind: 'basic.recover-ok' });
        return;
      case 'exchange.declare': {
        const { written } = core.declareExchange(m.exchange, {
          type: m.type,
          passive: m.passive,
          durable: m.durable,
          autoDelete: m.autoDelete,
          internal: m.internal,
          args: m.arguments,
        });
        this.replyAfterWrites(written, m.noWait ? undefined : { kind: 'exchange.declare-ok' });
        return;
      }
      case 'exchange.delete':
        this.replyAfterWrites(
          core.deleteExchange(m.exchange, m.ifUnused),
          m.noWait ? undefined : { kind: 'exchange.delete-ok' },
        );
        return;
      case 'exchange.bind':
        this.replyAfterWrites(
          core.bindExchange(m.destination, m.source, m.routingKey, m.arguments),
          m.noWait ? undefined : { kind: 'exchange.bind-ok' },
        );
        return;
      case 'exchange.unbind':
        this.replyAfterWrites(
          core.unbindExchange(m.destination, m.source, m.routingKey, m.arguments),
          m.noWait ? undefined : { kind: 'exchange.unbind-ok' },
        );
        return;
      case 'queue.declare': {
        const q = core.declareQueue(m.queue, {
          passive: m.passive,
          durable: m.durable,
          exclusive: m.exclusive,
          autoDelete: m.autoDelete,
          args: m.arguments,
        });
        this.replyAfterWrites(
          q.written,
          m.noWait
            ? undefined
            : {
                kind: 'queue.declare-ok',
                queue: q.name,
                messageCount: q.messageCount,
                consumerCount: q.consumerCount,
              },
        );
        return;
      }
      case 'queue.bind':
        this.replyAfterWrites(
          core.bindQueue(m.queue, m.exchange, m.routingKey, m.arguments),
          m.noWait ? undefined : { kind: 'queue.bind-ok' },
        );
        return;
      case 'queue.unbind':
        this.replyAfterWrites(core.unbindQueue(m.queue, m.exchange, m.routingKey, m.arguments), {
          kind: 'queue.unbind-ok',
        });
        return;
      case 'queue.purge': {
        const n = core.purgeQueue(m.queue);
        if (!m.noWait) writeMethodFrame(out, ch, { kind: 'queue.purge-ok', messageCount: n });
        return;
      }
      case 'queue.delete': {
        const { messageCount, written } = core.deleteQueue(m.queue, m.ifUnused, m.ifEmpty);
        this.replyAfterWrites(written, m.noWait ? undefined : { kind: 'queue.delete-ok', messageCount });
        return;
      }
      case 'confirm.select':
        if (this.tx !== undefined)
          throw new SwitchyardError('PRECONDITION_FAILED', 'cannot switch from tx to confirm mode');
        this.confirming = true;
        if (!m.noWait) writeMethodFrame(out, ch, { kind: 'confirm.select-ok' });
        return;
      case 'tx.select':
        if (this.confirming)
          throw new SwitchyardError('PRECONDITION_FAILED', 'cannot switch from confirm to tx mode');
        this.tx ??= { publishes: [], settles: [] };
        writeMethodFrame(out, ch, { kind: 'tx.select-ok' });
        return;
      case 'tx.commit':
        return this.commit();
      case 'tx.rollback': {
        if (this.tx === undefined)
          throw new SwitchyardError('PRECONDITION_FAILED', 'channel is not transactional');
        this.tx = { publishes: [], settles: [] };
        writeMethodFrame(out, ch, { kind: 'tx.rollback-ok' });
        return;
      }
      case 'channel.flow':
        if (m.active) this.session.resume(Pause.FLOW);
        else this.session.pause(Pause.FLOW);
        writeMethodFrame(out, ch, { kind: 'channel.flow-ok', active: m.active });
        return;
      case 'channel.flow-ok':
      case 'basic.cancel-ok': // the client's answer to our basic.cancel
        return;
      default:
        throw new SwitchyardError('COMMAND_INVALID', `unexpected method ${m.kind} on channel ${ch}`);
    }
  }

  /** A content header frame: the properties and body size of the pending publish. */
  handleHeader(payload: Buffer): void {
    const p = this.pending;
    if (p === undefined || p.props !== undefined) {
      throw new SwitchyardError('UNEXPECTED_FRAME', `expected method frame, got non method frame instead`);
    }
    if (payload.length < 14) throw new SwitchyardError('FRAME_ERROR', 'content header frame too short');
    const classId = payload.readUInt16BE(0);
    if (classId !== CLASS_BASIC) {
      throw new SwitchyardError(
        'FRAME_ERROR',
        `content header for class ${classId}, expected ${CLASS_BASIC}`,
      );
    }
    const size = Number(payload.readBigUInt64BE(4));
    const max = this.conn.options.maxMessageSize;
    if (size > max) {
      this.pending = undefined;
      throw new SwitchyardError(
        'CONTENT_TOO_LARGE',
        `message size ${size} is larger than configured max size ${max}`,
      );
    }
    p.props = Buffer.from(payload.subarray(12));
    p.bodySize = size;
    if (size === 0) this.completePublish(p, Buffer.alloc(0));
  }

  handleBody(payload: Buffer): void {
    const p = this.pending;
    if (p === undefined || p.props === undefined) {
      throw new SwitchyardError('UNEXPECTED_FRAME', `expected method frame, got non method frame instead`);
    }
    p.received += payload.length;
    if (p.received > p.bodySize) {
      throw new SwitchyardError(
        'FRAME_ERROR',
        `body larger than the ${p.bodySize} bytes announced in its header`,
      );
    }
    if (p.received === p.bodySize && p.parts.length === 0) {
      this.completePublish(p, payload.length < COPY_BODY_BELOW ? Buffer.from(payload) : payload);
      return;
    }
    p.parts.push(payload);
    if (p.received === p.bodySize) this.completePublish(p, Buffer.concat(p.parts, p.bodySize));
  }

  private completePublish(p: PendingPublish, body: Buffer): void {
    this.pending = undefined;
    let props = p.props!;
    const flags = props.length >= 2 ? props.readUInt16BE(0) : 0;
    let msg = new Message(p.exchange.name, p.routingKey, body, undefined, props, AMQP_CODEC);
    if ((flags & (FLAG_REPLY_TO | FLAG_USER_ID)) !== 0) {
      const decoded = msg.properties;
      if (decoded.userId !== undefined && decoded.userId !== this.core.identity.user) {
        throw new SwitchyardError(
          'PRECONDITION_FAILED',
          `user_id property set to '${decoded.userId}' but authenticated user was '${this.core.identity.user}'`,
        );
      }
      if (decoded.replyTo === REPLY_TO) {
        const addr = this.core.replyToAddress(this.session);
        if (addr === undefined)
          throw new SwitchyardError('PRECONDITION_FAILED', 'fast reply consumer does not exist');
        props = encodeProperties({ ...decoded, replyTo: addr });
        msg = new Message(p.exchange.name, p.routingKey, body, undefined, props, AMQP_CODEC);
      }
    }
    if (this.tx !== undefined) {
      this.tx.publishes.push({ exchange: p.exchange, msg, mandatory: p.mandatory });
      return;
    }
    const mode = peekDeliveryMode(props);
    if (mode !== undefined) msg.persistentHint = mode === 2;
    const epoch = this.route(p.exchange, msg, p.mandatory);
    if (this.confirming) this.confirm(++this.publishSeq, epoch);
  }

  /**
   * Confirms publish `seq` once the store epoch it needs is on disk (0 = at once). Confirms go
   * out in publish order, so a transient message published behind a persistent one waits for it.
   */
  private confirm(seq: number, epoch: number): void {
    const waiting = this.durableWaits;
    if (epoch === 0 && waiting.length === 0) {
      this.confirmUpTo = seq;
      this.conn.confirmPending(this);
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
  private storeFailed(err: Error): void {
    this.conn.closeWith(
      { replyCode: 541, replyText: `INTERNAL_ERROR - message store failed: ${err.message}`, hard: true },
      0,
      0,
      true,
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
    this.conn.confirmPending(this);
  }

  /** Publishes; returns the store epoch to wait for before confirming. */
  private route(x: Exchange, msg: Message, mandatory: boolean): number {
    const { queues, epoch } = this.core.publish(x, msg);
    if (queues.length === 0 && mandatory) {
      const out = this.conn.out;
      const props = propsBytes(msg);
      writeReturn(out, this.id, 312, 'NO_ROUTE', msg.exchange, routingKeyOf(msg));
      writeContentFrames(out, this.id, CLASS_BASIC, props, msg.body, this.conn.frameMax);
      this.conn.wrote();
    }
    return epoch;
  }

  /** Writes the coalesced publisher confirm (called by the connection just before a flush). */
  writeConfirms(): void {
    const upTo = this.confirmUpTo;
    if (upTo === this.confirmWritten || this.state !== 'open') return;
    writeBasicAck(this.conn.out, this.id, upTo, upTo - this.confirmWritten > 1);
    this.confirmWritten = upTo;
  }

  private settle(tag: number, multiple: boolean, outcome: SettleOutcome): void {
    if (this.tx !== undefined) {
      this.tx.settles.push({ tag, multiple, outcome });
      return;
    }
    this.session.settle(tag, multiple, outcome);
  }

  private commit(): void {
    const tx = this.tx;
    if (tx === undefined) throw new SwitchyardError('PRECONDITION_FAILED', 'channel is not transactional');
    this.tx = { publishes: [], settles: [] };
    // The transaction's publishes and acks reach the store as one record: all or nothing.
    const epoch = this.core.atomically(() => {
      for (const p of tx.publishes) this.route(p.exchange, p.msg, p.mandatory);
      for (const s of tx.settles) this.session.settle(s.tag, s.multiple, s.outcome);
    });
    if (epoch !== 0) {
      // commit-ok only once the transaction's record is on disk.
      this.holdUntil(
        (done) => this.core.whenDurable(epoch, (err) => (err === undefined ? done() : this.storeFailed(err))),
        () => writeMethodFrame(this.conn.out, this.id, { kind: 'tx.commit-ok' }),
      );
      return;
    }
    writeMethodFrame(this.conn.out, this.id, { kind: 'tx.commit-ok' });
  }

  /**
   * Sends a reply once the definition changes the method made are on disk (at once when it made
   * none), so a client that got declare-ok finds its durable queue after a crash.
   */
  private replyAfterWrites(writes: Written, reply: AmqpMethodInit | undefined): void {
    if (writes === undefined) {
      if (reply !== undefined) writeMethodFrame(this.conn.out, this.id, reply);
      return;
    }
    if (reply === undefined) return;
    this.holdUntil(
      (done) =>
        writes.then(done, (e: unknown) =>
          this.conn.closeWith(
            {
              replyCode: 541,
              replyText: `INTERNAL_ERROR - definitions not stored: ${String(e)}`,
              hard: true,
            },
            0,
            0,
            true,
          ),
        ),
      () => writeMethodFrame(this.conn.out, this.id, reply),
    );
  }

  /**
   * Frames for this channel that arrive while a reply is held; undefined when none is. AMQP
   * replies on a channel go out in request order, so later frames wait behind the held one.
   */
  held: (() => void)[] | undefined;

  /** Sends `reply` once `wait` calls back, holding the channel's later frames until then. */
  private holdUntil(wait: (done: () => void) => void, reply: () => void): void {
    this.held = [];
    wait(() => {
      const queued = this.held ?? [];
      this.held = undefined;
      if (this.state !== 'open') return;
      reply();
      this.conn.replay(queued, this);
    });
  }

  private consume(
    queue: string,
    tag: string,
    noAck: boolean,
    exclusive: boolean,
    noWait: boolean,
    args: HeaderTable,
  ) {
    const consumerTag = tag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : tag;
    if (this.session.consumers.has(consumerTag)) {
      throw new SwitchyardError('NOT_ALLOWED', `attempt to reuse consumer tag '${consumerTag}'`);
    }
    const opts: ConsumeOptions = { tag: consumerTag, noAck, exclusive, args };
    // consume-ok must reach the client before the first delivery.
    this.session.pause(Pause.SETUP);
    try {
      this.core.consume(this.session, queue, opts, this);
      if (!noWait) writeMethodFrame(this.conn.out, this.id, { kind: 'basic.consume-ok', consumerTag });
    } finally {
      this.session.resume(Pause.SETUP);
    }
  }

  private get(queue: string, noAck: boolean): void {
    const r = this.core.get(this.session, queue, noAck);
    const out = this.conn.out;
    if (r === undefined && this.core.hasPaged(queue)) {
      this.holdUntil(
        (done) => this.core.whenRefilled(queue, done),
        () => this.get(queue, noAck),
      );
      return;
    }
    if (r === undefined) {
      writeMethodFrame(out, this.id, { kind: 'basic.get-empty' });
      return;
    }
    const props = propsBytes(r.msg);
    writeGetOk(out, this.id, r.tag, r.redelivered, r.msg.exchange, routingKeyOf(r.msg), r.remaining);
    writeContentFrames(out, this.id, CLASS_BASIC, props, r.msg.body, this.conn.frameMax);
  }

  // DeliverySink
  deliver(consumerTag: string, deliveryTag: number, redelivered: boolean, msg: Message, _queue: Queue): void {
    const out = this.conn.out;
    // Encoded first: a message this wire cannot carry must fail before any of it is written.
    const props = propsBytes(msg);
    writeDeliver(out, this.id, consumerTag, deliveryTag, redelivered, msg.exchange, routingKeyOf(msg));
    writeContentFrames(out, this.id, CLASS_BASIC, props, msg.body, this.conn.frameMax);
    this.conn.wrote();
  }

  cancelled(consumerTag: string): void {
    if (this.state !== 'open' || !this.conn.consumerCancelNotify) return;
    writeMethodFrame(this.conn.out, this.id, { kind: 'basic.cancel', consumerTag, noWait: true });
    this.conn.wrote();
  }

  /** Releases the channel's core state: consumers go, unacked deliveries are requeued. */
  release(): void {
    // Late store callbacks must not confirm on a channel number that a new channel may reuse.
    this.state = 'closing';
    this.held = undefined;
    this.pending = undefined;
    this.tx = undefined;
    this.session.close();
  }
}

/**
 * The delivery-mode property read straight from the encoded properties (0 when absent), so a
 * publish need not decode them to know whether it is persistent; undefined if they are malformed
 * (the full decoder then reports it). Layout: AMQP 0-9-1 section 4.2.6.1, class basic.
 */
export function peekDeliveryMode(props: Buffer): number | undefined {
  if (props.length < 2) return undefined;
  const flags = props.readUInt16BE(0);
  if ((flags & FLAG_DELIVERY_MODE) === 0) return 0;
  let pos = 2;
  if ((flags & FLAG_CONTENT_TYPE) !== 0) pos += 1 + (props[pos] ?? 0);
  if ((flags & FLAG_CONTENT_ENCODING) !== 0) pos += 1 + (props[pos] ?? 0);
  if ((flags & FLAG_HEADERS) !== 0) {
    if (pos + 4 > props.length) return undefined;
    pos += 4 + props.readUInt32BE(pos);
  }
  return props[pos];
}

/** The content-header property bytes for msg (codec/carriable.ts says what a too-long field becomes). */
function propsBytes(msg: Message): Buffer {
  const cached = msg.encodedProperties(AMQP_CODEC.format);
  if (cached !== undefined) return cached;
  const key = msg.routingKey;
  if (!fitsShortString(key)) return encodeProperties(carriableProperties(msg.properties, key));
  try {
    return encodeProperties(msg.properties);
  } catch {
    return encodeProperties(carriableProperties(msg.properties));
  }
}

/** The routing key as basic.deliver, get-ok and return carry it: at most 255 bytes. */
function routingKeyOf(msg: Message): string {
  return fitsShortString(msg.routingKey) ? msg.routingKey : cutToShortString(msg.routingKey);
}
