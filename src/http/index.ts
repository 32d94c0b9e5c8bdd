/**
 * HTTP REST and Server-Sent Events data plane under /api/v1 (docs/http.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnonymousPolicy, Broker } from '../core/index.js';

export interface HttpSettings {
  readonly anonymous: AnonymousPolicy;
  readonly maxBodySize: number;
  /** Events an SSE connection may have unwritten before it stops receiving. */
  readonly sseBuffer: number;
  readonly sseHeartbeat: number;
}

export class HttpFrontEnd {
  constructor(
    readonly broker: Broker,
    readonly settings: HttpSettings,
  ) {}

  /** Takes requests under /api/v1; false = not ours. */
  readonly handle = (_req: IncomingMessage, _res: ServerResponse): boolean => false;

  /** Ends every SSE stream (shutdown). */
  close(): void {}
}
