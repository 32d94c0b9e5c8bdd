/**
 * The native WebSocket protocol at the upgrade and at the edges of a connection's life:
 * authentication and vhosts (refusals are plain HTTP with a JSON body), the payload limit, and
 * broker shutdown.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestBroker, uniq } from './helpers.js';
import { authProtocol, basic, Client, type ClientOptions, refused, WsFixture } from './ws-client.js';

const fx = new WsFixture();
const open = (opts?: ClientOptions) => fx.open(opts);
const declareQueue = (name?: string, durable?: boolean) => fx.declareQueue(name, durable);

describe('ws: authentication and vhosts at the upgrade', () => {
  test('ws: Basic credentials: good opens, bad is 401 with a JSON body', async () => {
    const ok = await open({ headers: { authorization: basic('guest', 'guest') } });
    assert.equal(ok.ws.protocol, 'switchyard.v1');
    await ok.sync();
    const r = await refused(fx.b, { headers: { authorization: basic('guest', 'wrong') } });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'AUTHENTICATION_FAILED');
    assert.match(String(r.body.message), /guest/);
    const m = await refused(fx.b, { headers: { authorization: 'Bearer abc' } });
    assert.equal(m.status, 401);
  });

  test('ws: credentials in an auth.* subprotocol, which is never echoed back', async () => {
    const ok = await open({ protocols: ['switchyard.v1', authProtocol('guest', 'guest')] });
    assert.equal(ok.ws.protocol, 'switchyard.v1');
    await ok.sync();
    const bad = await refused(fx.b, { protocols: ['switchyard.v1', authProtocol('guest', 'nope')] });
    assert.equal(bad.status, 401);
    const garbage = await refused(fx.b, { protocols: ['switchyard.v1', 'auth.bm9jb2xvbg'] });
    assert.equal(garbage.status, 401);
  });

  test('ws: no credentials from loopback is anonymous; no subprotocol is accepted; others are 400', async () => {
    const anon = await open();
    await anon.sync();
    const plain = await open({ protocols: [] });
    assert.equal(plain.ws.protocol, '');
    await plain.sync();
    const other = await refused(fx.b, { protocols: ['mqtt'] });
    assert.equal(other.status, 400);
    assert.match(String(other.body.message), /switchyard\.v1/);
  });

  test('ws: vhost from the query; an unknown vhost is 404', async () => {
    const r = await refused(fx.b, { query: `?vhost=${uniq('nowhere')}` });
    assert.deepEqual([r.status, r.body.code], [404, 'NOT_FOUND']);
    const c = await open({ query: '?vhost=other' });
    const key = uniq('v');
    await c.subscribe({ sub: 'v', exchange: 'amq.topic', key });
    await c.publish({ exchange: 'amq.topic', routingKey: key, body: 'in other' });
    assert.equal((await c.next({ op: 'deliver' })).body, 'in other');
    // Not visible in '/'.
    const q = declareQueue();
    const r2 = await c.subscribe({ sub: 'w', queue: q });
    assert.equal(r2.code, 'NOT_FOUND');
  });

  test('ws: with http.anonymous "never", no credentials is 401', async () => {
    const b2 = await startTestBroker({}, undefined, { http: { port: 0, anonymous: 'never' } });
    try {
      const r = await refused(b2, {});
      assert.deepEqual([r.status, r.body.code], [401, 'AUTHENTICATION_FAILED']);
      const c = await Client.open(b2, { headers: { authorization: basic('guest', 'guest') } });
      await c.sync();
      await c.close();
    } finally {
      await b2.close();
    }
  });
});

describe('ws: limits and shutdown', () => {
  test('ws: a frame over wsMaxPayload closes that connection with 1009; others carry on', async () => {
    const b2 = await startTestBroker({}, undefined, { http: { port: 0, wsMaxPayload: 1024 } });
    try {
      const good = await Client.open(b2);
      const big = await Client.open(b2);
      const key = uniq('k');
      await good.subscribe({ sub: 'g', exchange: 'amq.topic', key });
      big.send({ op: 'publish', exchange: 'amq.topic', routingKey: key, body: 'x'.repeat(2000) });
      assert.equal((await big.closed).code, 1009);
      await good.publish({ exchange: 'amq.topic', routingKey: key, body: 'small' });
      assert.equal((await good.next({ op: 'deliver' })).body, 'small');
      await good.close();
    } finally {
      await b2.close();
    }
  });

  test('ws: broker shutdown closes clients with 1001', async () => {
    const b2 = await startTestBroker();
    const c = await Client.open(b2);
    await c.sync();
    await b2.close();
    assert.equal((await c.closed).code, 1001);
  });
});
