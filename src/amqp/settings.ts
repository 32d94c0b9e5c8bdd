/**
 * The AMQP front end's settings (the `amqp` section of the config, less the port) and their
 * defaults.
 */
import type { UserExists } from '../util/peer-name.js';

export interface AmqpSettings {
  /** The largest frame we accept and offer in connection.tune (spec 4.2.1: at least 4096). */
  readonly frameMax: number;
  readonly channelMax: number;
  /** Heartbeat interval we propose, seconds (0 = off). */
  readonly heartbeat: number;
  readonly maxMessageSize: number;
  /** The broker version announced in connection.start. */
  readonly version: string;
  /** Bytes pending on a connection above which deliveries to it pause. */
  readonly writeHighWater: number;
  /**
   * Bytes pending on a connection (ours and the socket's) beyond which at-most-once (no-ack)
   * deliveries are dropped and counted (limits.maxOutboundBytes, issue 15).
   */
  readonly maxOutboundBytes: number;
  /** Milliseconds a client has from TCP accept to connection.open (RabbitMQ's handshake_timeout). */
  readonly handshakeTimeout: number;
  /**
   * Whether a certificate's user may log in (SASL EXTERNAL) from an address; absent, EXTERNAL
   * logins are refused.
   */
  readonly userExists?: UserExists;
}

export const DEFAULT_AMQP_SETTINGS: AmqpSettings = {
  frameMax: 131072,
  channelMax: 2047,
  heartbeat: 60,
  maxMessageSize: 128 * 1024 * 1024,
  version: '0.1.0',
  writeHighWater: 1024 * 1024,
  maxOutboundBytes: 1024 * 1024,
  handshakeTimeout: 10_000,
};
