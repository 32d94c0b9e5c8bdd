import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { Message } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import {
  deliveryJson,
  deliveryJsonText,
  ENVELOPE_TYPE,
  envelopePublish,
  decodeHeaderValue,
  isEnvelope,
  rawPublish,
} from './map.js';

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const q = (s = '') => new URLSearchParams(s);
/** As Node hands a UTF-8 header value over: its bytes read as latin1. */
const wire = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

test('map: raw publish headers become properties', () => {
  const p = rawPublish(
    {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'x-correlation-id': 'c1',
      'x-reply-to': 'replies',
      'x-expiration': '60000',
      'x-message-id': 'm1',
      'x-priority': '7',
      'x-persistent': 'true',
      'x-timestamp': '1700000000',
      'x-type': 'order.created',
      'x-app-id': 'shop',
      'x-header-region': wire('eu-süd'),
      traceparent: TP,
      tracestate: 'k=v',
      'x-routing-key': 'from-header',
    },
    q('routingKey=from-query&mandatory=true'),
    Buffer.from('x'),
  );
  assert.equal(p.routingKey, 'from-query');
  assert.equal(p.mandatory, true);
  assert.deepEqual(p.properties, {
    contentType: 'application/json',
    contentEncoding: 'gzip',
    correlationId: 'c1',
    replyTo: 'replies',
    messageId: 'm1',
    type: 'order.created',
    appId: 'shop',
    expiration: '60000',
    priority: 7,
    timestamp: 1700000000,
    deliveryMode: 2,
    headers: { region: 'eu-süd', traceparent: TP, tracestate: 'k=v' },
  });
  assert.equal(rawPublish({ 'x-routing-key': 'h' }, q(), Buffer.alloc(0)).routingKey, 'h');
  assert.equal(rawPublish({ 'x-persistent': 'FALSE' }, q(), Buffer.alloc(0)).properties.deliveryMode, 1);
});

test('map: bad header values are 400s naming the header', () => {
  const cases: [IncomingHttpHeaders, RegExp][] = [
    [{ 'x-priority': '256' }, /x-priority/],
    [{ 'x-priority': '-1' }, /x-priority/],
    [{ 'x-persistent': 'yes' }, /x-persistent/],
    [{ 'x-expiration': '1.5' }, /x-expiration/],
    [{ 'x-timestamp': 'now' }, /x-timestamp/],
    [{ 'x-header-': 'v' }, /name/],
  ];
  for (const [h, re] of cases) {
    assert.throws(
      () => rawPublish(h, q(), Buffer.alloc(0)),
      (e: unknown) => e instanceof SwitchyardError && e.code === 'SYNTAX_ERROR' && re.test(e.message),
    );
  }
  assert.throws(() => rawPublish({}, q('mandatory=1'), Buffer.alloc(0)), /mandatory/);
});

