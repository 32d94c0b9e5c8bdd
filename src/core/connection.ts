/**
 * A client connection's handle on the core. Every operation a client can ask for goes through
 * here, with the connection's identity (user, vhost): the one place where admission (permissions,
 * names, limits) is decided for every protocol. Operations return what they did: a publish its
 * queues and the store epoch to wait for, a definition change the promise of its write.
 */
import { randomBytes } from 'node:crypto';
import { SwitchyardError, accessRefused, notFound, preconditionFailed } from '../errors/index.js';
import type { MessageStore } from '../store/types.js';
import type { Clock } from '../util/clock.js';
import { type Exchange, type ExchangeOptions, isExchangeType } from './exchange.js';
import type { Authorizer, ConnectionInfo, Identity, Permission } from './identity.js';
import type { Limits } from './limits.js';
import type { HeaderTable } from '../model/index.js';
import type { Message } from './message.js';
import { encodeJsonProperties, JSON_PROPERTIES_FORMAT } from './properties-json.js';
import type { Queue, QueueOptions, QueueOwner } from './queue.js';
import { type ConsumeOptions, type Consumer, type DeliverySink, type DropCount, Session } from './session.js';
import type { CoreTracer } from './tracer.js';
import { checkLength, checkName, REPLY_TO, type VHost } from './vhost.js';

const NO_SESSIONS: ReadonlySet<Session> = new Set();

export interface DeclareExchangeArgs extends ExchangeOptions {
  type: string;
  passive: boolean;
}

export interface DeclareQueueArgs extends QueueOptions {
  passive: boolean;
}

/**
 * A definition change's durable write: resolves once it is on disk, rejects if it could not be
 * stored; undefined when the change wrote nothing (transient, or nothing changed). A front end
 * holds its -ok reply until then, so a client told "declared" finds its queue after a crash.
 */
export type Written = Promise<void> | undefined;

export interface QueueInfo {
  readonly name: string;
  readonly messageCount: number;
  readonly consumerCount: number;
  /** The declaration's write (see Written). */
  readonly written: Written;
}

/** What a publish did. */
export interface Routed {
  /** The queues that took the message (empty = unroutable: the front end decides about returns). */
  readonly queues: readonly Queue[];
  /** The store epoch to wait for before the message may be confirmed (0 = none). */
  readonly epoch: number;
}

/**
 * What a resource alarm does to a publish at admission: `refuse` for request/response protocols
 * (HTTP, unary gRPC), which answer RESOURCE_ERROR; `accept` for streaming ones (AMQP, MQTT,
 * WebSocket, gRPC streams), which stop reading their clients instead (Broker.onBlockedChange), as
 * RabbitMQ blocks a connection, so what was already read still goes through.
 */
export type WhenBlocked = 'refuse' | 'accept';

/** What a connection needs of its broker (the Broker, in broker.ts). */
export interface ConnectionHost {
  readonly clock: Clock;
  readonly store: MessageStore | undefined;
  readonly tracer: CoreTracer | undefined;
  readonly authorize: Authorizer;
  readonly permissionsGeneration: number;
  /** Topic authorisation (RabbitMQ's): may `identity` write or read routing key `key` on a topic exchange? */
  authorizeTopic(identity: ConnectionInfo, p: 'write' | 'read', exchange: string, key: string): boolean;
  readonly publishersBlocked: boolean;
  readonly blockedReason: string;
  readonly connections: Set<CoreConnection>;
  readonly limits: Limits;
  /** Told when a connection closes. */
  connectionClosed(c: CoreConnection): void;
  nextMessageId(): number;
  /** Where sessions of `protocol` count the deliveries they drop (issue 15). */
  dropsFor(protocol: string): DropCount;
  /** Gives a new durable queue its place in the store. */
  attachStore(q: Queue, vhost: VHost): void;
}

