/**
 * Slow consumers (issue 15): a subscriber that never reads its socket, on each protocol, while a
 * flood goes to its topic. What the broker holds for it stays within limits.maxOutboundBytes
 * (read from the front end's stats().outboundBytes, not from RSS: no verdict depends on the
 * machine's speed), its at-most-once deliveries are dropped and counted (stats().dropped) instead
 * of piling up in its queue, and a bystander on another topic gets every one of its messages.
 */
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { get as httpGet } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { after, describe, test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import amqp from 'amqplib';
import mqttPacket from 'mqtt-packet';
import { WebSocket } from 'ws';
import { type FrontEndStats, Message } from '../src/core/index.js';
import { SubscribeRequestSchema } from '../src/gen/switchyard/v1/broker_pb.js';
import { startTestBroker, uniq } from './helpers.js';
import { poll } from './support/wait.js';
import { Client } from './ws-client.js';

const BOUND = 64 * 1024;
/** Body size of a flood message, and how many: far more than the kernel's socket buffers hold. */
const SIZE = 4096;
const FLOOD = 6000;
const BYSTANDER = 100;
/**
 * What a connection may hold past the bound: a write batch (64 KiB for MQTT and native gRPC,
 * which check the bound when they write) and one message in its wire form (JSON and base64 for
 * WebSocket and SSE).
 */
const SLACK = 64 * 1024 + 2 * SIZE + 1024;

const b = await startTestBroker({}, undefined, {
  store: { diskFreeLimit: 0 },
  limits: { maxOutboundBytes: BOUND },
});
after(() => b.close());
const s = b.server;
const httpPort = s.http!.address.port;

interface Stalled {
  close(): void;
}

/** Sets up a subscriber to amq.topic with binding key `key` that reads its handshake, then nothing. */
type Setup = (key: string) => Promise<Stalled>;

/** Resolves once `n` bytes came in on a readable, then stops reading it for good. */
function readThenStall(src: NodeJS.ReadableStream & { pause(): unknown }, n: number): Promise<void> {
  return new Promise((resolve) => {
    let got = 0;
    const onData = (c: Buffer) => {
      got += c.length;
      if (got < n) return;
      src.removeListener('data', onData);
      src.pause();
      resolve();
    };
    src.on('data', onData);
  });
}

const mqttBytes = (key: string, id: string) =>
  Buffer.concat([
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: id,
      keepalive: 0,
    }),
    mqttPacket.generate({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [{ topic: key.replaceAll('.', '/'), qos: 0 }],
    }),
  ]);

