/**
 * GET /metrics needs the Basic credentials of a user tagged monitoring or administrator (as
 * RabbitMQ's Prometheus plugin), unless metrics.public opens it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBroker } from './helpers.js';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('metrics: no or wrong credentials, or a user without the tag, are 401; a monitoring user reads them', async () => {
  const b = await startTestBroker({}, undefined, {
    users: {
      guest: { password: 'guest', tags: ['administrator'] },
      scraper: { password: 'pw', tags: ['monitoring'] },
      app: 'app-pw',
    },
  });
  try {
    const url = `http://127.0.0.1:${b.server.http!.address.port}/metrics`;
    for (const headers of [
      {},
      { authorization: basic('scraper', 'wrong') },
      { authorization: 'Bearer x' },
      { authorization: basic('app', 'app-pw') },
    ]) {
      const r = await fetch(url, { headers });
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /);
      assert.equal(((await r.json()) as { code: string }).code, 'AUTHENTICATION_FAILED');
    }
    for (const who of [basic('scraper', 'pw'), basic('guest', 'guest')]) {
      const r = await fetch(url, { headers: { authorization: who } });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      await r.text();
    }
  } finally {
    await b.close();
  }
});

test('metrics: metrics.public: true needs no credentials', async () => {
  const b = await startTestBroker({}, undefined, { metrics: { public: true } });
  try {
    const r = await fetch(`http://127.0.0.1:${b.server.http!.address.port}/metrics`);
    assert.equal(r.status, 200);
    await r.text();
  } finally {
    await b.close();
  }
});
