/**
 * MQTT transports: a TCP listener, and MQTT over WebSocket (subprotocol `mqtt`, one or more MQTT
 * packets per binary message) for the HTTP listener's `/mqtt` path.
 */
import type { IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, Socket as NetSocket, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttConnection } from './connection.js';
import type { MqttFrontEnd } from './front-end.js';
import { listenOn } from '../util/listen.js';

export interface MqttListener {
  readonly address: AddressInfo;
  /** Stops accepting; connections are closed by the front end. */
  close(): Promise<void>;
}

/**
 * Every MQTT socket reads into this one buffer (Node's `onread`), instead of a new 64 KiB
 * ArrayBuffer per read: that allocation rate, at hundreds of MB/s of large messages, kept V8
 * collecting. The reader copies out what it keeps before the next read can come.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

type ReadingSocket = Socket & { [kOwner]: MqttConnection };
const kOwner = Symbol('mqtt connection');

function onSocketRead(this: ReadingSocket, nread: number, buf: Buffer): boolean {
  this[kOwner].onData(buf.subarray(0, nread));
  return true;
}

export async function listenMqtt(fe: MqttFrontEnd, host: string, port: number): Promise<MqttListener> {
  const server: Server = createServer({ noDelay: true, pauseOnConnect: true }, (accepted: Socket) => {
    const remoteAddress = accepted.remoteAddress ?? '';
    const socket = withSharedReadBuffer(accepted);
    socket.setNoDelay(true);
    const c = fe.accept(socket, remoteAddress, 'tcp');
    if (socket !== accepted) (socket as ReadingSocket)[kOwner] = c;
    socket.resume();
  });
  await listenOn(server, host, port, 4096);
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The accepted socket's handle, moved to a socket that reads into READ_BUFFER. Node offers
 * `onread` only to sockets it creates for a caller, not to accepted ones, so the handle changes
 * hands (a documented constructor option, applied to an internal field). Where that field is
 * not there, the accepted socket is used as it is (one buffer per read).
 */
function withSharedReadBuffer(accepted: Socket): Socket {
  const internal = accepted as unknown as { _handle?: unknown };
  const handle = internal._handle;
  if (handle === undefined || handle === null) return accepted;
  internal._handle = null;
  // The accepted socket, now without a handle, ends here; the server stops counting it.
  accepted.destroy();
  return new NetSocket({
    handle,
    onread: { buffer: READ_BUFFER, callback: onSocketRead },
  } as ConstructorParameters<typeof NetSocket>[0]);
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
