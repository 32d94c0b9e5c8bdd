/**
 * Interop of the gRPC front end with clients that are not ours: `buf curl` (the npm
 * @bufbuild/buf binary) over native gRPC using server reflection (no .proto given), and over
 * Connect and gRPC-Web on the HTTP port with a descriptor set; and Python grpcio (the system
 * /usr/bin/python3 with python3-grpcio) for all four call patterns, without generated stubs
 * (test/py/grpc_broker.py).
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Broker } from '../src/gen/switchyard/v1/broker_pb.js';
import { startTestBroker, uniq } from './helpers.js';
import { run } from './interop-support.js';
import { tempDir } from './support/temp.js';
import { PYTHON, skipUnless } from './support/tools.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUF = join(ROOT, 'node_modules/.bin/buf');
const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const b = await startTestBroker();
after(() => b.close());
const grpcUrl = `http://127.0.0.1:${b.server.grpc!.address.port}`;
const httpUrl = `http://127.0.0.1:${b.server.http!.address.port}`;
const client = createClient(Broker, createGrpcTransport({ baseUrl: grpcUrl }));
const descriptors = join(tempDir('switchyard-grpc-'), 'broker.binpb');

before(async () => {
  // A FileDescriptorSet of proto/ (with its imports), for the clients that are given a schema.
  const r = await run(BUF, ['build', '--as-file-descriptor-set', '-o', descriptors], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
});

async function bufCurl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await run(BUF, ['curl', ...args], { timeoutMs: 90_000 });
  return { code: r.code, out: r.stdout, err: r.stderr };
}

/** Consecutive JSON documents (buf curl prints one per response message). */
function documents(s: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '{' && depth++ === 0) start = i;
    else if (s[i] === '}' && --depth === 0)
      out.push(JSON.parse(s.slice(start, i + 1)) as Record<string, unknown>);
  }
  return out;
}

const grpcFlags = ['--protocol', 'grpc', '--http2-prior-knowledge'];

