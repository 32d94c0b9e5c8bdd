/**
 * The MQTT 3.1.1 / 5.0 front end: a TCP listener and MQTT over WebSocket at `/mqtt` on the HTTP
 * listener, the sessions that outlive connections, the retained messages, and the clock that
 * drives connect timeouts and keep-alives. Each accepted stream becomes an MqttConnection.
 */
import type { Duplex } from 'node:stream';
import type {
  Broker,
  CoreConnection,
  FrontEnd,
  FrontEndStats,
  HttpRoutes,
  Listening,
  ListenTls,
} from '../core/index.js';
import type { Clock, Timer } from '../util/clock.js';
import { peerCommonName } from '../util/peer-name.js';
import { PayloadPool } from './codec/index.js';
import { MqttConnection } from './connection.js';
import type { LiveConnection, MqttServices } from './context.js';
import { listenTcp, webSocketUpgrade } from './listener.js';
import { RetainedStore } from './retained.js';
import { SessionRegistry } from './sessions.js';
import { DEFAULT_MQTT_SETTINGS, type MqttSettings } from './settings.js';
import { TopicCache } from './topic-cache.js';

export { DEFAULT_MQTT_SETTINGS, type MqttSettings } from './settings.js';

/**
 * The user a CONNECT without a user name logs in as, with mqtt.certLogin: the subject CN of the
 * TLS certificate the listener verified (MQTTS, or WSS on the HTTPS listener).
 */
export function certificateUser(tlsSocket: Duplex | undefined, settings: MqttSettings): string | undefined {
  return settings.certLogin ? peerCommonName(tlsSocket) : undefined;
}

export class MqttFrontEnd implements FrontEnd, MqttServices {
  readonly protocol = 'mqtt';
  readonly clock: Clock;
  readonly connections = new Set<LiveConnection>();
  readonly retained: RetainedStore;
  readonly sessions: SessionRegistry;
  /** The front end's own handle on the core: expiry clean-up, delayed wills, shared queues. */
  readonly internal: CoreConnection;
  /** Topic ↔ routing-key translations, shared by every connection. */
  readonly topics = new TopicCache();
  readonly pool: PayloadPool;
  refusedPublishes = 0;
  /** MQTT over WebSocket on the shared HTTP listener. */
  readonly http: HttpRoutes;
  private readonly ticker: Timer;
  private readonly unwatch: () => void;

  constructor(
    readonly broker: Broker,
    readonly settings: MqttSettings = DEFAULT_MQTT_SETTINGS,
  ) {
    this.clock = broker.clock;
    this.pool = new PayloadPool(settings.payloadPool);
    this.internal = broker.connect({
      protocol: 'mqtt',
      remoteAddress: '',
      user: 'mqtt-internal',
      vhost: settings.vhost,
      clientName: 'mqtt front end',
      internal: true,
    });
    this.internal.vhost.getExchange(settings.exchange); // fails start-up when it does not exist
    this.retained = new RetainedStore(broker.records);
    this.sessions = new SessionRegistry(
      this.clock,
      broker.records,
      this.internal,
      this.retained,
      settings.exchange,
    );
    this.sessions.restore();
    this.ticker = this.clock.every(1000, () => {
      const now = this.clock.now();
      for (const c of this.connections) c.tick(now);
    });
    this.unwatch = broker.onBlockedChange((blocked) => {
      for (const c of this.connections) c.blockedChanged(blocked);
    });
    this.http = {
      upgrades: new Map([
        [
          '/mqtt',
          webSocketUpgrade(this.accept, settings.maxPacketSize, settings.maxPacketSizeUnauthenticated),
        ],
      ]),
    };
  }

  /** Runs MQTT on an accepted stream (a TCP socket, a WebSocket stream, a test's duplex). */
  readonly accept = (
    stream: Duplex,
    remoteAddress: string,
    transport: 'tcp' | 'ws',
    authenticated?: () => void,
    tlsSocket?: Duplex,
  ): MqttConnection => {
    const c = new MqttConnection(
      this,
      stream,
      remoteAddress,
      transport,
      authenticated,
      certificateUser(tlsSocket, this.settings),
    );
    this.connections.add(c);
    return c;
  };

  /** The MQTT TCP listener (1883 by default); with `tls`, MQTTS (8883 by default). */
  listen(host: string, port: number, tls?: ListenTls): Promise<Listening> {
    return listenTcp(this.accept, host, port, tls);
  }

  stats(): FrontEndStats {
    let outboundBytes = 0;
    for (const c of this.connections) outboundBytes += c.outboundBytes;
    return { connections: this.connections.size, dropped: this.broker.dropsFor('mqtt'), outboundBytes };
  }

  /** Shutdown: every connection is told (v5: DISCONNECT 0x8B) and closed; timers stop. */
  close(): Promise<void> {
    this.ticker.cancel();
    this.unwatch();
    for (const c of [...this.connections]) c.shutdown();
    this.sessions.close();
    this.internal.close();
    return Promise.resolve();
  }
}
