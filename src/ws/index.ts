/**
 * The native WebSocket protocol at /ws (docs/websocket-protocol.md): JSON text frames and a
 * compact binary form over one CoreConnection per WebSocket.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import {
  type AnonymousPolicy,
  asSwitchyardError,
  type Broker,
  type CoreConnection,
  identify,
} from '../core/index.js';
import { WsConnection } from './connection.js';
import { readHandshake, refuseUpgrade, selectProtocol } from './handshake.js';

export interface WsSettings {
  readonly anonymous: AnonymousPolicy;
  readonly maxPayload: number;
  /** Milliseconds between server pings; 0 = off. */
  readonly pingInterval: number;
}

/** How long a client has to answer the close at shutdown before it is cut off. */
const SHUTDOWN_GRACE_MS = 1000;

export class WsFrontEnd {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<WsConnection>();
  private pingTimer: NodeJS.Timeout | undefined;
  private closing = false;

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
  }

  /** Handles an upgrade request for /ws. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // The shared listener has put an 'error' listener on the socket (a reset mid-handshake
    // destroys it); ws adds its own once the WebSocket exists.
    // Gone already: its 'close' has passed, so a core connection opened now would never be closed.
    if (socket.destroyed) return;
    const core = this.open(req, socket);
    if (core === undefined) return;
    // ws destroys the socket without calling back when the handshake itself is invalid.
    const abandoned = () => core.close();
    socket.once('close', abandoned);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.removeListener('close', abandoned);
      const c = new WsConnection(ws, socket, core, this.removed);
      this.connections.add(c);
      if (this.closing) c.shutdown(SHUTDOWN_GRACE_MS);
      else this.startPings();
    });
  };

  /** Closes every connection (shutdown). */
  close(): void {
    this.closing = true;
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    for (const c of this.connections) c.shutdown(SHUTDOWN_GRACE_MS);
  }

  /** Authenticates the upgrade and opens its core connection, or refuses it (undefined). */
  private open(req: IncomingMessage, socket: Duplex): CoreConnection | undefined {
    if (this.closing) {
      refuseUpgrade(socket, 503, 'CONNECTION_FORCED', 'the broker is shutting down');
      return undefined;
    }
    const remoteAddress = req.socket.remoteAddress ?? '';
    let vhost = '/';
    try {
      const hs = readHandshake(req);
      vhost = hs.vhost;
      const user = identify(this.broker, hs.credentials, remoteAddress, this.settings.anonymous);
      return this.broker.connect({ protocol: 'ws', remoteAddress, user, vhost });
    } catch (e) {
      const err = asSwitchyardError(e);
      // broker.connect refuses only an unknown vhost: a missing resource, so 404.
      if (err.code === 'NOT_ALLOWED') refuseUpgrade(socket, 404, 'NOT_FOUND', `vhost '${vhost}' not found`);
      else refuseUpgrade(socket, err.spec.http, err.code, err.message);
      return undefined;
    }
  }

  private readonly removed = (c: WsConnection): void => {
    this.connections.delete(c);
  };

  private startPings(): void {
    if (this.pingTimer !== undefined || this.settings.pingInterval <= 0) return;
    // One timer for every connection rather than one each.
    this.pingTimer = setInterval(() => {
      for (const c of this.connections) c.heartbeat();
    }, this.settings.pingInterval);
    this.pingTimer.unref();
  }
}
