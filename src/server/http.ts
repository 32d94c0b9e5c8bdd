/**
 * The shared HTTP listener (DESIGN.md section 2): WebSocket upgrades are routed by path to the
 * front end that registered it (`/mqtt` for MQTT over WebSocket); plain requests get 404 until
 * the REST front end arrives.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { listenOn } from '../util/listen.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface HttpListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function listenHttp(
  host: string,
  port: number,
  upgrades: ReadonlyMap<string, UpgradeHandler>,
): Promise<HttpListener> {
  const server: Server = createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url}` }));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const handler = upgrades.get(path);
    if (handler === undefined) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    handler(req, socket, head);
  });
  await listenOn(server, host, port, 1024);
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
