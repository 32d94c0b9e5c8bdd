/**
 * A TCP proxy that counts the bytes crossing it both ways: wire bytes per message as the socket
 * sees them, whichever client library framed them.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

export interface CountingProxy {
  readonly port: number;
  /** Bytes both ways since the proxy opened. */
  total(): number;
  close(): void;
}

export async function countingProxy(host: string, port: number): Promise<CountingProxy> {
  let bytes = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host, port });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    upstream.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no TCP address');
  return {
    port: address.port,
    total: () => bytes,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
