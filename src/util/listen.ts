/**
 * Starts a server listening and resolves once it is (or rejects with the bind error, e.g.
 * EADDRINUSE), so each listener does not repeat the once('error') dance.
 */
import type { Server as NetServer } from 'node:net';

export function listenOn(server: NetServer, host: string, port: number, backlog: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, backlog }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
