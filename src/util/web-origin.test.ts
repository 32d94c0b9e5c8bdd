import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { hostName, sameOrigin, WebOrigins } from './web-origin.js';

/** The parts of a request the checks read. */
function req(
  headers: Record<string, string>,
  localAddress = '127.0.0.1',
  encrypted = false,
): IncomingMessage {
  return { headers, socket: { localAddress, encrypted } } as unknown as IncomingMessage;
}

const origins = (allowedHosts: string[] = [], listenHost = '0.0.0.0') =>
  new WebOrigins({ allowedHosts, corsOrigins: [], listenHost });

test('web origin: with allowedHosts empty, any name on a non-loopback address, only built-in names on loopback', () => {
  const o = origins();
  assert.equal(o.hostRefusal(req({ host: 'broker.corp:8080' }, '10.0.0.5')), undefined);
  assert.equal(o.hostRefusal(req({ host: 'broker.corp:8080' }, '::ffff:10.0.0.5')), undefined);
  assert.match(o.hostRefusal(req({ host: 'broker.corp:8080' }, '127.0.0.1')) ?? '', /allowedHosts/);
  assert.match(o.hostRefusal(req({ host: 'broker.corp' }, '::1')) ?? '', /allowedHosts/);
  for (const h of [
    'localhost',
    'LOCALHOST.:1',
    'x.localhost:2',
    '127.0.0.1:80',
    '[::1]:8080',
    '192.168.1.9',
  ]) {
    assert.equal(o.hostRefusal(req({ host: h })), undefined, h);
  }
  assert.equal(o.hostRefusal(req({})), undefined, 'HTTP/1.0 without Host');
});

test('web origin: a configured list applies on every address; the listener host and * too', () => {
  const o = origins(['broker.corp', '*.svc.corp'], 'mq.internal');
  assert.match(o.hostRefusal(req({ host: 'other.corp' }, '10.0.0.5')) ?? '', /other\.corp/);
  assert.equal(o.hostRefusal(req({ host: 'broker.corp:1' }, '127.0.0.1')), undefined);
  assert.equal(o.hostRefusal(req({ host: 'a.b.svc.corp' }, '127.0.0.1')), undefined);
  assert.equal(o.hostRefusal(req({ host: 'mq.internal:5' }, '127.0.0.1')), undefined);
  assert.equal(origins(['*']).hostRefusal(req({ host: 'anything.example' })), undefined);
  assert.match(o.hostRefusal(req({ host: 'bad host' })) ?? '', /not a host name/);
});

test('web origin: same origin is host and port, whatever the scheme, with default ports', () => {
  assert.ok(sameOrigin(req({ host: 'h:8080' }), 'http://h:8080'));
  assert.ok(sameOrigin(req({ host: 'h:8080' }), 'https://H:8080'));
  assert.ok(sameOrigin(req({ host: 'h' }), 'http://h'));
  assert.ok(sameOrigin(req({ host: 'h' }, '127.0.0.1', true), 'https://h'));
  assert.ok(!sameOrigin(req({ host: 'h' }), 'https://h'), 'Host without a port on plain HTTP is port 80');
  assert.ok(sameOrigin(req({ host: '[::1]:9' }), 'http://[::1]:9'));
  assert.ok(!sameOrigin(req({ host: 'h:8080' }), 'http://h:8081'));
  assert.ok(!sameOrigin(req({ host: 'h:8080' }), 'null'));
  assert.ok(!sameOrigin(req({ host: 'h:8080' }), 'ftp://h:8080'));
  assert.ok(!sameOrigin(req({}), 'http://h'));
});

test('web origin: cross-site marks: Origin, else Sec-Fetch-Site', () => {
  const o = new WebOrigins({ allowedHosts: [], corsOrigins: ['https://app.example'], listenHost: '0.0.0.0' });
  assert.equal(o.crossSiteRefusal(req({ host: 'h' })), undefined);
  assert.equal(o.crossSiteRefusal(req({ host: 'h', 'sec-fetch-site': 'none' })), undefined);
  assert.equal(o.crossSiteRefusal(req({ host: 'h', 'sec-fetch-site': 'same-origin' })), undefined);
  assert.equal(o.crossSiteRefusal(req({ host: 'h', origin: 'https://app.example' })), undefined);
  assert.equal(o.crossSiteRefusal(req({ host: 'h:80', origin: 'http://h' })), undefined);
  assert.match(o.crossSiteRefusal(req({ host: 'h', origin: 'https://evil.example' })) ?? '', /evil/);
  assert.match(o.crossSiteRefusal(req({ host: 'h', 'sec-fetch-site': 'same-site' })) ?? '', /same-site/);
  assert.equal(o.upgradeRefusal(req({ host: 'h' })), undefined);
  assert.match(o.upgradeRefusal(req({ host: 'h', origin: 'http://x' })) ?? '', /http:\/\/x/);
});

test('web origin: host names from Host values', () => {
  assert.equal(hostName('Example.COM.:443'), 'example.com');
  assert.equal(hostName('[::1]:1'), '[::1]');
  assert.equal(hostName('a b'), undefined);
  assert.equal(hostName('a@b'), undefined);
});
