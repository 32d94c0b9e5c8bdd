/**
 * One MQTT client connection (3.1.1 or 5.0) over any byte stream (a TCP socket, a WebSocket
 * stream, an in-memory duplex in tests). It owns the stream, the packet reader and writer, and
 * the connection's state objects; packets go to the handlers (handlers/), deliveries from the
 * core to delivery.ts.
 */
import type { Duplex } from 'node:stream';
import { type CoreConnection, type DeliverySink, type Message, Pause } from '../core/index.js';
import { isSwitchyardError, SwitchyardError } from '../errors/index.js';
import {
  type AckType,
  type ClientPacket,
  PACKET_NAMES,
  PacketReader,
  PacketType,
  PacketWriter,
} from './codec/index.js';
import type { ConnectPlan, Will } from './connect-plan.js';
import type { ClientLimits, ConnectContext, LiveConnection, MqttContext, MqttServices } from './context.js';
import { deliver } from './delivery.js';
import { dispatch, onConnect } from './handlers/index.js';
import { errorText, warn } from './log.js';
import { connackV3, disconnectReason, reasonText } from './map.js';
import { type MqttSession, SESSION_TAG } from './session.js';
import { TopicAliases } from './state/aliases.js';
import { Consumers } from './state/consumers.js';
import { Inflight } from './state/inflight.js';
import { KeepAlive } from './state/keep-alive.js';
import { Replies } from './state/replies.js';

/** How long a closing connection's last packets get to reach the client. */
const CLOSE_GRACE_MS = 2000;

export class MqttConnection implements ConnectContext, MqttContext, DeliverySink, LiveConnection {
  private readonly reader: PacketReader;
  readonly writer: PacketWriter;
  readonly replies: Replies;
  readonly inflight = new Inflight();
  private readonly keepAlive: KeepAlive;
  private state: 'connecting' | 'connected' | 'closed' = 'connecting';
  version: 4 | 5 = 4;
  /** Inbound QoS 1/2 publishes not yet acknowledged (Receive Maximum counts these). */
  inboundInFlight = 0;
  // Set by begin() when the CONNECT is accepted; handlers run only after it.
  session!: MqttSession;
  core!: CoreConnection;
  consumers!: Consumers;
  aliases!: TopicAliases;
  limits!: ClientLimits;
  private will: Will | undefined;
  /** This connection has published: an alarm stops reading it. */
  private publisher = false;
  private readingPaused = false;

  constructor(
    readonly services: MqttServices,
    private readonly stream: Duplex,
    readonly remoteAddress: string,
    /** 'tcp' or 'ws', for connection listings. */
    readonly transport: 'tcp' | 'ws',
    /** Called once the CONNECT has been accepted. */
    private authenticated?: () => void,
    /** With mqtt.certLogin, the verified certificate's CN (the front end's certificateUser). */
    readonly certUser: string | undefined = undefined,
  ) {
    // Until a CONNECT is accepted only a small packet is read: a stranger's 12 MB CONNECT full of
    // properties is refused from its fixed header, never buffered or decoded.
    const { maxPacketSize, maxPacketSizeUnauthenticated } = services.settings;
    this.reader = new PacketReader(
      Math.min(maxPacketSize, maxPacketSizeUnauthenticated),
      this,
      services.pool,
    );
    this.writer = new PacketWriter(stream, this, services.pool);
    this.writer.maxBuffered = services.settings.maxOutboundBytes;
    this.replies = new Replies(this, services.broker.store);
    this.keepAlive = new KeepAlive(services.clock.now());
    // Shared listeners find the connection on the stream: no closures per connection.
    (stream as OwnedStream)[kConnection] = this;
    stream.on('data', onStreamData);
    stream.on('drain', onStreamDrain);
    stream.on('error', onStreamEnd);
    stream.on('close', onStreamEnd);
  }

  get clientId(): string | undefined {
    return (this.session as MqttSession | undefined)?.clientId;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  get outboundBytes(): number {
    return this.writer.batched + this.stream.writableLength;
  }

  // ---- input ---------------------------------------------------------------------------------

  /** Called by the stream's shared listener. */
  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.keepAlive.received(this.services.clock.now());
    try {
      this.reader.push(chunk);
    } catch (e) {
      this.fail(e);
    }
  }