export class CoreConnection implements QueueOwner {
  readonly identity: Identity;
  /** Open sessions; a shared empty set until the first (most MQTT connections never open one). */
  sessions: ReadonlySet<Session> = NO_SESSIONS;
  closed = false;
  /** The exchange this connection last was allowed to write to, and under which permissions. */
  private writable: string | undefined;
  private writableGen = -1;
  /** Exclusive queues this connection declared (created on first use). */
  private exclusiveQueues: Set<Queue> | undefined;

  constructor(
    readonly broker: ConnectionHost,
    readonly vhost: VHost,
    readonly id: number,
    readonly info: ConnectionInfo,
  ) {
    this.identity = info; // a ConnectionInfo is an Identity: one object less per connection
  }

  private check(p: Permission, kind: 'queue' | 'exchange', name: string): void {
    if (this.info.internal !== true && !this.broker.authorize(this.identity, p, kind, name)) {
      throw accessRefused(
        `access to ${kind} '${name}' in vhost '${this.vhost.name}' refused for user '${this.identity.user}'`,
      );
    }
  }

  /**
   * Runs a definition change and returns its result with the write it started. The vhost gathers
   * the writes an operation starts; they are taken here, also when the operation fails half-way,
   * so no later operation waits for them.
   */
  private defining<T>(op: () => T): { value: T; written: Written } {
    try {
      const value = op();
      return { value, written: this.vhost.takeWrite() };
    } catch (e) {
      // Not waited for: vhost.write() reports a failed write itself.
      void this.vhost.takeWrite();
      throw e;
    }
  }

  // ---- admission -------------------------------------------------------------------------------

  /**
   * The admission step of every publish, on every protocol: the exchange exists and is not
   * internal, the user may write to it, the routing key is a short string, and publishers are not
   * blocked by a resource alarm (see WhenBlocked). Returns the exchange to publish() to; a refusal
   * is a SwitchyardError the front end answers in its protocol's terms. Without a routing key
   * (not known yet) only what does not depend on it is checked: admit again once it is known.
   */
  admitPublish(exchange: string, routingKey: string | undefined, whenBlocked: WhenBlocked): Exchange {
    if (whenBlocked === 'refuse' && this.broker.publishersBlocked) {
      throw new SwitchyardError('RESOURCE_ERROR', `publishing is blocked: ${this.broker.blockedReason}`);
    }
    if (routingKey !== undefined) checkLength('routing key', routingKey);
    const x = this.vhost.getExchange(exchange);
    if (x.options.internal) {
      throw accessRefused(`cannot publish to internal exchange '${exchange}' in vhost '${this.vhost.name}'`);
    }
    if (
      exchange !== '' &&
      (exchange !== this.writable || this.writableGen !== this.broker.permissionsGeneration)
    ) {
      this.check('write', 'exchange', exchange);
      // Most publishers use one exchange: its answer is kept until the permissions change.
      this.writable = exchange;
      this.writableGen = this.broker.permissionsGeneration;
    }
    if (x.type === 'topic' && routingKey !== undefined) this.checkTopic('write', exchange, routingKey);
    return x;
  }

  private checkTopic(p: 'write' | 'read', exchange: string, key: string): void {
    if (this.info.internal !== true && !this.broker.authorizeTopic(this.info, p, exchange, key)) {
      throw accessRefused(
        `${p} access to topic '${key}' in exchange '${exchange}' in vhost '${this.vhost.name}' refused for user '${this.identity.user}'`,
      );
    }
  }

  // ---- definitions -----------------------------------------------------------------------------

  declareExchange(name: string, a: DeclareExchangeArgs): { exchange: Exchange; written: Written } {
    if (a.passive) return { exchange: this.vhost.getExchange(name), written: undefined };
    if (!isExchangeType(a.type))
      throw new SwitchyardError('COMMAND_INVALID', `unknown exchange type '${a.type}'`);
    checkLength('exchange name', name);
    this.check('configure', 'exchange', name);
    const type = a.type;
    const { value, written } = this.defining(() => this.vhost.declareExchange(name, type, a));
    return { exchange: value, written };
  }

  deleteExchange(name: string, ifUnused: boolean): Written {
    this.check('configure', 'exchange', name);
    return this.defining(() => this.vhost.deleteExchange(name, ifUnused)).written;
  }

