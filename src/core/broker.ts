/**
 * The broker: vhosts, users, resource alarms, and the connections front ends open on behalf of
 * their clients (CoreConnection, in connection.ts).
 */
import {
  type PermissionEntry,
  PermissionTable,
  type TopicPermissionEntry,
  type UserSpec,
  UserTable,
  userDefs,
} from '../auth/index.js';
import { SwitchyardError } from '../errors/index.js';
import { MemoryRecordStore } from '../store/memory/records.js';
import type {
  BindingDef,
  DefinitionsSink,
  ExchangeDef,
  MessageStore,
  QueueDef,
  RecordStore,
} from '../store/types.js';
import { type Clock, systemClock } from '../util/clock.js';
import { CoreConnection } from './connection.js';
import { isExchangeType } from './exchange.js';
import type { Authorizer, ConnectionInfo } from './identity.js';
import { ConnectionCounter, type Limits, NO_LIMITS } from './limits.js';
import type { Queue } from './queue.js';
import type { DropCount } from './session.js';
import type { CoreTracer } from './tracer.js';
import { VHost } from './vhost.js';

export interface BrokerOptions {
  /** user → password, or {password | passwordHash (+ hashingAlgorithm), tags}. Default: guest/guest. */
  users?: Readonly<Record<string, UserSpec>>;
  /** Users that may connect only from loopback (RabbitMQ's loopback_users). Default: guest. */
  loopbackUsers?: string[];
  vhosts?: string[];
  /**
   * Per user and vhost: configure, write and read expressions (RabbitMQ's). Without a list,
   * `guest` and `anonymous` may do everything on every vhost; a user with no entry has no access.
   */
  permissions?: readonly PermissionEntry[];
  /** Per user, vhost and topic exchange: write and read expressions on routing keys. */
  topicPermissions?: readonly TopicPermissionEntry[];
  /** How long a failed login waits before it is answered (ms); default 1000. */
  failureDelayMs?: number;
  /** Connection, queue and consumer limits (core/limits.ts); none by default. */
  limits?: Partial<Limits>;
  /** Replaces the permission table's decisions (embedding, tests). */
  authorize?: Authorizer;
  /** Where persistent messages of durable queues are recorded; none = everything stays in memory. */
  store?: MessageStore;
  /** Where front ends keep durable records (MQTT sessions, retained messages); default: memory. */
  records?: RecordStore;
  /** Told of every publish and delivery when tracing is configured. */
  tracer?: CoreTracer;
  /** Time for the core and the front ends; the system clock by default (tests pass their own). */
  clock?: Clock;
}

export class Broker {
  readonly vhosts = new Map<string, VHost>();
  readonly connections = new Set<CoreConnection>();
  readonly users: UserTable;
  private table: PermissionTable;
  /** Bumped when the permissions change: connections drop what they remembered of them. */
  permissionsGeneration = 0;
  readonly authorize: Authorizer;
  readonly limits: Limits;
  private readonly counter: ConnectionCounter;
  readonly store: MessageStore | undefined;
  readonly records: RecordStore;
  readonly tracer: CoreTracer | undefined;
  readonly clock: Clock;
  /** At-most-once deliveries dropped for slow consumers, per protocol (issue 15). */
  private readonly drops = new Map<string, DropCount>();
  private nextConnId = 1;
  private lastMessageId = 0;
  private lastQueueStoreId = 0;

  constructor(opts: BrokerOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.users = new UserTable(
      userDefs(opts.users ?? { guest: { password: 'guest', tags: ['administrator'] } }),
      {
        loopbackUsers: opts.loopbackUsers ?? ['guest'],
        clock: this.clock,
        ...(opts.failureDelayMs === undefined ? {} : { failureDelayMs: opts.failureDelayMs }),
      },
    );
    const vhosts = opts.vhosts ?? ['/'];
    this.table = new PermissionTable(
      opts.permissions ?? defaultPermissions(vhosts),
      opts.topicPermissions ?? [],
    );
    for (const v of vhosts) this.vhosts.set(v, new VHost(v));
    this.limits = { ...NO_LIMITS, ...opts.limits };
    this.counter = new ConnectionCounter(this.limits, this.clock);
    this.authorize =
      opts.authorize ?? ((id, p, _kind, name) => this.table.allows(id.user, id.vhost, p, name));
    this.store = opts.store;
    this.records = opts.records ?? new MemoryRecordStore();
    this.tracer = opts.tracer;
  }

  /** The permissions in force (RabbitMQ's model, src/auth/permissions.ts). */
  get permissions(): PermissionTable {
    return this.table;
  }

  /**
   * Replaces the permissions. Open connections are held to the new ones from their next
   * operation; a connection to a vhost the user may no longer open is not closed (as RabbitMQ).
   */
  setPermissions(entries: readonly PermissionEntry[], topics: readonly TopicPermissionEntry[]): void {
    this.table = new PermissionTable(entries, topics);
    this.permissionsGeneration++;
  }

  authorizeTopic(info: ConnectionInfo, p: 'write' | 'read', exchange: string, key: string): boolean {
    if (this.table.noTopicPermissions) return true;
    return this.table.allowsTopic(info.user, info.vhost, exchange, p, key, {
      username: info.user,
      vhost: info.vhost,
      client_id: info.protocol === 'mqtt' ? (info.clientName ?? '') : '',
    });
  }

  /**
   * The count of at-most-once deliveries dropped because a connection of `protocol` had more
   * than its bound of outbound bytes buffered (Pause.OVERFLOW); live, for front ends' stats().
   */
  dropsFor(protocol: string): DropCount {
    let d = this.drops.get(protocol);
    if (d === undefined) {
      d = { messages: 0, bytes: 0 };
      this.drops.set(protocol, d);
    }
    return d;
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

  /**
   * Checks a user's password (and that a loopback-only user is on loopback). Resolves false rather
   * than throwing, the front end picks the wire error; a refusal resolves only after the failure
   * delay (src/auth/users.ts).
   */
  authenticate(user: string, password: string, remoteAddress: string): Promise<boolean> {
    return this.users.authenticate(user, password, remoteAddress);
  }

  /**
   * Opens a connection in a vhost for an authenticated user. Throws NOT_ALLOWED for an unknown
   * vhost, VHOST_ACCESS_REFUSED when the user has no permissions on it.
   */
  connect(info: ConnectionInfo): CoreConnection {
    const vhost = this.vhosts.get(info.vhost);
    if (vhost === undefined) {
      throw new SwitchyardError('NOT_ALLOWED', `vhost ${info.vhost} not found`);
    }
    if (info.internal !== true && !this.table.canOpen(info.user, info.vhost)) {
      throw new SwitchyardError(
        'VHOST_ACCESS_REFUSED',
        `access to vhost '${info.vhost}' refused for user '${info.user}'`,
      );
    }
    this.counter.admit(info);
    const c = new CoreConnection(this, vhost, this.nextConnId++, info);
    this.connections.add(c);
    return c;
  }

  /** A connection closed (CoreConnection.close): it no longer counts against the limits. */
  connectionClosed(c: CoreConnection): void {
    if (this.connections.delete(c)) this.counter.release(c.info);
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

/**
 * Without a permissions list: guest and anonymous may do everything on each configured vhost
 * (RabbitMQ gives guest '.*' on '/', its only vhost at first); other users have no access.
 */
function defaultPermissions(vhosts: readonly string[]): PermissionEntry[] {
  return ['guest', 'anonymous'].flatMap((user) =>
    vhosts.map((vhost) => ({ user, vhost, configure: '.*', write: '.*', read: '.*' })),
  );
}

export { isLoopback } from '../auth/index.js';
