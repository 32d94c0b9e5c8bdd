import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, createFileRegistry, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import fc from 'fast-check';
import {
  backoffDelayMs,
  deadlineOf,
  parseStatusCode,
  type RetryPolicy,
  retryInterceptor,
  statusCodeName,
} from './retry.js';

/** A service with one method of each kind whose messages carry one string, built without codegen. */
function echoService(): DescService {
  const msg = (name: string) => ({
    name,
    field: [{ name: 'text', number: 1, type: 9 /* string */, label: 1 /* optional */, jsonName: 'text' }],
  });
  const file: FileDescriptorProto = create(FileDescriptorProtoSchema, {
    name: 'test/echo.proto',
    package: 'test.v1',
    syntax: 'proto3',
    messageType: [msg('Req'), msg('Res')],
    service: [
      {
        name: 'Echo',
        method: [
          { name: 'Get', inputType: '.test.v1.Req', outputType: '.test.v1.Res' },
          { name: 'Put', inputType: '.test.v1.Req', outputType: '.test.v1.Res' },
          { name: 'Watch', inputType: '.test.v1.Req', outputType: '.test.v1.Res', serverStreaming: true },
          { name: 'Upload', inputType: '.test.v1.Req', outputType: '.test.v1.Res', clientStreaming: true },
        ],
      },
    ],
  });
  return createFileRegistry(file, () => undefined).getService('test.v1.Echo')!;
}

const Echo = echoService();

const policy: RetryPolicy = {
  maxAttempts: 4,
  initialBackoffMs: 10,
  maxBackoffMs: 25,
  backoffMultiplier: 2,
  retryableStatusCodes: [Code.Unavailable],
};

const idempotent = (m: string) => m === 'test.v1.Echo/Get' || m === 'test.v1.Echo/Watch';

/** A client whose server fails the first `failures` calls with `code`, recording delays instead of sleeping. */
function harness(opts: { failures: number; code?: Code; policy?: RetryPolicy; random?: () => number }) {
  let calls = 0;
  const delays: number[] = [];
  const timeouts: (string | null)[] = [];
  const fail = (): void => {
    calls++;
    if (calls <= opts.failures) throw new ConnectError('down', opts.code ?? Code.Unavailable);
  };
  const transport = createRouterTransport(
    (router) =>
      router.service(Echo, {
        get: (req: { text: string }, ctx: { requestHeader: Headers }) => {
          timeouts.push(ctx.requestHeader.get('connect-timeout-ms'));
          fail();
          return { text: `got ${req.text}` };
        },
        put: (req: { text: string }) => {
          fail();
          return { text: `put ${req.text}` };
        },
        async *watch(req: { text: string }) {
          fail();
          yield { text: `${req.text} 1` };
          yield { text: `${req.text} 2` };
        },
        async upload(reqs: AsyncIterable<{ text: string }>) {
          fail();
          let all = '';
          for await (const r of reqs) all += r.text;
          return { text: all };
        },
      } as never),
    {
      transport: {
        interceptors: [
          retryInterceptor(opts.policy ?? policy, idempotent, {
            random: opts.random ?? (() => 1 - Number.EPSILON),
            sleep: async (ms) => void delays.push(ms),
          }),
        ],
      },
    },
  );
  // biome-ignore lint/suspicious/noExplicitAny: a runtime-built service has no generated types
  const client = createClient(Echo, transport) as any;
  return { client, delays, timeouts, calls: () => calls };
}

test('retry: an idempotent unary call succeeds after failures, one attempt per failure', async () => {
  const h = harness({ failures: 2 });
  const res = await h.client.get({ text: 'a' });
  assert.equal(res.text, 'got a');
  assert.equal(h.calls(), 3);
  assert.equal(h.delays.length, 2);
});

test('retry: gives up after maxAttempts with the last error', async () => {
  const h = harness({ failures: 10 });
  await assert.rejects(h.client.get({ text: 'a' }), (e: ConnectError) => e.code === Code.Unavailable);
  assert.equal(h.calls(), policy.maxAttempts);
});

test('retry: backoff grows by the multiplier and stays under maxBackoffMs', async () => {
  const h = harness({ failures: 3 });
  await h.client.get({ text: 'a' });
  // random() close to 1 shows the ceilings: 10, 20, then 40 capped to 25.
  assert.deepEqual(
    h.delays.map((d) => Math.round(d)),
    [10, 20, 25],
  );
});

test('retry: backoffDelayMs is within [0, min(initial*mult^(n-1), max)] for any policy', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 60_000 }),
      fc.double({ min: 1, max: 10, noNaN: true }),
      fc.integer({ min: 1, max: 50 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (initial, max, mult, retry, r) => {
        const p = { ...policy, initialBackoffMs: initial, maxBackoffMs: max, backoffMultiplier: mult };
        const d = backoffDelayMs(p, retry, () => r);
        return d >= 0 && d <= Math.min(initial * mult ** (retry - 1), max) + 1e-9;
      },
    ),
  );
});

