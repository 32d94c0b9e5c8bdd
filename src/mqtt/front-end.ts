/**
 * The MQTT front end: the sessions that outlive connections, the retained messages, and what
 * runs without a client (session expiry, delayed wills). Transports (TCP, WebSocket) hand each
 * accepted stream to accept(); everything else happens in MqttConnection.
 */
import type { Duplex } from 'node:stream';
import type { Broker, CoreConnection, Message } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { MqttConnection } from './connection.js';
import { RetainedStore } from './retained.js';
import { MqttSession, qos2QueueName, SESSION_RECORD, sharedQueueName } from './session.js';
import { TopicCache } from './topic-cache.js';

export interface MqttSettings {
  readonly exchange: string;
  readonly vhost: string;
  readonly maxPacketSize: number;
  /** Largest packet (and, over WebSocket, most bytes) before a CONNECT has been accepted. */
  readonly maxPacketSizeUnauthenticated: number;
  readonly receiveMaximum: number;
  /** QoS 1/2 deliveries a 3.1.1 client may have unacknowledged (v5 clients say their own). */
  readonly maxInflight: number;
  readonly topicAliasMaximum: number;
  /** 0 = accept the client's keep-alive. */
  readonly maxKeepAlive: number;
  readonly maxSessionExpiry: number;
  readonly connectTimeout: number;
  /** Who may connect without a user name: 'loopback' (the default), 'always' or 'never'. */
  readonly anonymous: 'loopback' | 'always' | 'never';
}

export const DEFAULT_MQTT_SETTINGS: MqttSettings = {
  exchange: 'amq.topic',
  vhost: '/',
  maxPacketSize: 64 * 1024 * 1024,
  maxPacketSizeUnauthenticated: 64 * 1024,
  receiveMaximum: 65535,
  maxInflight: 128,
  topicAliasMaximum: 100,
  maxKeepAlive: 0,
  maxSessionExpiry: 0xffffffff,
  connectTimeout: 10_000,
  anonymous: 'loopback',
};

