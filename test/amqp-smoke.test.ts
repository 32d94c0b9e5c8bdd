import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker, type TestBroker } from './helpers.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker();
});
after(async () => {
  await broker.close();
});

test('amqp smoke: publish to a queue and consume it with amqplib', async () => {
  const conn = await amqp.connect(broker.url);
  const ch = await conn.createChannel();
  const q = await ch.assertQueue('smoke');
  assert.equal(q.queue, 'smoke');
  ch.sendToQueue('smoke', Buffer.from('hello'), { contentType: 'text/plain', headers: { a: 1 } });
  const got = await new Promise<amqp.ConsumeMessage>((resolve) => {
    void ch.consume('smoke', (m) => {
      if (m !== null) resolve(m);
    });
  });
  assert.equal(got.content.toString(), 'hello');
  assert.equal(got.properties.contentType, 'text/plain');
  assert.deepEqual(got.properties.headers, { a: 1 });
  ch.ack(got);
  await conn.close();
});
