import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, createFileRegistry, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Interceptor,
} from '@connectrpc/connect';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  type CallLogEntry,
  CallMetrics,
  LATENCY_BUCKETS_MS,
  loggingInterceptor,
  traceContextInterceptor,
} from './interceptors.js';

/** A service with a unary and a server-streaming method, built without codegen. */
function echoService(): DescService {
  const msg = (name: string) => ({
    name,
    field: [{ name: 'text', number: 1, type: 9 /* string */, label: 1 /* optional */, jsonName: 'text' }],
  });
  const file = create(FileDescriptorProtoSchema, {
    name: 'test/echo.proto',
    package: 'test.v1',
    syntax: 'proto3',
    messageType: [msg('Req'), msg('Res')],
    service: [
      {
        name: 'Echo',
        method: [
          { name: 'Get', inputType: '.test.v1.Req', outputType: '.test.v1.Res' },
          { name: 'Watch', inputType: '.test.v1.Req', outputType: '.test.v1.Res', serverStreaming: true },
        ],
      },
    ],
  });
  return createFileRegistry(file, () => undefined).getService('test.v1.Echo')!;
}

const Echo = echoService();

/** Get fails with the code named in the request text ("fail:5"); Watch yields `text` twice. */
function client(interceptors: Interceptor[], seen: Headers[] = []) {
  const transport = createRouterTransport(
    (router) =>
      router.service(Echo, {
        get: (req: { text: string }, ctx: { requestHeader: Headers }) => {
          seen.push(ctx.requestHeader);
          const m = /^fail:(\d+)$/.exec(req.text);
          if (m) throw new ConnectError('no such thing', Number(m[1]) as Code);
          return { text: req.text };
        },
        async *watch(req: { text: string }) {
          yield { text: req.text };
          yield { text: req.text };
        },
      } as never),
    { transport: { interceptors } },
  );
  // biome-ignore lint/suspicious/noExplicitAny: a runtime-built service has no generated types
  return createClient(Echo, transport) as any;
}

test('logging: one entry per unary call with method, code and error', async () => {
  const entries: CallLogEntry[] = [];
  const c = client([loggingInterceptor((e) => entries.push(e))]);
  await c.get({ text: 'hi' });
  await assert.rejects(c.get({ text: 'fail:5' }));
  assert.equal(entries.length, 2);
  assert.equal(entries[0]!.method, 'test.v1.Echo/Get');
  assert.equal(entries[0]!.code, 'OK');
  assert.equal(entries[0]!.error, undefined);
  assert.equal(entries[1]!.code, 'NOT_FOUND');
  assert.equal(entries[1]!.error, 'no such thing');
  assert.ok(entries.every((e) => e.durationMs >= 0 && e.kind === 'unary'));
});

test('logging: a stream is logged when it ends, with its message count; an abandoned one as CANCELLED', async () => {
  const entries: CallLogEntry[] = [];
  const c = client([loggingInterceptor((e) => entries.push(e))]);
  for await (const _ of c.watch({ text: 'x' })) assert.equal(entries.length, 0);
  assert.deepEqual(
    entries.map((e) => [e.code, e.responseMessages]),
    [['OK', 2]],
  );
  // connect's client does not pass `break` on; the caller cancels through the call's signal.
  const ac = new AbortController();
  for await (const _ of c.watch({ text: 'x' }, { signal: ac.signal })) break;
  ac.abort();
  assert.equal(entries[1]?.code, 'CANCELLED');
  assert.equal(entries[1]?.responseMessages, 1);
});

test('logging: a throwing logger does not fail the call', async () => {
  const c = client([
    loggingInterceptor(() => {
      throw new Error('disk full');
    }),
  ]);
  assert.equal((await c.get({ text: 'ok' })).text, 'ok');
});

test('metrics: calls counted per method and status, histogram cumulative and complete', async () => {
  const metrics = new CallMetrics({ labels: { upstream: 'echo' } });
  const c = client([metrics.interceptor()]);
  await c.get({ text: 'a' });
  await c.get({ text: 'b' });
  await assert.rejects(c.get({ text: 'fail:14' }));
  for await (const _ of c.watch({ text: 'w' }));

  const stats = metrics.snapshot();
  const get = stats.find((s) => s.method === 'test.v1.Echo/Get')!;
  assert.deepEqual(get.calls, { OK: 2, UNAVAILABLE: 1 });
  assert.equal(get.latency.count, 3);
  assert.equal(get.latency.buckets.length, LATENCY_BUCKETS_MS.length + 1);
  assert.equal(get.latency.buckets.at(-1)!.leMs, Infinity);
  assert.equal(get.latency.buckets.at(-1)!.count, 3);
  for (let i = 1; i < get.latency.buckets.length; i++) {
    assert.ok(get.latency.buckets[i]!.count >= get.latency.buckets[i - 1]!.count);
  }
  assert.deepEqual(stats.find((s) => s.method === 'test.v1.Echo/Watch')!.calls, { OK: 1 });
});