const setups: Record<string, { frontEnd: () => FrontEndStats; setup: Setup }> = {
  'MQTT over TCP (QoS 0)': {
    frontEnd: () => s.mqttFrontEnd.stats(),
    setup: async (key) => {
      const sock = tcpConnect(s.mqtt!.address.port, '127.0.0.1');
      sock.on('error', () => {});
      sock.write(mqttBytes(key, uniq('stall')));
      await readThenStall(sock, 4 + 5); // CONNACK, SUBACK
      return { close: () => sock.destroy() };
    },
  },
  'MQTT over WebSocket (QoS 0)': {
    frontEnd: () => s.mqttFrontEnd.stats(),
    setup: async (key) => {
      const ws = new WebSocket(`ws://127.0.0.1:${httpPort}/mqtt`, 'mqtt');
      ws.on('error', () => {});
      await new Promise((r) => ws.once('open', r));
      ws.send(mqttBytes(key, uniq('stall')));
      await new Promise<void>((resolve) => {
        let got = 0;
        const onMessage = (d: Buffer) => {
          got += d.length;
          if (got < 9) return;
          ws.off('message', onMessage);
          ws.pause();
          resolve();
        };
        ws.on('message', onMessage);
      });
      return { close: () => ws.terminate() };
    },
  },
  'AMQP (no-ack)': {
    frontEnd: () => frontEnd('amqp'),
    setup: async (key) => {
      const conn = await amqp.connect(b.url);
      conn.on('error', () => {});
      const ch = await conn.createChannel();
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(q, 'amq.topic', key);
      await ch.consume(q, () => {}, { noAck: true });
      // amqplib reads on 'readable': without its listener nothing is read any more.
      const stream = (conn as unknown as { connection: { stream: import('node:net').Socket } }).connection
        .stream;
      stream.removeAllListeners('readable');
      stream.pause();
      return { close: () => stream.destroy() };
    },
  },
  'gRPC Subscribe stream (auto ack)': {
    frontEnd: () => frontEnd('grpc'),
    setup: async (key) => {
      const session = h2connect(`http://127.0.0.1:${s.grpc!.address.port}`);
      session.on('error', () => {});
      const stream = session.request({
        ':method': 'POST',
        ':path': '/switchyard.v1.Broker/Subscribe',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      stream.on('error', () => {});
      const m = toBinary(
        SubscribeRequestSchema,
        create(SubscribeRequestSchema, {
          source: { case: 'exchange', value: 'amq.topic' },
          bindingKey: key,
          autoAck: true,
        }),
      );
      const h = Buffer.alloc(5);
      h.writeUInt32BE(m.length, 1);
      stream.end(Buffer.concat([h, m]));
      await readThenStall(stream, 5 + 2); // the `started` message
      return { close: () => session.destroy() };
    },
  },
  'native WebSocket (auto ack, no credit)': {
    frontEnd: () => frontEnd('ws'),
    setup: async (key) => {
      const c = await Client.open(b);
      c.send({ op: 'subscribe', sub: 's', exchange: 'amq.topic', key });
      await c.next({ op: 'subscribed' });
      c.ws.pause();
      return { close: () => c.ws.terminate() };
    },
  },
  'SSE (exchange events)': {
    frontEnd: () => frontEnd('http'),
    setup: async (key) => {
      let destroy = () => {};
      await new Promise<void>((resolve, reject) => {
        const req = httpGet(
          `http://127.0.0.1:${httpPort}/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=${key}`,
          (res) => {
            destroy = () => res.destroy();
            // The `retry:` line, then nothing more is read.
            void readThenStall(res, 1).then(resolve);
          },
        );
        req.on('error', reject);
      });
      return { close: destroy };
    },
  },
};

function frontEnd(protocol: string): FrontEndStats {
  const f = s.frontEnds.find((x) => x.protocol === protocol);
  assert.ok(f !== undefined, `front end ${protocol}`);
  return f.stats();
}

describe('slow consumers: a subscriber that never reads costs a bounded buffer', () => {
  const admin = s.broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost: '/' });
  after(() => admin.close());
  const topic = admin.admitPublish('amq.topic', 'x', 'accept');

  for (const [name, { frontEnd: stats, setup }] of Object.entries(setups)) {
    test(name, async (t) => {
      const key = uniq('flood').replaceAll('-', '_');
      const byKey = uniq('by').replaceAll('-', '_');
      // The bystander: an AMQP consumer with acks on another topic.
      const byConn = await amqp.connect(b.url);
      const byCh = await byConn.createChannel();
      const byQ = (await byCh.assertQueue('', { exclusive: true })).queue;
      await byCh.bindQueue(byQ, 'amq.topic', byKey);
      let byGot = 0;
      await byCh.consume(byQ, (m) => {
        if (m === null) return;
        byGot++;
        byCh.ack(m);
      });
      const stalled = await setup(key);
      const dropsBefore = stats().dropped.messages;
      let most = 0;
      try {
        const body = Buffer.alloc(SIZE, 0x61);
        for (let i = 0; i < FLOOD; i++) {
          admin.publish(topic, new Message('amq.topic', key, body, undefined));
          if (i % (FLOOD / BYSTANDER) === 0)
            admin.publish(topic, new Message('amq.topic', byKey, body.subarray(0, 16), undefined));
          if (i % 10 === 0) {
            // Let sockets flush and the front end see its buffers, then look at them.
            await new Promise((r) => setImmediate(r));
            most = Math.max(most, stats().outboundBytes);
          }
        }
        await poll(() => byGot === BYSTANDER, `the bystander's ${BYSTANDER} messages (got ${byGot})`);
        most = Math.max(most, stats().outboundBytes);
        const dropped = stats().dropped.messages - dropsBefore;
        t.diagnostic(`held at most ${most} bytes for the stalled client; dropped ${dropped} of ${FLOOD}`);
        assert.ok(
          most <= BOUND + SLACK,
          `the broker held ${most} bytes for the stalled client (bound ${BOUND})`,
        );
        assert.ok(dropped > 0, 'the flood past the bound was dropped');
        assert.ok(dropped < FLOOD, 'what fitted was delivered');
        // Nothing piles up in a queue: the stalled subscriber's deliveries were written or dropped.
        let ready = 0;
        for (const q of s.broker.vhosts.get('/')!.queues.values()) ready += q.messageCount;
        assert.equal(ready, 0, 'messages left in queues');
      } finally {
        stalled.close();
        await byConn.close();
      }
    });
  }
});