/** setTimeout's longest delay; longer expiries are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class MqttFrontEnd {
  readonly sessions = new Map<string, MqttSession>();
  readonly connections = new Set<MqttConnection>();
  readonly retained: RetainedStore;
  /** The front end's own handle on the core: expiry clean-up, delayed wills, shared queues. */
  readonly internal: CoreConnection;
  private readonly clock: NodeJS.Timeout;
  private readonly unwatch: () => void;
  private readonly willTimers = new Set<NodeJS.Timeout>();
  /** Topic ↔ routing-key translations, shared by every connection. */
  readonly topics = new TopicCache();

  constructor(
    readonly broker: Broker,
    readonly settings: MqttSettings = DEFAULT_MQTT_SETTINGS,
  ) {
    this.internal = broker.connect({
      protocol: 'mqtt',
      remoteAddress: '',
      user: 'mqtt-internal',
      vhost: settings.vhost,
      clientName: 'mqtt front end',
    });
    this.internal.vhost.getExchange(settings.exchange); // fails start-up when it does not exist
    this.retained = new RetainedStore(broker.records);
    for (const [clientId, bytes] of broker.records.records(SESSION_RECORD)) {
      const s = MqttSession.decode(clientId, bytes);
      if (s === undefined) continue;
      this.sessions.set(clientId, s);
      this.scheduleExpiry(s);
    }
    this.dropOrphanQueues();
    this.clock = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.tick(now);
    }, 1000);
    this.clock.unref();
    this.unwatch = broker.onBlockedChange((blocked) => {
      for (const c of this.connections) c.blockedChanged(blocked);
    });
  }

  /**
   * After a restart: MQTT queues no stored session accounts for (a shared subscription whose
   * members were all clean sessions, or a session whose record went before its queue) go.
   */
  private dropOrphanQueues(): void {
    const wanted = new Set<string>();
    for (const s of this.sessions.values()) {
      wanted.add(s.queue);
      wanted.add(qos2QueueName(s.clientId));
      for (const sub of s.subscriptions.values()) {
        if (sub.group !== undefined) wanted.add(sharedQueueName(sub.group, sub.filter));
      }
    }
    const queues = this.internal.vhost.queues;
    for (const name of [...queues.keys()]) {
      const ours =
        name.startsWith('mqtt-session.') || name.startsWith('mqtt-qos2.') || name.startsWith('mqtt-share.');
      if (!ours || wanted.has(name)) continue;
      // Not waited for: a queue left over from a session that no longer exists; a failed write
      // leaves it to be dropped again at the next start.
      void this.internal
        .deleteQueue(name, false, false)
        .written?.catch((e: unknown) =>
          process.emitWarning(`mqtt: could not drop left-over queue '${name}': ${String(e)}`),
        );
    }
  }

  /** Runs the MQTT protocol on an accepted byte stream (a TCP socket or a WebSocket stream). */
  /** `authenticated` is called once the connection's CONNECT has been accepted. */
  accept(
    stream: Duplex,
    remoteAddress: string,
    transport: 'tcp' | 'ws',
    authenticated?: () => void,
  ): MqttConnection {
    const c = new MqttConnection(this, stream, remoteAddress, transport, authenticated);
    this.connections.add(c);
    return c;
  }

  /** Starts the countdown of an offline session; at zero the session ends. */
  scheduleExpiry(s: MqttSession): void {
    this.cancelExpiry(s);
    if (s.expiryInterval === 0xffffffff) return;
    const due = Date.now() + s.expiryInterval * 1000;
    const arm = () => {
      const left = due - Date.now();
      if (left <= 0) {
        s.expiryTimer = undefined;
        if (s.connection === undefined) void this.endSession(s).catch(() => {});
        return;
      }
      s.expiryTimer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      s.expiryTimer.unref();
    };
    arm();
  }

  cancelExpiry(s: MqttSession): void {
    if (s.expiryTimer !== undefined) clearTimeout(s.expiryTimer);
    s.expiryTimer = undefined;
  }

  /**
   * Ends a session for good: its queues, shared-subscription memberships and record go. Its
   * pending will (if delayed) is published now, as MQTT 5 section 3.1.3.2.2 asks.
   */
  endSession(s: MqttSession): Promise<void> {
    this.cancelExpiry(s);
    if (this.sessions.get(s.clientId) === s) this.sessions.delete(s.clientId);
    const will = s.pendingWill;
    s.pendingWill = undefined;
    if (will !== undefined) {
      clearTimeout(will.timer);
      this.willTimers.delete(will.timer);
      this.publishWill(will.msg, will.topic, will.retain);
    }
    const writes: Promise<void>[] = [];
    const drop = (queue: string) => {
      if (!this.internal.vhost.queues.has(queue)) return;
      try {
        const { written } = this.internal.deleteQueue(queue, false, false);
        if (written !== undefined) writes.push(written);
      } catch (e) {
        // An exclusive queue of a live connection (RESOURCE_LOCKED) goes with that connection.
        if (!(e instanceof SwitchyardError && e.code === 'RESOURCE_LOCKED')) throw e;
      }
    };
    if (s.durable) drop(s.queue);
    if (s.hasQos2Queue) drop(qos2QueueName(s.clientId));
    for (const sub of s.subscriptions.values()) {
      if (sub.group !== undefined) this.leaveShared(s, sub.group, sub.filter, drop);
    }
    s.subscriptions.clear();
    if (s.durable) writes.push(this.broker.records.deleteRecord(SESSION_RECORD, s.clientId));
    return Promise.all(writes).then(() => {});
  }

  /** After `s` left a shared subscription: deletes the shared queue if no session is left in it. */
  leaveShared(s: MqttSession, group: string, filter: string, drop: (queue: string) => void): void {
    const key = `$share/${group}/${filter}`;
    for (const other of this.sessions.values()) {
      if (other !== s && other.subscriptions.has(key)) return;
    }
    drop(sharedQueueName(group, filter));
  }

  /** Persists a session's record (subscriptions, expiry); resolves when durable. */
  saveSession(s: MqttSession): Promise<void> {
    if (!s.durable) return Promise.resolve();
    return this.broker.records.putRecord(SESSION_RECORD, s.clientId, s.encode());
  }

  /** Arms a delayed will; it is published when the delay passes or the session ends first. */
  delayWill(s: MqttSession, msg: Message, topic: string, retain: boolean, delaySeconds: number): void {
    const timer = setTimeout(
      () => {
        this.willTimers.delete(timer);
        if (s.pendingWill?.timer !== timer) return;
        s.pendingWill = undefined;
        this.publishWill(msg, topic, retain);
      },
      Math.min(delaySeconds * 1000, MAX_TIMER_MS),
    );
    timer.unref();
    this.willTimers.add(timer);
    s.pendingWill = { msg, topic, retain, timer };
  }

  /** A client came back: its delayed will is cancelled (MQTT 5 section 3.1.3.2.2). */
  cancelWill(s: MqttSession): void {
    const w = s.pendingWill;
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.willTimers.delete(w.timer);
    s.pendingWill = undefined;
  }

  publishWill(msg: Message, topic: string, retain: boolean): void {
    try {
      if (retain) void this.retained.set(topic, msg).catch(() => {});
      this.internal.publish(
        this.internal.admitPublish(this.settings.exchange, msg.routingKey, 'accept'),
        msg,
      );
    } catch {
      // the exchange went away: there is no one to tell
    }
  }

  /** Shutdown: every connection is told (v5: DISCONNECT 0x8B) and closed; timers stop. */
  close(): void {
    clearInterval(this.clock);
    this.unwatch();
    for (const c of [...this.connections]) c.shutdown();
    for (const t of this.willTimers) clearTimeout(t);
    this.willTimers.clear();
    for (const s of this.sessions.values()) this.cancelExpiry(s);
    this.internal.close();
  }
}