test('retry: a non-idempotent method is never retried', async () => {
  const h = harness({ failures: 1 });
  await assert.rejects(h.client.put({ text: 'a' }), (e: ConnectError) => e.code === Code.Unavailable);
  assert.equal(h.calls(), 1);
});

test('retry: a non-retryable code is not retried', async () => {
  const h = harness({ failures: 1, code: Code.FailedPrecondition });
  await assert.rejects(h.client.get({ text: 'a' }), (e: ConnectError) => e.code === Code.FailedPrecondition);
  assert.equal(h.calls(), 1);
});

test('retry: a client stream is never retried, even for an idempotent-listed name', async () => {
  const h = harness({ failures: 1, policy: { ...policy } });
  async function* input() {
    yield { text: 'x' };
  }
  await assert.rejects(h.client.upload(input()), (e: ConnectError) => e.code === Code.Unavailable);
  assert.equal(h.calls(), 1);
});

test('retry: a server stream failing before its first message is reopened', async () => {
  const h = harness({ failures: 2 });
  const got: string[] = [];
  for await (const m of h.client.watch({ text: 'w' })) got.push(m.text);
  assert.deepEqual(got, ['w 1', 'w 2']);
  assert.equal(h.calls(), 3);
});

test('retry: a retry carries the remaining deadline, and none starts past it', async () => {
  const h = harness({ failures: 1 });
  await h.client.get({ text: 'a' }, { timeoutMs: 5000 });
  assert.equal(h.timeouts.length, 2);
  assert.ok(Number(h.timeouts[1]) <= 5000 && Number(h.timeouts[1]) > 4000);

  // A backoff longer than the time left: fail now with the real error, not later with DEADLINE_EXCEEDED.
  const slow = harness({
    failures: 5,
    policy: { ...policy, initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
  });
  await assert.rejects(
    slow.client.get({ text: 'a' }, { timeoutMs: 1000 }),
    (e: ConnectError) => e.code === Code.Unavailable,
  );
  assert.equal(slow.calls(), 1);
});

test('retry: an aborted call stops retrying and rejects with CANCELLED', async () => {
  const ac = new AbortController();
  let calls = 0;
  const transport = createRouterTransport(
    (router) =>
      router.service(Echo, {
        get: () => {
          calls++;
          throw new ConnectError('down', Code.Unavailable);
        },
      } as never),
    {
      transport: {
        interceptors: [
          retryInterceptor(policy, idempotent, {
            // The caller goes away while the client waits for its first retry.
            sleep: (_ms, signal) => {
              ac.abort();
              return signal.aborted
                ? Promise.reject(signal.reason)
                : new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
            },
          }),
        ],
      },
    },
  );
  // biome-ignore lint/suspicious/noExplicitAny: a runtime-built service has no generated types
  const client = createClient(Echo, transport) as any;
  await assert.rejects(
    client.get({ text: 'a' }, { signal: ac.signal }),
    (e: ConnectError) => e.code === Code.Canceled,
  );
  assert.equal(calls, 1);
});

test('retry: status code names parse both ways', () => {
  assert.equal(parseStatusCode('UNAVAILABLE'), Code.Unavailable);
  assert.equal(parseStatusCode('deadline_exceeded'), Code.DeadlineExceeded);
  assert.equal(parseStatusCode('14'), Code.Unavailable);
  assert.equal(parseStatusCode('0'), undefined);
  assert.equal(parseStatusCode('NOPE'), undefined);
  assert.equal(statusCodeName(Code.FailedPrecondition), 'FAILED_PRECONDITION');
  for (let c = 1; c <= 16; c++) assert.equal(parseStatusCode(statusCodeName(c as Code)), c);
});

test('retry: status code parsing never throws, and yields a code in 1..16 or nothing', () => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      const c = parseStatusCode(s);
      return c === undefined || (Number.isInteger(c) && c >= 1 && c <= 16);
    }),
  );
});

test('retry: timeout headers give now + the timeout, anything malformed gives no deadline', () => {
  const units = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 } as const;
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 99_999_999 }),
      fc.constantFrom(...(Object.keys(units) as (keyof typeof units)[])),
      (n, unit) =>
        deadlineOf(new Headers({ 'grpc-timeout': `${n}${unit}` }), 1000) === 1000 + n * units[unit],
    ),
  );
  fc.assert(
    fc.property(fc.string(), (v) => {
      let h: Headers;
      try {
        h = new Headers({ 'grpc-timeout': v });
      } catch {
        return true; // not a value a header can carry
      }
      const d = deadlineOf(h, 0);
      return d === undefined ? !/^\d{1,8}[HMSmun]$/.test(v.trim()) : Number.isFinite(d) && d >= 0;
    }),
  );
  assert.equal(deadlineOf(new Headers({ 'connect-timeout-ms': '250' }), 1000), 1250);
  assert.equal(deadlineOf(new Headers({ 'connect-timeout-ms': '-5' }), 1000), undefined);
  assert.equal(deadlineOf(new Headers({ 'grpc-timeout': '123456789S' }), 0), undefined); // 9 digits: too long
});
