/**
 * The AMQP listener: a TCP server (or, for AMQPS, a TLS server) that hands each accepted socket
 * to the front end.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Listening, ListenTls } from '../core/index.js';
import { listenOn } from '../util/listen.js';

/** Accept backlog: bursts of connecting clients (benchmarks, reconnect storms) queue, not fail. */
const BACKLOG = 1024;

/**
 * Listens on host:port; `accept` runs the protocol on every connection. With `tls`, a connection
 * is handed over once its TLS handshake is done (a TLSSocket is a net.Socket).
 */
export async function listenAmqp(
  host: string,
  port: number,
  accept: (socket: Socket, remoteAddress: string) => void,
  tls?: ListenTls,
): Promise<Listening> {
  const onSocket = (socket: Socket) => {
    socket.setNoDelay(true);
    accept(socket, socket.remoteAddress ?? '');
  };
  let server: Server;
  let untrack = () => {};
  if (tls === undefined) server = createServer({ noDelay: true }, onSocket);
  else {
    const s = createTlsServer(tls.options, (socket: TLSSocket) => onSocket(socket));
    untrack = tls.track(s);
    server = s;
  }
  await listenOn(server, host, port, BACKLOG);
  return {
    address: server.address() as AddressInfo,
    // Resolves once every accepted connection has ended too (the front end's close() ends them).
    close: () =>
      new Promise<void>((resolve) => {
        untrack();
        server.close(() => resolve());
      }),
  };
}
