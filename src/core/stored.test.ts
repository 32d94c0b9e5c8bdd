import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeJsonProperties } from './index.js';
import { messageFromRecord } from './stored.js';

test('stored: the core rebuilds AMQP 0-9-1 and JSON property forms itself, with no front end loaded', () => {
  // content-type 'text/plain', delivery-mode 2, headers { a: 'b' } in AMQP 0-9-1's property list.
  const table = Buffer.concat([Buffer.from([1, 0x61, 0x53]), Buffer.from([0, 0, 0, 1]), Buffer.from('b')]);
  const tableSize = Buffer.alloc(4);
  tableSize.writeUInt32BE(table.length);
  const amqp = Buffer.concat([
    Buffer.from([0b1011_0000, 0]), // content-type, headers, delivery-mode
    Buffer.from([10]),
    Buffer.from('text/plain'),
    tableSize,
    table,
    Buffer.from([2]),
  ]);
  const fromAmqp = messageFromRecord({
    id: 7,
    queues: [1],
    exchange: 'x',
    routingKey: 'k',
    propsFormat: 'amqp091',
    props: amqp,
    body: Buffer.from('hello'),
  });
  assert.deepEqual(fromAmqp.properties, { contentType: 'text/plain', headers: { a: 'b' }, deliveryMode: 2 });
  assert.equal(fromAmqp.storeId, 7);
  assert.equal(fromAmqp.persistent, true);
  assert.deepEqual(
    fromAmqp.encodedProperties('amqp091'),
    amqp,
    'an AMQP consumer gets the stored bytes as they are',
  );

  const fromJson = messageFromRecord({
    id: 8,
    queues: [1],
    exchange: '',
    routingKey: 'q',
    propsFormat: 'switchyard-json',
    props: encodeJsonProperties({ messageId: 'm1', deliveryMode: 2 }),
    body: Buffer.from('x'),
  });
  assert.equal(fromJson.properties.messageId, 'm1');
  assert.throws(
    () =>
      messageFromRecord({
        id: 9,
        queues: [1],
        exchange: '',
        routingKey: 'q',
        propsFormat: 'no-such-form',
        props: Buffer.alloc(0),
        body: Buffer.alloc(0),
      }),
    /unknown form 'no-such-form'/,
  );
});