test('metrics: durations land in the right bucket and the Prometheus text is well-formed', () => {
  const metrics = new CallMetrics();
  metrics.record('p.S/M', { code: undefined, durationMs: 3 });
  metrics.record('p.S/M', { code: undefined, durationMs: 5 });
  metrics.record('p.S/M', { code: Code.Internal, durationMs: 99_999 });
  const buckets = metrics.snapshot()[0]!.latency.buckets;
  assert.equal(buckets.find((b) => b.leMs === 2.5)!.count, 0);
  assert.equal(buckets.find((b) => b.leMs === 5)!.count, 2);
  assert.equal(buckets.find((b) => b.leMs === 10_000)!.count, 2);
  assert.equal(buckets.at(-1)!.count, 3);

  const text = metrics.prometheus();
  assert.match(text, /^grpc_client_handled_total\{grpc_service="p.S",grpc_method="M",grpc_code="OK"\} 2$/m);
  assert.match(
    text,
    /^grpc_client_handled_total\{grpc_service="p.S",grpc_method="M",grpc_code="INTERNAL"\} 1$/m,
  );
  assert.match(
    text,
    /^grpc_client_handling_seconds_bucket\{grpc_service="p.S",grpc_method="M",le="0.005"\} 2$/m,
  );
  assert.match(text, /^grpc_client_handling_seconds_bucket\{[^}]*le="\+Inf"\} 3$/m);
  assert.match(text, /^grpc_client_handling_seconds_count\{grpc_service="p.S",grpc_method="M"\} 3$/m);
  // Every sample line: a name, a label set, a number.
  for (const line of text.trim().split('\n')) {
    if (!line.startsWith('#')) assert.match(line, /^[a-z_]+\{[^}]*\} [0-9.e+-]+$/);
  }
});

test('metrics: label values are escaped', () => {
  const metrics = new CallMetrics({ labels: { upstream: 'a"b\\c\nd' } });
  metrics.record('p.S/M', { code: undefined, durationMs: 1 });
  assert.match(metrics.prometheus(), /upstream="a\\"b\\\\c\\nd"/);
});

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';

test('trace: without an SDK an incoming traceparent passes unchanged, and none is invented', async () => {
  const seen: Headers[] = [];
  const c = client([traceContextInterceptor()], seen);
  const incoming = `00-${TRACE_ID}-${PARENT_SPAN}-01`;
  await c.get({ text: 'a' }, { headers: { traceparent: incoming, tracestate: 'k=v' } });
  await c.get({ text: 'b' });
  assert.equal(seen[0]!.get('traceparent'), incoming);
  assert.equal(seen[0]!.get('tracestate'), 'k=v');
  assert.equal(seen[1]!.get('traceparent'), null);
});

test('trace: with a tracer the span is a child of the incoming traceparent, and the upstream sees it', async () => {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const seen: Headers[] = [];
  const c = client([traceContextInterceptor(provider.getTracer('test'))], seen);

  await c.get({ text: 'a' }, { headers: { traceparent: `00-${TRACE_ID}-${PARENT_SPAN}-01` } });
  await assert.rejects(c.get({ text: 'fail:9' }));
  await provider.forceFlush();

  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 2);
  const child = spans[0]!;
  assert.equal(child.spanContext().traceId, TRACE_ID);
  assert.equal(child.parentSpanContext?.spanId, PARENT_SPAN);
  assert.equal(child.name, 'test.v1.Echo/Get');
  assert.equal(seen[0]!.get('traceparent'), `00-${TRACE_ID}-${child.spanContext().spanId}-01`);

  // No incoming context: a new trace, still propagated, and the failure recorded on the span.
  const root = spans[1]!;
  assert.notEqual(root.spanContext().traceId, TRACE_ID);
  assert.equal(root.parentSpanContext, undefined);
  assert.match(seen[1]!.get('traceparent') ?? '', new RegExp(`^00-${root.spanContext().traceId}-`));
  assert.equal(root.attributes['rpc.grpc.status_code'], Code.FailedPrecondition);
  await provider.shutdown();
});

test('trace: a malformed incoming traceparent is replaced, not forwarded', async () => {
  const provider = new TracerProvider({});
  const seen: Headers[] = [];
  const c = client([traceContextInterceptor(provider.getTracer('test'))], seen);
  await c.get({ text: 'a' }, { headers: { traceparent: 'garbage' } });
  assert.match(seen[0]!.get('traceparent') ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
});
