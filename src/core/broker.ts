/**
 * The broker: vhosts, users, and the connections front ends open on behalf of their clients.
 * Every operation a client can ask for goes through a CoreConnection, which carries the identity
 * (user, vhost): that is the one place where permissions are enforced for every protocol.
 */
import { randomBytes } from 'node:crypto';
import { SwitchyardError, accessRefused, notFound, preconditionFailed } from '../errors/index.js';
import { type Exchange, type ExchangeOptions, isExchangeType } from './exchange.js';
import type { HeaderTable, Message } from './message.js';
import { encodeJsonProperties, JSON_PROPERTIES_FORMAT } from './properties-json.js';
import type { Queue, QueueOptions, QueueOwner } from './queue.js';
import { MemoryRecordStore, type RecordStore } from './records.js';
import type { BindingDef, DefinitionsSink, ExchangeDef, MessageStore, QueueDef } from '../store/types.js';
import { type ConsumeOptions, type Consumer, type DeliverySink, Session } from './session.js';
import type { CoreTracer } from './tracer.js';
import { checkLength, checkName, REPLY_TO, VHost } from './vhost.js';

export interface Identity {
  readonly user: string;
  readonly vhost: string;
}

export type Permission = 'configure' | 'write' | 'read';

/** Decides whether `identity` may do `permission` on a resource; the default allows everything. */
export type Authorizer = (
  identity: Identity,
  permission: Permission,
  kind: 'queue' | 'exchange',
  name: string,
) => boolean;

export interface ConnectionInfo {
  /** Protocol name, for management listings ("amqp", "mqtt", ...). */
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string;
  readonly vhost: string;
  /** A name the client gave, if any. */
  readonly clientName?: string;
}

export interface BrokerOptions {
  /** user → password. Default: guest/guest. */
  users?: Record<string, string>;
  /** Users that may connect only from loopback (RabbitMQ's loopback_users). Default: guest. */
  loopbackUsers?: string[];
  vhosts?: string[];
  authorize?: Authorizer;
  /** Where persistent messages of durable queues are recorded; none = everything stays in memory. */
  store?: MessageStore;
  /** Where front ends keep durable records (MQTT sessions, retained messages); default: memory. */
  records?: RecordStore;
  /** Told of every publish and delivery when tracing is configured. */
  tracer?: CoreTracer;
}

export interface QueueInfo {
  readonly name: string;
  readonly messageCount: number;
  readonly consumerCount: number;
}

export class Broker {
  readonly vhosts = new Map<string, VHost>();
  readonly connections = new Set<CoreConnection>();
  private readonly users: Map<string, string>;
  private readonly loopbackUsers: Set<string>;
  readonly authorize: Authorizer;
  readonly store: MessageStore | undefined;
  readonly records: RecordStore;
  readonly tracer: CoreTracer | undefined;
  private nextConnId = 1;
  private lastMessageId = 0;
  private lastQueueStoreId = 0;

  constructor(opts: BrokerOptions = {}) {
    this.users = new Map(Object.entries(opts.users ?? { guest: 'guest' }));
    this.loopbackUsers = new Set(opts.loopbackUsers ?? ['guest']);
    for (const v of opts.vhosts ?? ['/']) this.vhosts.set(v, new VHost(v));
    this.authorize = opts.authorize ?? (() => true);
    this.store = opts.store;
    this.records = opts.records ?? new MemoryRecordStore();
    this.tracer = opts.tracer;
  }

  /** The next store id for a persistent message. */
  nextMessageId(): number {
    return ++this.lastMessageId;
  }