describe('buf curl', () => {
  test('lists the services and methods through reflection', async () => {
    const s = await bufCurl([...grpcFlags, '--list-services', grpcUrl]);
    assert.equal(s.code, 0, s.err);
    assert.deepEqual(s.out.trim().split('\n').sort(), [
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'grpc.reflection.v1alpha.ServerReflection',
      'switchyard.v1.Broker',
    ]);
    const m = await bufCurl([...grpcFlags, '--list-methods', grpcUrl]);
    assert.equal(m.code, 0, m.err);
    for (const name of [
      'Publish',
      'PublishStream',
      'Subscribe',
      'Session',
      'DeclareQueue',
      'InspectExchange',
    ]) {
      assert.ok(m.out.includes(`switchyard.v1.Broker/${name}\n`), name);
    }
    // The older reflection protocol answers too.
    const alpha = await bufCurl([
      ...grpcFlags,
      '--reflect-protocol',
      'grpc-v1alpha',
      '--list-services',
      grpcUrl,
    ]);
    assert.equal(alpha.code, 0, alpha.err);
    assert.ok(alpha.out.includes('switchyard.v1.Broker'));
  });

  test('declares, publishes (trace context in metadata) and subscribes over native gRPC', async () => {
    const q = uniq('bufcurl');
    const d = await bufCurl([
      ...grpcFlags,
      '-d',
      JSON.stringify({ name: q }),
      `${grpcUrl}/switchyard.v1.Broker/DeclareQueue`,
    ]);
    assert.equal(d.code, 0, d.err);
    assert.deepEqual(JSON.parse(d.out), { name: q });
    const p = await bufCurl([
      ...grpcFlags,
      '-H',
      `traceparent: ${TP}`,
      '-d',
      JSON.stringify({
        routing_key: q,
        message: { body: Buffer.from('hi buf').toString('base64'), content_type: 'text/plain' },
      }),
      `${grpcUrl}/switchyard.v1.Broker/Publish`,
    ]);
    assert.equal(p.code, 0, p.err);
    assert.deepEqual(JSON.parse(p.out), { routedQueues: 1 });
    // A stream that never ends on its own: buf curl's own time limit ends it.
    const s = await bufCurl([
      ...grpcFlags,
      '--timeout',
      '2s',
      '-d',
      JSON.stringify({ queue: q, auto_ack: true }),
      `${grpcUrl}/switchyard.v1.Broker/Subscribe`,
    ]);
    const [started, delivery] = documents(s.out);
    assert.equal((started!.started as { queue: string }).queue, q);
    const m = (delivery!.delivery as { message: Record<string, unknown> }).message;
    assert.equal(Buffer.from(m.body as string, 'base64').toString(), 'hi buf');
    assert.equal(m.contentType, 'text/plain');
    assert.equal(m.traceparent, TP);
  });

  test('a failure is the gRPC status, as JSON', async () => {
    const r = await bufCurl([
      ...grpcFlags,
      '-d',
      JSON.stringify({ name: uniq('nope') }),
      `${grpcUrl}/switchyard.v1.Broker/InspectQueue`,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.err + r.out, /"code": "not_found"/);
    assert.match(r.err + r.out, /no queue/);
  });

  test('health Check', async () => {
    const r = await bufCurl([
      ...grpcFlags,
      '-d',
      '{"service":"switchyard.v1.Broker"}',
      `${grpcUrl}/grpc.health.v1.Health/Check`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), { status: 'SERVING' });
  });

  for (const protocol of ['connect', 'grpcweb']) {
    test(`${protocol} on the HTTP port (schema from a descriptor set)`, async () => {
      const q = uniq(`bufcurl-${protocol}`);
      const flags = ['--protocol', protocol, '--schema', descriptors];
      const d = await bufCurl([
        ...flags,
        '-d',
        JSON.stringify({ name: q }),
        `${httpUrl}/switchyard.v1.Broker/DeclareQueue`,
      ]);
      assert.equal(d.code, 0, d.err);
      const p = await bufCurl([
        ...flags,
        '-u',
        'guest:guest',
        '-d',
        JSON.stringify({ routing_key: q, message: { body: 'AQI=' } }),
        `${httpUrl}/switchyard.v1.Broker/Publish`,
      ]);
      assert.equal(p.code, 0, p.err);
      const i = await bufCurl([
        ...flags,
        '-d',
        JSON.stringify({ name: q }),
        `${httpUrl}/switchyard.v1.Broker/InspectQueue`,
      ]);
      assert.equal(i.code, 0, i.err);
      assert.deepEqual(JSON.parse(i.out), { name: q, messageCount: 1 });
    });
  }
});

const skip = await skipUnless('python3-grpcio');

describe('Python grpcio', { skip }, () => {
  test('unary, client streaming, server streaming with acks, bidirectional Session', async () => {
    const prefix = uniq('py-grpc');
    const r = await run(
      PYTHON,
      [join(ROOT, 'test/py/grpc_broker.py'), grpcUrl.slice('http://'.length), descriptors, prefix],
      {
        timeoutMs: 60_000,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      },
    );
    assert.equal(r.code, 0, `grpc_broker.py exited ${r.code}:\n${r.stderr}${r.stdout}`);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.deepEqual(out, {
      declared: `${prefix}-unary`,
      routed: 1,
      missing: 'NOT_FOUND',
      missing_details: `no exchange '${prefix}-missing' in vhost '/'`,
      stream_confirmed: 10,
      subscribe_bodies: ['from python', ...Array.from({ length: 10 }, (_, i) => String(i))],
      subscribe_props: {
        content_type: 'text/plain',
        correlation_id: 'py-1',
        headers: { lang: 'python' },
        persistent: true,
        routing_key: `${prefix}-unary`,
      },
      left_after_ack: 0,
      session_first: 'subscribed',
      session_confirms: [100, 101, 102, 103, 104],
      session_bodies: ['p0', 'p1', 'p2', 'p3', 'p4'],
      session_rest: [],
    });
    // Everything the Session acked is gone from the queue.
    assert.equal((await client.inspectQueue({ name: `${prefix}-session` })).messageCount, 0);
  });
});
