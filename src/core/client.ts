/**
 * Message-at-a-time access to the core for front ends whose protocols have no channel model of
 * their own (gRPC, the native WebSocket protocol, HTTP REST and SSE): publish and wait for the
 * confirm, and subscribe with explicit credit and delivery ids. AMQP and MQTT drive Session
 * directly because their wire protocols already are this state machine.
 */
import { SwitchyardError } from '../errors/index.js';
import { type Broker, isLoopback } from './broker.js';
import type { CoreConnection, WhenBlocked } from './connection.js';
import type { Properties } from '../model/index.js';
import { Message } from './message.js';
import type { Queue } from './queue.js';
import { type DeliverySink, Pause, type Session } from './session.js';

export interface PublishInput {
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Buffer;
  readonly properties: Properties;
  /** Refuse (NO_ROUTE) a message no queue takes, instead of dropping it. */
  readonly mandatory?: boolean;
}

export interface PublishOutcome {
  /** How many queues took the message (0 = unroutable and dropped). */
  readonly routed: number;
}

/** Called once: with an error, or when every queue took the message and it is on disk if it must be. */
export type PublishCallback = (err: SwitchyardError | undefined, outcome: PublishOutcome) => void;

const UNROUTED: PublishOutcome = { routed: 0 };

/**
 * Builds the container for a publish. A per-message `expiration` (ms, AMQP's decimal string)
 * becomes the message's absolute expiry, which every consumer front end honours.
 */
export function messageOf(input: PublishInput, now: number): Message {
  const msg = new Message(input.exchange, input.routingKey, input.body, input.properties);
  const exp = input.properties.expiration;
  if (exp !== undefined) {
    const ms = Number(exp);
    if (!/^\d+$/.test(exp) || !Number.isSafeInteger(ms)) {
      throw new SwitchyardError(
        'PRECONDITION_FAILED',
        `invalid expiration '${exp}': a number of milliseconds`,
      );
    }
    msg.expiresAt = now + ms;
  }
  return msg;
}

/**
 * Publishes (admission, then routing) and calls back once the message is safe: routed to every
 * queue that takes it and, when persistent and a durable queue took it, on disk (group commit).
 * Errors (unknown exchange, permissions, blocked publishers with `whenBlocked` 'refuse', mandatory
 * and unroutable) come through the callback, never as a throw, so a streaming front end can
 * answer them in order.
 */
export function publishWithConfirm(
  conn: CoreConnection,
  input: PublishInput,
  whenBlocked: WhenBlocked,
  cb: PublishCallback,
): void {
  let queues: readonly Queue[];
  let epoch: number;
  try {
    const x = conn.admitPublish(input.exchange, input.routingKey, whenBlocked);
    const msg = messageOf(input, conn.broker.clock.now());
    ({ queues, epoch } = conn.publish(x, msg));
    if (queues.length === 0 && input.mandatory === true) {
      throw new SwitchyardError(
        'NO_ROUTE',
        `no queue is bound to exchange '${input.exchange}' for routing key '${input.routingKey}'`,
      );
    }
  } catch (e) {
    cb(asSwitchyardError(e), UNROUTED);
    return;
  }
  const outcome: PublishOutcome = queues.length === 0 ? UNROUTED : { routed: queues.length };
  if (epoch === 0) {
    cb(undefined, outcome);
    return;
  }
  conn.whenDurable(epoch, (err) =>
    cb(
      err === undefined ? undefined : new SwitchyardError('INTERNAL_ERROR', `store failed: ${err.message}`),
      outcome,
    ),
  );
}

/**
 * publishWithConfirm as a promise, for request/response front ends (unary gRPC, REST): a
 * resource alarm refuses the publish (RESOURCE_ERROR).
 */
export function publishConfirmed(conn: CoreConnection, input: PublishInput): Promise<PublishOutcome> {
  return new Promise((resolve, reject) =>
    publishWithConfirm(conn, input, 'refuse', (err, outcome) =>
      err === undefined ? resolve(outcome) : reject(err),
    ),
  );
}

