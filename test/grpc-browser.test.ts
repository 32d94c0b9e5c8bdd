/**
 * gRPC-Web and Connect from a real browser (headless Chromium from Debian, skipped without it):
 * a page served at the broker's own HTTP address (request interception, so same-origin and no
 * CORS) declares a queue, subscribes with a server stream, publishes with trace context in the
 * metadata, and reports what arrived, with connect-web's fetch-based transports.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type BrowserPage, openPageAt } from './browser/chromium.js';
import { startTestBroker } from './helpers.js';
import { skipUnless } from './support/tools.js';

const skip = await skipUnless('chromium');

const TP = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';

// Runs in the page: window.run(queuePrefix, traceparent) → what each transport saw.
const PAGE = `
import { createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import { Broker } from '../src/gen/switchyard/v1/broker_pb.js';

globalThis.run = async (prefix, traceparent) => {
  const out = {};
  const transports = {
    'grpc-web': createGrpcWebTransport({ baseUrl: location.origin }),
    connect: createConnectTransport({ baseUrl: location.origin }),
  };
  for (const [name, transport] of Object.entries(transports)) {
    const c = createClient(Broker, transport);
    const q = prefix + '-' + name;
    await c.declareQueue({ name: q });
    const ac = new AbortController();
    const it = c.subscribe({ source: { case: 'queue', value: q }, autoAck: true }, { signal: ac.signal })[Symbol.asyncIterator]();
    const started = (await it.next()).value.event.case;
    const sent = await c.publish(
      { routingKey: q, message: { body: new TextEncoder().encode('hello from ' + name + ' ✓') } },
      { headers: { traceparent } },
    );
    const d = (await it.next()).value.event.value;
    ac.abort();
    let status = '';
    try {
      await c.inspectQueue({ name: prefix + '-missing' });
    } catch (e) {
      status = e.code;
    }
    out[name] = {
      started,
      routed: sent.routedQueues,
      body: new TextDecoder().decode(d.message.body),
      traceparent: d.message.traceparent,
      missing: status,
    };
  }
  return out;
};
`;

test('Chromium: gRPC-Web and Connect publish, subscribe and get statuses', { skip }, async () => {
  const bundle = await build({
    stdin: { contents: PAGE, resolveDir: dirname(fileURLToPath(import.meta.url)), loader: 'ts' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'silent',
  });
  const script = bundle.outputFiles[0]!.text;
  const b = await startTestBroker();
  const origin = `http://127.0.0.1:${b.server.http!.address.port}`;
  let browser: BrowserPage | undefined;
  try {
    browser = await openPageAt(origin, script);
    const { page, errors } = browser;
    const out = await page.evaluate(
      (tp) =>
        (globalThis as unknown as { run(p: string, t: string): Promise<unknown> }).run('browser-grpc', tp),
      TP,
    );
    assert.deepEqual(errors, []);
    const want = (name: string) => ({
      started: 'started',
      routed: 1,
      body: `hello from ${name} ✓`,
      traceparent: TP,
      missing: 5,
    });
    assert.deepEqual(out, { 'grpc-web': want('grpc-web'), connect: want('connect') });
  } finally {
    await browser?.close();
    await b.close();
  }
});
