/**
 * gRPC-Web and Connect from browsers, forwarded to native gRPC upstreams: a connect-node handler
 * whose services are the upstreams' own (runtime descriptors), each method implemented by calling
 * the upstream with the same message. Messages stay typed end to end, so a JSON Connect call
 * becomes a binary gRPC call without a JSON step of our own.
 */
import type { DescMethod, DescMethodStreaming, DescMethodUnary, Message } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { HeaderRules } from './call-options.js';
import type { Upstream } from './upstream.js';

const NODE_TIMER_MAX_MS = 2 ** 31 - 1;

export interface WebService {
  readonly upstream: Upstream;
  /** Every method of the upstream. */
  readonly methods: readonly DescMethod[];
  /** The ones browsers may call (the upstream's `grpcWeb`); the others are refused. */
  readonly exposed: readonly DescMethod[];
}

export function webProxyHandler(
  services: readonly WebService[],
  headers: HeaderRules,
  maxBodySize: number,
  maxTimeoutMs: number,
  shutdown: AbortSignal,
): ReturnType<typeof connectNodeAdapter> {
  return connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const s of services) {
        const exposed = new Set(s.exposed);
        for (const m of s.methods) {
          const impl = exposed.has(m)
            ? implementation(s.upstream, m, headers, maxTimeoutMs)
            : refusal(s.upstream, m);
          router.rpc(m, impl as never);
        }
      }
    },
    grpc: false, // native gRPC clients call the upstream itself
    readMaxBytes: maxBodySize,
    // Deadlines up to maxTimeoutMs pass and longer ones are cut (implementation() below), but
    // connect-node also arms a timer of its own with the client's value: past Node's timer limit
    // (2^31 - 1 ms, 24.8 days) that one would fire at once, so connect refuses those
    // (INVALID_ARGUMENT).
    maxTimeoutMs: NODE_TIMER_MAX_MS,
    shutdownSignal: shutdown,
  });
}

function implementation(u: Upstream, m: DescMethod, headers: HeaderRules, maxTimeoutMs: number): unknown {
  // connect-node reads grpc-timeout / connect-timeout-ms itself; the gateway's bound applies.
  const call = (ctx: HandlerContext) => {
    const asked = ctx.timeoutMs();
    return {
      timeoutMs: asked === undefined ? u.config.timeoutMs : Math.min(asked, maxTimeoutMs),
      metadata: headers.metadataFrom(ctx.requestHeader),
    };
  };
  const answer = (ctx: HandlerContext, header: Headers, trailer?: Headers): void => {
    headers.copyReturned(ctx.responseHeader, header);
    if (trailer !== undefined) headers.copyReturned(ctx.responseTrailer, trailer);
  };
  switch (m.methodKind) {
    case 'unary':
      return async (req: Message, ctx: HandlerContext) => {
        const c = call(ctx);
        const r = await u.transport.unary(m as DescMethodUnary, ctx.signal, c.timeoutMs, c.metadata, req);
        answer(ctx, r.header, r.trailer);
        return r.message;
      };
    case 'server_streaming':
      return async function* (req: Message, ctx: HandlerContext) {
        const c = call(ctx);
        const r = await u.transport.stream(
          m as DescMethodStreaming,
          ctx.signal,
          c.timeoutMs,
          c.metadata,
          once(req),
        );
        answer(ctx, r.header);
        yield* r.message;
        answer(ctx, new Headers(), r.trailer);
      };
    case 'client_streaming':
      return async (reqs: AsyncIterable<Message>, ctx: HandlerContext) => {
        const c = call(ctx);
        const r = await u.transport.stream(
          m as DescMethodStreaming,
          ctx.signal,
          c.timeoutMs,
          c.metadata,
          reqs,
        );
        let last: Message | undefined;
        for await (const x of r.message) last = x;
        answer(ctx, r.header, r.trailer);
        return last;
      };
    case 'bidi_streaming':
      return async function* (reqs: AsyncIterable<Message>, ctx: HandlerContext) {
        const c = call(ctx);
        const r = await u.transport.stream(
          m as DescMethodStreaming,
          ctx.signal,
          c.timeoutMs,
          c.metadata,
          reqs,
        );
        answer(ctx, r.header);
        yield* r.message;
        answer(ctx, new Headers(), r.trailer);
      };
  }
}

/** A method not in the upstream's `grpcWeb`: refused before the upstream is called. */
function refusal(u: Upstream, m: DescMethod): unknown {
  const fail = (): never => {
    throw new ConnectError(
      `${m.parent.typeName}/${m.name} is not served over gRPC-Web or Connect: list it in grpcWeb of upstream ${u.config.name} (docs/gateway.md)`,
      Code.Unimplemented,
    );
  };
  if (m.methodKind === 'unary' || m.methodKind === 'client_streaming') {
    return () => Promise.resolve().then(fail);
  }
  // biome-ignore lint/correctness/useYield: it refuses before yielding anything
  return async function* () {
    fail();
  };
}

async function* once<T>(v: T): AsyncGenerator<T> {
  yield v;
}
