/**
 * The native WebSocket protocol at /ws (docs/websocket-protocol.md).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AnonymousPolicy, Broker } from '../core/index.js';

export interface WsSettings {
  readonly anonymous: AnonymousPolicy;
  readonly maxPayload: number;
  /** Milliseconds between server pings; 0 = off. */
  readonly pingInterval: number;
}

export class WsFrontEnd {
  constructor(
    readonly broker: Broker,
    readonly settings: WsSettings,
  ) {}

  /** Handles an upgrade request for /ws. */
  readonly upgrade = (_req: IncomingMessage, socket: Duplex, _head: Buffer): void => {
    socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  };

  /** Closes every connection (shutdown). */
  close(): void {}
}
