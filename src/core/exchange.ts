/**
 * Exchanges and their routers. An exchange maps (routing key, headers) to a set of destinations:
 * queues, or other exchanges (exchange-to-exchange bindings, resolved by the vhost).
 */
import { headersMatch, parseXMatch, tableKey, type XMatch } from './headers-match.js';
import type { HeaderTable } from '../model/index.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';
import { TopicTrie } from './topic-trie.js';

export const EXCHANGE_TYPES = ['direct', 'fanout', 'topic', 'headers'] as const;
export type ExchangeType = (typeof EXCHANGE_TYPES)[number];

export function isExchangeType(t: string): t is ExchangeType {
  return (EXCHANGE_TYPES as readonly string[]).includes(t);
}

export type Destination = Queue | Exchange;

export interface Binding {
  readonly source: Exchange;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly args: HeaderTable;
  /** Identity within the source: destination, key and arguments. */
  readonly id: string;
  /** Headers exchanges only: the parsed x-match mode. */
  readonly xmatch: XMatch | undefined;
}

export function bindingId(destination: Destination, routingKey: string, args: HeaderTable): string {
  return `${destination.kind}\u0000${destination.name}\u0000${routingKey}\u0000${tableKey(args)}`;
}

interface Router {
  add(b: Binding): void;
  remove(b: Binding): void;
  route(msg: Message, out: Set<Destination>): void;
  /** Whether route() depends only on the routing key (so its result may be cached per key). */
  readonly keyOnly: boolean;
}

class DirectRouter implements Router {
  readonly keyOnly = true;
  private readonly byKey = new Map<string, Binding[]>();
  add(b: Binding): void {
    const list = this.byKey.get(b.routingKey);
    if (list === undefined) this.byKey.set(b.routingKey, [b]);
    else list.push(b);
  }
  remove(b: Binding): void {
    const list = this.byKey.get(b.routingKey);
    if (list === undefined) return;
    const i = list.indexOf(b);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byKey.delete(b.routingKey);
  }
  route(msg: Message, out: Set<Destination>): void {
    const list = this.byKey.get(msg.routingKey);
    if (list !== undefined) for (const b of list) out.add(b.destination);
  }
}

class FanoutRouter implements Router {
  readonly keyOnly = true;
  private readonly all = new Set<Binding>();
  add(b: Binding): void {
    this.all.add(b);
  }
  remove(b: Binding): void {
    this.all.delete(b);
  }
  route(_msg: Message, out: Set<Destination>): void {
    for (const b of this.all) out.add(b.destination);
  }
}

class TopicRouter implements Router {
  readonly keyOnly = true;
  private readonly trie = new TopicTrie<Binding>();
  private readonly scratch = new Set<Binding>();
  add(b: Binding): void {
    this.trie.add(b.routingKey, b);
  }
  remove(b: Binding): void {
    this.trie.remove(b.routingKey, b);
  }
  route(msg: Message, out: Set<Destination>): void {
    const hits = this.scratch;
    this.trie.match(msg.routingKey, hits);
    for (const b of hits) out.add(b.destination);
    hits.clear();
  }
}

class HeadersRouter implements Router {
  readonly keyOnly = false;
  private readonly all = new Set<Binding>();
  add(b: Binding): void {
    this.all.add(b);
  }
  remove(b: Binding): void {
    this.all.delete(b);
  }
  route(msg: Message, out: Set<Destination>): void {
    if (this.all.size === 0) return;
    const headers = msg.properties.headers;
    for (const b of this.all) if (headersMatch(b.xmatch ?? 'all', b.args, headers)) out.add(b.destination);
  }
}

function makeRouter(type: ExchangeType): Router {
  switch (type) {
    case 'direct':
      return new DirectRouter();
    case 'fanout':
      return new FanoutRouter();
    case 'topic':
      return new TopicRouter();
    case 'headers':
      return new HeadersRouter();
  }
}

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  args: HeaderTable;
}

export class Exchange {
  readonly kind = 'exchange' as const;
  /** Bindings with this exchange as source, by id. */
  readonly bindings = new Map<string, Binding>();
  /** Bindings with this exchange as destination. */
  private readonly router: Router;
  /** Per routing key cache of the final queue set; valid while `cacheVersion` matches the vhost's. */
  routeCache: Map<string, readonly Queue[]> | undefined;
  cacheVersion = -1;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly type: ExchangeType,
    readonly options: ExchangeOptions,
  ) {
    this.router = makeRouter(type);
  }

  get cacheable(): boolean {
    return this.router.keyOnly;
  }

  get alternateExchange(): string | undefined {
    const ae = this.options.args['alternate-exchange'];
    return typeof ae === 'string' ? ae : undefined;
  }

  /** Adds a binding; returns undefined when an identical binding exists. */
  addBinding(destination: Destination, routingKey: string, args: HeaderTable): Binding | undefined {
    const id = bindingId(destination, routingKey, args);
    if (this.bindings.has(id)) return undefined;
    const b: Binding = {
      source: this,
      destination,
      routingKey,
      args,
      id,
      xmatch: this.type === 'headers' ? (parseXMatch(args) ?? 'all') : undefined,
    };
    this.bindings.set(id, b);
    this.router.add(b);
    return b;
  }

  removeBinding(b: Binding): void {
    if (!this.bindings.delete(b.id)) return;
    this.router.remove(b);
  }

  route(msg: Message, out: Set<Destination>): void {
    this.router.route(msg, out);
  }
}
