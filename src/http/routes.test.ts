import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError } from '../errors/index.js';
import { HttpStatusError } from './errors.js';
import { isApiTarget, parseRoute } from './routes.js';

const enc = encodeURIComponent;

test('routes: each route with its method, percent-decoded names', () => {
  const r = parseRoute('POST', '/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=a.b');
  assert.deepEqual(
    [r.kind, r.vhost, r.name, r.query.get('routingKey')],
    ['publish', '/', 'amq.topic', 'a.b'],
  );
  assert.equal(parseRoute('GET', '/api/v1/vhosts/v/queues/a%2Fb/messages').name, 'a/b');
  assert.equal(parseRoute('POST', '/api/v1/vhosts/v/queues/q/ack').kind, 'ack');
  assert.equal(parseRoute('GET', '/api/v1/vhosts/v/queues/q/events').kind, 'queue-events');
  assert.equal(parseRoute('GET', '/api/v1/vhosts/v/exchanges/x/events?key=k').kind, 'exchange-events');
});

test('routes: amq.default and an empty segment are the default exchange; .. is a name', () => {
  assert.equal(parseRoute('POST', '/api/v1/vhosts/%2F/exchanges/amq.default/publish').name, '');
  assert.equal(parseRoute('POST', '/api/v1/vhosts/%2F/exchanges//publish').name, '');
  assert.equal(parseRoute('GET', '/api/v1/vhosts/%2F/queues/../messages').name, '..');
});

test('routes: unknown path 404, wrong method 405 with Allow, bad escapes 400', () => {
  const code = (m: string, t: string) => {
    try {
      parseRoute(m, t);
      return 'ok';
    } catch (e) {
      assert.ok(e instanceof SwitchyardError);
      return e instanceof HttpStatusError ? `${e.status} ${e.headers.allow}` : e.code;
    }
  };
  assert.equal(code('GET', '/api/v1/vhosts/%2F/queues/q/messages/'), 'NOT_FOUND');
  assert.equal(code('GET', '/api/v1/vhosts/%2F/queues/q'), 'NOT_FOUND');
  assert.equal(code('GET', '/api/v1/'), 'NOT_FOUND');
  assert.equal(code('GET', '/api/v1/vhosts/%2F/topics/q/messages'), 'NOT_FOUND');
  assert.equal(code('PUT', '/api/v1/vhosts/%2F/queues/q/messages'), '405 GET, POST');
  assert.equal(parseRoute('POST', '/api/v1/vhosts/%2F/queues/q/messages').kind, 'get');
  assert.equal(code('GET', '/api/v1/vhosts/%2F/exchanges/x/publish'), '405 POST');
  assert.equal(code('GET', '/api/v1/vhosts/%E0%A4%A/queues/q/messages'), 'SYNTAX_ERROR');
});

test('routes: only /api/v1 targets are taken', () => {
  assert.ok(isApiTarget('/api/v1/vhosts'));
  assert.ok(isApiTarget('/api/v1'));
  for (const t of [
    '/api/v10/x',
    '/api/v2/x',
    '/ws',
    '/',
    '/switchyard.v1.Broker/Publish',
    'http://h/api/v1/',
  ]) {
    assert.ok(!isApiTarget(t), t);
  }
});

test('routes (property): any names round-trip through percent-encoding', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 30 }),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }),
      (vhost, name) => {
        const r = parseRoute('GET', `/api/v1/vhosts/${enc(vhost)}/queues/${enc(name)}/messages?count=2`);
        assert.equal(r.vhost, vhost);
        assert.equal(r.name, name);
        assert.equal(r.query.get('count'), '2');
      },
    ),
    { numRuns: 2000 },
  );
});

test('routes (fuzz): any method and target give a route or a SwitchyardError, never anything else', () => {
  const seg = fc.oneof(
    fc.constantFrom(
      'api',
      'v1',
      'vhosts',
      'queues',
      'exchanges',
      'publish',
      'events',
      'messages',
      'ack',
      '%2F',
      '%',
      '%ZZ',
      '',
    ),
    fc.string({ unit: 'binary', maxLength: 8 }),
  );
  fc.assert(
    fc.property(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'x'),
      fc.array(seg, { maxLength: 8 }),
      fc.string({ maxLength: 20 }),
      (method, parts, query) => {
        const target = `/api/v1/${parts.join('/')}?${query}`;
        try {
          const r = parseRoute(method, target);
          assert.equal(typeof r.name, 'string');
        } catch (e) {
          assert.ok(e instanceof SwitchyardError, String(e));
          assert.ok(['NOT_FOUND', 'COMMAND_INVALID', 'SYNTAX_ERROR'].includes(e.code));
        }
      },
    ),
    { numRuns: 5000 },
  );
});
