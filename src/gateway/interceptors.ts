/**
 * Client interceptors shared by the gateway's upstream calls and the example services: a log line
 * per call, per-method metrics, and W3C trace context. Each sees a call end exactly once: a unary
 * call when its response or error arrives, a stream when its response stream ends, fails, or is
 * abandoned by the reader (CANCELLED).
 */
import type { DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor, type StreamResponse } from '@connectrpc/connect';
import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { parseTraceparent } from '../observe/tracing.js';
import { fullMethodName, statusCodeName } from './retry.js';

type AnyFn = Parameters<Interceptor>[0];
type AnyRequest = Parameters<AnyFn>[0];

/** How a call ended. `code` is undefined for OK. */
export interface CallOutcome {
  readonly code: Code | undefined;
  readonly error: ConnectError | undefined;
  /** Response messages received (1 for a successful unary call). */
  readonly messages: number;
  readonly durationMs: number;
}

/**
 * Runs the call and reports its outcome once. Streams are wrapped so the outcome is known only
 * when the reader is done with them, which is when the call really ends.
 */
async function observeCall(
  next: AnyFn,
  req: AnyRequest,
  done: (outcome: CallOutcome) => void,
): ReturnType<AnyFn> {
  const start = performance.now();
  let reported = false;
  const report = (error: unknown, messages: number): void => {
    if (reported) return;
    reported = true;
    const err = error === undefined ? undefined : ConnectError.from(error);
    done({ code: err?.code, error: err, messages, durationMs: performance.now() - start });
  };
  let res: Awaited<ReturnType<AnyFn>>;
  try {
    res = await next(req);
  } catch (error) {
    report(error, 0);
    throw error;
  }
  if (!res.stream) {
    report(undefined, 1);
    return res;
  }
  const source = res.message;
  let messages = 0;
  // connect's clients hide return() from the reader, so a reader that stops early never ends our
  // generator; the call's signal, which the caller aborts to cancel, is what tells us it is over.
  const onAbort = (): void =>
    report(req.signal.reason ?? new ConnectError('call aborted', Code.Canceled), messages);
  if (req.signal.aborted) onAbort();
  else req.signal.addEventListener('abort', onAbort, { once: true });
  async function* observed(): AsyncGenerator<unknown> {
    let failure: unknown;
    let finished = false;
    try {
      for await (const m of source) {
        messages++;
        yield m;
      }
      finished = true;
    } catch (error) {
      failure = error;
      throw error;
    } finally {
      req.signal.removeEventListener('abort', onAbort);
      const abandoned = !finished && failure === undefined;
      report(
        abandoned ? new ConnectError('response stream abandoned by the reader', Code.Canceled) : failure,
        messages,
      );
    }
  }
  return { ...res, message: observed() } as StreamResponse;
}

/** One log line per finished call. */
export interface CallLogEntry {
  /** "pkg.Service/Method". */
  readonly method: string;
  readonly kind: DescMethod['methodKind'];
  readonly url: string;
  /** Canonical status name: OK, UNAVAILABLE, ... */
  readonly code: string;
  readonly durationMs: number;
  readonly responseMessages: number;
  /** The error message, for a call that did not end OK. */
  readonly error?: string;
}

/** Logs each call when it ends; `log` must not throw (an exception there is swallowed). */
export function loggingInterceptor(log: (entry: CallLogEntry) => void): Interceptor {
  return (next) => (req) =>
    observeCall(next, req, (o) => {
      const entry: CallLogEntry = {
        method: fullMethodName(req),
        kind: req.method.methodKind,
        url: req.url,
        code: statusCodeName(o.code),
        durationMs: o.durationMs,
        responseMessages: o.messages,
        ...(o.error === undefined ? {} : { error: o.error.rawMessage }),
      };
      try {
        log(entry);
      } catch {
        // A failing logger must not fail the call it describes.
      }
    });
}

/** Upper bounds of the latency histogram, in milliseconds; a last +Inf bucket is implied. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000,
];

export interface MethodStats {
  /** "pkg.Service/Method". */
  readonly method: string;
  /** Finished calls by canonical status name (OK, UNAVAILABLE, ...). */
  readonly calls: Readonly<Record<string, number>>;
  readonly latency: {
    /** Cumulative, as Prometheus has them: calls that took at most `leMs`; the last is Infinity. */
    readonly buckets: readonly { readonly leMs: number; readonly count: number }[];
    readonly count: number;
    readonly sumMs: number;
  };
}

interface MethodCounters {
  readonly calls: Map<string, number>;
  /** Per bucket, not cumulative; one more than LATENCY_BUCKETS_MS for +Inf. */
  readonly bucketCounts: number[];
  count: number;
  sumMs: number;
}

