/**
 * Connection, queue and consumer limits (issue 15), through real clients: each protocol answers
 * in its own terms, and what was refused frees up when a connection closes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqplib from 'amqplib';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { startTestBroker } from './helpers.js';

test('limits: connections per user and in all, across AMQP, MQTT and WebSocket; a close frees a place', async () => {
  const b = await startTestBroker({}, undefined, {
    users: { guest: 'guest', app: 'app-pw' },
    permissions: ['guest', 'app'].map((user) => ({ user, configure: '.*', write: '.*', read: '.*' })),
    limits: { maxConnections: 3, maxConnectionsPerUser: 2 },
  });
  const amqpUrl = (u: string, p: string) => `amqp://${u}:${p}@127.0.0.1:${b.server.amqp!.address.port}`;
  const mqttUrl = `mqtt://127.0.0.1:${b.server.mqtt!.address.port}`;
  try {
    const a1 = await amqplib.connect(amqpUrl('app', 'app-pw'));
    const a2 = await amqplib.connect(amqpUrl('app', 'app-pw'));
    // A third of the same user: refused (530 during the handshake; amqplib names the close).
    await assert.rejects(amqplib.connect(amqpUrl('app', 'app-pw')), /ConnectionClose/);
    const m = await mqtt.connectAsync(mqttUrl, { username: 'guest', password: 'guest', reconnectPeriod: 0 });
    // The broker's total of 3 is reached: MQTT 5 CONNACK 0x97 (Quota exceeded), WebSocket 429.
    await assert.rejects(
      mqtt.connectAsync(mqttUrl, {
        protocolVersion: 5,
        username: 'guest',
        password: 'guest',
        reconnectPeriod: 0,
      }),
      (e: { code?: number }) => e.code === 0x97,
    );
    const ws = new WebSocket(`ws://127.0.0.1:${b.server.http!.address.port}/ws`, 'switchyard.v1', {
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
    });
    const status = await new Promise<number>((resolve) =>
      ws.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)),
    );
    assert.equal(status, 429);
    // A close frees a place.
    await a1.close();
    const a3 = await amqplib.connect(amqpUrl('app', 'app-pw'));
    await a3.close();
    await a2.close();
    await m.endAsync();
  } finally {
    await b.close();
  }
});

test('limits: queues per vhost (406) and consumers per connection (406) over AMQP', async () => {
  const b = await startTestBroker({}, undefined, {
    limits: { maxQueuesPerVhost: 2, maxConsumersPerConnection: 1 },
  });
  const conn = await amqplib.connect(b.url);
  try {
    let ch = await conn.createChannel();
    await ch.assertQueue('q1');
    await ch.assertQueue('q2');
    await ch.assertQueue('q1'); // an existing queue may be declared again
    const closed = new Promise<Error>((resolve) => ch.once('error', resolve));
    await assert.rejects(ch.assertQueue('q3'));
    assert.match(
      (await closed).message,
      /PRECONDITION_FAILED - cannot declare queue 'q3' in vhost '\/': queue limit \(2\) is reached/,
    );

    ch = await conn.createChannel();
    await ch.consume('q1', () => {});
    const other = await conn.createChannel();
    const refused = new Promise<Error>((resolve) => other.once('error', resolve));
    await assert.rejects(other.consume('q2', () => {}));
    assert.match((await refused).message, /consumer limit \(1\) of the connection is reached/);
  } finally {
    await conn.close();
    await b.close();
  }
});
