/**
 * A virtual host: its exchanges, queues and bindings, and routing. Names, defaults and error
 * texts follow RabbitMQ, whose clients match on them.
 */
import {
  SwitchyardError,
  accessRefused,
  notFound,
  preconditionFailed,
  resourceLocked,
} from '../errors/index.js';
import {
  type Binding,
  type Destination,
  Exchange,
  type ExchangeOptions,
  type ExchangeType,
} from './exchange.js';
import { parseXMatch, tablesEqual, valueEquals } from './headers-match.js';
import type { DefinitionsSink } from '../store/types.js';
import type { HeaderTable, HeaderValue } from '../model/index.js';
import type { Message } from './message.js';
import { Queue, type QueueOptions, type QueueOwner } from './queue.js';

/** Prefix of direct reply-to pseudo-queues (RabbitMQ's `amq.rabbitmq.reply-to`). */
export const REPLY_TO = 'amq.rabbitmq.reply-to';
const REPLY_TO_PREFIX = `${REPLY_TO}.`;

const NO_QUEUES: readonly Queue[] = Object.freeze([]);
const ROUTE_CACHE_MAX = 10_000;

/** Queue arguments whose values must match on redeclare (RabbitMQ checks these). */
const EQUIVALENT_QUEUE_ARGS = [
  'x-expires',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-overflow',
  'x-queue-mode',
  'x-queue-type',
  'x-single-active-consumer',
];

export class VHost {
  /** Where durable definitions are recorded (set once recovery has rebuilt the vhost). */
  defs: DefinitionsSink | undefined;
  /** Definition writes started by the operation in progress; see takeWrite(). */
  private pendingWrite: Promise<void> | undefined;
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  /** Direct reply-to pseudo-queues by their full name. */
  readonly replyQueues = new Map<string, Queue>();
  /** Bindings by destination, so deleting a queue or exchange finds the bindings to it. */
  private readonly incoming = new Map<Destination, Set<Binding>>();
  /** Bumped on every topology change; route caches older than this are stale. */
  private topologyVersion = 0;

  constructor(readonly name: string) {
    const std = (n: string, t: ExchangeType) =>
      this.exchanges.set(
        n,
        new Exchange(name, n, t, { durable: true, autoDelete: false, internal: false, args: {} }),
      );
    std('', 'direct');
    std('amq.direct', 'direct');
    std('amq.fanout', 'fanout');
    std('amq.topic', 'topic');
    std('amq.headers', 'headers');
    std('amq.match', 'headers');
  }

  private describe(kind: 'queue' | 'exchange', n: string): string {
    return `${kind} '${n}' in vhost '${this.name}'`;
  }

  getExchange(n: string): Exchange {
    const x = this.exchanges.get(n);
    if (x === undefined) throw notFound(`no ${this.describe('exchange', n)}`);
    return x;
  }

  /**
   * Looks a queue up, enforcing exclusivity against `owner`. Direct reply-to addresses are not
   * queues here: as in RabbitMQ, get, consume, purge and bind on one are 404 NOT_FOUND.
   */
  getQueue(n: string, owner: QueueOwner | undefined): Queue {
    const q = this.queues.get(n);
    if (q === undefined) throw notFound(`no ${this.describe('queue', n)}`);
    if (q.owner !== undefined && q.owner !== owner) throw lockedError(this.describe('queue', n));
    return q;
  }

  declareExchange(n: string, type: ExchangeType, opts: ExchangeOptions): Exchange {
    if (n === '') throw accessRefused(`operation not permitted on the default exchange`);
    const existing = this.exchanges.get(n);
    if (existing !== undefined) {
      const what = this.describe('exchange', n);
      if (existing.type !== type) throw inequivalent('type', what, type, existing.type);
      if (existing.options.durable !== opts.durable)
        throw inequivalent('durable', what, opts.durable, existing.options.durable);
      if (existing.options.autoDelete !== opts.autoDelete)
        throw inequivalent('auto_delete', what, opts.autoDelete, existing.options.autoDelete);
      if (existing.options.internal !== opts.internal)
        throw inequivalent('internal', what, opts.internal, existing.options.internal);
      assertArgsEquivalent(what, opts.args, existing.options.args, ['alternate-exchange']);
      return existing;
    }
    checkName('exchange', n);
    const x = new Exchange(this.name, n, type, opts);
    this.exchanges.set(n, x);
    if (opts.durable && this.defs !== undefined) {
      this.write(
        this.defs.putExchange({
          vhost: this.name,
          name: n,
          type,
          autoDelete: opts.autoDelete,
          internal: opts.internal,
          args: opts.args,
        }),
      );
    }
    return x;
  }

