/**
 * Connection, queue and consumer limits (0 = none), as RabbitMQ's per-vhost and per-user limits
 * and its connection-rate protection: what the core refuses before a client can take more than
 * its share. Connection limits count the connections of connection-oriented protocols (AMQP,
 * MQTT, the native WebSocket protocol); HTTP requests and gRPC calls are requests, bounded by
 * their listener's own settings.
 */
import { SwitchyardError } from '../errors/index.js';
import type { Clock } from '../util/clock.js';
import type { ConnectionInfo } from './identity.js';

export interface Limits {
  /** Open connections in all (AMQP, MQTT, WebSocket). */
  readonly maxConnections: number;
  readonly maxConnectionsPerUser: number;
  readonly maxConnectionsPerVhost: number;
  /** New connections per second from one source address. */
  readonly maxConnectionRate: number;
  readonly maxQueuesPerVhost: number;
  readonly maxConsumersPerConnection: number;
}

export const NO_LIMITS: Limits = {
  maxConnections: 0,
  maxConnectionsPerUser: 0,
  maxConnectionsPerVhost: 0,
  maxConnectionRate: 0,
  maxQueuesPerVhost: 0,
  maxConsumersPerConnection: 0,
};

const COUNTED = new Set(['amqp', 'mqtt', 'ws']);

/** Counts connections and admits new ones within the limits. */
export class ConnectionCounter {
  private total = 0;
  private readonly byUser = new Map<string, number>();
  private readonly byVhost = new Map<string, number>();
  /** Per source address: the second of its last connections and how many came in it. */
  private readonly recent = new Map<string, { second: number; count: number }>();

  constructor(
    private readonly limits: Limits,
    private readonly clock: Clock,
  ) {}

  /** Whether the connection counts (the protocol is connection-oriented and it is not internal). */
  counts(info: ConnectionInfo): boolean {
    return info.internal !== true && COUNTED.has(info.protocol);
  }

  /** Throws CONNECTION_LIMIT / CONNECTION_RATE when `info` may not open; else counts it. */
  admit(info: ConnectionInfo): void {
    if (!this.counts(info)) return;
    const l = this.limits;
    this.checkRate(info.remoteAddress);
    const refuse = (what: string, n: number) => {
      throw new SwitchyardError(
        'CONNECTION_LIMIT',
        `access to vhost '${info.vhost}' refused for user '${info.user}': ${what} connection limit (${n}) is reached`,
      );
    };
    if (l.maxConnections > 0 && this.total >= l.maxConnections) refuse('the broker', l.maxConnections);
    const v = this.byVhost.get(info.vhost) ?? 0;
    if (l.maxConnectionsPerVhost > 0 && v >= l.maxConnectionsPerVhost)
      refuse('the vhost', l.maxConnectionsPerVhost);
    const u = this.byUser.get(info.user) ?? 0;
    if (l.maxConnectionsPerUser > 0 && u >= l.maxConnectionsPerUser)
      refuse("the user's", l.maxConnectionsPerUser);
    this.total++;
    this.byVhost.set(info.vhost, v + 1);
    this.byUser.set(info.user, u + 1);
  }

  /** A counted connection closed. */
  release(info: ConnectionInfo): void {
    if (!this.counts(info)) return;
    this.total--;
    decrement(this.byVhost, info.vhost);
    decrement(this.byUser, info.user);
  }

  private checkRate(address: string): void {
    const max = this.limits.maxConnectionRate;
    if (max <= 0) return;
    const second = Math.floor(this.clock.now() / 1000);
    const r = this.recent.get(address);
    if (r === undefined || r.second !== second) {
      // Bounded: addresses not seen this second are forgotten when the map grows large.
      if (this.recent.size >= 10_000)
        for (const [a, x] of this.recent) if (x.second !== second) this.recent.delete(a);
      this.recent.set(address, { second, count: 1 });
      return;
    }
    if (r.count >= max) {
      throw new SwitchyardError(
        'CONNECTION_RATE',
        `too many connections from ${address}: at most ${max} new connections a second`,
      );
    }
    r.count++;
  }
}

function decrement(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 1) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