/** Any thrown value as a SwitchyardError (unexpected ones become INTERNAL_ERROR). */
export function asSwitchyardError(e: unknown): SwitchyardError {
  if (e instanceof SwitchyardError) return e;
  return new SwitchyardError('INTERNAL_ERROR', e instanceof Error ? e.message : String(e));
}

export interface SubscriptionOptions {
  /** Consume this queue... */
  readonly queue?: string;
  /** ...or this exchange, through a server-named exclusive auto-delete queue bound with bindingKey. */
  readonly exchange?: string;
  readonly bindingKey?: string;
  /** Settle deliveries with ack()/nack(); otherwise they count as settled when handed over. */
  readonly manualAck: boolean;
  /**
   * Deliveries allowed before the client grants more with addCredit() (0 = none yet). Undefined =
   * no credit limit (flow is then governed by pause()/resume() and, with manualAck, `prefetch`).
   */
  readonly credit?: number;
  /** With manualAck: at most this many unsettled deliveries (0 = unlimited). */
  readonly prefetch?: number;
  /** Exclusive consumer on the queue. */
  readonly exclusive?: boolean;
}

export interface Delivery {
  /** Delivery id: what ack()/nack() take; increasing within a subscription. */
  readonly id: number;
  readonly redelivered: boolean;
  /** The queue it came from. */
  readonly queue: string;
  readonly message: Message;
}

export interface SubscriptionHandlers {
  deliver(d: Delivery): void;
  /** The broker ended the subscription (its queue was deleted, the connection closed). */
  cancelled(reason: SwitchyardError): void;
}

/** Credit pause reason, beside the session's own: no credit left. */
const NO_CREDIT = 8;

/**
 * One consumer on its own core session. Construct, then start(): deliveries may begin inside
 * start(). Expired messages are dropped at delivery, as every consumer front end does.
 */
export class Subscription implements DeliverySink {
  readonly queue: string;
  private readonly session: Session;
  private credit: number;
  private readonly limited: boolean;
  private started = false;
  private ended = false;

  constructor(
    private readonly conn: CoreConnection,
    private readonly opts: SubscriptionOptions,
    private readonly handlers: SubscriptionHandlers,
  ) {
    if ((opts.queue === undefined) === (opts.exchange === undefined)) {
      throw new SwitchyardError(
        'COMMAND_INVALID',
        'subscribe to a queue or to an exchange, not both or neither',
      );
    }
    if (opts.queue !== undefined) {
      conn.declareQueue(opts.queue, {
        passive: true,
        durable: false,
        exclusive: false,
        autoDelete: false,
        args: {},
      });
      this.queue = opts.queue;
    } else {
      // NOT_FOUND before a queue is made for nothing; bindQueue checks the permissions.
      conn.vhost.getExchange(opts.exchange!);
      const q = conn.declareQueue('', {
        passive: false,
        durable: false,
        exclusive: true,
        autoDelete: true,
        args: {},
      });
      this.queue = q.name;
      try {
        // An exclusive queue is never durable: nothing is written.
        void conn.bindQueue(q.name, opts.exchange!, opts.bindingKey ?? '', {});
      } catch (e) {
        conn.deleteQueue(q.name, false, false);
        throw e;
      }
    }
    this.limited = opts.credit !== undefined;
    this.credit = opts.credit ?? 0;
    this.session = conn.openSession();
    if (opts.manualAck) this.session.consumerPrefetch = opts.prefetch ?? 0;
    this.session.pause(Pause.SETUP);
    if (this.limited && this.credit <= 0) this.session.pause(NO_CREDIT);
    try {
      conn.consume(
        this.session,
        this.queue,
        {
          tag: 'sub',
          noAck: !opts.manualAck,
          // An exchange subscription's queue is its own: past the outbound bound, auto-ack
          // deliveries without credit are dropped; a named queue keeps them for other consumers.
          dropWhenFull: opts.exchange !== undefined && !this.limited,
          exclusive: opts.exclusive ?? false,
          args: {},
        },
        this,
      );
    } catch (e) {
      this.session.close();
      if (opts.exchange !== undefined) conn.deleteQueue(this.queue, false, false);
      throw e;
    }
  }

