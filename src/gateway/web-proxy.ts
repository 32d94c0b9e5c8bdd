/**
 * gRPC-Web and Connect from browsers, forwarded to native gRPC upstreams: a connect-node handler
 * whose services are the upstreams' own (runtime descriptors), each method implemented by calling
 * the upstream with the same message. Messages stay typed end to end, so a JSON Connect call
 * becomes a binary gRPC call without a JSON step of our own.
 */
import type { DescMethod, DescMethodStreaming, DescMethodUnary, Message } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import type { HeaderRules } from './call-options.js';
import type { Upstream } from './upstream.js';

export interface WebService {
  readonly upstream: Upstream;
  readonly methods: readonly DescMethod[];
}

export function webProxyHandler(
  services: readonly WebService[],
  headers: HeaderRules,
  maxBodySize: number,
  shutdown: AbortSignal,
): ReturnType<typeof connectNodeAdapter> {
  return connectNodeAdapter({
    routes: (router: ConnectRouter) => {
      for (const s of services)
        for (const m of s.methods) router.rpc(m, implementation(s.upstream, m, headers) as never);
    },
    grpc: false, // native gRPC clients call the upstream itself
    readMaxBytes: maxBodySize,
    shutdownSignal: shutdown,
  });
}

function implementation(u: Upstream, m: DescMethod, headers: HeaderRules): unknown {
  const call = (ctx: HandlerContext) => ({
    timeoutMs: ctx.timeoutMs() ?? u.config.timeoutMs,
    metadata: headers.metadataFrom(ctx.requestHeader),
  });
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

async function* once<T>(v: T): AsyncGenerator<T> {
  yield v;
}
