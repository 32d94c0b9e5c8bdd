/**
 * One MQTT client connection (3.1.1 or 5.0) over any byte stream. It turns packets into core
 * calls (publish to the MQTT exchange, a binding per subscription, a consumer on the session
 * queue) and deliveries back into PUBLISH packets.
 *
 * Replies (CONNACK, SUBACK, UNSUBACK, PUBACK, PUBREC, PUBREL, PUBCOMP) leave in the order their
 * requests came, each once what it depends on is durable (a store epoch, a record write): a FIFO
 * of replies, as the AMQP channel does for confirms.
 */
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { IConnectPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { type CoreConnection, type Message, Pause, type Queue, type Session } from '../core/index.js';
import { Deque } from '../util/deque.js';
import type { SwitchyardError } from '../errors/index.js';
import { type Packet, PacketReader, PacketWriter } from './codec.js';
import type { MqttFrontEnd } from './front-end.js';
import { messageFromPublish } from './map.js';
import { connackProperties, planConnect, type Will } from './connect.js';
import {
  ensureQos2Queue,
  marker,
  onPubcomp,
  onPubrec,
  onPubrel,
  reloadQos2Markers,
  resendReleases,
} from './qos2.js';
import { collectWrite, onSubscribe, onUnsubscribe } from './subscribe.js';
import { deliver, onPuback } from './delivery.js';
import { seal } from './payload-pool.js';
import { connackV3, errorText, MqttError, Reason, reasonOf, reasonText } from './reason.js';
import { MqttSession, NONE, SESSION_TAG, type Subscription, sharedQueueName } from './session.js';
import { topicNameError } from './topic.js';

const ACK_CMD: Record<number, 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'> = {
  4: 'puback',
  5: 'pubrec',
  6: 'pubrel',
  7: 'pubcomp',
};

const PUBACK = 4;
const PUBREC = 5;

/** How long a closing connection's last packets get to reach the client. */
const CLOSE_GRACE_MS = 2000;

interface Reply {
  /** Things still to become durable before this reply may go. */
  waits: number;
  send(): void;
}

export interface Outbound {
  readonly tag: number;
  readonly qos: number;
  /** The consumer took it without ack (noAck): nothing to settle. */
  readonly settled: boolean;
  /** Remembered so that a resend after a reconnect keeps the packet id (see close()). */
  readonly msg: Message;
}

export class MqttConnection {
  private readonly reader: PacketReader;
  readonly writer: PacketWriter;
  private state: 'connecting' | 'connected' | 'closed' = 'connecting';
  version = 4;
  private readonly openedAt = Date.now();
  private lastReceived = Date.now();
  private keepAlive = 0;
  core: CoreConnection | undefined;
  coreSession: Session | undefined;
  session: MqttSession | undefined;
  private will: Will | undefined;
  private replies: Deque<Reply> | undefined;
  /** Outbound QoS 1/2 deliveries awaiting PUBACK / PUBREC, by packet id. */
  // Created on first use (idle connections are many): reads of the shared empty map are fine.
  outbound: Map<number, Outbound> = NONE;
  nextPid = 1;
  /** Inbound QoS 1/2 publishes not yet acknowledged (Receive Maximum counts these). */
  inboundInFlight = 0;
  /** The client's limits (v5 CONNECT properties). */
  clientReceiveMaximum = 65535;
  clientMaxPacketSize = 0;
  clientTopicAliasMaximum = 0;
  private inboundAliases: Map<number, string> = NONE;
  outboundAliases: Map<string, number> | undefined;
  sessionNoAck = false;
  private connackSent = false;
  /** The session queue is declared on the core. */
  private queueReady = false;
  sharedSubs: Map<string, Subscription> = NONE;
  /** This connection has published: an alarm stops reading it. */
  private publisher = false;
  private readingPaused = false;

