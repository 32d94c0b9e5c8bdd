/**
 * The native WebSocket protocol at /ws (docs/websocket-protocol.md): JSON text frames and a
 * compact binary form over one CoreConnection per WebSocket.
 *
 * Rooms: upgrade.ts (the upgrade route: handshake, authentication, refusals), codec/ (frames in,
 * requests out), connection.ts (one client: its socket, subscriptions and flow control),
 * handlers/ (one file per request kind, against the narrow WsContext), subscription.ts, map.ts
 * (message container → frames out).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { AnonymousPolicy, Broker, FrontEnd, FrontEndStats, UpgradeHandler } from '../core/index.js';
import type { Timer } from '../util/clock.js';
import { HIGH_WATER, WsConnection } from './connection.js';
import { admitUpgrade, refuseUpgrade, selectProtocol, WS_PATH } from './upgrade.js';

export interface WsSettings {
  readonly anonymous: AnonymousPolicy;
  readonly maxPayload: number;
  /** Milliseconds between server pings; 0 = off. */
  readonly pingInterval: number;
  /** Bytes a connection may have unwritten (limits.maxOutboundBytes); 1 MiB when absent. */
  readonly maxOutboundBytes?: number;
}

/** How long a client has to answer the close at shutdown before it is cut off. */
const SHUTDOWN_GRACE_MS = 1000;

export class WsFrontEnd implements FrontEnd {
  readonly protocol = 'ws';
  /** The upgrade route on the shared HTTP listener: /ws. */
  readonly http: { readonly upgrades: ReadonlyMap<string, UpgradeHandler> };
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<WsConnection>();
  private readonly unwatch: () => void;
  private pingTimer: Timer | undefined;
  private closing = false;
  /** Resolves close() once the last connection is gone. */
  private allClosed: (() => void) | undefined;

  constructor(
    readonly broker: Broker,
    readonly settings: WsSettings,
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: settings.maxPayload,
      clientTracking: false,
      perMessageDeflate: false,
      handleProtocols: selectProtocol,
    });
    // Resource alarms: connections that publish stop being read until the alarm clears.
    this.unwatch = broker.onBlockedChange((blocked) => {
      for (const c of this.connections) c.publishersBlocked(blocked);
    });
    this.http = { upgrades: new Map([[WS_PATH, this.upgrade]]) };
  }

  /**
   * Closes every connection with 1001 (shutdown); resolves once they are all closed (a client
   * that does not answer the close is cut off after a grace period).
   */
  close(): Promise<void> {
    this.closing = true;
    this.unwatch();
    this.pingTimer?.cancel();
    this.pingTimer = undefined;
    for (const c of this.connections) c.shutdown(SHUTDOWN_GRACE_MS);
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.allClosed = resolve;
    });
  }

  stats(): FrontEndStats {
    let outboundBytes = 0;
    for (const c of this.connections) outboundBytes += c.outboundBytes;
    return { connections: this.connections.size, dropped: this.broker.dropsFor('ws'), outboundBytes };
  }

  /** Handles an upgrade request for /ws. */
  private readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // The shared listener has put an 'error' listener on the socket (a reset mid-handshake
    // destroys it); ws adds its own once the WebSocket exists.
    // Gone already: its 'close' has passed, so a core connection opened now would never be closed.
    if (socket.destroyed) return;
    if (this.closing) {
      refuseUpgrade(socket, 503, 'CONNECTION_FORCED', 'the broker is shutting down');
      return;
    }
    void this.admit(req, socket, head);
  };

  /** Authenticates (a wrong password is answered late), then completes the WebSocket handshake. */
  private async admit(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const core = await admitUpgrade(this.broker, this.settings.anonymous, req, socket);
    if (core === undefined) return;
    if (socket.destroyed || this.closing) {
      // The client left, or the broker began to shut down, while the credentials were checked.
      core.close();
      if (!socket.destroyed) refuseUpgrade(socket, 503, 'CONNECTION_FORCED', 'the broker is shutting down');
      return;
    }
    // ws destroys the socket without calling back when the handshake itself is invalid.
    const abandoned = () => core.close();
    socket.once('close', abandoned);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.removeListener('close', abandoned);
      const c = new WsConnection(
        ws,
        socket,
        core,
        this.broker.clock,
        this.removed,
        this.settings.maxOutboundBytes ?? HIGH_WATER,
      );
      this.connections.add(c);
      if (this.closing) c.shutdown(SHUTDOWN_GRACE_MS);
      else this.startPings();
    });
  }

  private readonly removed = (c: WsConnection): void => {
    this.connections.delete(c);
    if (this.connections.size === 0) this.allClosed?.();
  };

  private startPings(): void {
    if (this.pingTimer !== undefined || this.settings.pingInterval <= 0) return;
    // One timer for every connection rather than one each.
    this.pingTimer = this.broker.clock.every(this.settings.pingInterval, () => {
      for (const c of this.connections) c.heartbeat();
    });
  }
}
