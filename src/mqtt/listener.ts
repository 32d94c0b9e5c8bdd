/**
 * MQTT transports: a TCP listener, and MQTT over WebSocket (subprotocol `mqtt`, one or more MQTT
 * packets per binary message) for the HTTP listener's `/mqtt` path; each over TLS too (MQTTS, and
 * WSS on the HTTPS listener). Both hand each accepted stream to the front end; reading is the
 * connection's ('data' events).
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Listening, ListenTls, UpgradeHandler } from '../core/index.js';
import { listenOn } from '../util/listen.js';

/**
 * Runs the MQTT protocol on an accepted stream; `authenticated` is called once a CONNECT is
 * accepted; `tlsSocket` is the TLS socket the stream runs over (itself, or under a WebSocket),
 * whose verified certificate may name the user (mqtt.certLogin).
 */
export type Accept = (
  stream: Duplex,
  remoteAddress: string,
  transport: 'tcp' | 'ws',
  authenticated?: () => void,
  tlsSocket?: Duplex,
) => void;

/** MQTT over TCP, or with `tls` MQTTS: a TLS connection is handed over once its handshake is done. */
export async function listenTcp(
  accept: Accept,
  host: string,
  port: number,
  tls?: ListenTls,
): Promise<Listening> {
  let server: Server;
  let untrack = () => {};
  if (tls === undefined) {
    server = createServer({ noDelay: true, pauseOnConnect: true }, (socket: Socket) => {
      socket.setNoDelay(true);
      accept(socket, socket.remoteAddress ?? '', 'tcp');
      socket.resume();
    });
  } else {
    // The 'data' listener is attached in the same turn as the handshake completes: nothing is missed.
    const s = createTlsServer(tls.options, (socket: TLSSocket) => {
      socket.setNoDelay(true);
      accept(socket, socket.remoteAddress ?? '', 'tcp', undefined, socket);
    });
    untrack = tls.track(s);
    server = s;
  }
  await listenOn(server, host, port, 4096);
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        untrack();
        server.close(() => resolve());
      }),
  };
}

/**
 * Handles HTTP upgrades to MQTT over WebSocket. `ws` assembles a whole WebSocket message (up to
 * `maxPayload`) before the MQTT reader sees its first byte, so the unauthenticated limit is kept
 * on the raw socket instead: more than `unauthenticatedLimit` bytes before the CONNECT is
 * accepted cuts the connection.
 */
export function webSocketUpgrade(
  accept: Accept,
  maxPayload: number,
  unauthenticatedLimit: number,
): UpgradeHandler {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    // MQTT-over-WebSocket clients ask for `mqtt` (MQTT 5 section 6; 3.1.1 clients sometimes `mqttv3.1`).
    handleProtocols: (protocols) => {
      for (const p of ['mqtt', 'mqttv3.1']) if (protocols.has(p)) return p;
      return false;
    },
  });
  return (req, socket, head) => {
    let received = head.length;
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > unauthenticatedLimit) socket.destroy();
    };
    socket.on('data', count);
    wss.handleUpgrade(req, socket, head, (ws) => {
      // The connection listens to the stream's 'error' and 'close' itself.
      const stream = createWebSocketStream(ws);
      accept(
        stream,
        req.socket.remoteAddress ?? '',
        'ws',
        () => socket.removeListener('data', count),
        req.socket,
      );
    });
  };
}
