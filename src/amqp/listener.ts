/**
 * The AMQP listener: a TCP server that hands each accepted socket to the front end.
 */
import { type AddressInfo, createServer, type Socket } from 'node:net';
import type { Listening } from '../core/index.js';
import { listenOn } from '../util/listen.js';

/** Accept backlog: bursts of connecting clients (benchmarks, reconnect storms) queue, not fail. */
const BACKLOG = 1024;

/** Listens on host:port; `accept` runs the protocol on every connection. */
export async function listenAmqp(
  host: string,
  port: number,
  accept: (socket: Socket, remoteAddress: string) => void,
): Promise<Listening> {
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true);
    accept(socket, socket.remoteAddress ?? '');
  });
  await listenOn(server, host, port, BACKLOG);
  return {
    address: server.address() as AddressInfo,
    // Resolves once every accepted connection has ended too (the front end's close() ends them).
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
