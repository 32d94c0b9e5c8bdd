/**
 * gRPC front end (DESIGN.md section 2): the switchyard.v1.Broker service over native gRPC (h2c)
 * on its own port, and as gRPC-Web and Connect on the shared HTTP listener.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { listenOn } from '../util/listen.js';
import type { AnonymousPolicy, Broker } from '../core/index.js';

export interface GrpcSettings {
  /** Who may call the native port without credentials. */
  readonly anonymous: AnonymousPolicy;
  /** Who may call over gRPC-Web/Connect on the HTTP listener without credentials. */
  readonly webAnonymous: AnonymousPolicy;
  readonly maxMessageSize: number;
}

export interface GrpcListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export class GrpcFrontEnd {
  constructor(
    readonly broker: Broker,
    readonly settings: GrpcSettings,
  ) {}

  /** Serves native gRPC (h2c) on host:port. */
  async listen(host: string, port: number): Promise<GrpcListener> {
    const server = createServer();
    await listenOn(server, host, port, 1024);
    return {
      address: server.address() as AddressInfo,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  /** gRPC-Web and Connect requests on the shared HTTP listener; false = not ours. */
  readonly httpHandler = (_req: IncomingMessage, _res: ServerResponse): boolean => false;

  /** Ends every call (shutdown). */
  close(): void {}
}
