/**
 * MQTT transports: a TCP listener, and MQTT over WebSocket (subprotocol `mqtt`, one or more MQTT
 * packets per binary message) for the HTTP listener's `/mqtt` path.
 */
import type { IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttFrontEnd } from './front-end.js';
import { listenOn } from '../util/listen.js';

export interface MqttListener {
  readonly address: AddressInfo;
  /** Stops accepting; connections are closed by the front end. */
  close(): Promise<void>;
}

export async function listenMqtt(fe: MqttFrontEnd, host: string, port: number): Promise<MqttListener> {
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true);
    fe.accept(socket, socket.remoteAddress ?? '', 'tcp');
  });
  await listenOn(server, host, port, 4096);
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Handles HTTP upgrades to MQTT over WebSocket. */
export function mqttWebSocketHandler(
  fe: MqttFrontEnd,
  maxPayload: number,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
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
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => {});
      fe.accept(stream, req.socket.remoteAddress ?? '', 'ws');
    });
  };
}