  constructor(
    /** The members without `private` below are shared with the packet handlers in src/mqtt. */
    readonly fe: MqttFrontEnd,
    private readonly stream: Duplex,
    private readonly remoteAddress: string,
    /** 'tcp' or 'ws', for connection listings. */
    readonly transport: 'tcp' | 'ws',
    private authenticated?: () => void,
  ) {
    // Until a CONNECT is accepted only a small packet is read: a stranger's 12 MB CONNECT full of
    // properties is refused from its fixed header, never buffered or parsed.
    const { maxPacketSize, maxPacketSizeUnauthenticated } = fe.settings;
    this.reader = new PacketReader(Math.min(maxPacketSize, maxPacketSizeUnauthenticated), this);
    this.writer = new PacketWriter(stream, this);
    // Shared listeners find the connection on the stream: no closures per connection.
    (stream as OwnedStream)[kConnection] = this;
    stream.on('data', onStreamData);
    stream.on('drain', onStreamDrain);
    stream.on('error', onStreamEnd);
    stream.on('close', onStreamEnd);
  }

  get clientId(): string | undefined {
    return this.session?.clientId;
  }

  // ---- input ---------------------------------------------------------------------------------

  /** Called by the stream's shared listener. */
  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastReceived = Date.now();
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.fail(e);
    }
  }

  /** PacketReader: the next packet. */
  onPacket(p: Packet): void {
    if (this.state === 'closed') return;
    if (this.state === 'connecting') {
      if (p.cmd !== 'connect') throw new MqttError(Reason.PROTOCOL_ERROR, `expected CONNECT, got ${p.cmd}`);
      this.onConnect(p);
      return;
    }
    switch (p.cmd) {
      case 'publish':
        this.onPublish(p);
        return;
      case 'puback':
        onPuback(this, p.messageId ?? 0);
        return;
      case 'pubrec':
        onPubrec(this, p.messageId ?? 0, p.reasonCode ?? 0);
        return;
      case 'pubrel':
        onPubrel(this, p);
        return;
      case 'pubcomp':
        onPubcomp(this, p.messageId ?? 0);
        return;
      case 'subscribe':
        onSubscribe(this, p);
        return;
      case 'unsubscribe':
        onUnsubscribe(this, p);
        return;
      case 'pingreq':
        this.writer.send({ cmd: 'pingresp' });
        return;
      case 'disconnect':
        this.onDisconnect(p);
        return;
      case 'connect':
        throw new MqttError(Reason.PROTOCOL_ERROR, 'second CONNECT on a connection');
      case 'auth':
        // No authentication method was agreed at CONNECT, so an AUTH is a protocol error
        // (0x8C is a CONNACK code, not a DISCONNECT one).
        throw new MqttError(
          Reason.PROTOCOL_ERROR,
          'bad authentication method: enhanced authentication is not supported',
        );
      default:
        throw new MqttError(Reason.PROTOCOL_ERROR, `unexpected ${p.cmd} from a client`);
    }
  }

  // ---- CONNECT -------------------------------------------------------------------------------

  private onConnect(p: IConnectPacket): void {
    const fe = this.fe;
    this.version = p.protocolVersion === 5 ? 5 : 4;
    this.writer.version = this.version;
    const decision = planConnect(p, fe.settings, this.remoteAddress, (user, password, address) =>
      fe.broker.authenticate(user, password, address),
    );
    if ('refuse' in decision) return this.refuse(decision.refuse, decision.message);
    const plan = decision.plan;
    const v5 = plan.version === 5;
    const clientId = plan.clientId;
    try {
      this.core = fe.broker.connect({
        protocol: 'mqtt',
        remoteAddress: this.remoteAddress,
        user: plan.user,
        vhost: fe.settings.vhost,
        clientName: clientId,
      });
    } catch (e) {
      return this.refuse(Reason.NOT_AUTHORIZED, errorText(e));
    }
    this.reader.maxPacketSize = fe.settings.maxPacketSize;
    this.authenticated?.();
    this.authenticated = undefined;
    this.will = plan.will;
    this.keepAlive = plan.keepAlive;
    this.clientReceiveMaximum = plan.receiveMaximum;
    this.clientMaxPacketSize = plan.maxPacketSize;
    this.clientTopicAliasMaximum = plan.topicAliasMaximum;

    // Takeover: the live connection of this client id goes first (MQTT 5 section 3.1.4).
    let session = fe.sessions.get(clientId);
    session?.connection?.takeOver();
    session = fe.sessions.get(clientId);
    const waits: Promise<void>[] = [];
    let present = false;
    if (session !== undefined && p.clean) {
      waits.push(fe.endSession(session));
      session = undefined;
    }
    if (session !== undefined) {
      present = true;
      fe.cancelExpiry(session);
      fe.cancelWill(session);
    } else {
      session = new MqttSession(clientId);
      fe.sessions.set(clientId, session);
    }
    this.session = session;
    session.connection = this;
    session.expiryInterval = plan.expiry;
    if (!present) session.durable = plan.expiry > 0;
    // An idle connection should cost little: the session queue and its consumer come with the
    // first subscription, unless a resumed session already has them.
    if (present && session.durable) this.ensureQueue(waits);
    if (session.durable) waits.push(fe.saveSession(session));

    if (present && session.durable && session.hasQos2Queue) waits.push(reloadQos2Markers(this, session));

    const connackProps = v5
      ? connackProperties(plan, fe.settings, p.properties?.requestResponseInformation === true)
      : undefined;
    this.state = 'connected';
    this.reply(() => {
      this.writer.send(
        v5
          ? { cmd: 'connack', sessionPresent: present, reasonCode: 0, properties: connackProps! }
          : { cmd: 'connack', sessionPresent: present, returnCode: 0 },
      );
      this.connackSent = true;
      const cs = this.coreSession;
      if (cs !== undefined) {
        this.startConsuming();
        resendReleases(this);
        cs.resume(Pause.SETUP);
      }
    }, waits);
    // The CONNECT packet is no longer needed; mqtt-packet keeps the last one as its settings.
    this.reader.forgetConnect();
  }

  /** The core session deliveries and QoS 2 markers live in, opened on first use. */
  openCoreSession(): Session {
    let cs = this.coreSession;
    if (cs === undefined) {
      cs = this.core!.openSession();
      this.coreSession = cs;
      // The client's Receive Maximum bounds unacknowledged deliveries across all its consumers
      // (the session queue's and the shared subscriptions'); QoS 0 deliveries are not counted.
      cs.prefetch = this.clientReceiveMaximum;
      // Nothing is delivered before the CONNACK has gone.
      if (!this.connackSent) cs.pause(Pause.SETUP);
    }
    return cs;
  }

  /** Declares the session queue (idempotent) and, once connected, consumes from it. */
  ensureQueue(waits: Promise<void>[]): void {
    if (this.queueReady) return;
    const session = this.session!;
    const core = this.core!;
    const { written } = core.declareQueue(session.queue, {
      durable: session.durable,
      exclusive: !session.durable,
      autoDelete: false,
      args: {},
      passive: false,
    });
    collectWrite(waits, written);
    this.queueReady = true;
    this.openCoreSession();
  }

  /** Refuses a CONNECT with the version's own code, then closes. */
  private refuse(reason: number, message: string): void {
    if (this.version === 5) {
      this.writer.send({
        cmd: 'connack',
        sessionPresent: false,
        reasonCode: reason,
        properties: { reasonString: message },
      });
    } else this.writer.send({ cmd: 'connack', sessionPresent: false, returnCode: connackV3(reason) });
    this.writer.flush();
    this.close();
  }

  /** Another connection took this client id over (MQTT 5: DISCONNECT 0x8E first). */
  takeOver(): void {
    this.disconnectWith(Reason.SESSION_TAKEN_OVER, 'another connection took the session over');
  }

  // ---- PUBLISH (client → broker) -------------------------------------------------------------

  private onPublish(p: IPublishPacket): void {
    const fe = this.fe;
    const props = p.properties;
    let topic = p.topic;
    if (props?.topicAlias !== undefined) {
      const alias = props.topicAlias;
      if (alias === 0 || alias > fe.settings.topicAliasMaximum) {
        throw new MqttError(Reason.TOPIC_ALIAS_INVALID, `topic alias ${alias} out of range`);
      }
      if (topic === '') {
        const known = this.inboundAliases.get(alias);
        if (known === undefined) throw new MqttError(Reason.PROTOCOL_ERROR, `unknown topic alias ${alias}`);
        topic = known;
      } else {
        if (this.inboundAliases === NONE) this.inboundAliases = new Map();
        this.inboundAliases.set(alias, topic);
      }
      delete props.topicAlias;
    }
    const bad = topicNameError(topic);
    if (bad !== undefined) throw new MqttError(Reason.TOPIC_NAME_INVALID, bad);
    const qos = p.qos;
    const pid = p.messageId ?? 0;
    this.publisher = true;
    if (fe.broker.publishersBlocked) this.pauseReading();

    const session = this.session!;
    if (qos === 2 && session.awaitingRelease.has(pid)) {
      // A resend of a publish we already have: acknowledge again, route nothing (exactly once).
      this.reply(() => this.writer.ack(PUBREC, pid, 0));
      return;
    }
    if (qos > 0) {
      if (this.version === 5 && this.inboundInFlight >= fe.settings.receiveMaximum) {
        throw new MqttError(
          Reason.RECEIVE_MAXIMUM_EXCEEDED,
          'more unacknowledged QoS 1/2 publishes than Receive Maximum',
        );
      }
    }
    const payload = p.payload as Buffer;
    if (props?.payloadFormatIndicator === true && !isUtf8(payload)) {
      if (qos === 0)
        throw new MqttError(
          Reason.PAYLOAD_FORMAT_INVALID,
          'payload is not UTF-8 as its format indicator says',
        );
      this.ackLater(qos, pid, Reason.PAYLOAD_FORMAT_INVALID, 0, []);
      return;
    }
    const now = Date.now();
    const key = fe.topics.keyFor(topic);
    const msg = messageFromPublish(fe.settings.exchange, topic, p, now, key);
    const core = this.core!;
    const waits: Promise<void>[] = [];
    if (p.retain) {
      const w = fe.retained.set(topic, msg);
      if (qos > 0) waits.push(w);
      else w.catch(() => {});
    }
    let queues: readonly Queue[];
    let epoch: number;
    try {
      const exchange = core.admitPublish(fe.settings.exchange, key, 'accept');
      if (qos === 2 && session.durable) {
        // The message and its packet-id marker are written as one record: after a crash either
        // both are there (a resend is recognised) or neither (the resend is the first copy).
        const q2 = ensureQos2Queue(this, waits);
        let routed: readonly Queue[] = [];
        epoch = core.atomically(() => {
          routed = core.publish(exchange, msg).queues;
          core.publishToQueue(q2, marker('i', pid));
        });
        queues = routed;
        const got = core.get(this.openCoreSession(), q2, false);
        session.awaiting().set(pid, got?.tag ?? 0);
      } else {
        ({ queues, epoch } = core.publish(exchange, msg));
        if (qos === 2) session.awaiting().set(pid, 0);
      }
    } catch (e) {
      if (qos === 0 || this.version !== 5) throw e;
      this.ackLater(qos, pid, reasonOf(e), 0, []);
      return;
    }
    // Exactly one queue and not stored: one delivery at most, after whose write (and PUBACK)
    // the payload buffer can be reused (payload-pool.ts).
    if (qos < 2 && queues.length === 1 && !p.retain && msg.storeId === 0) seal(msg.body);
    if (qos === 0) return;
    const reason =
      queues.length === 0 && this.version === 5 ? Reason.NO_MATCHING_SUBSCRIBERS : Reason.SUCCESS;
    this.ackLater(qos, pid, reason, epoch, waits);
  }

  /**
   * PUBACK / PUBREC / PUBREL / PUBCOMP. Success is the short form; in MQTT 5 any other reason
   * carries a Reason String too.
   */
  ack(type: number, pid: number, reason: number, text?: string): void {
    if (reason === 0 || this.version !== 5) {
      this.writer.ack(type, pid, reason);
      return;
    }
    const cmd = ACK_CMD[type]!;
    this.writer.send({
      cmd,
      messageId: pid,
      reasonCode: reason,
      properties: { reasonString: text ?? reasonText(reason) },
    } as Packet);
  }

  /** PUBACK (QoS 1) or PUBREC (QoS 2) once the message is safe. */
  private ackLater(qos: number, pid: number, reason: number, epoch: number, waits: Promise<void>[]): void {
    const type = qos === 1 ? PUBACK : PUBREC;
    // A QoS 2 publish counts against Receive Maximum until its PUBREL, unless refused (no PUBREL
    // follows a failed PUBREC).
    const untilRelease = qos === 2 && reason < 0x80;
    if (epoch === 0 && waits.length === 0 && (this.replies === undefined || this.replies.length === 0)) {
      // Nothing to wait for and nothing queued before it: the common transient case, no Reply.
      this.ack(type, pid, reason);
      if (untilRelease) this.inboundInFlight++;
      return;
    }
    this.inboundInFlight++;
    this.reply(
      () => {
        if (!untilRelease) this.inboundInFlight--;
        this.ack(type, pid, reason);
      },
      waits,
      epoch,
    );
  }

  // ---- deliveries (broker → client) ----------------------------------------------------------

  /** Starts the consumers once the CONNACK is out. */
  private startConsuming(): void {
    const session = this.session!;
    if (this.queueReady) this.refreshSessionConsumer();
    for (const sub of session.subscriptions.values()) {
      if (sub.group !== undefined) this.consumeShared(sub);
    }
  }

  /**
   * The session queue's consumer takes deliveries without ack when every subscription is QoS 0
   * (no per-message settle); it is re-created when that changes.
   */
  refreshSessionConsumer(): void {
    const session = this.session!;
    const cs = this.coreSession;
    if (cs === undefined || !this.queueReady || !this.connackSent) return;
    let maxQos = 0;
    let any = false;
    for (const sub of session.subscriptions.values()) {
      if (sub.group !== undefined) continue;
      any = true;
      if (sub.qos > maxQos) maxQos = sub.qos;
    }
    const noAck = any && maxQos === 0;
    const existing = cs.consumers.get(SESSION_TAG);
    if (existing !== undefined && existing.noAck === noAck) return;
    if (existing !== undefined) cs.removeConsumer(SESSION_TAG);
    this.sessionNoAck = noAck;
    this.core!.consume(cs, session.queue, { tag: SESSION_TAG, noAck, exclusive: false, args: {} }, this);
  }

  consumeShared(sub: Subscription): void {
    if (!this.connackSent) return; // startConsuming does it
    const cs = this.openCoreSession();
    const tag = `share:${sub.key}`;
    if (cs.consumers.has(tag)) cs.removeConsumer(tag);
    if (this.sharedSubs === NONE) this.sharedSubs = new Map();
    this.sharedSubs.set(tag, sub);
    this.core!.consume(
      cs,
      sharedQueueName(sub.group!, sub.filter),
      { tag, noAck: sub.qos === 0, exclusive: false, args: {} },
      this,
    );
  }

  /** DeliverySink: a message for this client (see delivery.ts). */
  deliver(consumerTag: string, tag: number, redelivered: boolean, msg: Message, _queue: Queue): void {
    deliver(this, consumerTag, tag, redelivered, msg);
  }

  cancelled(consumerTag: string, reason?: SwitchyardError): void {
    // The queue was deleted under us (e.g. by an AMQP client), or a message could not be sent:
    // the subscription can't go on.
    if (consumerTag === SESSION_TAG || consumerTag.startsWith('share:')) {
      this.disconnectWith(Reason.UNSPECIFIED_ERROR, reason?.message ?? 'the session queue was deleted');
    }
  }

  // ---- DISCONNECT and closing ----------------------------------------------------------------

  private onDisconnect(p: IDisconnectPacket): void {
    const session = this.session!;
    const reason = p.reasonCode ?? 0;
    const newExpiry = p.properties?.sessionExpiryInterval;
    if (newExpiry !== undefined) {
      if (session.expiryInterval === 0 && newExpiry !== 0) {
        throw new MqttError(Reason.PROTOCOL_ERROR, 'session expiry set on DISCONNECT after 0 on CONNECT');
      }
      session.expiryInterval = Math.min(newExpiry, this.fe.settings.maxSessionExpiry);
    }
    // A normal DISCONNECT drops the will; 0x04 asks for it (MQTT 5 section 3.14.2.1).
    if (reason !== Reason.DISCONNECT_WITH_WILL) this.will = undefined;
    this.close();
  }

  /** v5: DISCONNECT with a reason, then close; 3.1.1 has no server DISCONNECT, so just close. */
  disconnectWith(reason: number, message: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') {
      this.writer.send({ cmd: 'disconnect', reasonCode: reason, properties: { reasonString: message } });
    }
    this.writer.flush();
    this.close();
  }

  /** Broker shutdown. */
  shutdown(): void {
    this.disconnectWith(Reason.SERVER_SHUTTING_DOWN, 'broker shutting down');
  }

  private fail(e: unknown): void {
    if (e instanceof MqttError) {
      if (this.state === 'connecting') {
        // Before CONNECT was accepted: an unsupported version gets its CONNACK (3.1.1 code 1),
        // everything else just a closed socket.
        if (/protocol version/i.test(e.message)) {
          this.writer.send({ cmd: 'connack', sessionPresent: false, returnCode: 1 });
        }
        this.writer.flush();
        this.close();
        return;
      }
      this.disconnectWith(e.reason, e.message);
      return;
    }
    this.disconnectWith(Reason.UNSPECIFIED_ERROR, errorText(e));
  }

  /**
   * Closes the connection. A will still set (no normal DISCONNECT came) is published, now or
   * after its delay while the session lives on.
   */
  close(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.writer.flush();
    this.writer.closed = true;
    this.fe.connections.delete(this);
    // end() lets what was written (a CONNACK or DISCONNECT with its reason) reach the client;
    // the socket is destroyed once that is flushed, or after a grace period if the peer stalls.
    const stream = this.stream;
    if (!stream.destroyed) {
      stream.end();
      const grace = setTimeout(() => stream.destroy(), CLOSE_GRACE_MS);
      grace.unref();
      stream.once('finish', () => {
        clearTimeout(grace);
        stream.destroy();
      });
    }
    const session = this.session;
    this.core?.close();
    if (!wasConnected || session === undefined) return;
    if (session.connection === this) session.connection = undefined;
    else return; // taken over: the new connection owns the session now
    // In-flight deliveries go back to the queue; their packet ids are kept for the resend.
    if (this.outbound.size > 0) {
      const pidOf = (session.pidOf ??= new WeakMap());
      for (const [pid, o] of this.outbound) pidOf.set(o.msg, pid);
    }
    this.outbound.clear();
    if (session.durable) {
      // Markers went back to their queue with the core session; the next connection reloads them.
      session.awaitingRelease.clear();
      session.released.clear();
    }
    // A normal DISCONNECT cleared the will; any other end publishes it.
    const will = this.will;
    this.will = undefined;
    if (will !== undefined) {
      if (will.delay > 0 && session.expiryInterval > 0) {
        this.fe.delayWill(
          session,
          will.msg,
          will.topic,
          will.retain,
          Math.min(will.delay, session.expiryInterval),
        );
      } else this.fe.publishWill(will.msg, will.topic, will.retain);
    }
    if (session.expiryInterval === 0) void this.fe.endSession(session).catch(() => {});
    else this.fe.scheduleExpiry(session);
  }

  // ---- timers, flow control ------------------------------------------------------------------

  /** The socket drained: deliveries go on. */
  drained(): void {
    this.writer.drained();
  }

  /** Called every second by the front end: CONNECT timeout and keep-alive (1.5 x, MQTT 3.1.2.10). */
  tick(now: number): void {
    if (this.state === 'connecting') {
      if (now - this.openedAt > this.fe.settings.connectTimeout) this.close();
      return;
    }
    if (this.keepAlive > 0 && now - this.lastReceived > this.keepAlive * 1500) {
      this.disconnectWith(Reason.KEEP_ALIVE_TIMEOUT, 'keep alive timeout');
    }
  }

  /** A resource alarm came on or went off: publishers stop being read while it is on. */
  blockedChanged(blocked: boolean): void {
    if (blocked && this.publisher) this.pauseReading();
    else if (!blocked && this.readingPaused) {
      this.readingPaused = false;
      this.stream.resume();
    }
  }

  private pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.stream.pause();
  }

  /** PacketWriter: the socket's buffer filled up or drained. */
  backpressure(full: boolean): void {
    const cs = this.coreSession;
    if (cs === undefined) return;
    if (full) cs.pause(Pause.BACKPRESSURE);
    else cs.resume(Pause.BACKPRESSURE);
  }

  // ---- ordered replies -----------------------------------------------------------------------

  /**
   * Queues a reply behind the earlier ones; it goes once `waits` have resolved and the store has
   * flushed `epoch` (0 = nothing to flush).
   */
  reply(send: () => void, waits: readonly Promise<void>[] = [], epoch = 0): void {
    const r: Reply = { waits: 0, send };
    (this.replies ??= new Deque<Reply>(4)).push(r);
    const store = this.fe.broker.store;
    if (epoch !== 0 && store !== undefined) {
      r.waits++;
      store.whenDurable(epoch, (err) => {
        if (err !== undefined) return this.storeFailed(err);
        r.waits--;
        this.flushReplies();
      });
    }
    for (const w of waits) {
      r.waits++;
      w.then(
        () => {
          r.waits--;
          this.flushReplies();
        },
        (e: unknown) => this.storeFailed(e),
      );
    }
    if (r.waits === 0) this.flushReplies();
  }

  private flushReplies(): void {
    const q = this.replies;
    if (q === undefined) return;
    while (q.length > 0 && q.peek()!.waits === 0) {
      const r = q.shift()!;
      if (this.state === 'closed') continue;
      try {
        r.send();
      } catch (e) {
        // Replies run from promise callbacks: an error here must end this connection, not
        // become an unhandled rejection that ends the process.
        this.fail(e);
        return;
      }
    }
    // Idle connections hold no queue (replies are rare once the session is set up).
    if (q.length === 0 && this.replies === q) this.replies = undefined;
  }

  /** Nothing may be acknowledged after a failed write: the client must retry elsewhere. */
  private storeFailed(e: unknown): void {
    this.disconnectWith(Reason.UNSPECIFIED_ERROR, `store failure: ${errorText(e)}`);
  }
}

const kConnection = Symbol('mqtt connection');
type OwnedStream = Duplex & { [kConnection]: MqttConnection };

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[kConnection].onData(chunk);
}

function onStreamDrain(this: OwnedStream): void {
  this[kConnection].drained();
}

function onStreamEnd(this: OwnedStream): void {
  this[kConnection].close();
}