  /** PacketReader: the next packet. */
  onPacket(p: ClientPacket): void {
    if (this.state === 'connected') return dispatch(this, p);
    if (this.state === 'closed') return;
    // [MQTT-3.1.0-1]: the first packet is a CONNECT.
    if (p.type !== PacketType.CONNECT) {
      throw new SwitchyardError('PROTOCOL_ERROR', `expected CONNECT, got ${PACKET_NAMES[p.type]}`);
    }
    onConnect(this, p);
  }

  // ---- CONNECT (ConnectContext) --------------------------------------------------------------

  useVersion(version: 4 | 5): void {
    this.version = version;
    this.writer.version = version;
  }

  /** Refuses a CONNECT with the version's own code (3.1.1: mapped from the v5 reason), then closes. */
  refuse(e: SwitchyardError): void {
    const reason = e.spec.mqtt;
    // [MQTT-3.2.2-6] [MQTT-3.2.2-7]: Session Present 0, then the connection closes.
    if (this.version === 5) this.writer.connack(false, reason, { reasonString: e.message });
    else this.writer.connack(false, connackV3(reason));
    this.writer.flush();
    this.close();
  }

  begin(plan: ConnectPlan, core: CoreConnection, session: MqttSession): MqttContext {
    const settings = this.services.settings;
    this.core = core;
    this.reader.maxPacketSize = settings.maxPacketSize;
    this.authenticated?.();
    this.authenticated = undefined;
    this.will = plan.will;
    this.keepAlive.seconds = plan.keepAlive;
    this.limits = {
      receiveMaximum: plan.receiveMaximum,
      maxPacketSize: plan.maxPacketSize,
      topicAliasMaximum: plan.topicAliasMaximum,
    };
    this.writer.maxPacketSize = plan.maxPacketSize;
    this.aliases = new TopicAliases(settings.topicAliasMaximum, plan.topicAliasMaximum);
    this.session = session;
    session.connection = this;
    this.consumers = new Consumers(core, session, this, plan.receiveMaximum);
    return this;
  }

  established(): void {
    if (this.state === 'connecting') this.state = 'connected';
  }

  holdInput(): void {
    this.reader.hold();
    this.stream.pause();
  }

  releaseInput(): void {
    if (this.state === 'closed') return;
    try {
      this.reader.release();
    } catch (e) {
      this.fail(e);
      return;
    }
    // release() may have closed the connection (a bad packet in what was held).
    if (!this.readingPaused && !this.closed) this.stream.resume();
  }

  connackSent(): void {
    this.consumers.start();
  }

  /** Another connection took this client id over (MQTT 5: DISCONNECT 0x8E first) [MQTT-3.1.4-3]. */
  takeOver(): void {
    this.disconnect(new SwitchyardError('SESSION_TAKEN_OVER', 'another connection took the session over'));
  }

  // ---- what handlers use (MqttContext) -------------------------------------------------------

  ack(type: AckType, pid: number, reason: number, text?: string): void {
    if (reason === 0 || this.version !== 5) this.writer.ack(type, pid, reason);
    else this.writer.ackWith(type, pid, reason, { reasonString: text ?? reasonText(reason) });
  }

  publishing(): void {
    this.publisher = true;
    if (this.services.broker.publishersBlocked) this.pauseReading();
  }

  dropWill(): void {
    this.will = undefined;
  }

  // ---- deliveries (DeliverySink) -------------------------------------------------------------

  deliver(consumerTag: string, tag: number, redelivered: boolean, msg: Message): void {
    deliver(this, consumerTag, tag, redelivered, msg);
  }

  cancelled(consumerTag: string, reason?: SwitchyardError): void {
    // The queue was deleted under us (e.g. by an AMQP client), or a message could not be sent:
    // the subscription can't go on.
    if (consumerTag === SESSION_TAG || consumerTag.startsWith('share:')) {
      this.disconnect(
        new SwitchyardError('CONSUMER_CANCELLED', reason?.message ?? 'the session queue was deleted'),
      );
    }
  }

  // ---- ending --------------------------------------------------------------------------------

  /** v5: DISCONNECT with the error's reason, then close; 3.1.1 has no server DISCONNECT. */
  disconnect(e: SwitchyardError): void {
    this.end(e.spec.mqtt, e.message);
  }

  private end(reason: number, message: string): void {
    if (this.state === 'closed') return;
    if (this.version === 5 && this.state === 'connected') this.writer.disconnect(reason, message);
    this.writer.flush();
    this.close();
  }

