import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Message, type Properties, type PropertiesCodec } from './index.js';

function countingCodec(format: string, props: Properties) {
  const codec = {
    format,
    calls: 0,
    decode(_bytes: Buffer): Properties {
      codec.calls++;
      return props;
    },
  } satisfies PropertiesCodec & { calls: number };
  return codec;
}

test('message: encoded properties are decoded lazily, once', () => {
  const codec = countingCodec('amqp', { contentType: 'text/plain', deliveryMode: 2 });
  const raw = Buffer.from([1, 2, 3]);
  const m = new Message('x', 'rk', Buffer.from('body'), undefined, raw, codec);
  assert.equal(codec.calls, 0);
  assert.equal(m.encodedProperties('amqp'), raw, 'same-format consumers reuse the bytes');
  assert.equal(m.encodedProperties('mqtt'), undefined);
  assert.equal(m.properties.contentType, 'text/plain');
  assert.ok(m.persistent);
  void m.properties;
  assert.equal(codec.calls, 1);
});

test('message: replacing properties drops the encoded form', () => {
  const codec = countingCodec('amqp', { priority: 1 });
  const m = new Message('x', 'rk', Buffer.alloc(0), undefined, Buffer.from([0]), codec);
  m.properties = { priority: 9 };
  assert.equal(m.encodedProperties('amqp'), undefined);
  assert.equal(m.properties.priority, 9);
  assert.equal(codec.calls, 0);
  assert.ok(!m.persistent);
});

test('message: no properties and no codec means empty properties; the body is not copied', () => {
  const body = Buffer.from('payload');
  const m = new Message('', 'q', body, undefined);
  assert.deepEqual(m.properties, {});
  assert.equal(m.body, body);
  assert.equal(m.exchange, '');
  assert.equal(m.routingKey, 'q');
});
