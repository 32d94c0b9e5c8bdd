/**
 * Headless Chromium (Debian's `chromium`) for the browser tests: a page with the given script,
 * served by request interception at `origin` (the broker's own HTTP address), so the page's
 * fetch, EventSource and WebSocket calls are same-origin and need no CORS.
 */
import puppeteer, { type Page } from 'puppeteer-core';
import { chromiumPath } from '../support/tools.js';

export interface BrowserPage {
  readonly page: Page;
  /** Uncaught errors of the page so far. */
  readonly errors: string[];
  close(): Promise<void>;
}

export async function openPageAt(origin: string, script: string): Promise<BrowserPage> {
  // Suites check skipUnless('chromium') first; this is for a caller that did not.
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error('no chromium (apt-get install chromium)');
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: [
      ...['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
      // The page comes from request interception, so Chromium files it under no address space and
      // would block its WebSocket to loopback as a local-network request.
      '--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessChecks',
    ],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.setRequestInterception(true);
    const url = `${origin}/switchyard-test-page.html`;
    page.on('request', (req) => {
      if (req.url() === url) {
        void req.respond({
          status: 200,
          contentType: 'text/html',
          body: `<!doctype html><html><body><script>${script}</script></body></html>`,
        });
      } else void req.continue();
    });
    await page.goto(url);
    return { page, errors, close: () => browser.close() };
  } catch (e) {
    await browser.close();
    throw e;
  }
}
