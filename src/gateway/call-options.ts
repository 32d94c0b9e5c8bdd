/**
 * What every upstream call takes from its HTTP request: the deadline, the metadata passed on by
 * the allow-list, and a signal that aborts the call when the client goes away; and what it gives
 * back: the allowed upstream headers and trailers as HTTP headers.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { grpcTimeoutMs } from '../util/grpc-timeout.js';
import { badRequest } from './transcode.js';

/** Trace context always passes, so the upstream continues the client's trace. */
const ALWAYS_FORWARDED = ['traceparent', 'tracestate'];

/**
 * The client's deadline in milliseconds, from `grpc-timeout` (gRPC's form, e.g. `500m`, `2S`)
 * or `x-timeout` (plain milliseconds), at most `maxMs` (gateway.maxTimeoutMs: a longer one is
 * cut, not refused, as a gRPC server may shorten a deadline); undefined when neither is given.
 * A malformed value is a 400.
 */
export function clientTimeoutMs(headers: IncomingHttpHeaders, maxMs: number): number | undefined {
  const ms = requestedTimeoutMs(headers);
  return ms === undefined ? undefined : Math.min(ms, maxMs);
}

function requestedTimeoutMs(headers: IncomingHttpHeaders): number | undefined {
  const grpc = headers['grpc-timeout'];
  if (typeof grpc === 'string') {
    const ms = grpcTimeoutMs(grpc.trim());
    if (Number.isNaN(ms))
      throw badRequest(
        `grpc-timeout: '${grpc}' is not a gRPC timeout (1 to 8 digits and a unit H M S m u n)`,
      );
    return Math.max(1, Math.ceil(ms));
  }
  const plain = headers['x-timeout'];
  if (typeof plain === 'string') {
    if (!/^\d{1,10}$/.test(plain.trim()) || Number(plain) < 1) {
      throw badRequest(`x-timeout: '${plain}' is not a number of milliseconds`);
    }
    return Number(plain);
  }
  return undefined;
}

export class HeaderRules {
  private readonly forward: readonly string[];
  private readonly returned: ReadonlySet<string>;

  constructor(forward: readonly string[], returned: readonly string[]) {
    this.forward = [...new Set([...forward.map((h) => h.toLowerCase()), ...ALWAYS_FORWARDED])];
    this.returned = new Set(returned.map((h) => h.toLowerCase()).filter((h) => !h.startsWith('grpc-')));
  }

  /** The request metadata for the upstream, from Node's request headers. */
  metadata(headers: IncomingHttpHeaders): Headers {
    const out = new Headers();
    for (const name of this.forward) {
      const v = headers[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) out.append(name, x);
      else out.set(name, v);
    }
    return out;
  }

  /** The same, from a fetch Headers (gRPC-Web and Connect calls). */
  metadataFrom(headers: Headers): Headers {
    const out = new Headers();
    for (const name of this.forward) {
      const v = headers.get(name);
      if (v !== null) out.set(name, v);
    }
    return out;
  }

  /** The allowed upstream headers and trailers, as HTTP response headers. */
  returnedHeaders(...sources: (Headers | undefined)[]): Headers {
    const out = new Headers();
    if (this.returned.size === 0) return out;
    for (const h of sources) {
      if (h === undefined) continue;
      for (const [k, v] of h) if (this.returned.has(k)) out.append(k, v);
    }
    return out;
  }

  copyReturned(target: Headers, ...sources: (Headers | undefined)[]): void {
    for (const [k, v] of this.returnedHeaders(...sources)) target.append(k, v);
  }

  setOn(res: ServerResponse, ...sources: (Headers | undefined)[]): void {
    for (const [k, v] of this.returnedHeaders(...sources)) res.appendHeader(k, v);
  }
}

/** Aborted when the HTTP client goes away before its response is complete. */
export function clientGone(res: ServerResponse): AbortController {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new Error('the HTTP client went away'));
  });
  return ac;
}