test('map: the envelope, its checks, and the query and trace headers as fallbacks', () => {
  const env = (v: unknown, h: IncomingHttpHeaders = {}, query = q()) =>
    envelopePublish(h, query, Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
  const p = env(
    {
      body: '//79',
      bodyEncoding: 'base64',
      properties: { deliveryMode: 2, headers: { a: 1 } },
      mandatory: true,
    },
    { traceparent: TP },
    q('routingKey=rk'),
  );
  assert.deepEqual([...p.body], [0xff, 0xfe, 0xfd]);
  assert.equal(p.routingKey, 'rk');
  assert.equal(p.mandatory, true);
  assert.deepEqual(p.properties, { deliveryMode: 2, headers: { a: 1, traceparent: TP } });
  assert.equal(
    env({ body: '', traceparent: 'mine' }, { traceparent: TP }).properties.headers?.traceparent,
    'mine',
  );
  for (const [v, re] of [
    ['{', /not valid JSON/],
    ['[]', /JSON object/],
    [{}, /needs a body/],
    [{ body: 'x', extra: 1 }, /unknown field 'extra'/],
    [{ body: 'x', routingKey: 1 }, /routingKey/],
    [{ body: 'x', mandatory: 'yes' }, /mandatory/],
    [{ body: 'x', properties: { priorty: 1 } }, /unknown property 'priorty'/],
    [{ body: 'x', properties: { priority: 300 } }, /priority/],
    [{ body: 'x', properties: { deliveryMode: 3 } }, /deliveryMode/],
    [{ body: 'x', properties: { expiration: 'soon' } }, /expiration/],
    [{ body: '!!', bodyEncoding: 'base64' }, /base64/],
  ] as const) {
    assert.throws(
      () => env(v),
      (e: unknown) => e instanceof SwitchyardError && e.code === 'SYNTAX_ERROR' && re.test(e.message),
      String(re),
    );
  }
});

test('map: envelope media type, whatever its parameters and case', () => {
  assert.ok(isEnvelope(ENVELOPE_TYPE));
  assert.ok(isEnvelope(`${ENVELOPE_TYPE.toUpperCase()}; charset=utf-8`));
  assert.ok(!isEnvelope('application/json'));
  assert.ok(!isEnvelope(undefined));
});

test('map: a delivery in JSON form carries its trace context at the top level too', () => {
  const m = new Message('x', 'k', Buffer.from([0xff]), { headers: { traceparent: Buffer.from(TP) } });
  const j = deliveryJson(m, '7', true, 'q');
  assert.deepEqual(Object.keys(j).slice(0, 3), ['id', 'redelivered', 'queue']);
  assert.equal(j.bodyEncoding, 'base64');
  assert.equal(j.traceparent, TP);
  assert.ok(!('id' in deliveryJson(m, undefined, false, 'q')));
  for (const queue of ['q', 'a"b\\c\n']) {
    assert.equal(deliveryJsonText(m, '7', true, queue), JSON.stringify(deliveryJson(m, '7', true, queue)));
    assert.equal(deliveryJsonText(m, '8', false, queue), JSON.stringify(deliveryJson(m, '8', false, queue)));
  }
  const other = new Message('', 'r', Buffer.from('{"x":1}'), {});
  assert.equal(
    deliveryJsonText(other, '9', false, 'q'),
    JSON.stringify(deliveryJson(other, '9', false, 'q')),
  );
});

test('map (property): header text survives Node latin1 decoding; raw headers never throw non-SwitchyardErrors', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
      assert.equal(decodeHeaderValue(wire(s)), s);
    }),
    { numRuns: 1000 },
  );
  const names = fc.constantFrom(
    'content-type',
    'x-priority',
    'x-persistent',
    'x-expiration',
    'x-timestamp',
    'x-header-a',
    'x-header-',
    'traceparent',
    'x-correlation-id',
  );
  fc.assert(
    fc.property(fc.dictionary(names, fc.string({ unit: 'binary', maxLength: 12 })), (h) => {
      try {
        const p = rawPublish(h, q(), Buffer.alloc(0));
        if (p.properties.priority !== undefined) assert.ok(p.properties.priority <= 255);
      } catch (e) {
        assert.ok(e instanceof SwitchyardError && e.code === 'SYNTAX_ERROR', String(e));
      }
    }),
    { numRuns: 3000 },
  );
});

test('map (fuzz): envelopes never throw non-SwitchyardErrors', () => {
  const json = fc.oneof(
    fc.json(),
    fc
      .record(
        {
          body: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
          bodyEncoding: fc.constantFrom('utf8', 'base64', 'hex', 1),
          routingKey: fc.oneof(fc.string(), fc.boolean()),
          properties: fc.oneof(fc.object(), fc.constant(null), fc.string()),
          mandatory: fc.oneof(fc.boolean(), fc.string()),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
  );
  fc.assert(
    fc.property(json, (text) => {
      try {
        envelopePublish({}, q(), Buffer.from(text));
      } catch (e) {
        assert.ok(e instanceof SwitchyardError && e.code === 'SYNTAX_ERROR', String(e));
      }
    }),
    { numRuns: 3000 },
  );
});
