/**
 * gRPC ⇄ AMQP: the same messages, with their properties mapped, between connect-node clients on
 * native gRPC and amqplib.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { startTestBroker } from './helpers.js';

const b = await startTestBroker();
after(() => b.close());
const native = createClient(
  Broker,
  createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` }),
);
import amqp from 'amqplib';
import { Broker } from '../src/gen/switchyard/v1/broker_pb.js';
import { queue, reader, text, TP } from './grpc-client.js';

describe('gRPC ↔ AMQP', () => {
  test('amqplib publishes, a gRPC Subscribe receives the properties mapped', async () => {
    const q = await queue(native);
    const conn = await amqp.connect(b.url);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('', q, Buffer.from('{"a":1}'), {
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { n: 5, s: 'x', flag: true, traceparent: TP, tracestate: 'k=v' },
        correlationId: 'corr',
        replyTo: 'reply-q',
        expiration: '60000',
        messageId: 'mid',
        timestamp: 1_700_000_000,
        type: 'order',
        appId: 'amqp-app',
        priority: 3,
        deliveryMode: 2,
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const s = reader(native.subscribe({ source: { case: 'queue', value: q }, autoAck: true }));
    await s.next();
    const m = ((await s.next()).event.value as { message: Record<string, unknown> & { body: Uint8Array } })
      .message;
    assert.equal(text(m), '{"a":1}');
    assert.deepEqual(
      { ...m, body: undefined, $typeName: undefined },
      {
        $typeName: undefined,
        body: undefined,
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        headers: { n: '5', s: 'x', flag: 'true', traceparent: TP, tracestate: 'k=v' },
        correlationId: 'corr',
        replyTo: 'reply-q',
        expiration: '60000',
        priority: 3,
        messageId: 'mid',
        persistent: true,
        timestamp: 1_700_000_000n,
        type: 'order',
        appId: 'amqp-app',
        userId: '',
        traceparent: TP,
        tracestate: 'k=v',
        exchange: '',
        routingKey: q,
      },
    );
  });

  test('gRPC Publish (trace context in metadata), an AMQP consumer gets the properties', async () => {
    const q = await queue(native);
    await native.publish(
      {
        routingKey: q,
        message: {
          body: Buffer.from('from grpc'),
          contentType: 'text/plain',
          headers: { h: 'v' },
          correlationId: 'c-1',
          replyTo: 'answers',
          expiration: '30000',
          persistent: true,
          messageId: 'm-1',
        },
      },
      { headers: { traceparent: TP } },
    );
    const conn = await amqp.connect(b.url);
    try {
      const ch = await conn.createChannel();
      const msg = await new Promise<amqp.ConsumeMessage>((resolve) => {
        void ch.consume(q, (m) => m !== null && resolve(m), { noAck: true });
      });
      assert.equal(msg.content.toString(), 'from grpc');
      const p = msg.properties;
      assert.deepEqual(
        {
          contentType: p.contentType,
          headers: p.headers,
          correlationId: p.correlationId,
          replyTo: p.replyTo,
          expiration: p.expiration,
          deliveryMode: p.deliveryMode,
          messageId: p.messageId,
        },
        {
          contentType: 'text/plain',
          headers: { h: 'v', traceparent: TP },
          correlationId: 'c-1',
          replyTo: 'answers',
          expiration: '30000',
          deliveryMode: 2,
          messageId: 'm-1',
        },
      );
    } finally {
      await conn.close();
    }
  });
});
