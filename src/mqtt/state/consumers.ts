/**
 * The core side of a client's subscriptions: the core session deliveries come through (its
 * prefetch is the client's Receive Maximum), the session queue's consumer, and one consumer per
 * shared subscription. An idle connection has none of them: they come with the first
 * subscription, or with a resumed session that already has them.
 */
import { type CoreConnection, type DeliverySink, Pause, type Session } from '../../core/index.js';
import { SESSION_TAG, type MqttSession, type Subscription, sharedQueueName } from '../session.js';

export class Consumers {
  /** Deliveries and QoS 2 markers live here; opened on first use. */
  coreSession: Session | undefined;
  /** The session queue's consumer takes deliveries without ack (every subscription is QoS 0). */
  sessionNoAck = false;
  /** The CONNACK has gone: consumers may start (nothing is delivered before it [MQTT-3.2.0-1]). */
  private started = false;
  /** The session queue is declared on the core. */
  private queueReady = false;
  /** Shared subscriptions by consumer tag (`share:` + key); made on first use. */
  private shared: Map<string, Subscription> | undefined;

  constructor(
    private readonly core: CoreConnection,
    private readonly session: MqttSession,
    private readonly sink: DeliverySink,
    /** The client's Receive Maximum. */
    private readonly receiveMaximum: number,
  ) {}

  /** The core session, opened on first use. */
  open(): Session {
    let cs = this.coreSession;
    if (cs === undefined) {
      cs = this.core.openSession();
      this.coreSession = cs;
      // The client's Receive Maximum bounds unacknowledged deliveries across all its consumers
      // (the session queue's and the shared subscriptions'); QoS 0 deliveries are not counted
      // [MQTT-3.3.4-9].
      cs.prefetch = this.receiveMaximum;
      if (!this.started) cs.pause(Pause.SETUP);
    }
    return cs;
  }

  /** Declares the session queue (idempotent); `waits` gets its write. */
  ensureQueue(waits: Promise<void>[]): void {
    if (this.queueReady) return;
    const session = this.session;
    const { written } = this.core.declareQueue(session.queue, {
      durable: session.durable,
      exclusive: !session.durable,
      autoDelete: false,
      args: {},
      passive: false,
    });
    if (written !== undefined) waits.push(written);
    this.queueReady = true;
    this.open();
  }

  /** The CONNACK went: consumers start (deliveries wait until the SETUP pause is lifted). */
  start(): void {
    this.started = true;
    if (this.coreSession === undefined) return;
    if (this.queueReady) this.refresh();
    for (const sub of this.session.subscriptions.values()) {
      if (sub.group !== undefined) this.consumeShared(sub);
    }
  }

  /**
   * The session queue's consumer takes deliveries without ack when every subscription is QoS 0
   * (no per-message settle); it is re-created when that changes.
   */
  refresh(): void {
    const cs = this.coreSession;
    if (cs === undefined || !this.queueReady || !this.started) return;
    let maxQos = 0;
    let any = false;
    for (const sub of this.session.subscriptions.values()) {
      if (sub.group !== undefined) continue;
      any = true;
      if (sub.qos > maxQos) maxQos = sub.qos;
    }
    const noAck = any && maxQos === 0;
    const existing = cs.consumers.get(SESSION_TAG);
    if (existing !== undefined && existing.noAck === noAck) return;
    if (existing !== undefined) cs.removeConsumer(SESSION_TAG);
    this.sessionNoAck = noAck;
    this.core.consume(
      cs,
      this.session.queue,
      // The session queue is this client's alone: QoS 0 past the outbound bound is dropped.
      { tag: SESSION_TAG, noAck, exclusive: false, dropWhenFull: true, args: {} },
      this.sink,
    );
  }

  /** Consumes from a shared subscription's queue (once started; start() does it otherwise). */
  consumeShared(sub: Subscription): void {
    if (!this.started) return;
    const cs = this.open();
    const tag = `share:${sub.key}`;
    if (cs.consumers.has(tag)) cs.removeConsumer(tag);
    (this.shared ??= new Map()).set(tag, sub);
    this.core.consume(
      cs,
      sharedQueueName(sub.group!, sub.filter),
      // A shared group's queue serves other members: its messages wait there.
      { tag, noAck: sub.qos === 0, exclusive: false, dropWhenFull: false, args: {} },
      this.sink,
    );
  }

  /** The shared subscription a consumer tag serves. */
  sharedSubscription(tag: string): Subscription | undefined {
    return this.shared?.get(tag);
  }

  /** Stops consuming a shared subscription (UNSUBSCRIBE). */
  stopShared(key: string): void {
    const tag = `share:${key}`;
    this.coreSession?.removeConsumer(tag);
    this.shared?.delete(tag);
  }
}
