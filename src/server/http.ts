/**
 * The shared HTTP listener (DESIGN.md section 2): WebSocket upgrades are routed by path to the
 * front end that registered it (`/mqtt` for MQTT over WebSocket, `/ws` for the native protocol);
 * plain requests go to each request handler in turn (gRPC-Web/Connect, REST and SSE) until one
 * takes them, else 404. Before any of that, every request and upgrade must name a Host the broker
 * answers to, and an upgrade or a write from a browser must come from an allowed origin
 * (util/web-origin.ts). The same listener over TLS is the HTTPS one (every route, WSS upgrades).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ListenTls, RequestHandler, UpgradeHandler } from '../core/index.js';
import { listenOn } from '../util/listen.js';
import type { WebOrigins } from '../util/web-origin.js';

export type { RequestHandler, UpgradeHandler };

export interface HttpListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function listenHttp(
  host: string,
  port: number,
  upgrades: ReadonlyMap<string, UpgradeHandler>,
  handlers: readonly RequestHandler[] = [],
  origins?: WebOrigins,
  tls?: ListenTls,
): Promise<HttpListener> {
  const route: RequestListener = (req, res) => {
    // A write (any method but GET, HEAD and a preflight's OPTIONS) from a page of another site
    // is refused here for every route: REST, the gateway, gRPC-Web/Connect.
    const refusal =
      origins === undefined
        ? undefined
        : (origins.hostRefusal(req) ?? (isWrite(req.method) ? origins.crossSiteRefusal(req) : undefined));
    if (refusal !== undefined) {
      const body = JSON.stringify({ code: 'ACCESS_REFUSED', message: refusal });
      res.writeHead(403, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        // The body is not read: closing is cheaper than draining it.
        ...(req.complete ? {} : { connection: 'close' }),
      });
      res.end(body);
      return;
    }
    for (const h of handlers) if (h(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'NOT_FOUND', message: `no route for ${req.method} ${req.url}` }));
  };
  let server: Server;
  let untrack = () => {};
  if (tls === undefined) server = createServer(route);
  else {
    // HTTP/1.1 over TLS: WebSocket upgrades (WSS) and every route work as on the plain listener.
    const s = createHttpsServer(tls.options, route);
    untrack = tls.track(s);
    server = s;
  }
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands the socket over with no 'error' listener: a reset during a refusal or a
    // handshake would be an unhandled 'error' event and end the process. Every upgrade gets one
    // before anything is written; the handlers add their own on top.
    socket.on('error', dropUpgradeSocket);
    const refusal =
      origins === undefined ? undefined : (origins.hostRefusal(req) ?? origins.upgradeRefusal(req));
    if (refusal !== undefined) {
      const body = JSON.stringify({ code: 'ACCESS_REFUSED', message: refusal });
      socket.end(
        'HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
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
        untrack();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function isWrite(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

/** A reset or a write error on an upgrade socket: that client is gone, nothing else is affected. */
function dropUpgradeSocket(this: Duplex): void {
  this.destroy();
}
