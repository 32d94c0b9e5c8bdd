import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Message, type Properties } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { decodeContentHeader } from './content.js';
import {
  AMQP_PROPERTIES_CODEC,
  AMQP_PROPERTIES_FORMAT,
  decodeProperties,
  encodeProperties,
} from './properties.js';

const SEED = 0x3c002;

function isCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof SwitchyardError && e.code === code;
}
function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

const shortStr = fc.string({ unit: 'binary', maxLength: 63 });
const octet = fc.integer({ min: 0, max: 255 });
const propertiesArb: fc.Arbitrary<Properties> = fc.record(
  {
    contentType: shortStr,
    contentEncoding: shortStr,
    headers: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean()), {
      maxKeys: 4,
      noNullPrototype: true,
    }),
    deliveryMode: octet,
    priority: octet,
    correlationId: shortStr,
    replyTo: shortStr,
    expiration: shortStr,
    messageId: shortStr,
    timestamp: fc.maxSafeNat(),
    type: shortStr,
    userId: shortStr,
    appId: shortStr,
    clusterId: shortStr,
  },
  { requiredKeys: [], noNullPrototype: true },
);

test('properties: encode → decode is the identity', () => {
  fc.assert(
    fc.property(propertiesArb, (p) => {
      assert.deepStrictEqual(decodeProperties(encodeProperties(p)), p);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('properties: a content header with content-type and delivery-mode, bytes from the spec', () => {
  // class 60, weight 0, body size 5, flags 0x9000 (bit 15 content-type, bit 12 delivery-mode),
  // "text/plain", 2 (persistent).
  const payload = hex('003c 0000 0000000000000005 9000 0a 746578742f706c61696e 02');
  const h = decodeContentHeader(payload);
  assert.equal(h.classId, 60);
  assert.equal(h.weight, 0);
  assert.equal(h.bodySize, 5);
  assert.deepStrictEqual(decodeProperties(h.properties), { contentType: 'text/plain', deliveryMode: 2 });
  assert.deepStrictEqual(encodeProperties({ contentType: 'text/plain', deliveryMode: 2 }), h.properties);
});

test('properties: every property, in flag order', () => {
  const bytes = hex(
    'fffc' + // all 14 flags
      '01 61' + // content-type a
      '01 62' + // content-encoding b
      '0000000a 01 68 53 00000003 686479' + // headers {h: "hdy"}
      '01' + // delivery-mode
      '09' + // priority
      '01 63' + // correlation-id c
      '01 72' + // reply-to r
      '03 313030' + // expiration "100"
      '01 6d' + // message-id m
      '000000005f5e1000' + // timestamp
      '01 74' + // type t
      '01 75' + // user-id u
      '01 41' + // app-id A
      '01 5a', // cluster-id Z
  );
  const p: Properties = {
    contentType: 'a',
    contentEncoding: 'b',
    headers: { h: 'hdy' },
    deliveryMode: 1,
    priority: 9,
    correlationId: 'c',
    replyTo: 'r',
    expiration: '100',
    messageId: 'm',
    timestamp: 1600000000,
    type: 't',
    userId: 'u',
    appId: 'A',
    clusterId: 'Z',
  };
  assert.deepStrictEqual(decodeProperties(bytes), p);
  assert.deepStrictEqual(encodeProperties(p), bytes);
});

test('properties: no properties is two zero bytes', () => {
  assert.deepStrictEqual(encodeProperties({}), hex('0000'));
  assert.deepStrictEqual(decodeProperties(hex('0000')), {});
});

test('properties: continuation flag, truncation and trailing bytes are SYNTAX_ERRORs', () => {
  const cases = [
    '0001', // continuation bit
    '8001 00', // continuation with content-type
    '', // no flags word
    '80', // half a flags word
    '8000', // content-type flagged, missing
    '8000 05 6162', // content-type shorter than its length
    '2000 00000010 00', // headers table past the end
    '0040 00000000', // timestamp truncated
    '0000 00', // trailing byte
    '1000 02 00', // trailing byte after delivery-mode
  ];
  for (const c of cases) assert.throws(() => decodeProperties(hex(c)), isCode('SYNTAX_ERROR'), c);
});

test('properties: content header frames too short or too large are FRAME_ERRORs', () => {
  assert.throws(() => decodeContentHeader(hex('003c 0000 00000000000000')), isCode('FRAME_ERROR'));
  assert.throws(() => decodeContentHeader(hex('003c 0000 0000000000000000 00')), isCode('FRAME_ERROR'));
  assert.throws(() => decodeContentHeader(hex('003c 0000 0020000000000000 0000')), isCode('FRAME_ERROR'));
});

test('properties: values the wire cannot carry are INTERNAL_ERRORs', () => {
  const bad: Properties[] = [
    { priority: 256 },
    { deliveryMode: -1 },
    { deliveryMode: 1.5 },
    { timestamp: -1 },
    { timestamp: 1.5 },
    { timestamp: 2 ** 53 },
    { messageId: 'x'.repeat(256) },
  ];
  for (const p of bad) assert.throws(() => encodeProperties(p), isCode('INTERNAL_ERROR'), JSON.stringify(p));
});

test('properties: a Message keeps the bytes and decodes them lazily through AMQP_PROPERTIES_CODEC', () => {
  const bytes = encodeProperties({ contentType: 'application/json', headers: { traceparent: 'x' } });
  const m = new Message('amq.topic', 'a.b', Buffer.from('{}'), undefined, bytes, AMQP_PROPERTIES_CODEC);
  assert.equal(AMQP_PROPERTIES_CODEC.format, AMQP_PROPERTIES_FORMAT);
  assert.equal(m.encodedProperties(AMQP_PROPERTIES_FORMAT), bytes);
  assert.deepStrictEqual(m.properties, { contentType: 'application/json', headers: { traceparent: 'x' } });
});
