/**
 * The one shape every protocol front end has towards the composition root (src/server): it is
 * built from the broker and its settings, serves on its own listener and/or on routes of the
 * shared HTTP listener, reports its figures, and closes. It lives here, below the front ends and
 * the server, so that both can import it without a cycle.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer, TlsOptions } from 'node:tls';

/** Takes an HTTP upgrade request for a path the front end registered. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Takes a request (returns true) or leaves it to the next handler (false), by path. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** A listener a front end opened itself. */
export interface Listening {
  readonly address: AddressInfo;
  /** Stops accepting; open connections are closed by the front end's close(). */
  close(): Promise<void>;
}

/**
 * What a TLS listener needs, built once by the composition root (src/server/tls.ts) for every
 * listener: Node's server options (certificate, key, CA, client verification, oldest version),
 * and the registration that lets a certificate reload reach the listening server.
 */
export interface ListenTls {
  readonly options: TlsOptions;
  /** Registers a listening TLS server for certificate reloads; returns the unregistration. */
  track(server: TlsServer): () => void;
}

/** What a front end serves on the shared HTTP listener. */
export interface HttpRoutes {
  /** Upgrade handlers by exact path (`/ws`, `/mqtt`). */
  readonly upgrades?: ReadonlyMap<string, UpgradeHandler>;
  /** Plain requests it recognises (it returns false for the others). */
  readonly handle?: RequestHandler;
}

/** A front end's own figures, for listings and metrics. */
export interface FrontEndStats {
  /** Open client connections (streams, for HTTP). */
  readonly connections: number;
  /**
   * At-most-once deliveries dropped because a connection had more than limits.maxOutboundBytes
   * waiting to be written (docs/security.md, Slow consumers). Live counts, since start.
   */
  readonly dropped: { readonly messages: number; readonly bytes: number };
  /**
   * Bytes the front end's connections have waiting to be written now (its own buffers and the
   * sockets' or streams' writableLength): what slow consumers cost, bounded per connection by
   * limits.maxOutboundBytes plus one message.
   */
  readonly outboundBytes: number;
}

export interface FrontEnd {
  /** The protocol, as listings name it: 'amqp', 'mqtt', 'grpc', 'ws', 'http'. */
  readonly protocol: string;
  /**
   * Opens the front end's own listener (AMQP, MQTT, native gRPC); absent when it has none. With
   * `tls` the listener speaks TLS (AMQPS, MQTTS, gRPC over TLS).
   */
  listen?(host: string, port: number, tls?: ListenTls): Promise<Listening>;
  /** Its routes on the shared HTTP listener; absent when it has none. */
  readonly http?: HttpRoutes;
  /** Closes every connection (shutdown): clients are told in the protocol's terms. */
  close(): Promise<void>;
  stats(): FrontEndStats;
}

// --- broker status (issue 15) ---
/** The broker's health and resource alarms, from the composition root, for admin calls. */
export interface BrokerStatusReport {
  /** False once the store has failed for good. */
  readonly healthy: boolean;
  /** Why it is unhealthy, one line each. */
  readonly problems: readonly string[];
  /** Resource alarms in force ('memory', 'disk', 'store'): while any is, publishers are blocked. */
  readonly alarms: readonly string[];
  /** Undefined when the memory alarm is off. */
  readonly memory:
    | {
        readonly rss: number;
        readonly highWatermark: number;
        readonly limit: number;
        readonly limitSource: string;
      }
    | undefined;
}
