/**
 * The h2c (plaintext HTTP/2) server of the Inventory service, and of the Order service of
 * examples/order-inventory. Closing it first aborts every
 * call's signal, so open WatchStock streams end with a status instead of being cut, then gives
 * sessions a moment to finish before destroying what is left.
 */
import { createServer, type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { DescService } from '@bufbuild/protobuf';
import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import * as reflectionV1 from '../../../gen/grpc/reflection/v1/reflection_pb.js';
import { ReflectionIndex, reflectionInfo } from '../../../grpc/handlers/reflection.js';

export interface GrpcServer {
  /** e.g. http://127.0.0.1:50061, what a connect-node client or the gateway's `address` takes. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 1000;

/**
 * Serves `routes`, plus gRPC server reflection (v1) for `services`, so that tools such as
 * `buf curl` and grpcurl, and the gateway's `reflection: true`, find the schema without .proto files.
 */
export async function serveGrpc(opts: {
  routes: (router: ConnectRouter) => void;
  /** The services of `routes` and the files that define them, for reflection. */
  services: readonly DescService[];
  port: number;
  host: string;
  interceptors?: Interceptor[];
}): Promise<GrpcServer> {
  const shutdown = new AbortController();
  const reflection = new ReflectionIndex(
    opts.services.map((s) => s.file),
    opts.services.map((s) => s.typeName),
  );
  const handler = connectNodeAdapter({
    routes: (router) => {
      opts.routes(router);
      router.service(reflectionV1.ServerReflection, {
        serverReflectionInfo: reflectionInfo(reflection, reflectionV1.ServerReflectionResponseSchema),
      });
    },
    shutdownSignal: shutdown.signal,
    ...(opts.interceptors === undefined ? {} : { interceptors: opts.interceptors }),
  });
  const server = createServer(handler);
  const sessions = new Set<Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: async () => {
      shutdown.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      const grace = setTimeout(() => {
        for (const s of sessions) s.destroy();
      }, CLOSE_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}
