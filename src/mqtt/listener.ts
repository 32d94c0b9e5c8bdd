/**
 * MQTT transports: a TCP listener, and MQTT over WebSocket (subprotocol `mqtt`, one or more MQTT
 * packets per binary message) for the HTTP listener's `/mqtt` path. Both hand each accepted
 * stream to the front end; reading is the connection's ('data' events).
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Listening, UpgradeHandler } from '../core/index.js';
import { listenOn } from '../util/listen.js';

/** Runs the MQTT protocol on an accepted stream; `authenticated` is called once a CONNECT is accepted. */
export type Accept = (
  stream: Duplex,
  remoteAddress: string,
  transport: 'tcp' | 'ws',
  authenticated?: () => void,
) => void;

export async function listenTcp(accept: Accept, host: string, port: number): Promise<Listening> {
  const server: Server = createServer({ noDelay: true, pauseOnConnect: true }, (socket: Socket) => {
    socket.setNoDelay(true);
    accept(socket, socket.remoteAddress ?? '', 'tcp');
    socket.resume();
  });
  await listenOn(server, host, port, 4096);
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
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
      accept(stream, req.socket.remoteAddress ?? '', 'ws', () => socket.removeListener('data', count));
    });
  };
}
