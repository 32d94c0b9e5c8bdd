/**
 * A real browser (headless Chromium from Debian) against the broker's HTTP listener: it
 * subscribes with EventSource and WebSocket and publishes with gRPC-Web, all same-origin from a
 * page the test serves at the broker's own address (request interception), so no CORS is needed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { build } from 'esbuild';
import puppeteer from 'puppeteer-core';
import { startTestBroker } from './helpers.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
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
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM!,
    headless: true,
    args: [
      ...['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      // The page comes from request interception, so Chromium files it under no address space and
      // would block its WebSocket to loopback as a local-network request.
      '--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessChecks',
    ],
  });
  try {
    const origin = `http://127.0.0.1:${b.server.http!.address.port}`;
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      if (req.url() === `${origin}/test-page.html`) {
        void req.respond({
          status: 200,
          contentType: 'text/html',
          body: `<!doctype html><html><body><script>${script}</script></body></html>`,
        });
      } else void req.continue();
    });
    await page.goto(`${origin}/test-page.html`);
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
    await browser.close();
    await b.close();
  }
});
