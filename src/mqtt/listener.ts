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

/**
 * Node keeps a socket's `onread` in two symbol-keyed fields, and offers the option only to sockets
 * it creates for a caller, not to accepted ones. The fields are found on a probe socket; where
 * they are not there, accepted sockets stay as they are (a buffer per read, 'data' events).
 */
const userBufferFields = (() => {
  const probe = new NetSocket({
    onread: { buffer: Buffer.alloc(1), callback: () => true },
  } as ConstructorParameters<typeof NetSocket>[0]);
  const symbols = Object.getOwnPropertySymbols(probe);
  probe.destroy();
  const buffer = symbols.find((x) => x.description === 'kBuffer');
  const callback = symbols.find((x) => x.description === 'kBufferCb');
  return buffer !== undefined && callback !== undefined ? { buffer, callback } : undefined;
})();

/** Makes an accepted (still paused) socket read into READ_BUFFER and hand chunks to `c`. */
function readIntoSharedBuffer(socket: Socket, c: MqttConnection): void {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?(b: Buffer): void } })._handle;
  if (userBufferFields === undefined || typeof handle?.useUserBuffer !== 'function') return;
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[userBufferFields.buffer] = READ_BUFFER;
  fields[userBufferFields.callback] = onSocketRead;
  (socket as ReadingSocket)[kOwner] = c;
  handle.useUserBuffer(READ_BUFFER);
}

export async function listenMqtt(fe: MqttFrontEnd, host: string, port: number): Promise<MqttListener> {
  const server: Server = createServer({ noDelay: true, pauseOnConnect: true }, (socket: Socket) => {
    socket.setNoDelay(true);
    const c = fe.accept(socket, socket.remoteAddress ?? '', 'tcp');
    readIntoSharedBuffer(socket, c);
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
 * on the raw socket instead: more than `maxPacketSizeUnauthenticated` bytes before the CONNECT is
 * accepted cuts the connection.
 */
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
  const limit = fe.settings.maxPacketSizeUnauthenticated;
  return (req, socket, head) => {
    let received = head.length;
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) socket.destroy();
    };
    socket.on('data', count);
    wss.handleUpgrade(req, socket, head, (ws) => {
      // MqttConnection listens to the stream's 'error' and 'close' itself.
      const stream = createWebSocketStream(ws);
      fe.accept(stream, req.socket.remoteAddress ?? '', 'ws', () => socket.removeListener('data', count));
    });
  };
}