  bindExchange(destination: string, source: string, routingKey: string, args: HeaderTable): Written {
    checkLength('binding key', routingKey);
    this.check('write', 'exchange', destination);
    this.check('read', 'exchange', source);
    const dest = this.vhost.getExchange(destination);
    if (this.vhost.getExchange(source).type === 'topic') this.checkTopic('read', source, routingKey);
    return this.defining(() => this.vhost.bind(source, dest, routingKey, args)).written;
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: HeaderTable): Written {
    this.check('write', 'exchange', destination);
    this.check('read', 'exchange', source);
    const dest = this.vhost.exchanges.get(destination);
    if (dest === undefined || !this.vhost.exchanges.has(source)) return undefined;
    return this.defining(() => this.vhost.unbind(source, dest, routingKey, args)).written;
  }

  /** Declares a queue ('' = server-named); returns the queue's name, its counts and its write. */
  declareQueue(name: string, a: DeclareQueueArgs): QueueInfo {
    if (name === REPLY_TO || name.startsWith(`${REPLY_TO}.`)) {
      // As RabbitMQ (rabbit_channel, declare_fast_reply_to): declaring the direct reply-to
      // pseudo-queue, passive or not, is how clients probe for the feature, and a live reply
      // address can be checked from any connection. Both answer 0 messages, 1 consumer.
      if (name === REPLY_TO || this.vhost.replyQueues.has(name)) {
        return { name, messageCount: 0, consumerCount: 1, written: undefined };
      }
      throw notFound(`no queue '${name}' in vhost '${this.vhost.name}'`);
    }
    if (a.passive) {
      if (name === '') throw notFound(`no queue '' in vhost '${this.vhost.name}'`);
      return info(this.vhost.getQueue(name, this), undefined);
    }
    const n = name === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : name;
    // As RabbitMQ (rabbit_channel, queue.declare): a name the client chose may not use the
    // reserved prefix, even for an existing queue; the server's own amq.gen- names are fine.
    if (name !== '') {
      checkLength('queue name', name);
      checkName('queue', name);
    }
    this.check('configure', 'queue', n);
    const maxQueues = this.broker.limits.maxQueuesPerVhost;
    if (
      maxQueues > 0 &&
      this.info.internal !== true &&
      !this.vhost.queues.has(n) &&
      this.vhost.queues.size >= maxQueues
    ) {
      throw new SwitchyardError(
        'LIMIT_EXCEEDED',
        `cannot declare queue '${n}' in vhost '${this.vhost.name}': queue limit (${maxQueues}) is reached`,
      );
    }
    const { value: q, written } = this.defining(() => {
      const existed = this.vhost.queues.has(n);
      const q = this.vhost.declareQueue(n, a, this);
      if (!existed) {
        if (q.owner === this) (this.exclusiveQueues ??= new Set()).add(q);
        else this.broker.attachStore(q, this.vhost);
      }
      return q;
    });
    return info(q, written);
  }

