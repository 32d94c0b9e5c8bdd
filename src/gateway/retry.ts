/**
 * Client-side retries with the semantics of the gRPC retry policy (gRFC A6): at most
 * `maxAttempts` attempts, the n-th retry after a random delay in
 * [0, min(initialBackoff * multiplier^(n-1), maxBackoff)] ("full jitter", so that many clients
 * failing together do not retry together), only for the listed status codes. A call is retried
 * only when its method is idempotent: a non-idempotent call that failed with UNAVAILABLE may
 * still have been applied by the server, and doing it twice is worse than failing once.
 */
import type { Message } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor, type StreamResponse } from '@connectrpc/connect';
import { grpcTimeoutMs } from '../util/grpc-timeout.js';

export interface RetryPolicy {
  /** Attempts in total, the first included; 1 = no retry. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
  retryableStatusCodes: Code[];
}

/** What the tests replace to observe delays without waiting for them. */
export interface RetryHooks {
  /** A number in [0, 1); Math.random by default. */
  random?: () => number;
  /** Waits `ms` or rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called before each retry with the attempt about to start (2 = first retry). */
  onRetry?: (info: { method: string; attempt: number; delayMs: number; error: ConnectError }) => void;
}

/** "pkg.Service/Method": the name idempotency lists, logs and metrics use. */
export function fullMethodName(req: { service: { typeName: string }; method: { name: string } }): string {
  return `${req.service.typeName}/${req.method.name}`;
}

/** The delay before retry number `retry` (1 = first retry), per gRFC A6. */
export function backoffDelayMs(
  policy: RetryPolicy,
  retry: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(
    policy.initialBackoffMs * policy.backoffMultiplier ** Math.max(0, retry - 1),
    policy.maxBackoffMs,
  );
  return Math.max(0, ceiling) * random();
}

// gRPC spells code 1 CANCELLED (connect's enum says Canceled): the gRPC names are the canonical
// ones in configs, logs and metrics.
const CODE_BY_NAME: ReadonlyMap<string, Code> = new Map(
  Object.entries(Code)
    .filter((e): e is [string, Code] => typeof e[1] === 'number')
    .map(([name, code]) => [
      code === Code.Canceled ? 'CANCELLED' : name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase(),
      code,
    ]),
);

/** A status code from its canonical name ("UNAVAILABLE", "deadline_exceeded") or number ("14"). */
export function parseStatusCode(name: string): Code | undefined {
  const trimmed = name.trim();
  if (trimmed.toUpperCase() === 'CANCELED') return Code.Canceled;
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    return n >= 1 && n <= 16 ? (n as Code) : undefined;
  }
  return CODE_BY_NAME.get(trimmed.toUpperCase());
}

/** The canonical upper-case name of a status code, e.g. FAILED_PRECONDITION. */
export function statusCodeName(code: Code | undefined): string {
  if (code === undefined) return 'OK';
  for (const [name, c] of CODE_BY_NAME) if (c === code) return name;
  return 'UNKNOWN';
}

/**
 * Retries unary calls, and server-streaming calls that fail before their first response message
 * (after that the caller has seen data, and a replay would repeat it). Client and bidi streams are
 * never retried: their input is consumed as it is sent and cannot be replayed.
 */
export function retryInterceptor(
  policy: RetryPolicy,
  isIdempotent: (methodName: string) => boolean,
  hooks: RetryHooks = {},
): Interceptor {
  const random = hooks.random ?? Math.random;
  const sleep = hooks.sleep ?? abortableSleep;
  const retryable = new Set(policy.retryableStatusCodes);

  return (next) => async (req) => {
    const method = fullMethodName(req);
    if (policy.maxAttempts <= 1 || !isIdempotent(method)) return next(req);
    const kind = req.method.methodKind;
    if (kind === 'client_streaming' || kind === 'bidi_streaming') return next(req);

    const deadline = deadlineOf(req.header, Date.now());
    const inputs = req.stream ? await collect(req.message) : [];
    const attemptRequest = (): typeof req => {
      const header = new Headers(req.header);
      if (deadline !== undefined) setRemaining(header, deadline);
      return req.stream ? { ...req, header, message: replay(inputs) } : { ...req, header };
    };

    /** Waits for the next attempt, or rethrows when the policy, the deadline or the caller says stop. */
    const beforeRetry = async (error: unknown, attempt: number): Promise<void> => {
      const err = ConnectError.from(error);
      if (attempt >= policy.maxAttempts || !retryable.has(err.code) || req.signal.aborted) throw error;
      const delayMs = backoffDelayMs(policy, attempt, random);
      // Sleeping past the deadline would only turn the real error into DEADLINE_EXCEEDED.
      if (deadline !== undefined && Date.now() + delayMs >= deadline) throw error;
      hooks.onRetry?.({ method, attempt: attempt + 1, delayMs, error: err });
      try {
        await sleep(delayMs, req.signal);
      } catch {
        throw req.signal.aborted ? ConnectError.from(req.signal.reason ?? error) : error;
      }
    };

    let attempt = 1;
    for (;;) {
      try {
        const res = await next(attemptRequest());
        if (!res.stream) return res;
        return {
          ...res,
          message: retryBeforeFirstMessage(res, attempt, async (error, n) => {
            await beforeRetry(error, n);
            return (await next(attemptRequest())) as StreamResponse;
          }),
        };
      } catch (error) {
        await beforeRetry(error, attempt);
        attempt++;
      }
    }
  };
}

/**
 * The response stream of a server-streaming call that is re-opened when it fails before its first
 * message. Trailers of a later attempt are copied onto the first response's trailer object, which
 * is the one the caller holds.
 */
async function* retryBeforeFirstMessage(
  first: StreamResponse,
  firstAttempt: number,
  reopen: (error: unknown, attempt: number) => Promise<StreamResponse>,
): AsyncGenerator<Message> {
  let current = first;
  let attempt = firstAttempt;
  let received = false;
  try {
    for (;;) {
      try {
        for await (const m of current.message) {
          received = true;
          yield m;
        }
        return;
      } catch (error) {
        if (received) throw error;
        current = await reopen(error, attempt);
        attempt++;
      }
    }
  } finally {
    if (current !== first) for (const [k, v] of current.trailer) first.trailer.set(k, v);
  }
}

/**
 * The absolute deadline (ms since epoch) the request's timeout header sets, if any: `grpc-timeout`
 * for gRPC and gRPC-Web, `connect-timeout-ms` for the Connect protocol.
 */
export function deadlineOf(header: Headers, now: number): number | undefined {
  const connectMs = header.get('connect-timeout-ms');
  if (connectMs !== null && /^\d{1,10}$/.test(connectMs)) return now + Number(connectMs);
  const ms = grpcTimeoutMs(header.get('grpc-timeout') ?? '');
  return Number.isNaN(ms) ? undefined : now + ms;
}

/** A retry carries what is left of the deadline, not the whole timeout again. */
function setRemaining(header: Headers, deadline: number): void {
  const ms = Math.max(1, Math.ceil(deadline - Date.now()));
  if (header.has('connect-timeout-ms')) header.set('connect-timeout-ms', String(ms));
  else header.set('grpc-timeout', `${ms}m`);
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

async function* replay<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
