/**
 * MQTT.js (v3.1.1 and v5, over TCP and WebSocket) against Switchyard: QoS 0/1/2, retained
 * messages with wildcards, subscription options, shared subscriptions, sessions, wills, MQTT 5
 * properties, and AMQP ↔ MQTT in both directions with amqplib.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { Inbox, type Received } from './mqttjs-inbox.js';

let b: TestBroker;
let tcp: string;
let ws: string;
const clients: MqttClient[] = [];

async function connect(opts: IClientOptions & { url?: string } = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(opts.url ?? tcp, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(c);
  return c;
}

/**
 * Connects with an inbox attached before the CONNACK, so messages a resumed session delivers
 * right after it are not missed.
 */
async function resume(
  opts: IClientOptions,
): Promise<{ client: MqttClient; inbox: Inbox; connack: { sessionPresent: boolean } }> {
  const client = mqtt.connect(tcp, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  clients.push(client);
  const inbox = new Inbox(client);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
    client.once('connect', (p) => resolve(p as { sessionPresent: boolean }));
    client.once('error', reject);
  });
  return { client, inbox, connack };
}

/** Resolves with the client's next DISCONNECT packet from the broker (v5). */
function nextDisconnect(c: MqttClient): Promise<{ reasonCode?: number }> {
  return new Promise((resolve) => c.once('disconnect', (p) => resolve(p as { reasonCode?: number })));
}

before(async () => {
  b = await startTestBroker();
  tcp = `mqtt://127.0.0.1:${b.server.mqtt!.address.port}`;
  ws = `ws://127.0.0.1:${b.server.http!.address.port}/mqtt`;
});

after(async () => {
  for (const c of clients) c.end(true);
  await b.close();
});

for (const transport of ['tcp', 'ws'] as const) {
  for (const protocolVersion of [4, 5] as const) {
    describe(`mqtt.js v${protocolVersion === 4 ? '3.1.1' : '5'} over ${transport}`, () => {
      const url = () => (transport === 'tcp' ? tcp : ws);
      for (const qos of [0, 1, 2] as const) {
        test(`QoS ${qos}: 200 messages arrive once, in order, at QoS ${qos}`, async () => {
          const topic = `t/${uniq('qos')}`;
          const sub = await connect({ url: url(), protocolVersion });
          const inbox = new Inbox(sub);
          await sub.subscribeAsync(topic, { qos });
          const pub = await connect({ url: url(), protocolVersion });
          for (let i = 0; i < 200; i++) await pub.publishAsync(topic, `m${i}`, { qos });
          const got = await inbox.until(200);
          assert.deepEqual(
            got.map((m) => m.payload.toString()),
            Array.from({ length: 200 }, (_, i) => `m${i}`),
          );
          assert.ok(got.every((m) => m.qos === qos && m.topic === topic));
        });
      }

      test('retained message reaches a later wildcard subscriber; an empty payload clears it', async () => {
        const base = uniq('ret');
        const pub = await connect({ url: url(), protocolVersion });
        await pub.publishAsync(`${base}/room1/temp`, '21', { qos: 1, retain: true });
        await pub.publishAsync(`${base}/room2/temp`, '19', { qos: 1, retain: true });
        const sub = await connect({ url: url(), protocolVersion });
        const inbox = new Inbox(sub);
        await sub.subscribeAsync(`${base}/+/temp`, { qos: 1 });
        const got = await inbox.until(2);
        assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['19', '21']);
        assert.ok(got.every((m) => m.retain));
        await pub.publishAsync(`${base}/room1/temp`, '', { qos: 1, retain: true });
        const later = await connect({ url: url(), protocolVersion });
        const inbox2 = new Inbox(later);
        await later.subscribeAsync(`${base}/#`, { qos: 1 });
        const got2 = await inbox2.until(1);
        assert.deepEqual(
          got2.map((m) => m.topic),
          [`${base}/room2/temp`],
        );
      });
    });
  }
}

