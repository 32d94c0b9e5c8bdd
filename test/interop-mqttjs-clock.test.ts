/**
 * MQTT.js against a broker whose clock the test moves (a ManualClock): will delays, message
 * expiry and session expiry are checked at exact times, without sleeping. The broker is the core
 * and the MQTT front end on a TCP listener; MQTT.js keeps its own (real) timers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Listening } from '../src/core/index.js';
import { uniq } from './helpers.js';
import { Inbox } from './mqttjs-inbox.js';
import { type Harness, harness } from './support/mqtt-session.js';

let h: Harness;
let listener: Listening;
let url: string;
const clients: MqttClient[] = [];

before(async () => {
  h = harness();
  listener = await h.fe.listen('127.0.0.1', 0);
  url = `mqtt://127.0.0.1:${listener.address.port}`;
});

after(async () => {
  for (const c of clients) c.end(true);
  await h.close();
  await listener.close();
});

async function connect(opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 5,
    // The broker's time jumps: no keep-alive to run out under it.
    keepalive: 0,
    ...opts,
  });
  clients.push(c);
  return c;
}

/** Waits (bounded) until the broker has seen a client's connection close. */
async function closedOnBroker(clientId: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (h.fe.sessions.get(clientId)?.connection !== undefined) {
    assert.ok(Date.now() < deadline, `the broker still has ${clientId} connected`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('mqtt.js clock: a will with a delay comes when the delay has passed, not before [MQTT-3.1.2-8]', async () => {
  const topic = `will/${uniq('wd')}`;
  const watcher = await connect();
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync(topic, { qos: 1 });
  const id = uniq('wd-client');
  const c = await connect({
    clientId: id,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: { topic, payload: Buffer.from('late'), qos: 1, properties: { willDelayInterval: 2 } },
  });
  c.stream.destroy();
  await closedOnBroker(id);
  h.clock.advance(1_999);
  // A marker published now arrives first: the will has not been sent.
  await watcher.publishAsync(topic, 'marker', { qos: 1 });
  assert.deepEqual(
    (await inbox.until(1)).map((m) => m.payload.toString()),
    ['marker'],
  );
  h.clock.advance(1);
  assert.deepEqual(
    (await inbox.until(2)).map((m) => m.payload.toString()),
    ['marker', 'late'],
  );
});

test('mqtt.js clock: a reconnect within the will delay cancels the will [MQTT-3.1.3-9]', async () => {
  const topic = `will/${uniq('wc')}`;
  const watcher = await connect();
  const inbox = new Inbox(watcher);
  await watcher.subscribeAsync(topic, { qos: 1 });
  const id = uniq('wc-client');
  const opts: IClientOptions = {
    clientId: id,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: { topic, payload: Buffer.from('late'), qos: 1, properties: { willDelayInterval: 2 } },
  };
  const c = await connect(opts);
  c.stream.destroy();
  await closedOnBroker(id);
  h.clock.advance(1_000);
  await connect({ ...opts, will: undefined });
  h.clock.advance(60_000);
  await watcher.publishAsync(topic, 'marker', { qos: 1 });
  assert.deepEqual(
    (await inbox.until(1)).map((m) => m.payload.toString()),
    ['marker'],
  );
});

test('mqtt.js clock: message expiry: an expired message is not delivered; a live one carries the interval left', async () => {
  const id = uniq('exp');
  const topic = `t/${id}`;
  const opts: IClientOptions = { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } };
  const c = await connect(opts);
  await c.subscribeAsync(topic, { qos: 1 });
  await c.endAsync();
  const pub = await connect();
  await pub.publishAsync(topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
  await pub.publishAsync(topic, 'long', { qos: 1, properties: { messageExpiryInterval: 100 } });
  h.clock.advance(1_100);
  const client = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 5, keepalive: 0, ...opts });
  clients.push(client);
  const inbox = new Inbox(client);
  const got = await inbox.until(1);
  assert.deepEqual(
    got.map((m) => [m.payload.toString(), m.properties?.messageExpiryInterval]),
    [['long', 99]], // [MQTT-3.3.2-5] [MQTT-3.3.2-6]
  );
});

test('mqtt.js clock: a session ends when its expiry passes offline: queue gone, no session present', async () => {
  const id = uniq('expire');
  const opts: IClientOptions = { clientId: id, clean: false, properties: { sessionExpiryInterval: 1 } };
  const c = await connect(opts);
  await c.subscribeAsync(`t/${id}`, { qos: 1 });
  await c.endAsync();
  await closedOnBroker(id);
  const queues = h.broker.vhosts.get('/')!.queues;
  h.clock.advance(999);
  assert.ok(queues.has(`mqtt-session.${id}`), 'not before its expiry');
  h.clock.advance(1);
  assert.equal(queues.has(`mqtt-session.${id}`), false);
  const back = mqtt.connect(url, { reconnectPeriod: 0, protocolVersion: 5, keepalive: 0, ...opts });
  clients.push(back);
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve) =>
    back.once('connect', (p) => resolve(p as { sessionPresent: boolean })),
  );
  assert.equal(connack.sessionPresent, false);
  assert.equal(h.fe.sessions.get(id)?.subscriptions.size, 0);
});
