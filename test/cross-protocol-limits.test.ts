/**
 * Fields one protocol allows and another cannot carry. MQTT 5 allows 64 KiB Correlation Data,
 * Content Types and User Property names; AMQP 0-9-1 short strings stop at 255 bytes. The MQTT
 * publisher must get its PUBACK, the AMQP consumer must get every message with the long values in
 * x-<name> headers (docs/protocol-mapping.md), and its channel must stay open. Topics are routing
 * keys, which the core holds to 255 bytes for every protocol: a longer one is refused at publish.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp, { type ConsumeMessage } from 'amqplib';
import mqtt from 'mqtt';
import { startTestBroker } from './helpers.js';

test('MQTT 5 → AMQP: values over 255 bytes arrive in headers, topics over 255 bytes are refused; channel unaffected', async () => {
  const b = await startTestBroker();
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.server.amqp!.address.port}`);
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  try {
    const ch = await conn.createChannel();
    let channelError: unknown;
    ch.on('error', (e) => {
      channelError = e;
    });
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, 'amq.topic', 'limits.#');
    const got: ConsumeMessage[] = [];
    let wake: () => void = () => {};
    await ch.consume(
      q.queue,
      (m) => {
        if (m !== null) got.push(m);
        if (got.length === 2) wake();
      },
      { noAck: true },
    );
    const all = new Promise<void>((r) => (wake = r));

    const corr = 'c'.repeat(300);
    const type = `application/${'x'.repeat(300)}`;
    const longName = 'n'.repeat(300);
    await pub.publishAsync('limits/props', 'long properties', {
      qos: 1,
      properties: {
        correlationData: Buffer.from(corr),
        contentType: type,
        userProperties: { [longName]: 'dropped', short: 'kept' },
      },
    });
    const topic = `limits/${'t/'.repeat(200)}end`;
    await assert.rejects(pub.publishAsync(topic, 'long topic', { qos: 1 }), /Topic Name invalid/);
    await pub.publishAsync('limits/plain', 'plain', { qos: 1 });
    await all;

    const [props, plain] = got;
    assert.equal(props!.content.toString(), 'long properties');
    assert.equal(props!.properties.correlationId, undefined);
    assert.equal(props!.properties.contentType, undefined);
    const h = props!.properties.headers!;
    assert.equal(String(h['x-correlation-id']), corr);
    assert.equal(String(h['x-content-type']), type);
    assert.equal(String(h.short), 'kept');
    assert.equal(h[longName], undefined, 'a header name over 255 bytes cannot be written');

    assert.equal(plain!.content.toString(), 'plain');
    assert.equal(plain!.fields.routingKey, 'limits.plain');
    assert.equal(channelError, undefined);
  } finally {
    await pub.endAsync();
    await conn.close();
    await b.close();
  }
});