  /**
   * The definition writes the last operation started, as one promise (undefined if none): the
   * front end holds the operation's reply until they are on disk. Taking it clears it.
   */
  takeWrite(): Promise<void> | undefined {
    const w = this.pendingWrite;
    this.pendingWrite = undefined;
    return w;
  }

  /** Adds a definition write to the ones the current operation waits for. */
  write(p: Promise<unknown>): void {
    const before = this.pendingWrite;
    const done =
      before === undefined ? p.then(() => undefined) : Promise.all([before, p]).then(() => undefined);
    // Reported here, so a failed write neither crashes the process nor goes unseen when nobody
    // waits for it (a no-wait declare); whoever waits still sees the rejection.
    done.catch((e: unknown) =>
      process.emitWarning(`vhost '${this.name}': a definition change was not stored: ${String(e)}`),
    );
    this.pendingWrite = done;
  }

  /** Whether a binding survives a restart: both of its ends do (as in RabbitMQ). */
  private durableBinding(source: Exchange, destination: Destination): boolean {
    if (this.defs === undefined || !source.options.durable) return false;
    return destination.kind === 'exchange' ? destination.options.durable : destination.storeId !== 0;
  }

  private bindingDef(b: {
    source: Exchange;
    destination: Destination;
    routingKey: string;
    args: HeaderTable;
  }) {
    return {
      vhost: this.name,
      source: b.source.name,
      destinationKind: b.destination.kind,
      destination: b.destination.name,
      routingKey: b.routingKey,
      args: b.args,
    };
  }

  deleteExchange(n: string, ifUnused: boolean): void {
    if (n === '') throw accessRefused(`operation not permitted on the default exchange`);
    // RabbitMQ (rabbit_channel:check_exchange_deletion) refuses before looking the exchange up.
    if (n.startsWith('amq.'))
      throw accessRefused(`deletion of system ${this.describe('exchange', n)} not allowed`);
    const x = this.exchanges.get(n);
    if (x === undefined) return; // idempotent, as in RabbitMQ 3.x
    if (ifUnused && x.bindings.size > 0) throw preconditionFailed(`${this.describe('exchange', n)} in use`);
    this.removeExchange(x);
  }

  declareQueue(n: string, opts: QueueOptions, owner: QueueOwner | undefined): Queue {
    // As RabbitMQ (rabbit_channel, queue.declare: Durable = Durable andalso not Exclusive): an
    // exclusive queue dies with its connection, so it is never durable whatever the flag says,
    // and redeclaring it with either value is equivalent.
    if (opts.exclusive && opts.durable) opts = { ...opts, durable: false };
    const existing = this.queues.get(n);
    if (existing !== undefined) {
      const what = this.describe('queue', n);
      if (existing.owner !== undefined && existing.owner !== owner) throw lockedError(what);
      if (existing.options.durable !== opts.durable)
        throw inequivalent('durable', what, opts.durable, existing.options.durable);
      if (existing.options.exclusive !== opts.exclusive) throw lockedError(what);
      if (existing.options.autoDelete !== opts.autoDelete)
        throw inequivalent('auto_delete', what, opts.autoDelete, existing.options.autoDelete);
      assertArgsEquivalent(what, opts.args, existing.options.args, EQUIVALENT_QUEUE_ARGS);
      return existing;
    }
    // The reserved amq. prefix is checked by the caller for client-chosen names only: a
    // server-named queue is amq.gen-... (see CoreConnection.declareQueue).
    const q = new Queue(this.name, n, opts, opts.exclusive ? owner : undefined);
    q.onUnused = (uq) => this.removeQueue(uq);
    this.queues.set(n, q);
    // Every queue is bound to the default exchange by its name; that binding is implicit.
    return q;
  }

  /** Creates a direct reply-to pseudo-queue (see REPLY_TO). */
  createReplyQueue(suffix: string, owner: QueueOwner): Queue {
    const n = REPLY_TO_PREFIX + suffix;
    const q = new Queue(this.name, n, { durable: false, exclusive: true, autoDelete: true, args: {} }, owner);
    q.onUnused = (uq) => this.removeQueue(uq);
    this.replyQueues.set(n, q);
    return q;
  }

  /** Deletes a queue; returns the number of ready messages it held. */
  deleteQueue(n: string, owner: QueueOwner | undefined, ifUnused: boolean, ifEmpty: boolean): number {
    const q = this.queues.get(n);
    if (q === undefined) return 0; // idempotent, as in RabbitMQ 3.x
    if (q.owner !== undefined && q.owner !== owner) throw lockedError(this.describe('queue', n));
    if (ifUnused && q.consumerCount > 0) throw preconditionFailed(`${this.describe('queue', n)} in use`);
    if (ifEmpty && q.messageCount > 0) throw preconditionFailed(`${this.describe('queue', n)} not empty`);
    const count = q.messageCount;
    this.removeQueue(q);
    return count;
  }