describe('mqtt.js: topics and cross-protocol', () => {
  test('a literal dot stays inside its level (not a separator)', async () => {
    const base = uniq('dot');
    const sub = await connect({ protocolVersion: 5 });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(`${base}/+/temp`, { qos: 1 });
    const pub = await connect({ protocolVersion: 5 });
    await pub.publishAsync(`${base}/room.1/temp`, 'a', { qos: 1 });
    await pub.publishAsync(`${base}/room/1/temp`, 'b', { qos: 1 }); // three levels: no match
    await pub.publishAsync(`${base}/x/temp`, 'c', { qos: 1 });
    const got = await inbox.until(2);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString()]),
      [
        [`${base}/room.1/temp`, 'a'],
        [`${base}/x/temp`, 'c'],
      ],
    );
  });

  test('$-topics are not matched by a leading wildcard', async () => {
    const sub = await connect({ protocolVersion: 5 });
    const inbox = new Inbox(sub);
    const tag = uniq('dollar');
    await sub.subscribeAsync('#', { qos: 0 });
    await sub.subscribeAsync(`$X/${tag}`, { qos: 0 });
    const pub = await connect({ protocolVersion: 5 });
    await pub.publishAsync(`$X/${tag}`, 'only-explicit', { qos: 1 });
    const got = await inbox.until(1);
    // Under '#' the subscriber sees every other test's traffic too: count only our topic.
    const ours = got.filter((m) => m.topic === `$X/${tag}`);
    assert.equal(ours.length, 1);
    sub.end(true);
  });

  test('an MQTT publish reaches an AMQP queue bound to amq.topic, properties mapped', async () => {
    const conn = await amqp.connect(b.url);
    try {
      const ch = await conn.createChannel();
      const base = uniq('x2a');
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, 'amq.topic', `${base}.*.temp`);
      const pub = await connect({ protocolVersion: 5 });
      await pub.publishAsync(`${base}/room1/temp`, Buffer.from([0, 1, 2, 255]), {
        qos: 1,
        properties: {
          contentType: 'application/octet-stream',
          correlationData: Buffer.from('corr-1'),
          responseTopic: `${base}/reply`,
          userProperties: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', k: 'v' },
          messageExpiryInterval: 60,
        },
      });
      const msg = await new Promise<amqp.ConsumeMessage>((resolve) => {
        void ch.consume(queue, (m) => m && resolve(m), { noAck: true });
      });
      assert.deepEqual([...msg.content], [0, 1, 2, 255]);
      assert.equal(msg.fields.routingKey, `${base}.room1.temp`);
      assert.equal(msg.properties.contentType, 'application/octet-stream');
      assert.equal(msg.properties.correlationId, 'corr-1');
      assert.equal(msg.properties.replyTo, `${base}.reply`);
      assert.equal(msg.properties.expiration, '60000');
      assert.equal(msg.properties.deliveryMode, 2);
      assert.equal(
        msg.properties.headers?.traceparent,
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      );
      assert.equal(msg.properties.headers?.k, 'v');
    } finally {
      await conn.close();
    }
  });

  test('an AMQP publish to amq.topic reaches MQTT subscribers, properties mapped', async () => {
    const base = uniq('a2x');
    const sub5 = await connect({ protocolVersion: 5 });
    const sub3 = await connect({ protocolVersion: 4 });
    const in5 = new Inbox(sub5);
    const in3 = new Inbox(sub3);
    await sub5.subscribeAsync(`${base}/+/temp`, { qos: 1 });
    await sub3.subscribeAsync(`${base}/#`, { qos: 2 });
    const conn = await amqp.connect(b.url);
    try {
      const ch = await conn.createConfirmChannel();
      ch.publish('amq.topic', `${base}.room1.temp`, Buffer.from('22.5'), {
        contentType: 'text/plain',
        correlationId: 'c-9',
        replyTo: `${base}.replies`,
        persistent: true,
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', n: 5 },
        messageId: 'id-1',
      });
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
    const [m5] = await in5.until(1);
    assert.equal(m5!.topic, `${base}/room1/temp`);
    assert.equal(m5!.payload.toString(), '22.5');
    assert.equal(m5!.qos, 1); // persistent → QoS 1
    const p = m5!.properties!;
    assert.equal(p.contentType, 'text/plain');
    assert.equal(String(p.correlationData), 'c-9');
    assert.equal(p.responseTopic, `${base}/replies`);
    const user = p.userProperties as Record<string, string>;
    assert.equal(user.traceparent, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    assert.equal(user.n, '5');
    assert.equal(user['x-message-id'], 'id-1');
    const [m3] = await in3.until(1);
    assert.equal(m3!.qos, 1); // min(published 1, subscribed 2)
    assert.equal(m3!.payload.toString(), '22.5');
  });
});

