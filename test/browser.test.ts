/**
 * A real browser (headless Chromium from Debian) against the broker's HTTP listener: it
 * subscribes with EventSource and WebSocket and publishes with gRPC-Web, all same-origin from a
 * page the test serves at the broker's own address (request interception), so no CORS is needed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from 'esbuild';
import { type BrowserPage, openPageAt } from './browser/chromium.js';
import { startTestBroker, type TestBroker } from './helpers.js';
import { skipUnless } from './support/tools.js';

const skip = await skipUnless('chromium');

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01';

async function pageScript(): Promise<string> {
  const bundle = await build({
    entryPoints: [new URL('./browser/page.ts', import.meta.url).pathname],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'silent',
  });
  return bundle.outputFiles[0]!.text;
}

type RunScenario = (key: string, body: string, traceparent: string, origin?: string) => Promise<unknown>;

const expected = {
  routed: 2,
  sse: { body: 'hello from Chromium ✓', traceparent: TRACEPARENT },
  ws: { body: 'hello from Chromium ✓', traceparent: TRACEPARENT },
};

/** Serves the page at `pageOrigin`, runs the scenario against the broker, checks the outcome. */
async function scenario(b: TestBroker, pageOrigin: string): Promise<void> {
  const brokerOrigin = `http://127.0.0.1:${b.server.http!.address.port}`;
  let browser: BrowserPage | undefined;
  try {
    browser = await openPageAt(pageOrigin, await pageScript());
    const { page, errors } = browser;
    const out = await page.evaluate(
      (tp, o) =>
        (globalThis as unknown as { runScenario: RunScenario }).runScenario(
          'browser.page',
          'hello from Chromium ✓',
          tp,
          o,
        ),
      TRACEPARENT,
      brokerOrigin,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(out, expected);
  } finally {
    await browser?.close();
  }
}

test('Chromium: EventSource and WebSocket receive what the page published with gRPC-Web', {
  skip,
}, async () => {
  const b = await startTestBroker();
  try {
    await scenario(b, `http://127.0.0.1:${b.server.http!.address.port}`);
  } finally {
    await b.close();
  }
});

test('Chromium, cross-origin: the same from a page of another origin listed in http.corsOrigins', {
  skip,
}, async () => {
  const app = 'http://app.test:8000';
  const b = await startTestBroker({}, undefined, { http: { port: 0, corsOrigins: [app] } });
  try {
    await scenario(b, app);
  } finally {
    await b.close();
  }
});
