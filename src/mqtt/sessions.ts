/**
 * The sessions of every client id, and what runs without a client: session expiry (MQTT 5
 * section 3.1.2.11.2) and delayed wills (section 3.1.3.2.2). Timers come from the broker's clock.
 */
import type { CoreConnection, Message, RecordStore } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { Clock, Timer } from '../util/clock.js';
import { warn } from './log.js';
import type { RetainedStore } from './retained.js';
import { MqttSession, qos2QueueName, SESSION_RECORD, sharedQueueName } from './session.js';

/** setTimeout's longest delay; longer expiries are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SessionRegistry {
  private readonly byClientId = new Map<string, MqttSession>();
  private readonly willTimers = new Set<Timer>();

  constructor(
    private readonly clock: Clock,
    private readonly records: RecordStore,
    /** The front end's own handle on the core: queues of ended sessions, wills. */
    private readonly internal: CoreConnection,
    private readonly retained: RetainedStore,
    private readonly exchange: string,
  ) {}

  /** Takes back the persistent sessions of the records (after a restart); their expiry starts. */
  restore(): void {
    for (const [clientId, bytes] of this.records.records(SESSION_RECORD)) {
      const s = MqttSession.decode(clientId, bytes);
      if (s === undefined) continue;
      this.byClientId.set(clientId, s);
      this.scheduleExpiry(s);
    }
    this.dropOrphanQueues();
  }

  get(clientId: string): MqttSession | undefined {
    return this.byClientId.get(clientId);
  }

  /** A new session for `clientId`, replacing none (the caller ended any earlier one). */
  create(clientId: string): MqttSession {
    const s = new MqttSession(clientId);
    this.byClientId.set(clientId, s);
    return s;
  }

  values(): IterableIterator<MqttSession> {
    return this.byClientId.values();
  }

  /**
   * After a restart: MQTT queues no stored session accounts for (a shared subscription whose
   * members were all clean sessions, or a session whose record went before its queue) go.
   */
  private dropOrphanQueues(): void {
    const wanted = new Set<string>();
    for (const s of this.byClientId.values()) {
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
        .written?.catch(warn(`could not drop left-over queue '${name}'`));
    }
  }

  /** Starts the countdown of an offline session; at zero the session ends. */
  scheduleExpiry(s: MqttSession): void {
    this.cancelExpiry(s);
    if (s.expiryInterval === 0xffffffff) return;
    const due = this.clock.now() + s.expiryInterval * 1000;
    const arm = () => {
      const left = due - this.clock.now();
      if (left <= 0) {
        s.expiryTimer = undefined;
        if (s.connection === undefined) this.end(s).catch(warn(`ending the expired session '${s.clientId}'`));
        return;
      }
      s.expiryTimer = this.clock.after(Math.min(left, MAX_TIMER_MS), arm);
    };
    arm();
  }

  cancelExpiry(s: MqttSession): void {
    s.expiryTimer?.cancel();
    s.expiryTimer = undefined;
  }

  /**
   * Ends a session for good: its queues, shared-subscription memberships and record go. Its
   * pending will (if delayed) is published now, as MQTT 5 section 3.1.3.2.2 asks.
   */
  end(s: MqttSession): Promise<void> {
    this.cancelExpiry(s);
    if (this.byClientId.get(s.clientId) === s) this.byClientId.delete(s.clientId);
    const will = s.pendingWill;
    s.pendingWill = undefined;
    if (will !== undefined) {
      will.timer.cancel();
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
    s.clearSubscriptions();
    if (s.durable) writes.push(this.records.deleteRecord(SESSION_RECORD, s.clientId));
    return Promise.all(writes).then(() => {});
  }

  /** After `s` left a shared subscription: deletes the shared queue if no session is left in it. */
  leaveShared(s: MqttSession, group: string, filter: string, drop: (queue: string) => void): void {
    const key = `$share/${group}/${filter}`;
    for (const other of this.byClientId.values()) {
      if (other !== s && other.subscriptions.has(key)) return;
    }
    drop(sharedQueueName(group, filter));
  }

  /** Persists a session's record (subscriptions, expiry); resolves when durable. */
  save(s: MqttSession): Promise<void> {
    if (!s.durable) return Promise.resolve();
    return this.records.putRecord(SESSION_RECORD, s.clientId, s.encode());
  }

  /** Arms a delayed will; it is published when the delay passes or the session ends first. */
  delayWill(s: MqttSession, msg: Message, topic: string, retain: boolean, delaySeconds: number): void {
    const timer = this.clock.after(Math.min(delaySeconds * 1000, MAX_TIMER_MS), () => {
      this.willTimers.delete(timer);
      if (s.pendingWill?.timer !== timer) return;
      s.pendingWill = undefined;
      this.publishWill(msg, topic, retain);
    });
    this.willTimers.add(timer);
    s.pendingWill = { msg, topic, retain, timer };
  }

  /** A client came back: its delayed will is cancelled [MQTT-3.1.3-9]. */
  cancelWill(s: MqttSession): void {
    const w = s.pendingWill;
    if (w === undefined) return;
    w.timer.cancel();
    this.willTimers.delete(w.timer);
    s.pendingWill = undefined;
  }

  /** Publishes a will (retained too when it asks) [MQTT-3.1.2-14] [MQTT-3.1.2-15]. */
  publishWill(msg: Message, topic: string, retain: boolean): void {
    try {
      if (retain) this.retained.set(topic, msg).catch(warn(`storing the retained will of '${topic}'`));
      this.internal.publish(this.internal.admitPublish(this.exchange, msg.routingKey, 'accept'), msg);
    } catch (e) {
      // The exchange went away, or the will's topic is not allowed: there is no one to tell.
      warn(`publishing the will of '${topic}'`)(e);
    }
  }

  /** Shutdown: timers stop. */
  close(): void {
    for (const t of this.willTimers) t.cancel();
    this.willTimers.clear();
    for (const s of this.byClientId.values()) this.cancelExpiry(s);
  }
}
