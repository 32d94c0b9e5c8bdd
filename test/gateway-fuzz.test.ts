/**
 * The gateway never crashes on a bad request: random methods, paths around its routes, queries,
 * content types (REST, NDJSON, gRPC-Web, Connect) and bodies, sent over real sockets. Every
 * request gets an HTTP answer (or a clean close), and a good request still works afterwards.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { catalogUpstream, startUpstream } from './fixtures/gateway/upstream.js';
import { startTestBroker } from './helpers.js';

interface Answer {
  status: number;
  body: string;
}

function send(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<Answer | 'closed'> {
  // 'closed': the connection ended without an HTTP answer.
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', () => resolve('closed'));
    });
    // A stream route may wait for more input: the fuzz never leaves a request open.
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => resolve('closed'));
    req.end(body);
  });
}

const prefixes = [
  '/v1/items/',
  '/v1/items',
  '/v1/shelves/',
  '/v1/fail/',
  '/v1/sum',
  '/gwtest.v1.Catalog/',
  '/gwtest.v1.Catalog/GetItem',
  '/gwtest.v1.Catalog/Chat',
  '/',
];
const contentTypes = [
  'application/json',
  'application/x-ndjson',
  'application/grpc-web+proto',
  'application/grpc-web+json',
  'application/grpc-web-text',
  'application/connect+json',
  'application/proto',
  'text/plain',
];
const jsonish = fc.oneof(
  fc.json().map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.array(fc.json(), { maxLength: 4 }).map((lines) => Buffer.from(lines.join('\n'))),
  fc.constant(Buffer.from([0, 0, 0, 0, 5, 1, 2])),
);

test('gateway fuzz: random requests get an answer and leave the gateway working', async () => {
  const upstream = await startUpstream();
  const b = await startTestBroker({}, undefined, {
    http: { port: 0, maxBodySize: 4096 },
    gateway: {
      upstreams: [catalogUpstream(upstream.address, { grpcWeb: ['*'] })],
    },
  });
  const port = b.server.http!.address.port;
  // No keep-alive: Node's server closes a connection whose request body it did not read, and a
  // keep-alive agent may already have reused that socket (a client-side race, not a gateway fault).
  const agent = new Agent({ keepAlive: false, maxSockets: 4 });
  const seen = new Map<string, number>();
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
        fc.constantFrom(...prefixes),
        fc.stringMatching(/^[\w.%:/{}*~-]{0,24}$/),
        fc.array(fc.tuple(fc.stringMatching(/^[\w.]{1,12}$/), fc.string({ maxLength: 12 })), {
          maxLength: 4,
        }),
        fc.constantFrom(...contentTypes),
        fc.constantFrom(undefined, 'text/event-stream', 'application/x-ndjson', 'application/json'),
        fc.option(fc.constantFrom('1m', '0S', 'abc', '99999999999H', '5'), { nil: undefined }),
        jsonish,
        async (method, prefix, suffix, query, contentType, accept, timeout, body) => {
          const qs = query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
          const headers: Record<string, string> = { 'content-type': contentType };
          if (accept !== undefined) headers.accept = accept;
          if (timeout !== undefined) headers['grpc-timeout'] = timeout;
          const a = await send(agent, port, method, `${prefix}${suffix}${qs ? `?${qs}` : ''}`, headers, body);
          if (a === 'closed') assert.fail(`${method} ${prefix}${suffix}: no HTTP answer`);
          assert.ok(a.status >= 200 && a.status < 600, `status ${a.status}`);
          const k = String(a.status);
          seen.set(k, (seen.get(k) ?? 0) + 1);
        },
      ),
      { numRuns: 300 },
    );
    // The fuzz reached the gateway's routes and its error paths, not just 404s.
    assert.ok((seen.get('200') ?? 0) > 0 && (seen.get('400') ?? 0) > 0, JSON.stringify([...seen]));
    const good = await send(agent, port, 'GET', '/v1/items/abc', {}, Buffer.alloc(0));
    assert.ok(good !== 'closed' && good.status === 200, JSON.stringify(good));
  } finally {
    agent.destroy();
    await b.close();
    await upstream.close();
  }
});