  bind(source: string, destination: Destination, routingKey: string, args: HeaderTable): void {
    // RabbitMQ checks both ends of a binding (rabbit_channel:binding_action).
    if (source === '' || (destination.kind === 'exchange' && destination.name === '')) {
      throw accessRefused(`operation not permitted on the default exchange`);
    }
    const x = this.getExchange(source);
    if (x.type === 'headers' && parseXMatch(args) === undefined) {
      // rabbit_exchange_type_headers:validate_binding, which prints a string as Erlang's ~p
      // renders a binary (<<"bad">>); clients and users compare the text.
      const v = args['x-match'];
      throw preconditionFailed(
        `Invalid x-match field value ${typeof v === 'string' ? `<<"${v}">>` : String(v)}; expected all, any, all-with-x, or any-with-x`,
      );
    }
    const added = x.addBinding(destination, routingKey, args);
    if (added === undefined) return;
    let to = this.incoming.get(destination);
    if (to === undefined) this.incoming.set(destination, (to = new Set()));
    to.add(added);
    this.topologyVersion++;
    if (this.durableBinding(x, destination)) {
      this.write(this.defs!.putBinding(this.bindingDef({ source: x, destination, routingKey, args })));
    }
  }

  /**
   * Removes a binding. Unbinding what is not bound succeeds, as in RabbitMQ 3.x; an existing
   * binding to another connection's exclusive queue is RESOURCE_LOCKED (`owner` is the caller).
   */
  unbind(
    source: string,
    destination: Destination,
    routingKey: string,
    args: HeaderTable,
    owner?: QueueOwner,
  ): void {
    if (source === '') throw accessRefused(`operation not permitted on the default exchange`);
    const x = this.getExchange(source);
    for (const b of x.bindings.values()) {
      if (b.destination === destination && b.routingKey === routingKey && tablesEqual(b.args, args)) {
        if (destination.kind === 'queue' && destination.owner !== undefined && destination.owner !== owner)
          throw lockedError(this.describe('queue', destination.name));
        this.removeBinding(b);
        return;
      }
    }
  }

  /**
   * The queues a message published to `x` reaches: through exchange-to-exchange bindings, and
   * through the alternate exchange when nothing else matched. The result may be a cached array:
   * callers must not change it.
   */
  route(x: Exchange, msg: Message): readonly Queue[] {
    if (x.name === '') {
      const rk = msg.routingKey;
      const q =
        this.queues.get(rk) ?? (rk.startsWith(REPLY_TO_PREFIX) ? this.replyQueues.get(rk) : undefined);
      return q === undefined ? NO_QUEUES : [q];
    }
    if (x.cacheable) {
      if (x.cacheVersion !== this.topologyVersion || x.routeCache === undefined) {
        x.routeCache = new Map();
        x.cacheVersion = this.topologyVersion;
      }
      const hit = x.routeCache.get(msg.routingKey);
      if (hit !== undefined) return hit;
    }
    const visited = new Set<Exchange>();
    const queues: Queue[] = [];
    const cacheable = this.collect(x, msg, visited, queues);
    const result = queues.length === 0 ? NO_QUEUES : queues;
    if (cacheable && x.routeCache !== undefined) {
      if (x.routeCache.size >= ROUTE_CACHE_MAX) x.routeCache.clear();
      x.routeCache.set(msg.routingKey, result);
    }
    return result;
  }

  /** Collects queues reachable from x; returns whether the result depends on the key only. */
  private collect(x: Exchange, msg: Message, visited: Set<Exchange>, queues: Queue[]): boolean {
    visited.add(x);
    let keyOnly = x.cacheable;
    const dests = new Set<Destination>();
    x.route(msg, dests);
    for (const d of dests) {
      if (d.kind === 'queue') {
        if (!queues.includes(d)) queues.push(d);
      } else if (!visited.has(d)) {
        keyOnly = this.collect(d, msg, visited, queues) && keyOnly;
      }
    }
    // As RabbitMQ's process_alternate: the alternate exchange is used when this exchange's own
    // bindings matched nothing, not when what they matched led to no new queue.
    if (dests.size === 0) {
      const aeName = x.alternateExchange;
      const ae = aeName === undefined ? undefined : this.exchanges.get(aeName);
      if (ae !== undefined && !visited.has(ae)) keyOnly = this.collect(ae, msg, visited, queues) && keyOnly;
    }
    return keyOnly;
  }