export interface CallMetricsOptions {
  /** Labels added to every exported series, e.g. `{ upstream: 'inventory' }`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * Per-method call counts by status and a latency histogram. The Prometheus names follow the
 * widely used go-grpc-prometheus client metrics (grpc_client_handled_total,
 * grpc_client_handling_seconds), so existing dashboards read them.
 */
export class CallMetrics {
  private readonly methods = new Map<string, MethodCounters>();
  private readonly labels: Readonly<Record<string, string>>;

  constructor(options: CallMetricsOptions = {}) {
    this.labels = options.labels ?? {};
  }

  interceptor(): Interceptor {
    return (next) => (req) => observeCall(next, req, (o) => this.record(fullMethodName(req), o));
  }

  /** Adds one finished call; public so callers that do not go through the interceptor can count too. */
  record(method: string, outcome: Pick<CallOutcome, 'code' | 'durationMs'>): void {
    let m = this.methods.get(method);
    if (m === undefined) {
      m = {
        calls: new Map(),
        bucketCounts: new Array(LATENCY_BUCKETS_MS.length + 1).fill(0),
        count: 0,
        sumMs: 0,
      };
      this.methods.set(method, m);
    }
    const code = statusCodeName(outcome.code);
    m.calls.set(code, (m.calls.get(code) ?? 0) + 1);
    let i = LATENCY_BUCKETS_MS.findIndex((le) => outcome.durationMs <= le);
    if (i === -1) i = LATENCY_BUCKETS_MS.length;
    m.bucketCounts[i]!++;
    m.count++;
    m.sumMs += outcome.durationMs;
  }

  snapshot(): MethodStats[] {
    return [...this.methods].map(([method, m]) => {
      let cumulative = 0;
      const buckets = m.bucketCounts.map((n, i) => {
        cumulative += n;
        return { leMs: LATENCY_BUCKETS_MS[i] ?? Infinity, count: cumulative };
      });
      return {
        method,
        calls: Object.fromEntries(m.calls),
        latency: { buckets, count: m.count, sumMs: m.sumMs },
      };
    });
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  prometheus(): string {
    const stats = this.snapshot();
    const lines = [
      '# HELP grpc_client_handled_total Finished client calls by method and status code.',
      '# TYPE grpc_client_handled_total counter',
    ];
    for (const s of stats) {
      for (const [code, n] of Object.entries(s.calls)) {
        lines.push(`grpc_client_handled_total${this.labelSet(s.method, { grpc_code: code })} ${n}`);
      }
    }
    lines.push(
      '# HELP grpc_client_handling_seconds Client call latency until the last response message.',
      '# TYPE grpc_client_handling_seconds histogram',
    );
    for (const s of stats) {
      for (const b of s.latency.buckets) {
        const le = b.leMs === Infinity ? '+Inf' : String(b.leMs / 1000);
        lines.push(`grpc_client_handling_seconds_bucket${this.labelSet(s.method, { le })} ${b.count}`);
      }
      lines.push(`grpc_client_handling_seconds_sum${this.labelSet(s.method)} ${s.latency.sumMs / 1000}`);
      lines.push(`grpc_client_handling_seconds_count${this.labelSet(s.method)} ${s.latency.count}`);
    }
    return `${lines.join('\n')}\n`;
  }

  private labelSet(method: string, extra: Record<string, string> = {}): string {
    const slash = method.lastIndexOf('/');
    const all = {
      ...this.labels,
      grpc_service: method.slice(0, slash),
      grpc_method: method.slice(slash + 1),
      ...extra,
    };
    return `{${Object.entries(all)
      .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      .join(',')}}`;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * A client span per call, with `traceparent`/`tracestate` request headers naming it so the
 * upstream continues the trace. The parent is the call's own traceparent header when it has one
 * (the gateway forwards the HTTP client's), else the active context. Without an OpenTelemetry SDK
 * the span is a no-op: an incoming traceparent is then passed on unchanged, and none is invented.
 */
export function traceContextInterceptor(tracer?: Tracer): Interceptor {
  return (next) => (req) => {
    const t = tracer ?? trace.getTracer('switchyard-gateway');
    const incoming = parseTraceparent(req.header.get('traceparent'));
    const parent = incoming === undefined ? context.active() : trace.setSpanContext(ROOT_CONTEXT, incoming);
    const method = fullMethodName(req);
    const span = t.startSpan(
      method,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.service': req.service.typeName,
          'rpc.method': req.method.name,
        },
      },
      parent,
    );
    const sc = span.spanContext();
    if (isSpanContextValid(sc)) {
      req.header.set('traceparent', formatTraceparent(sc));
      const state = sc.traceState?.serialize();
      if (state) req.header.set('tracestate', state);
    }
    return observeCall(next, req, (o) => {
      span.setAttribute('rpc.grpc.status_code', o.code ?? 0);
      if (o.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: o.error.rawMessage });
      span.end();
    });
  };
}

/** The W3C traceparent value (version 00) for a span context. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