describe('mqtt.js: subscription options (v5)', () => {
  test('no-local: own publishes are not delivered back', async () => {
    const topic = `t/${uniq('nl')}`;
    const c = await connect({ protocolVersion: 5 });
    const inbox = new Inbox(c);
    await c.subscribeAsync(topic, { qos: 1, nl: true });
    const other = await connect({ protocolVersion: 5 });
    await c.publishAsync(topic, 'mine', { qos: 1 });
    await other.publishAsync(topic, 'theirs', { qos: 1 });
    const got = await inbox.until(1);
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      ['theirs'],
    );
  });

  test('retain-as-published keeps the retain flag on live messages; without it the flag is cleared', async () => {
    const topic = `t/${uniq('rap')}`;
    const rap = await connect({ protocolVersion: 5 });
    const plain = await connect({ protocolVersion: 5 });
    const inRap = new Inbox(rap);
    const inPlain = new Inbox(plain);
    await rap.subscribeAsync(topic, { qos: 1, rap: true });
    await plain.subscribeAsync(topic, { qos: 1 });
    const pub = await connect({ protocolVersion: 5 });
    await pub.publishAsync(topic, 'r', { qos: 1, retain: true });
    assert.equal((await inRap.until(1))[0]!.retain, true);
    assert.equal((await inPlain.until(1))[0]!.retain, false);
  });

  test('retain handling: 0 sends retained on every subscribe, 1 only on a new one, 2 never', async () => {
    const topic = `t/${uniq('rh')}`;
    const pub = await connect({ protocolVersion: 5 });
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
    for (const [rh, expected] of [
      [0, 2],
      [1, 1],
      [2, 0],
    ] as const) {
      const c = await connect({ protocolVersion: 5 });
      const inbox = new Inbox(c);
      await c.subscribeAsync(topic, { qos: 1, rh });
      await c.subscribeAsync(topic, { qos: 1, rh });
      // A marker published after both subscribes: once it is in, every retained copy is too.
      await pub.publishAsync(topic, 'marker', { qos: 1 });
      const got = await inbox.until(expected + 1);
      assert.equal(got.filter((m) => m.payload.toString() === 'kept').length, expected, `rh ${rh}`);
    }
  });

  test('subscription identifiers come back on the matching deliveries', async () => {
    const base = uniq('sid');
    const c = await connect({ protocolVersion: 5 });
    const inbox = new Inbox(c);
    await c.subscribeAsync(`${base}/a`, { qos: 1, properties: { subscriptionIdentifier: 7 } });
    await c.subscribeAsync(`${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 9 } });
    const pub = await connect({ protocolVersion: 5 });
    await pub.publishAsync(`${base}/a`, 'x', { qos: 1 });
    await pub.publishAsync(`${base}/b`, 'y', { qos: 1 });
    const got = await inbox.until(2);
    const ids = (m: Received) => [m.properties?.subscriptionIdentifier].flat().sort();
    assert.deepEqual(ids(got[0]!), [7, 9]);
    assert.deepEqual(ids(got[1]!), [9]);
  });

  test('unsubscribe answers per filter: success, or no subscription existed', async () => {
    const topic = `t/${uniq('unsub')}`;
    const c = await connect({ protocolVersion: 5 });
    await c.subscribeAsync(topic, { qos: 1 });
    const reasons: number[] = [];
    await new Promise<void>((resolve, reject) => {
      c.unsubscribe([topic, `${topic}/never`], {}, (err, packet) => {
        if (err) return reject(err);
        // mqtt-packet puts a v5 UNSUBACK's reason codes in `granted`.
        reasons.push(...((packet as unknown as { granted: number[] }).granted ?? []));
        resolve();
      });
    });
    assert.deepEqual(reasons, [0x00, 0x11]);
  });
});

describe('mqtt.js: shared subscriptions', () => {
  test('$share spreads messages over the group and moves unacked ones when a member leaves', async () => {
    const topic = `t/${uniq('share')}`;
    const a = await connect({ protocolVersion: 5 });
    const c2 = await connect({ protocolVersion: 5 });
    const inA = new Inbox(a);
    const inB = new Inbox(c2);
    await a.subscribeAsync(`$share/g1/${topic}`, { qos: 1 });
    await c2.subscribeAsync(`$share/g1/${topic}`, { qos: 1 });
    const pub = await connect({ protocolVersion: 5 });
    for (let i = 0; i < 20; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
    await inA.until(1);
    await inB.until(1);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('not all shared messages arrived')), 5000);
      const check = () => {
        if (inA.messages.length + inB.messages.length >= 20) {
          clearTimeout(t);
          resolve();
        } else setTimeout(check, 10);
      };
      check();
    });
    const all = [...inA.messages, ...inB.messages].map((m) => m.payload.toString()).sort();
    assert.deepEqual(all, Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
    // Member A leaves: from now on B gets everything.
    a.end(true);
    const before = inB.messages.length;
    for (let i = 0; i < 5; i++) await pub.publishAsync(topic, `n${i}`, { qos: 1 });
    await inB.until(before + 5);
  });
});

describe('mqtt.js: sessions', () => {
  test('an empty client id gets an assigned one (v5)', async () => {
    const c = await connect({ protocolVersion: 5, clientId: '', clean: true });
    const assigned = (c as unknown as { options: { properties?: unknown } }).options;
    assert.ok(assigned);
    const packet = await new Promise<unknown>((resolve) => {
      const c2 = mqtt.connect(tcp, { protocolVersion: 5, clientId: '', clean: true, reconnectPeriod: 0 });
      clients.push(c2);
      c2.once('connect', (p) => resolve(p));
    });
    const id = (packet as { properties?: { assignedClientIdentifier?: string } }).properties
      ?.assignedClientIdentifier;
    assert.match(id ?? '', /^sy-/);
  });

  test('a second connection with the same client id takes the session over (old one gets 0x8E)', async () => {
    const id = uniq('takeover');
    const old = await connect({ protocolVersion: 5, clientId: id });
    const gone = nextDisconnect(old);
    await connect({ protocolVersion: 5, clientId: id });
    assert.equal((await gone).reasonCode, 0x8e);
  });

  test('a persistent session keeps subscriptions and QoS 1 messages while offline', async () => {
    const id = uniq('persist');
    const topic = `t/${id}`;
    const c = await connect({
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    await c.subscribeAsync(topic, { qos: 1 });
    await c.endAsync();
    const pub = await connect({ protocolVersion: 5 });
    for (let i = 0; i < 10; i++) await pub.publishAsync(topic, `off${i}`, { qos: 1 });
    const { inbox, connack } = await resume({
      protocolVersion: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    assert.equal(connack.sessionPresent, true);
    const got = await inbox.until(10);
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      Array.from({ length: 10 }, (_, i) => `off${i}`),
    );
  });

  test('a session with expiry 0 ends at disconnect (clean start, no session present)', async () => {
    const id = uniq('transient');
    const c = await connect({ protocolVersion: 5, clientId: id, clean: false });
    await c.subscribeAsync(`t/${id}`, { qos: 1 });
    await c.endAsync();
    const { connack } = await resume({ protocolVersion: 5, clientId: id, clean: false });
    assert.equal(connack.sessionPresent, false);
  });
});

describe('mqtt.js: wills', () => {
  async function watch(topic: string) {
    const w = await connect({ protocolVersion: 5 });
    const inbox = new Inbox(w);
    await w.subscribeAsync(topic, { qos: 1 });
    return inbox;
  }

  test('abnormal disconnect publishes the will; a normal DISCONNECT does not', async () => {
    const topic = `will/${uniq('w')}`;
    const inbox = await watch(topic);
    const normal = await connect({
      protocolVersion: 5,
      will: { topic, payload: Buffer.from('normal'), qos: 1 },
    });
    await normal.endAsync();
    const crash = await connect({
      protocolVersion: 5,
      will: { topic, payload: Buffer.from('crash'), qos: 1 },
    });
    crash.stream.destroy();
    const got = await inbox.until(1);
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      ['crash'],
    );
  });

  test('DISCONNECT with reason 0x04 publishes the will', async () => {
    const topic = `will/${uniq('w4')}`;
    const inbox = await watch(topic);
    const c = await connect({ protocolVersion: 5, will: { topic, payload: Buffer.from('asked'), qos: 1 } });
    await new Promise<void>((resolve) => c.end(false, { reasonCode: 0x04 }, () => resolve()));
    assert.equal((await inbox.until(1))[0]!.payload.toString(), 'asked');
  });
});

describe('mqtt.js: MQTT 5 properties', () => {
  test('topic aliases: inbound aliases resolve; outbound aliases are used up to the client maximum', async () => {
    const topic = `t/${uniq('alias')}`;
    const sub = await connect({ protocolVersion: 5, properties: { topicAliasMaximum: 5 } });
    const inbox = new Inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    const pub = await connect({ protocolVersion: 5 });
    await pub.publishAsync(topic, 'one', { qos: 1, properties: { topicAlias: 3 } });
    await pub.publishAsync('', 'two', { qos: 1, properties: { topicAlias: 3 } });
    const got = await inbox.until(2);
    // MQTT.js resolves the broker's aliases back to the topic.
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString()]),
      [
        [topic, 'one'],
        [topic, 'two'],
      ],
    );
  });

  test('request/response: response topic and correlation data round trip', async () => {
    const base = uniq('rr');
    const responder = await connect({ protocolVersion: 5 });
    await responder.subscribeAsync(`${base}/req`, { qos: 1 });
    responder.on('message', (_t, payload, packet) => {
      const p = packet.properties!;
      responder.publish(p.responseTopic!, `re:${payload.toString()}`, {
        qos: 1,
        properties: { correlationData: p.correlationData! },
      });
    });
    const requester = await connect({ protocolVersion: 5, properties: { requestResponseInformation: true } });
    const inbox = new Inbox(requester);
    await requester.subscribeAsync(`${base}/resp`, { qos: 1 });
    await requester.publishAsync(`${base}/req`, 'ping', {
      qos: 1,
      properties: { responseTopic: `${base}/resp`, correlationData: Buffer.from([1, 2, 3]) },
    });
    const [m] = await inbox.until(1);
    assert.equal(m!.payload.toString(), 're:ping');
    assert.deepEqual([...(m!.properties!.correlationData as Buffer)], [1, 2, 3]);
  });

  test('payload format indicator: an invalid UTF-8 payload is refused with 0x99', async () => {
    const c = await connect({ protocolVersion: 5 });
    await assert.rejects(
      c.publishAsync(`t/${uniq('pfi')}`, Buffer.from([0xff, 0xfe]), {
        qos: 1,
        properties: { payloadFormatIndicator: true },
      }),
      (e: Error & { code?: number }) => e.code === 0x99 || /0x99|153|Payload format invalid/i.test(e.message),
    );
  });

  test('a publish nobody subscribed to is acknowledged with 0x10 (no matching subscribers)', async () => {
    const c = await connect({ protocolVersion: 5 });
    const puback = new Promise<{ reasonCode?: number }>((resolve) =>
      c.on('packetreceive', (p) => p.cmd === 'puback' && resolve(p as { reasonCode?: number })),
    );
    await c.publishAsync(`t/${uniq('nobody')}`, 'x', { qos: 1 });
    assert.equal((await puback).reasonCode, 0x10);
  });
});

describe('mqtt.js: credentials', () => {
  test('the broker users are checked: right password in, wrong one refused (v3 code 4, v5 0x86)', async () => {
    await connect({ protocolVersion: 4, username: 'guest', password: 'guest' });
    for (const [protocolVersion, code] of [
      [4, 4],
      [5, 0x86],
    ] as const) {
      const c = mqtt.connect(tcp, {
        protocolVersion,
        username: 'guest',
        password: 'nope',
        reconnectPeriod: 0,
      });
      clients.push(c);
      const err = await new Promise<Error & { code?: number }>((resolve) => c.once('error', resolve));
      assert.equal(err.code, code);
    }
  });
});