  /**
   * Rebuilds what survived a restart, before any client connects: durable exchanges, queues and
   * bindings, then each queue's messages in publish order (left on disk until needed). Then every
   * vhost starts recording definition changes in `defs`. Returns the store ids of recovered
   * message lists whose queue no longer exists (the caller drops them from the store).
   */
  restore(
    definitions: {
      readonly exchanges: readonly ExchangeDef[];
      readonly queues: readonly (QueueDef & { readonly id: number })[];
      readonly bindings: readonly BindingDef[];
    },
    messages: ReadonlyMap<
      number,
      { readonly messages: readonly { readonly id: number }[]; readonly deliveredUpTo: number }
    >,
    maxMessageId: number,
    defs: DefinitionsSink | undefined,
  ): number[] {
    const byId = new Map<number, Queue>();
    for (const x of definitions.exchanges) {
      const v = this.vhosts.get(x.vhost);
      if (v === undefined || !isExchangeType(x.type)) continue;
      v.declareExchange(x.name, x.type, {
        durable: true,
        autoDelete: x.autoDelete,
        internal: x.internal,
        args: x.args,
      });
    }
    for (const q of definitions.queues) {
      const v = this.vhosts.get(q.vhost);
      if (v === undefined) continue;
      const queue = v.declareQueue(
        q.name,
        { durable: true, exclusive: false, autoDelete: false, args: q.args },
        undefined,
      );
      queue.store = this.store;
      queue.storeId = q.id;
      byId.set(q.id, queue);
      this.lastQueueStoreId = Math.max(this.lastQueueStoreId, q.id);
    }
    for (const b of definitions.bindings) {
      const v = this.vhosts.get(b.vhost);
      if (v === undefined) continue;
      const dest =
        b.destinationKind === 'queue' ? v.queues.get(b.destination) : v.exchanges.get(b.destination);
      if (dest === undefined || !v.exchanges.has(b.source)) continue;
      v.bind(b.source, dest, b.routingKey, b.args);
    }
    const orphans: number[] = [];
    for (const [id, rq] of messages) {
      const q = byId.get(id);
      if (q === undefined) {
        orphans.push(id);
        continue;
      }
      for (const m of rq.messages) q.recover(m.id, m.id <= rq.deliveredUpTo);
    }
    this.lastMessageId = Math.max(this.lastMessageId, maxMessageId);
    for (const v of this.vhosts.values()) v.defs = defs;
    return orphans;
  }

  /** Gives a durable queue its place in the store (exclusive and auto-delete queues never get one). */
  attachStore(q: Queue, vhost: VHost): void {
    if (this.store === undefined || !q.options.durable || q.options.exclusive || q.options.autoDelete) return;
    q.store = this.store;
    const defs = vhost.defs;
    if (defs === undefined) {
      q.storeId = ++this.lastQueueStoreId;
      return;
    }
    vhost.write(defs.putQueue({ vhost: vhost.name, name: q.name, args: q.options.args }));
    q.storeId = defs.queueId(vhost.name, q.name)!;
  }

  /** Checks a user's password. Returns false rather than throwing: the front end picks the wire error. */
  authenticate(user: string, password: string, remoteAddress: string): boolean {
    const want = this.users.get(user);
    if (want === undefined || want !== password) return false;
    return !this.loopbackUsers.has(user) || isLoopback(remoteAddress);
  }

  /** Opens a connection in a vhost for an authenticated user. Throws NOT_ALLOWED for an unknown vhost. */
  connect(info: ConnectionInfo): CoreConnection {
    const vhost = this.vhosts.get(info.vhost);
    if (vhost === undefined) {
      throw new SwitchyardError('NOT_ALLOWED', `vhost ${info.vhost} not found`);
    }
    const c = new CoreConnection(this, vhost, this.nextConnId++, info);
    this.connections.add(c);
    return c;
  }

  /** Resource alarms in force (e.g. 'disk'): while any is, publishers are blocked on every protocol. */
  readonly alarms = new Set<string>();
  private readonly alarmListeners = new Set<(blocked: boolean, reason: string) => void>();

  /** Turns a resource alarm on or off; front ends hear about the change of the blocked state. */
  setAlarm(resource: string, on: boolean): void {
    const was = this.alarms.size > 0;
    if (on) this.alarms.add(resource);
    else this.alarms.delete(resource);
    const now = this.alarms.size > 0;
    if (was === now) return;
    const reason = this.blockedReason;
    for (const l of this.alarmListeners) l(now, reason);
  }

  /** Why publishers are blocked ('' when they are not), e.g. "low on disk". */
  get blockedReason(): string {
    return this.alarms.size > 0 ? `low on ${[...this.alarms].join(', ')}` : '';
  }

  /** Registers a front end for blocked-state changes; returns the unregister function. */
  onBlockedChange(listener: (blocked: boolean, reason: string) => void): () => void {
    this.alarmListeners.add(listener);
    return () => this.alarmListeners.delete(listener);
  }

  get publishersBlocked(): boolean {
    return this.alarms.size > 0;
  }

  /** Closes every connection (shutdown). Front ends are told through their close callbacks. */
  closeAll(): void {
    for (const c of [...this.connections]) c.close();
  }
}