  /** Broker shutdown (0x8B). */
  shutdown(): void {
    this.disconnect(new SwitchyardError('CONNECTION_FORCED', 'broker shutting down'));
  }

  /** An error ends the connection: a packet that broke the rules, a failed reply, a bug. */
  fail(e: unknown): void {
    if (this.state === 'connecting') {
      // Before a CONNECT was accepted: an unsupported version gets its CONNACK (3.1.1 return
      // code 1: the client's version is not known) [MQTT-3.1.2-2], anything else a closed socket.
      if (isSwitchyardError(e) && e.code === 'UNSUPPORTED_PROTOCOL_VERSION') {
        this.writer.connack(false, connackV3(e.spec.mqtt));
      }
      this.writer.flush();
      this.close();
      return;
    }
    this.end(disconnectReason(e), errorText(e));
  }

  /** Nothing may be acknowledged after a failed write: the client must retry elsewhere. */
  storeFailed(e: unknown): void {
    this.disconnect(new SwitchyardError('STORE_FAILED', `store failure: ${errorText(e)}`));
  }

  /**
   * Closes the connection. A will still set (no normal DISCONNECT came) is published, now or
   * after its delay while the session lives on [MQTT-3.1.2-8].
   */
  close(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.writer.flush();
    this.writer.closed = true;
    this.services.connections.delete(this);
    // end() lets what was written (a CONNACK or DISCONNECT with its reason) reach the client;
    // the stream is destroyed once that is flushed, or after a grace period if the peer stalls.
    const stream = this.stream;
    if (!stream.destroyed) {
      stream.end();
      const grace = this.services.clock.after(CLOSE_GRACE_MS, () => stream.destroy());
      stream.once('finish', () => {
        grace.cancel();
        stream.destroy();
      });
    }
    const session = this.session as MqttSession | undefined;
    (this.core as CoreConnection | undefined)?.close();
    if (!wasConnected || session === undefined) return;
    if (session.connection === this) session.connection = undefined;
    else return; // taken over: the new connection owns the session now
    // In-flight deliveries go back to the queue; their packet ids are kept for the resend.
    this.inflight.handOver(session);
    // Markers went back to their queue with the core session; the next connection reloads them.
    if (session.durable) session.clearQos2State();
    const sessions = this.services.sessions;
    // A normal DISCONNECT cleared the will; any other end publishes it.
    const will = this.will;
    this.will = undefined;
    if (will !== undefined) {
      if (will.delay > 0 && session.expiryInterval > 0) {
        sessions.delayWill(
          session,
          will.msg,
          will.topic,
          will.retain,
          Math.min(will.delay, session.expiryInterval),
        );
      } else sessions.publishWill(will.msg, will.topic, will.retain);
    }
    if (session.expiryInterval === 0)
      sessions.end(session).catch(warn(`ending the session of '${session.clientId}'`));
    else sessions.scheduleExpiry(session);
  }

  // ---- timers, flow control ------------------------------------------------------------------

  /** The stream drained: deliveries go on. */
  drained(): void {
    this.writer.drained();
  }

  /** Called every second by the front end: CONNECT timeout, and keep-alive [MQTT-3.1.2-22]. */
  tick(now: number): void {
    if (this.state === 'connecting') {
      if (this.keepAlive.connectOverdue(now, this.services.settings.connectTimeout)) this.close();
      return;
    }
    if (this.state === 'connected' && this.keepAlive.expired(now)) {
      this.disconnect(new SwitchyardError('KEEP_ALIVE_TIMEOUT', 'keep alive timeout'));
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

  /** PacketWriter: the stream's buffer filled up or drained. */
  backpressure(full: boolean): void {
    const cs = (this.consumers as Consumers | undefined)?.coreSession;
    if (cs === undefined) return;
    if (full) cs.pause(Pause.BACKPRESSURE);
    else cs.resume(Pause.BACKPRESSURE);
  }

  /**
   * PacketWriter: the stream holds more than limits.maxOutboundBytes, or drained. QoS 0 deliveries
   * are dropped meanwhile (counted by the core), QoS 1/2 wait in the session queue (issue 15).
   */
  overflow(over: boolean): void {
    const cs = (this.consumers as Consumers | undefined)?.coreSession;
    if (cs === undefined) return;
    if (over) cs.pause(Pause.OVERFLOW);
    else cs.resume(Pause.OVERFLOW);
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