  /** Deletes a queue; returns how many ready messages went with it, and the write. */
  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean): { messageCount: number; written: Written } {
    this.check('configure', 'queue', name);
    const q = this.vhost.queues.get(name);
    const { value, written } = this.defining(() => this.vhost.deleteQueue(name, this, ifUnused, ifEmpty));
    if (q !== undefined) this.exclusiveQueues?.delete(q);
    return { messageCount: value, written };
  }

  /** Empties a queue of its ready messages; returns how many there were. */
  purgeQueue(name: string): number {
    this.check('read', 'queue', name);
    return this.vhost.getQueue(name, this).purge();
  }

  bindQueue(queue: string, exchange: string, routingKey: string, args: HeaderTable): Written {
    checkLength('binding key', routingKey);
    this.check('write', 'queue', queue);
    this.check('read', 'exchange', exchange);
    const q = this.vhost.getQueue(queue, this);
    if (this.vhost.getExchange(exchange).type === 'topic') this.checkTopic('read', exchange, routingKey);
    return this.defining(() => this.vhost.bind(exchange, q, routingKey, args)).written;
  }

  unbindQueue(queue: string, exchange: string, routingKey: string, args: HeaderTable): Written {
    this.check('write', 'queue', queue);
    this.check('read', 'exchange', exchange);
    // RabbitMQ 3.x answers unbind-ok when the queue, the exchange or the binding does not exist
    // (as unbindExchange does); only the default exchange is refused, by vhost.unbind.
    const q = this.vhost.queues.get(queue);
    if (q === undefined || (exchange !== '' && !this.vhost.exchanges.has(exchange))) return undefined;
    return this.defining(() => this.vhost.unbind(exchange, q, routingKey, args, this)).written;
  }

  // ---- messages --------------------------------------------------------------------------------

  /**
   * Calls `cb` once everything up to `epoch` (from publish(), publishToQueue() or atomically()) is
   * on disk, or with the store's error; at once for epoch 0.
   */
  whenDurable(epoch: number, cb: (err?: Error) => void): void {
    const store = this.broker.store;
    if (epoch === 0 || store === undefined) cb();
    else store.whenDurable(epoch, cb);
  }

  /**
   * Routes a message admitted by admitPublish() and enqueues it on every queue it reaches;
   * persistent messages for durable queues go to the store first.
   */
  publish(x: Exchange, msg: Message): Routed {
    // As RabbitMQ, on every protocol: a user id in the properties must be the publisher's own.
    // (The broker's own connections republish what others published: not checked.)
    const userId = msg.userId;
    if (userId !== undefined && userId !== this.identity.user && this.info.internal !== true) {
      throw new SwitchyardError(
        'PRECONDITION_FAILED',
        `user_id property set to '${userId}' but authenticated user was '${this.identity.user}'`,
      );
    }
    const queues = this.vhost.route(x, msg);
    msg.publisher = this.id;
    const store = this.broker.store;
    const epoch =
      store !== undefined && queues.length > 0 && msg.persistent ? this.persist(store, msg, queues) : 0;
    const tracer = this.broker.tracer;
    if (tracer !== undefined) tracer.published(msg, x.name, queues.length, this.info.protocol);
    for (let i = 0; i < queues.length; i++) queues[i]!.enqueue(msg);
    return { queues, epoch };
  }

  /**
   * Puts a message on one queue, bypassing routing; the message keeps its exchange and routing
   * key (MQTT's retained messages reach a new subscriber this way). Returns the store epoch to
   * wait for (0 = none).
   */
  publishToQueue(queue: string, msg: Message): number {
    this.check('write', 'queue', queue);
    const q = this.vhost.getQueue(queue, this);
    const store = this.broker.store;
    const epoch =
      store !== undefined && msg.persistent && q.storeId !== 0 ? this.persist(store, msg, [q]) : 0;
    q.enqueue(msg);
    return epoch;
  }

  /** Records a persistent message for the durable queues among `queues`; returns its epoch (0 = none). */
  private persist(store: MessageStore, msg: Message, queues: readonly Queue[]): number {
    let ids: number[] | undefined;
    for (let i = 0; i < queues.length; i++) {
      const id = queues[i]!.storeId;
      if (id !== 0) (ids ??= []).push(id);
    }
    if (ids === undefined) return 0;
    const wire = msg.wireProperties ?? {
      format: JSON_PROPERTIES_FORMAT,
      bytes: encodeJsonProperties(msg.properties),
    };
    msg.storeId = this.broker.nextMessageId();
    return store.appendMessage({
      id: msg.storeId,
      queues: ids,
      exchange: msg.exchange,
      routingKey: msg.routingKey,
      propsFormat: wire.format,
      props: wire.bytes,
      body: msg.body,
    });
  }

  /**
   * Runs `fn` (a transaction's publishes and settles) so that the store writes all of it as one
   * record. Returns the store epoch to wait for before telling the client (0 = no store).
   */
  atomically(fn: () => void): number {
    const store = this.broker.store;
    if (store === undefined) {
      fn();
      return 0;
    }
    store.beginTxn();
    let epoch = 0;
    try {
      fn();
    } finally {
      // What ran before a failure is in memory, so it is written too: disk matches memory.
      epoch = store.commitTxn();
    }
    return epoch;
  }

  // ---- consumers -------------------------------------------------------------------------------

  sessionClosed(s: Session): void {
    if (this.sessions !== NO_SESSIONS) (this.sessions as Set<Session>).delete(s);
  }

  openSession(): Session {
    const s = new Session(
      this,
      this.broker.tracer,
      this.info.protocol,
      this.broker.dropsFor(this.info.protocol),
    );
    if (this.sessions === NO_SESSIONS) this.sessions = new Set();
    (this.sessions as Set<Session>).add(s);
    return s;
  }

  /** Starts a consumer on a queue. Direct reply-to (`amq.rabbitmq.reply-to`) is handled here. */
  consume(s: Session, queue: string, opts: ConsumeOptions, sink: DeliverySink): Consumer {
    if (queue === REPLY_TO) {
      if (!opts.noAck) throw preconditionFailed('reply consumer cannot acknowledge');
      // One reply address per session, as RabbitMQ has one per channel.
      if (this.replyToAddress(s) !== undefined) throw preconditionFailed('reply consumer already set');
      const q = this.vhost.createReplyQueue(randomBytes(12).toString('base64url'), this);
      return s.addConsumer(q, opts, sink);
    }
    this.check('read', 'queue', queue);
    const q = this.vhost.getQueue(queue, this);
    const max = this.broker.limits.maxConsumersPerConnection;
    if (max > 0 && this.info.internal !== true) {
      let n = 0;
      for (const x of this.sessions) n += x.consumers.size;
      if (n >= max) {
        throw new SwitchyardError(
          'LIMIT_EXCEEDED',
          `cannot consume from queue '${queue}': consumer limit (${max}) of the connection is reached`,
        );
      }
    }
    if (q.hasExclusiveConsumer || (opts.exclusive && q.consumerCount > 0)) {
      throw accessRefused(`queue '${queue}' in vhost '${this.vhost.name}' in exclusive use`);
    }
    return s.addConsumer(q, opts, sink);
  }

  /** The reply-to address of a session's direct reply-to consumer, if it has one. */
  replyToAddress(s: Session): string | undefined {
    for (const c of s.consumers.values()) if (c.queue.name.startsWith(`${REPLY_TO}.`)) return c.queue.name;
    return undefined;
  }

  /**
   * basic.get: takes one ready message. Undefined when none is in memory: if hasPaged() then says
   * the queue still has messages on disk, ask again after whenRefilled().
   */
  get(
    s: Session,
    queue: string,
    noAck: boolean,
  ): { tag: number; redelivered: boolean; msg: Message; remaining: number } | undefined {
    this.check('read', 'queue', queue);
    const q = this.vhost.getQueue(queue, this);
    const e = q.shift();
    if (e === undefined) return undefined;
    const tag = s.recordGet(q, e, noAck);
    return { tag, redelivered: e.redelivered, msg: e.msg, remaining: q.messageCount };
  }

  /** Whether the queue has ready messages that are only on disk just now (see get()). */
  hasPaged(queue: string): boolean {
    const q = this.vhost.queues.get(queue);
    return q !== undefined && q.messageCount > 0;
  }

  /** Calls `cb` when the queue's paged messages are back in memory (see get()). */
  whenRefilled(queue: string, cb: () => void): void {
    const q = this.vhost.queues.get(queue);
    if (q === undefined) cb();
    else q.whenRefilled(cb);
  }

  /** Closes the connection: sessions close (unacked requeued), exclusive queues are deleted. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.sessions]) s.close();
    if (this.exclusiveQueues !== undefined) for (const q of this.exclusiveQueues) this.vhost.removeQueue(q);
    for (const q of [...this.vhost.replyQueues.values()]) if (q.owner === this) this.vhost.removeQueue(q);
    this.exclusiveQueues = undefined;
    this.broker.connectionClosed(this);
  }
}

function info(q: Queue, written: Written): QueueInfo {
  return { name: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount, written };
}