const NO_SESSIONS: ReadonlySet<Session> = new Set();

export function isLoopback(addr: string): boolean {
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.') || addr === 'localhost';
}

export interface DeclareExchangeArgs extends ExchangeOptions {
  type: string;
  passive: boolean;
}

export interface DeclareQueueArgs extends QueueOptions {
  passive: boolean;
}

/** A client connection's handle on the core. */
export class CoreConnection implements QueueOwner {
  readonly identity: Identity;
  /** Open sessions; a shared empty set until the first (most MQTT connections never open one). */
  sessions: ReadonlySet<Session> = NO_SESSIONS;
  closed = false;
  /** Exclusive queues this connection declared (created on first use). */
  private exclusiveQueues: Set<Queue> | undefined;

  constructor(
    readonly broker: Broker,
    readonly vhost: VHost,
    readonly id: number,
    readonly info: ConnectionInfo,
  ) {
    this.identity = info; // a ConnectionInfo is an Identity: one object less per connection
  }

  private check(p: Permission, kind: 'queue' | 'exchange', name: string): void {
    if (!this.broker.authorize(this.identity, p, kind, name)) {
      throw accessRefused(
        `access to ${kind} '${name}' in vhost '${this.vhost.name}' refused for user '${this.identity.user}'`,
      );
    }
  }

  declareExchange(name: string, a: DeclareExchangeArgs): Exchange {
    if (a.passive) return this.vhost.getExchange(name);
    if (!isExchangeType(a.type))
      throw new SwitchyardError('COMMAND_INVALID', `unknown exchange type '${a.type}'`);
    checkLength('exchange name', name);
    this.check('configure', 'exchange', name);
    return this.vhost.declareExchange(name, a.type, a);
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    this.check('configure', 'exchange', name);
    this.vhost.deleteExchange(name, ifUnused);
  }

  bindExchange(destination: string, source: string, routingKey: string, args: HeaderTable): void {
    checkLength('binding key', routingKey);
    this.check('write', 'exchange', destination);
    this.check('read', 'exchange', source);
    const dest = this.vhost.getExchange(destination);
    this.vhost.getExchange(source);
    this.vhost.bind(source, dest, routingKey, args);
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: HeaderTable): void {
    this.check('write', 'exchange', destination);
    this.check('read', 'exchange', source);
    const dest = this.vhost.exchanges.get(destination);
    if (dest === undefined || !this.vhost.exchanges.has(source)) return;
    this.vhost.unbind(source, dest, routingKey, args);
  }