  /** Lets deliveries flow (call once the client has been told the subscription exists). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.session.resume(Pause.SETUP);
  }

  /** Grants `n` more deliveries (credit mode only). */
  addCredit(n: number): void {
    if (!this.limited || this.ended || n <= 0) return;
    this.credit += n;
    this.session.resume(NO_CREDIT);
  }

  get remainingCredit(): number | undefined {
    return this.limited ? this.credit : undefined;
  }

  /** Stops deliveries for the front end's own flow control (e.g. a full socket); nests with credit. */
  pause(): void {
    this.session.pause(Pause.BACKPRESSURE);
  }

  resume(): void {
    if (!this.ended) this.session.resume(Pause.BACKPRESSURE);
  }

  /**
   * The connection's outbound bytes are over limits.maxOutboundBytes (true) or back under it:
   * meanwhile an auto-ack subscription without credit has its deliveries dropped and counted;
   * one with manual acks or credit waits (issue 15).
   */
  overflow(over: boolean): void {
    if (over) this.session.pause(Pause.OVERFLOW);
    else if (!this.ended) this.session.resume(Pause.OVERFLOW);
  }

  /** Acks one delivery, or every one up to `id` with `multiple`. Throws PRECONDITION_FAILED for an unknown id. */
  ack(id: number, multiple = false): void {
    this.session.settle(id, multiple, 'ack');
  }

  /** Returns a delivery to its queue (requeue) or drops it. */
  nack(id: number, requeue: boolean, multiple = false): void {
    this.session.settle(id, multiple, requeue ? 'requeue' : 'discard');
  }

  /** Number of deliveries not yet settled. */
  get unsettled(): number {
    return this.session.unackedTags;
  }

  /** Ends the subscription: unsettled deliveries go back to the queue; a server-named queue is deleted. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.session.close();
    if (this.opts.exchange !== undefined && !this.conn.closed) {
      try {
        this.conn.deleteQueue(this.queue, false, false);
      } catch {
        // already gone with its last consumer (auto-delete)
      }
    }
  }

  deliver(_tag: string, deliveryTag: number, redelivered: boolean, msg: Message, queue: Queue): void {
    if (msg.expiresAt !== 0 && msg.expiresAt <= this.conn.broker.clock.now()) {
      if (this.opts.manualAck) queueMicrotask(() => this.dropExpired(deliveryTag));
      return;
    }
    if (this.limited && --this.credit <= 0) this.session.pause(NO_CREDIT);
    this.handlers.deliver({ id: deliveryTag, redelivered, queue: queue.name, message: msg });
  }

  cancelled(_tag: string, reason?: SwitchyardError): void {
    if (this.ended) return;
    this.ended = true;
    this.session.close();
    this.handlers.cancelled(reason ?? new SwitchyardError('NOT_FOUND', `queue '${this.queue}' was deleted`));
  }

  private dropExpired(tag: number): void {
    try {
      this.session.settle(tag, false, 'discard');
    } catch {
      // settled meanwhile (session closed)
    }
  }
}

/** Who may act without credentials (as user 'anonymous'): clients on this machine, anyone, no one. */
export type AnonymousPolicy = 'loopback' | 'always' | 'never';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/**
 * The broker user a client acts as, from its credentials (if it gave any) and the listener's
 * anonymous policy. Throws AUTHENTICATION_FAILED with a message fit for the client.
 */
export async function identify(
  broker: Broker,
  credentials: Credentials | undefined,
  remoteAddress: string,
  anonymous: AnonymousPolicy,
): Promise<string> {
  if (credentials === undefined) {
    if (anonymous === 'always' || (anonymous === 'loopback' && isLoopback(remoteAddress))) return 'anonymous';
    throw new SwitchyardError('AUTHENTICATION_FAILED', 'credentials required');
  }
  if (!(await broker.authenticate(credentials.user, credentials.password, remoteAddress))) {
    throw new SwitchyardError(
      'AUTHENTICATION_FAILED',
      `user '${credentials.user}' refused: bad user name or password`,
    );
  }
  return credentials.user;
}