  /** `cascade`: the binding goes because an end of it goes, whose deletion removes it on disk too. */
  private removeBinding(b: Binding, cascade = false): void {
    const x = b.source;
    this.unlink(b);
    this.topologyVersion++;
    if (!cascade && this.durableBinding(x, b.destination))
      this.write(this.defs!.deleteBinding(this.bindingDef(b)));
    if (x.options.autoDelete && x.bindings.size === 0 && this.exchanges.get(x.name) === x)
      this.removeExchange(x);
  }

  /** Takes a binding out of its source exchange and out of `incoming`. */
  private unlink(b: Binding): void {
    b.source.removeBinding(b);
    const to = this.incoming.get(b.destination);
    if (to === undefined) return;
    to.delete(b);
    if (to.size === 0) this.incoming.delete(b.destination);
  }

  private removeExchange(x: Exchange): void {
    this.exchanges.delete(x.name);
    for (const b of [...x.bindings.values()]) this.unlink(b);
    for (const b of [...(this.incoming.get(x) ?? [])]) this.removeBinding(b, true);
    this.incoming.delete(x);
    this.topologyVersion++;
    if (x.options.durable && this.defs !== undefined) this.write(this.defs.deleteExchange(this.name, x.name));
  }

  /** Removes a queue: bindings go, consumers are cancelled (and told), messages dropped. */
  removeQueue(q: Queue): void {
    if (q.deleted) return;
    q.deleted = true;
    if (this.queues.get(q.name) === q) this.queues.delete(q.name);
    if (this.replyQueues.get(q.name) === q) this.replyQueues.delete(q.name);
    for (const b of [...(this.incoming.get(q) ?? [])]) this.removeBinding(b, true);
    this.incoming.delete(q);
    for (const c of [...q.consumers]) c.cancel();
    if (q.storeId !== 0) {
      q.store!.deleteQueue(q.storeId);
      if (this.defs !== undefined) this.write(this.defs.deleteQueue(this.name, q.name));
    }
    q.purge();
    this.topologyVersion++;
  }
}

/** Refuses a client-chosen name with the reserved `amq.` prefix (RabbitMQ's check_name). */
export function checkName(kind: 'queue' | 'exchange', n: string): void {
  if (n.startsWith('amq.')) throw accessRefused(`${kind} name '${n}' contains reserved prefix 'amq.*'`);
}

/** Names and keys are AMQP short strings. */
const MAX_KEY_BYTES = 255;

/**
 * Holds a name, routing key or binding key to 255 bytes whatever the protocol (AMQP cannot carry
 * more, and topic matching costs grow with key length).
 */
export function checkLength(what: string, s: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings need no byte count.
  if (s.length * 3 <= MAX_KEY_BYTES) return;
  const bytes = Buffer.byteLength(s);
  if (bytes > MAX_KEY_BYTES) {
    throw new SwitchyardError(
      'NAME_TOO_LONG',
      `${what} '${s.slice(0, 32)}…' is ${bytes} bytes long; at most ${MAX_KEY_BYTES} are allowed`,
    );
  }
}

function lockedError(what: string): SwitchyardError {
  return resourceLocked(
    `cannot obtain exclusive access to locked ${what}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
  );
}

function inequivalent(arg: string, what: string, received: unknown, current: unknown): SwitchyardError {
  return preconditionFailed(
    `inequivalent arg '${arg}' for ${what}: received '${received}' but current is '${current}'`,
  );
}

function assertArgsEquivalent(
  what: string,
  got: HeaderTable,
  have: HeaderTable,
  keys: readonly string[],
): void {
  for (const k of keys) {
    const a = got[k];
    const b = have[k];
    if (a === undefined && b === undefined) continue;
    if (a === undefined || b === undefined || !valueEquals(a, b)) {
      // RabbitMQ (rabbit_misc:equivalence_fail) prints a bare value when both sides have one,
      // and "the value 'V' of type 'T'" next to "none". The core keeps no wire type, so the
      // " of type 'T'" part is left out (docs/amqp.md).
      const one = a === undefined || b === undefined;
      throw preconditionFailed(
        `inequivalent arg '${k}' for ${what}: received ${fmt(a, one)} but current is ${fmt(b, one)}`,
      );
    }
  }
}

function fmt(v: HeaderValue | undefined, labelled: boolean): string {
  if (v === undefined) return 'none';
  return labelled ? `the value '${String(v)}'` : `'${String(v)}'`;
}
