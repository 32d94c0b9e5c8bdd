/**
 * An MQTT session: what outlives a connection when the client asked for it (subscriptions, the
 * session queue's messages, QoS 2 packet-id state) and the timers for its expiry and its will.
 * Persistent sessions are written to the broker's durable records, so they survive a restart;
 * their queue and bindings are durable definitions in the core.
 */
import type { Message } from '../core/index.js';

export type QoS = 0 | 1 | 2;

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

/** The empty map idle connections share; replaced by a map of their own on first write. */
// biome-ignore lint/suspicious/noExplicitAny: one shared empty map stands in for maps of any type
export const NONE: Map<any, any> = new Map();

/** Shared by sessions that never used QoS 2; only read, deleted from and cleared (no-ops). */
const NO_IDS = new Map<number, number>();
const NO_SUBS = new Map<string, Subscription>();

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

export class MqttSession {
  /** By key; a shared empty map until the first subscription (idle clients are many). */
  subscriptions: ReadonlyMap<string, Subscription> & { delete(k: string): boolean; clear(): void } = NO_SUBS;

  /** subscriptions, writable. */
  subs(): Map<string, Subscription> {
    if (this.subscriptions === NO_SUBS) this.subscriptions = new Map();
    return this.subscriptions as Map<string, Subscription>;
  }
  /** Seconds the session outlives its connection (0 = ends with it; 0xFFFFFFFF = never expires). */
  expiryInterval = 0;
  /** Whether the session queue is durable (decided when the session began). */
  durable = false;
  /** The live connection, if any (typed loosely: the connection module imports this one). */
  connection: { takeOver(): void } | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  /** Inbound QoS 2: packet ids received, PUBREL not yet seen → delivery tag of its marker (0 = none). */
  awaitingRelease: ReadonlyMap<number, number> & { delete(k: number): boolean; clear(): void } = NO_IDS;
  /** Outbound QoS 2: packet ids released (PUBREL sent), PUBCOMP not yet seen → marker tag (0 = none). */
  released: ReadonlyMap<number, number> & { delete(k: number): boolean; clear(): void } = NO_IDS;
  /** Packet ids messages were sent with, so a resend after reconnect uses the same id. */
  pidOf: WeakMap<Message, number> | undefined;

  /** awaitingRelease, writable (created on first use: most sessions never use QoS 2). */
  awaiting(): Map<number, number> {
    if (this.awaitingRelease === NO_IDS) this.awaitingRelease = new Map();
    return this.awaitingRelease as Map<number, number>;
  }

  /** released, writable (created on first use). */
  releasedIds(): Map<number, number> {
    if (this.released === NO_IDS) this.released = new Map();
    return this.released as Map<number, number>;
  }
  /** Whether the QoS 2 marker queue exists. */
  hasQos2Queue = false;
  /** A will waiting for its delay (MQTT 5 Will Delay Interval) after an abnormal disconnect. */
  pendingWill: { msg: Message; topic: string; retain: boolean; timer: NodeJS.Timeout } | undefined;

  constructor(readonly clientId: string) {}

  get queue(): string {
    return sessionQueueName(this.clientId);
  }

  /** The persistent record: what must come back after a restart. */
  encode(): Buffer {
    return Buffer.from(
      JSON.stringify({
        expiry: this.expiryInterval,
        qos2: this.hasQos2Queue,
        subs: [...this.subscriptions.values()],
      }),
    );
  }

  static decode(clientId: string, b: Buffer): MqttSession | undefined {
    try {
      const r = JSON.parse(b.toString('utf8')) as { expiry: number; qos2: boolean; subs: Subscription[] };
      const s = new MqttSession(clientId);
      s.expiryInterval = r.expiry;
      s.durable = true;
      s.hasQos2Queue = r.qos2;
      for (const sub of r.subs) s.subs().set(sub.key, { ...sub, group: sub.group ?? undefined });
      return s;
    } catch {
      return undefined;
    }
  }
}
