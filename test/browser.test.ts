/**
 * A real browser (headless Chromium from Debian) against the broker's HTTP listener: it
 * subscribes with EventSource and WebSocket and publishes with gRPC-Web, all same-origin from a
 * page the test serves at the broker's own address (request interception), so no CORS is needed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from 'esbuild';
import { type BrowserPage, CHROMIUM, openPageAt } from './browser/chromium.js';
import { startTestBroker } from './helpers.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';

test('Chromium: EventSource and WebSocket receive what the page published with gRPC-Web', {
  skip: CHROMIUM === undefined && 'no chromium (apt-get install chromium)',
}, async () => {
  const bundle = await build({
    entryPoints: [new URL('./browser/page.ts', import.meta.url).pathname],
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
        (
          globalThis as unknown as { runScenario(k: string, b: string, t: string): Promise<unknown> }
        ).runScenario('browser.page', 'hello from Chromium ✓', tp),
      TRACEPARENT,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(out, {
      routed: 2,
      sse: { body: 'hello from Chromium ✓', traceparent: TRACEPARENT },
      ws: { body: 'hello from Chromium ✓', traceparent: TRACEPARENT },
    });
  } finally {
    await browser?.close();
    await b.close();
  }
});
