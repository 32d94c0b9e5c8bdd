/**
 * What the packet handlers depend on: the front end's shared services and one connected
 * client, as narrow interfaces (the connection implements them; handlers never see its socket,
 * reader or lifecycle).
 */
import type { Broker, CoreConnection } from '../core/index.js';
import type { SwitchyardError } from '../errors/index.js';
import type { Clock } from '../util/clock.js';
import type { AckType, PacketWriter, PayloadPool } from './codec/index.js';
import type { ConnectPlan } from './connect-plan.js';
import type { RetainedStore } from './retained.js';
import type { MqttSession } from './session.js';
import type { SessionRegistry } from './sessions.js';
import type { MqttSettings } from './settings.js';
import type { TopicAliases } from './state/aliases.js';
import type { Consumers } from './state/consumers.js';
import type { Inflight } from './state/inflight.js';
import type { Replies } from './state/replies.js';
import type { TopicCache } from './topic-cache.js';

/** A live connection, as the front end drives it (timers, alarms, shutdown, listings). */
export interface LiveConnection {
  readonly clientId: string | undefined;
  readonly transport: 'tcp' | 'ws';
  /** Every second: the CONNECT timeout and the keep-alive. */
  tick(now: number): void;
  blockedChanged(blocked: boolean): void;
  shutdown(): void;
  /** Bytes waiting to be written: the writer's batch and the stream's (FrontEndStats.outboundBytes). */
  readonly outboundBytes: number;
}

/** What the front end shares with every connection. */
export interface MqttServices {
  readonly broker: Broker;
  readonly clock: Clock;
  readonly settings: MqttSettings;
  /** The front end's own handle on the core: shared-subscription queues, expiry, wills. */
  readonly internal: CoreConnection;
  readonly sessions: SessionRegistry;
  readonly retained: RetainedStore;
  /** Topic ↔ routing-key translations, shared by every connection. */
  readonly topics: TopicCache;
  readonly pool: PayloadPool;
  /** Open connections; a connection removes itself when it closes. */
  readonly connections: Set<LiveConnection>;
  /** Publishes dropped because the user may not publish there (3.1.1, and QoS 0 in 5). */
  refusedPublishes: number;
}

/** The limits a client announced in its CONNECT (a 3.1.1 client gets the broker's window). */
export interface ClientLimits {
  readonly receiveMaximum: number;
  /** 0 = none. */
  readonly maxPacketSize: number;
  readonly topicAliasMaximum: number;
}

/** A connection before its CONNECT: what the CONNECT handler needs. */
export interface ConnectContext {
  readonly services: MqttServices;
  readonly remoteAddress: string;
  /** With mqtt.certLogin, the subject CN of the client's verified TLS certificate. */
  readonly certUser: string | undefined;
  /** The CONNECT chose the protocol version: later packets are encoded for it. */
  useVersion(version: 4 | 5): void;
  /** Refuses the CONNECT with the error's code (a 3.1.1 return code mapped from it), then closes. */
  refuse(e: SwitchyardError): void;
  /** The CONNECT is accepted: the connection becomes `session`'s. */
  begin(plan: ConnectPlan, core: CoreConnection, session: MqttSession): MqttContext;
  /** The session is set up: the packets after the CONNECT go to the handlers. */
  established(): void;
  /** Holds the packets after the CONNECT (and stops reading) until releaseInput(). */
  holdInput(): void;
  /** Handles the held packets, then reads on. */
  releaseInput(): void;
  readonly closed: boolean;
  /** Closes the connection for an error (as a bad packet does). */
  fail(e: unknown): void;
}

/** One connected client, as its packet handlers see it. */
export interface MqttContext {
  readonly services: MqttServices;
  readonly version: 4 | 5;
  readonly session: MqttSession;
  readonly core: CoreConnection;
  readonly writer: PacketWriter;
  readonly replies: Replies;
  /** Outbound QoS 1/2 deliveries awaiting acknowledgement. */
  readonly inflight: Inflight;
  readonly aliases: TopicAliases;
  readonly consumers: Consumers;
  readonly limits: ClientLimits;
  /** Inbound QoS 1/2 publishes not yet acknowledged (the broker's Receive Maximum counts them). */
  inboundInFlight: number;
  /**
   * PUBACK / PUBREC / PUBREL / PUBCOMP. Success is the short form; in MQTT 5 any other reason
   * carries a Reason String too.
   */
  ack(type: AckType, pid: number, reason: number, text?: string): void;
  /** The CONNACK is out: consumers start, released QoS 2 ids are sent again. */
  connackSent(): void;
  /** This client publishes: while the broker blocks publishers, it is not read. */
  publishing(): void;
  /** A DISCONNECT without reason 0x04: the will is dropped [MQTT-3.1.2-10]. */
  dropWill(): void;
  /** Ends the connection (a normal DISCONNECT). */
  close(): void;
}
