/**
 * The MQTT front end's settings (the `mqtt` section of the configuration, docs/configuration.md).
 */
import type { UserExists } from '../util/peer-name.js';

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
  /** Milliseconds a new connection has to send its CONNECT. */
  readonly connectTimeout: number;
  /** Who may connect without a user name: 'loopback' (the default), 'always' or 'never'. */
  readonly anonymous: 'loopback' | 'always' | 'never';
  /** The payload pool (codec/payload-pool.ts): the one switch that turns buffer reuse off. */
  readonly payloadPool: boolean;
  /**
   * A TLS client with a verified certificate that sends no user name logs in as the certificate's
   * CN (RabbitMQ's mqtt.ssl_cert_login).
   */
  readonly certLogin: boolean;
  /** Whether a certificate's user may log in from an address; absent, certificate logins are refused. */
  readonly userExists?: UserExists;
  /** Bytes a connection's stream may hold before QoS 0 deliveries are dropped (limits.maxOutboundBytes). */
  readonly maxOutboundBytes: number;
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
  anonymous: 'never',
  payloadPool: true,
  certLogin: false,
  maxOutboundBytes: 1024 * 1024,
};
