/**
 * One upstream: its gRPC transport (h2c for http://, TLS for https://) with the interceptors
 * (trace context, metrics, logging, and retries for the idempotent methods), and its definitions.
 */
import { readFileSync } from 'node:fs';
import type { SecureClientSessionOptions } from 'node:http2';
import type { DescService, FileRegistry } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor, type Transport } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import type { GatewayUpstreamConfig } from '../config/schema.js';
import { SwitchyardError } from '../errors/index.js';
import {
  type CallLogEntry,
  type CallMetrics,
  loggingInterceptor,
  traceContextInterceptor,
} from './interceptors.js';
import { parseStatusCode, type RetryPolicy, retryInterceptor } from './retry.js';

export interface Upstream {
  readonly config: GatewayUpstreamConfig;
  readonly transport: Transport;
  /** Set once the definitions are loaded, before any call. */
  registry: FileRegistry | undefined;
  services: readonly DescService[];
  close(): void;
}

export interface UpstreamOptions {
  readonly metrics: CallMetrics;
  readonly log: ((entry: CallLogEntry) => void) | undefined;
  readonly maxMessageSize: number;
}

export function connectUpstream(config: GatewayUpstreamConfig, opts: UpstreamOptions): Upstream {
  const interceptors: Interceptor[] = [traceContextInterceptor(), opts.metrics.interceptor()];
  if (opts.log !== undefined) interceptors.push(loggingInterceptor(opts.log));
  // Innermost, so each attempt is a call of its own to the upstream, but metrics count the call.
  if (config.retry !== undefined) {
    const idempotent = new Set(config.idempotent);
    const all = idempotent.has('*');
    interceptors.push(retryInterceptor(retryPolicy(config.retry), (m) => all || idempotent.has(m)));
  }
  interceptors.push(unreachableAsUnavailable);
  const nodeOptions: SecureClientSessionOptions = {};
  if (config.tls !== undefined) {
    if (config.tls.caFile !== undefined) {
      try {
        nodeOptions.ca = readFileSync(config.tls.caFile);
      } catch (e) {
        throw new SwitchyardError(
          'INVALID_CONFIG',
          `upstream ${config.name}: cannot read caFile: ${(e as Error).message}`,
        );
      }
    }
    if (config.tls.serverName !== undefined) nodeOptions.servername = config.tls.serverName;
    if (config.tls.insecureSkipVerify) nodeOptions.rejectUnauthorized = false;
  }
  const sessionManager = new Http2SessionManager(
    config.address,
    { idleConnectionTimeoutMs: 60_000 },
    nodeOptions,
  );
  const transport = createGrpcTransport({
    baseUrl: config.address,
    sessionManager,
    interceptors,
    readMaxBytes: opts.maxMessageSize,
    writeMaxBytes: opts.maxMessageSize,
  });
  return {
    config,
    transport,
    registry: undefined,
    services: [],
    close: () => sessionManager.abort(),
  };
}

/**
 * connect reports a failed connection (a refused certificate, a reset during the handshake) as
 * INTERNAL with the socket's error as the cause, and a connection the upstream drops mid-call as
 * CANCELED with no response metadata although nobody cancelled; gRPC calls an upstream it cannot reach UNAVAILABLE, and so
 * does the gateway (503, retryable). An INTERNAL status the upstream itself sent has no such
 * cause, and a call the client really cancelled has its signal aborted.
 */
const unreachableAsUnavailable: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (e) {
    const err = ConnectError.from(e);
    const cause = err.cause as { code?: unknown } | undefined;
    const unreachable =
      ((err.code === Code.Internal || err.code === Code.Unknown) && typeof cause?.code === 'string') ||
      (err.code === Code.Canceled && !req.signal.aborted && isEmpty(err.metadata));
    if (unreachable) {
      throw new ConnectError(
        `upstream unreachable: ${err.rawMessage}`,
        Code.Unavailable,
        undefined,
        undefined,
        e,
      );
    }
    throw e;
  }
};

function isEmpty(h: Headers): boolean {
  for (const _ of h.keys()) return false;
  return true;
}

type RetryConfig = NonNullable<GatewayUpstreamConfig['retry']>;

export function retryPolicy(r: RetryConfig): RetryPolicy {
  return {
    maxAttempts: r.maxAttempts,
    initialBackoffMs: r.initialBackoffMs,
    maxBackoffMs: r.maxBackoffMs,
    backoffMultiplier: r.backoffMultiplier,
    // gRPC spells it CANCELLED, connect's enum Canceled.
    retryableStatusCodes: r.retryableStatusCodes.map((n) =>
      n === 'CANCELLED' ? Code.Canceled : parseStatusCode(n)!,
    ),
  };
}
