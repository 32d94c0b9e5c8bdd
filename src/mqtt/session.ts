/**
 * An MQTT session: what outlives a connection when the client asked for it (subscriptions, the
 * session queue's messages, QoS 2 packet-id state) and the timers for its expiry and its will.
 * Persistent sessions are written to the broker's durable records, so they survive a restart;
 * their queue and bindings are durable definitions in the core.
 */
import type { Message } from '../core/index.js';
import type { Timer } from '../util/clock.js';
import type { QoS } from './codec/index.js';

export type { QoS };

export interface Subscription {
  /** The filter as the client sent it (with `$share/{group}/` when shared): the key. */
  readonly key: string;
  /** The topic filter proper (without the `$share` prefix). */
  readonly filter: string;
  /** Shared subscription group, if any. */
  readonly group: string | undefined;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: number;
  /** Subscription Identifier (v5), 0 = none. */
  readonly id: number;
}

export const SESSION_RECORD = 'mqtt.session';

/** Consumer tag of the session queue's consumer; shared subscriptions use `share:` + key. */
export const SESSION_TAG = 'session';

/** Queue that holds a session's messages while it is offline, and between deliveries. */
export function sessionQueueName(clientId: string): string {
  return `mqtt-session.${clientId}`;
}

/** Queue that holds a persistent session's QoS 2 packet-id markers (see docs/mqtt.md). */
export function qos2QueueName(clientId: string): string {
  return `mqtt-qos2.${clientId}`;
}

/** Queue of a shared subscription, shared by every member session. */
export function sharedQueueName(group: string, filter: string): string {
  return `mqtt-share.${group}/${filter}`;
}

/** A map that stays empty: writing to it throws. */
class EmptyMap<K, V> extends Map<K, V> {
  override set(): never {
    throw new TypeError('the shared empty map is read-only');
  }
  override delete(): boolean {
    return false;
  }
  override clear(): void {}
}

/**
 * What a session has nothing of yet (idle clients are many, so their maps are made on first
 * use); read-only, so no session can write into another's.
 */
const EMPTY: ReadonlyMap<never, never> = Object.freeze(new EmptyMap<never, never>());

/** A will waiting for its delay (MQTT 5 Will Delay Interval) after an abnormal disconnect. */
export interface PendingWill {
  readonly msg: Message;
  readonly topic: string;
  readonly retain: boolean;
  readonly timer: Timer;
}

export class MqttSession {
  private subs: Map<string, Subscription> | undefined;
  /** Inbound QoS 2: packet ids received, PUBREL not yet seen → delivery tag of its marker (0 = none). */
  private awaiting: Map<number, number> | undefined;
  /** Outbound QoS 2: packet ids released (PUBREL sent), PUBCOMP not yet seen → marker tag (0 = none). */
  private releasedIds: Map<number, number> | undefined;
  /** Seconds the session outlives its connection (0 = ends with it; 0xFFFFFFFF = never expires). */
  expiryInterval = 0;
  /** Whether the session queue is durable (decided when the session began). */
  durable = false;
  /** The live connection, if any. */
  connection: { takeOver(): void } | undefined;
  expiryTimer: Timer | undefined;
  /** Packet ids messages were sent with, so a resend after reconnect uses the same id. */
  pidOf: WeakMap<Message, number> | undefined;
  /** Whether the QoS 2 marker queue exists. */
  hasQos2Queue = false;
  pendingWill: PendingWill | undefined;
  /**
   * The broker user the session belongs to: a CONNECT of another user with this client id is
   * refused, so nobody takes over (or reads) someone else's session. Undefined for a session
   * stored before owners were recorded; its next owner claims it.
   */
  user: string | undefined;

  constructor(readonly clientId: string) {}

  get queue(): string {
    return sessionQueueName(this.clientId);
  }

  /** By key. */
  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.subs ?? EMPTY;
  }

  subscribe(sub: Subscription): void {
    (this.subs ??= new Map()).set(sub.key, sub);
  }

  unsubscribe(key: string): boolean {
    return this.subs?.delete(key) === true;
  }

  clearSubscriptions(): void {
    this.subs = undefined;
  }

  /** Inbound QoS 2 packet ids awaiting their PUBREL. */
  get awaitingRelease(): ReadonlyMap<number, number> {
    return this.awaiting ?? EMPTY;
  }

  awaitRelease(pid: number, markerTag: number): void {
    (this.awaiting ??= new Map()).set(pid, markerTag);
  }

  releasedInbound(pid: number): void {
    this.awaiting?.delete(pid);
  }

  /** Outbound QoS 2 packet ids released (PUBREL sent) and awaiting their PUBCOMP. */
  get released(): ReadonlyMap<number, number> {
    return this.releasedIds ?? EMPTY;
  }

  markReleased(pid: number, markerTag: number): void {
    (this.releasedIds ??= new Map()).set(pid, markerTag);
  }

  completed(pid: number): void {
    this.releasedIds?.delete(pid);
  }

  /** QoS 2 packet-id state, both ways, forgotten (a durable session reloads it from its markers). */
  clearQos2State(): void {
    this.awaiting = undefined;
    this.releasedIds = undefined;
  }

  /** The persistent record: what must come back after a restart. */
  encode(): Buffer {
    return Buffer.from(
      JSON.stringify({
        expiry: this.expiryInterval,
        qos2: this.hasQos2Queue,
        user: this.user,
        subs: [...this.subscriptions.values()],
      }),
    );
  }

  /** A session from its record; undefined for a record that cannot be read (it is skipped). */
  static decode(clientId: string, b: Buffer): MqttSession | undefined {
    try {
      const r = JSON.parse(b.toString('utf8')) as {
        expiry: number;
        qos2: boolean;
        subs: Subscription[];
        user?: string;
      };
      const s = new MqttSession(clientId);
      s.user = r.user;
      s.expiryInterval = r.expiry;
      s.durable = true;
      s.hasQos2Queue = r.qos2;
      for (const sub of r.subs) s.subscribe({ ...sub, group: sub.group ?? undefined });
      return s;
    } catch (e) {
      process.emitWarning(`mqtt: the stored session of '${clientId}' cannot be read: ${String(e)}`);
      return undefined;
    }
  }
}
