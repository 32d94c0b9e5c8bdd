/**
 * The AMQP 0-9-1 front end: accepts connections (listener.ts), runs an AmqpConnection on each,
 * and drives what every connection needs from outside: one shared one-second clock tick for
 * heartbeats and handshake timeouts (so an idle connection costs no timer of its own), and the
 * broker's resource alarms (connection.blocked).
 */
import type { Duplex } from 'node:stream';
import type { Broker, FrontEnd, FrontEndStats, Listening, ListenTls } from '../core/index.js';
import type { Timer } from '../util/clock.js';
import { peerCommonName } from '../util/peer-name.js';
import { AmqpConnection } from './connection.js';
import { listenAmqp } from './listener.js';
import { type AmqpSettings, DEFAULT_AMQP_SETTINGS } from './settings.js';

export { AMQP_PROPERTIES_CODEC } from './codec/index.js';
export { AmqpConnection } from './connection.js';
export { type AmqpSettings, DEFAULT_AMQP_SETTINGS } from './settings.js';

/** How often connections check heartbeats and the handshake timeout. */
const TICK_MS = 1000;

/**
 * The user a client may log in as with SASL EXTERNAL: the subject CN of a TLS certificate the
 * listener verified (tls.verifyClients), as RabbitMQ's rabbitmq_auth_mechanism_ssl.
 */
export function certificateUser(socket: Duplex): string | undefined {
  return peerCommonName(socket);
}

export class AmqpFrontEnd implements FrontEnd {
  readonly protocol = 'amqp';
  readonly settings: AmqpSettings;
  private readonly connections = new Set<AmqpConnection>();
  private readonly ticker: Timer;
  private readonly unwatch: () => void;
  private closing = false;
  /** Resolves close() once the last connection has gone. */
  private allClosed: (() => void) | undefined;

  /** `settings` override DEFAULT_AMQP_SETTINGS field by field. */
  constructor(
    private readonly broker: Broker,
    settings: Partial<AmqpSettings> = {},
  ) {
    this.settings = { ...DEFAULT_AMQP_SETTINGS, ...settings };
    const clock = broker.clock;
    this.ticker = clock.every(TICK_MS, () => {
      const now = clock.now();
      for (const c of this.connections) c.tick(now);
    });
    this.unwatch = broker.onBlockedChange((blocked, reason) => {
      for (const c of this.connections) c.blockedChanged(blocked, reason);
    });
  }

  /** The AMQP listener; with `tls`, AMQPS. */
  listen(host: string, port: number, tls?: ListenTls): Promise<Listening> {
    return listenAmqp(host, port, this.accept, tls);
  }

  /** Runs the protocol on an accepted stream: a TCP socket, or one end of a duplex pair in tests. */
  readonly accept = (socket: Duplex, remoteAddress: string): AmqpConnection | undefined => {
    if (this.closing) {
      socket.destroy();
      return undefined;
    }
    const c = new AmqpConnection(
      socket,
      this.broker,
      this.settings,
      remoteAddress,
      this.closed,
      certificateUser(socket),
    );
    this.connections.add(c);
    return c;
  };

  private readonly closed = (c: AmqpConnection): void => {
    this.connections.delete(c);
    if (this.connections.size === 0) this.allClosed?.();
  };

  /**
   * Closes every connection with 320 CONNECTION_FORCED; resolves when all are gone (after their
   * close-ok, or the close timeout).
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.ticker.cancel();
      this.unwatch();
    }
    return new Promise<void>((resolve) => {
      if (this.connections.size === 0) return resolve();
      const before = this.allClosed;
      this.allClosed = () => {
        before?.();
        resolve();
      };
      for (const c of this.connections) c.forceClose('broker shutdown');
    });
  }

  stats(): FrontEndStats {
    let outboundBytes = 0;
    for (const c of this.connections) outboundBytes += c.outboundBytes;
    return { connections: this.connections.size, dropped: this.broker.dropsFor('amqp'), outboundBytes };
  }
}