  /** Declares a queue ('' = server-named); returns the queue and its counts. */
  declareQueue(name: string, a: DeclareQueueArgs): QueueInfo {
    if (name === REPLY_TO || name.startsWith(`${REPLY_TO}.`)) {
      // As RabbitMQ (rabbit_channel, declare_fast_reply_to): declaring the direct reply-to
      // pseudo-queue, passive or not, is how clients probe for the feature, and a live reply
      // address can be checked from any connection. Both answer 0 messages, 1 consumer.
      if (name === REPLY_TO || this.vhost.replyQueues.has(name)) {
        return { name, messageCount: 0, consumerCount: 1 };
      }
      throw notFound(`no queue '${name}' in vhost '${this.vhost.name}'`);
    }
    if (a.passive) {
      if (name === '') throw notFound(`no queue '' in vhost '${this.vhost.name}'`);
      return info(this.vhost.getQueue(name, this));
    }
    const n = name === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : name;
    // As RabbitMQ (rabbit_channel, queue.declare): a name the client chose may not use the
    // reserved prefix, even for an existing queue; the server's own amq.gen- names are fine.
    if (name !== '') {
      checkLength('queue name', name);
      checkName('queue', name);
    }
    this.check('configure', 'queue', n);
    const existed = this.vhost.queues.has(n);
    const q = this.vhost.declareQueue(n, a, this);
    if (!existed) {
      if (q.owner === this) (this.exclusiveQueues ??= new Set()).add(q);
      else this.broker.attachStore(q, this.vhost);
    }
    return info(q);
  }

  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean): number {
    this.check('configure', 'queue', name);
    const q = this.vhost.queues.get(name);
    const n = this.vhost.deleteQueue(name, this, ifUnused, ifEmpty);
    if (q !== undefined) this.exclusiveQueues?.delete(q);
    return n;
  }

  purgeQueue(name: string): number {
    this.check('read', 'queue', name);
    return this.vhost.getQueue(name, this).purge();
  }

  bindQueue(queue: string, exchange: string, routingKey: string, args: HeaderTable): void {
    checkLength('binding key', routingKey);
    this.check('write', 'queue', queue);
    this.check('read', 'exchange', exchange);
    const q = this.vhost.getQueue(queue, this);
    this.vhost.bind(exchange, q, routingKey, args);
  }

  unbindQueue(queue: string, exchange: string, routingKey: string, args: HeaderTable): void {
    this.check('write', 'queue', queue);
    this.check('read', 'exchange', exchange);
    // RabbitMQ 3.x answers unbind-ok when the queue, the exchange or the binding does not exist
    // (as unbindExchange does); only the default exchange is refused, by vhost.unbind.
    const q = this.vhost.queues.get(queue);
    if (q === undefined || (exchange !== '' && !this.vhost.exchanges.has(exchange))) return;
    this.vhost.unbind(exchange, q, routingKey, args, this);
  }

  /** Looks up an exchange to publish to; refuses internal exchanges. */
  publishTarget(exchange: string): Exchange {
    const x = this.vhost.getExchange(exchange);
    if (x.options.internal) {
      throw accessRefused(`cannot publish to internal exchange '${exchange}' in vhost '${this.vhost.name}'`);
    }
    if (exchange !== '') this.check('write', 'exchange', exchange);
    return x;
  }

  /**
   * Routes a message and enqueues it on every queue it reaches. Returns those queues
   * (empty = unroutable: the front end decides about mandatory returns).
   */
  publish(x: Exchange, msg: Message): readonly Queue[] {
    checkLength('routing key', msg.routingKey);
    const queues = this.vhost.route(x, msg);
    this.lastEpoch = 0;
    msg.publisher = this.id;
    const store = this.broker.store;
    if (store !== undefined && queues.length > 0 && msg.persistent) this.persist(store, msg, queues);
    const tracer = this.broker.tracer;
    if (tracer !== undefined) tracer.published(msg, x.name, queues.length, this.info.protocol);
    for (let i = 0; i < queues.length; i++) queues[i]!.enqueue(msg);
    return queues;
  }

  /**
   * Puts a message on one queue, bypassing routing; the message keeps its exchange and routing
   * key (MQTT's retained messages reach a new subscriber this way). Waits as publish() does:
   * read lastEpoch afterwards.
   */
  publishToQueue(queue: string, msg: Message): void {
    this.check('write', 'queue', queue);
    const q = this.vhost.getQueue(queue, this);
    this.lastEpoch = 0;
    const store = this.broker.store;
    if (store !== undefined && msg.persistent && q.storeId !== 0) this.persist(store, msg, [q]);
    q.enqueue(msg);
  }

  /**
   * The store epoch the last publish must wait for before it may be confirmed (0 = none: it was
   * not persistent or reached no durable queue). Read right after publish().
   */
  lastEpoch = 0;

  /** Records a persistent message for the durable queues among `queues`. */
  private persist(store: MessageStore, msg: Message, queues: readonly Queue[]): void {
    let ids: number[] | undefined;
    for (let i = 0; i < queues.length; i++) {
      const id = queues[i]!.storeId;
      if (id !== 0) (ids ??= []).push(id);
    }
    if (ids === undefined) return;
    const wire = msg.wireProperties ?? {
      format: JSON_PROPERTIES_FORMAT,
      bytes: encodeJsonProperties(msg.properties),
    };
    msg.storeId = this.broker.nextMessageId();
    this.lastEpoch = store.appendMessage({
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
    try {
      fn();
    } finally {
      // What ran before a failure is in memory, so it is written too: disk matches memory.
      this.lastTxnEpoch = store.commitTxn();
    }
    return this.lastTxnEpoch;
  }

  private lastTxnEpoch = 0;

  /** The definition writes the last operation started (see VHost.takeWrite). */
  takeWrite(): Promise<void> | undefined {
    return this.vhost.takeWrite();
  }

  sessionClosed(s: Session): void {
    if (this.sessions !== NO_SESSIONS) (this.sessions as Set<Session>).delete(s);
  }

  openSession(): Session {
    const s = new Session(this, this.broker.tracer, this.info.protocol);
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
    this.broker.connections.delete(this);
  }
}

function info(q: Queue): QueueInfo {
  return { name: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount };
}
