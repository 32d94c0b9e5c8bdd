/**
 * The AMQP listener: accepts TCP connections and runs an AmqpConnection on each. One shared
 * clock drives every connection's heartbeats, so an idle connection costs no timer of its own.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Broker } from '../core/index.js';
import { AmqpConnection, type AmqpOptions, DEFAULT_AMQP_OPTIONS } from './connection.js';
import { listenOn } from '../util/listen.js';

export interface AmqpListener {
  readonly address: AddressInfo;
  readonly connections: ReadonlySet<AmqpConnection>;
  /** Stops accepting, closes every connection with 320 CONNECTION_FORCED, resolves when all are gone. */
  close(): Promise<void>;
}

export async function listenAmqp(
  broker: Broker,
  host: string,
  port: number,
  options: Partial<AmqpOptions> = {},
): Promise<AmqpListener> {
  const opts: AmqpOptions = { ...DEFAULT_AMQP_OPTIONS, ...options };
  const connections = new Set<AmqpConnection>();
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true);
    const c = new AmqpConnection(
      socket,
      broker,
      opts,
      socket.remoteAddress ?? '',
      (closed) => connections.delete(closed),
      Date.now(),
    );
    connections.add(c);
  });
  const unwatch = broker.onBlockedChange((blocked, reason) => {
    for (const c of connections) c.blockedChanged(blocked, reason);
  });
  const clock = setInterval(() => {
    const now = Date.now();
    for (const c of connections) c.tick(now);
  }, 1000);
  clock.unref();

  await listenOn(server, host, port, 1024);

  return {
    address: server.address() as AddressInfo,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(clock);
        unwatch();
        server.close(() => resolve());
        for (const c of connections) c.forceClose('broker shutdown');
        if (connections.size === 0) return;
        // Connections end after close-ok or after the close timeout; server.close waits for them.
      }),
  };
}
