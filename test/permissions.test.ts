/**
 * The permission matrix (issue 15): one set of users and permissions (RabbitMQ's model,
 * docs/security.md), and every protocol's operations tried by third-party clients — amqplib,
 * MQTT.js (3.1.1 and 5), connect-node, ws, fetch and eventsource — each answered in its own
 * protocol's terms: allowed where the table allows it, refused with the documented code where not.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import amqplib from 'amqplib';
import { EventSource } from 'eventsource';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { rabbitHash } from '../src/auth/index.js';
import { PROTOCOL_HEADER } from '../src/amqp/codec/index.js';
import { Broker as BrokerService, MessageSchema } from '../src/gen/switchyard/v1/broker_pb.js';
import { AmqpTestClient } from './support/amqp-client.js';
import { startTestBroker, type TestBroker } from './helpers.js';
import { skip as noMosquittoClients, subOnceTo } from './interop-mqtt-cli-support.js';
import { run } from './interop-support.js';

const ALICE_PASSWORD = 'alice-pw';

/** alice: her own `alice.*` names, the MQTT session queues, amq.topic; topic keys under sensors. */
const CONFIG = {
  users: {
    guest: 'guest',
    // A RabbitMQ-form hash (as rabbitmqctl export_definitions writes it): it logs in unchanged.
    alice: { passwordHash: rabbitHash(ALICE_PASSWORD) },
    mallory: 'mallory-pw',
  },
  permissions: [
    { user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' },
    {
      user: 'alice',
      vhost: '/',
      configure: '^(alice\\..*|mqtt-session\\..*)$',
      write: '^(alice\\..*|mqtt-session\\..*|amq\\.topic)$',
      read: '^(alice\\..*|mqtt-session\\..*|amq\\.topic)$',
    },
  ],
  topicPermissions: [
    {
      user: 'alice',
      vhost: '/',
      exchange: 'amq.topic',
      write: '^sensors\\.{username}\\.',
      read: '^sensors\\.',
    },
  ],
};

let b: TestBroker;
const ports = () => ({
  amqp: b.server.amqp!.address.port,
  mqtt: b.server.mqtt!.address.port,
  http: b.server.http!.address.port,
  grpc: b.server.grpc!.address.port,
});
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const ALICE = basic('alice', ALICE_PASSWORD);

/** An amqplib channel of alice's, and a promise of the error that closes it. */
async function aliceChannel() {
  const conn = await amqplib.connect(`amqp://alice:${ALICE_PASSWORD}@127.0.0.1:${ports().amqp}`);
  const ch = await conn.createConfirmChannel();
  const closed = new Promise<Error>((resolve) => ch.once('error', resolve));
  return { conn, ch, closed };
}

/** Runs `op` on a fresh channel of alice's; resolves to '' when allowed, else the close's text. */
async function amqpAs(op: (ch: amqplib.ConfirmChannel) => Promise<unknown>): Promise<string> {
  const { conn, ch, closed } = await aliceChannel();
  try {
    await op(ch);
    await ch.close();
    return '';
  } catch (e) {
    return (await closed).message || String(e);
  } finally {
    await conn.close();
  }
}

describe('permissions: one model on every protocol', () => {
  before(async () => {
    b = await startTestBroker({}, undefined, CONFIG);
    const conn = await amqplib.connect(b.url);
    const ch = await conn.createChannel();
    await ch.assertQueue('guest.q');
    ch.sendToQueue('guest.q', Buffer.from('not for alice'));
    await ch.assertExchange('guest.x', 'topic');
    await conn.close();
  });
  after(() => b.close());

  test('AMQP 0-9-1 (amqplib): configure, write and read as the table says; 403 on the channel', async () => {
    assert.equal(await amqpAs((ch) => ch.assertQueue('alice.q')), '');
    assert.equal(await amqpAs((ch) => ch.checkQueue('guest.q')), '', 'a passive declare needs nothing');
    const refused = (what: string) =>
      new RegExp(`ACCESS_REFUSED - access to ${what} in vhost '/' refused for user 'alice'`);
    assert.match(await amqpAs((ch) => ch.assertQueue('bob.q')), refused("queue 'bob.q'"));
    assert.match(await amqpAs((ch) => ch.deleteQueue('guest.q')), refused("queue 'guest.q'"));
    assert.match(await amqpAs((ch) => ch.assertExchange('bob.x', 'direct')), refused("exchange 'bob.x'"));
    assert.equal(await amqpAs((ch) => ch.bindQueue('alice.q', 'amq.topic', 'sensors.#')), '');
    assert.match(
      await amqpAs((ch) => ch.bindQueue('alice.q', 'guest.x', 'k')),
      refused("exchange 'guest.x'"),
    );
    assert.match(
      await amqpAs((ch) => ch.bindQueue('alice.q', 'amq.topic', 'other.#')),
      /ACCESS_REFUSED - read access to topic 'other.#' in exchange 'amq.topic'/,
    );
    const publish = (x: string, key: string) => async (ch: amqplib.ConfirmChannel) => {
      ch.publish(x, key, Buffer.from('m'));
      await ch.waitForConfirms();
    };
    assert.equal(await amqpAs(publish('amq.topic', 'sensors.alice.t')), '');
    assert.match(
      await amqpAs(publish('amq.topic', 'sensors.bob.t')),
      /ACCESS_REFUSED - write access to topic 'sensors.bob.t' in exchange 'amq.topic'/,
    );
    assert.match(await amqpAs(publish('guest.x', 'k')), refused("exchange 'guest.x'"));
    assert.match(await amqpAs((ch) => ch.consume('guest.q', () => {})), refused("queue 'guest.q'"));
    assert.match(await amqpAs((ch) => ch.get('guest.q')), refused("queue 'guest.q'"));
    assert.match(await amqpAs((ch) => ch.purgeQueue('guest.q')), refused("queue 'guest.q'"));
    // The refused operations changed nothing.
    const conn = await amqplib.connect(b.url);
    const ch = await conn.createChannel();
    assert.equal((await ch.checkQueue('guest.q')).messageCount, 1);
    await conn.close();
  });

  test('AMQP 0-9-1: a user without permissions on the vhost cannot open it (530 NOT_ALLOWED)', async () => {
    // amqplib refuses to open, but does not show the close's text during the handshake.
    await assert.rejects(
      amqplib.connect(`amqp://mallory:mallory-pw@127.0.0.1:${ports().amqp}`),
      /ConnectionClose/,
    );
    const socket = connect(ports().amqp, '127.0.0.1');
    await once(socket, 'connect');
    const c = new AmqpTestClient(socket);
    try {
      c.write(PROTOCOL_HEADER);
      await c.expect('connection.start', 0);
      c.send(0, {
        kind: 'connection.start-ok',
        clientProperties: {},
        mechanism: 'PLAIN',
        response: Buffer.from('\0mallory\0mallory-pw'),
        locale: 'en_US',
      });
      const tune = await c.expect('connection.tune', 0);
      c.send(0, {
        kind: 'connection.tune-ok',
        channelMax: tune.channelMax,
        frameMax: tune.frameMax,
        heartbeat: 0,
      });
      c.send(0, { kind: 'connection.open', virtualHost: '/' });
      const [code, text] = await c.closeReason(0);
      assert.equal(code, 530);
      assert.equal(text, "NOT_ALLOWED - access to vhost '/' refused for user 'mallory'");
    } finally {
      socket.destroy();
    }
  });

  test('MQTT 5 (MQTT.js): SUBACK and PUBACK 0x87 where refused; CONNACK 0x87 without the vhost', async () => {
    const url = `mqtt://127.0.0.1:${ports().mqtt}`;
    const c = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      username: 'alice',
      password: ALICE_PASSWORD,
      reconnectPeriod: 0,
    });
    try {
      // MQTT.js turns a SUBACK failure code into a rejection naming it.
      assert.equal((await c.subscribeAsync('sensors/#', { qos: 1 }))[0]?.qos, 1);
      await assert.rejects(c.subscribeAsync('other/#', { qos: 1 }), /Subscribe error: Not authorized/);
      const got = new Promise<string>((resolve) => c.once('message', (t) => resolve(t)));
      await c.publishAsync('sensors/alice/t', 'ok', { qos: 1 });
      assert.equal(await got, 'sensors/alice/t');
      await assert.rejects(c.publishAsync('sensors/bob/t', 'no', { qos: 1 }), (e: { code?: number }) => {
        assert.equal(e.code, 0x87);
        return true;
      });
    } finally {
      await c.endAsync();
    }
    await assert.rejects(
      mqtt.connectAsync(url, {
        protocolVersion: 5,
        username: 'mallory',
        password: 'mallory-pw',
        reconnectPeriod: 0,
      }),
      (e: { code?: number }) => e.code === 0x87,
    );
  });

  test('MQTT 3.1.1 (MQTT.js): SUBACK 0x80; a refused publish is acknowledged, dropped and counted', async () => {
    const url = `mqtt://127.0.0.1:${ports().mqtt}`;
    const c = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      username: 'alice',
      password: ALICE_PASSWORD,
      reconnectPeriod: 0,
    });
    const watcher = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      username: 'guest',
      password: 'guest',
    });
    try {
      // 3.1.1 has one failure code, 0x80; MQTT.js names it "Unspecified error".
      assert.equal((await c.subscribeAsync('sensors/#', { qos: 1 }))[0]?.qos, 1);
      await assert.rejects(c.subscribeAsync('other/#', { qos: 1 }), /Subscribe error: Unspecified error/);
      const seen: string[] = [];
      watcher.on('message', (t) => seen.push(t));
      await watcher.subscribeAsync('sensors/#', { qos: 1 });
      const before = b.server.mqttFrontEnd.refusedPublishes;
      await c.publishAsync('sensors/bob/t', 'dropped', { qos: 1 });
      await c.publishAsync('sensors/bob/t', 'dropped', { qos: 0 });
      const marker = new Promise<void>((resolve) =>
        watcher.on('message', (t) => t === 'sensors/alice/end' && resolve()),
      );
      await c.publishAsync('sensors/alice/end', 'kept', { qos: 1 });
      await marker;
      assert.deepEqual(seen, ['sensors/alice/end'], 'the refused publishes reached nobody');
      assert.equal(b.server.mqttFrontEnd.refusedPublishes - before, 2);
      assert.equal(c.connected, true, 'the connection stays up');
    } finally {
      await c.endAsync();
      await watcher.endAsync();
    }
    await assert.rejects(
      mqtt.connectAsync(url, {
        protocolVersion: 4,
        username: 'mallory',
        password: 'mallory-pw',
        reconnectPeriod: 0,
      }),
      (e: { code?: number }) => e.code === 5,
    );
  });

  test('MQTT (mosquitto_pub, mosquitto_sub): the same refusals', { skip: noMosquittoClients }, async () => {
    const port = String(ports().mqtt);
    const alice = ['-V', '5', '-u', 'alice', '-P', ALICE_PASSWORD];
    const sub = await subOnceTo(ports().mqtt, [...alice, '-t', 'other/#', '-E']);
    assert.match(sub.stdout + sub.stderr, /denied/i, 'the only filter was refused');
    const pub = await run(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', port, ...alice, '-q', '1', '-t', 'sensors/bob/t', '-m', 'x'],
      {
        timeoutMs: 10_000,
      },
    );
    assert.match(pub.stdout + pub.stderr, /not authori[sz]ed/i);
    const ok = await run(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', port, ...alice, '-q', '1', '-t', 'sensors/alice/t', '-m', 'x'],
      {
        timeoutMs: 10_000,
      },
    );
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const mallory = await subOnceTo(ports().mqtt, [
      '-V',
      '5',
      '-u',
      'mallory',
      '-P',
      'mallory-pw',
      '-t',
      'a',
      '-E',
    ]);
    assert.notEqual(mallory.code, 0);
    assert.match(mallory.stdout + mallory.stderr, /not authori[sz]ed/i);
  });

  test('MQTT: a client id belongs to its user; another user cannot take the session over', async () => {
    const url = `mqtt://127.0.0.1:${ports().mqtt}`;
    const first = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: 'alice-device',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      username: 'alice',
      password: ALICE_PASSWORD,
      reconnectPeriod: 0,
    });
    await first.subscribeAsync('sensors/#', { qos: 1 });
    await first.endAsync();
    await assert.rejects(
      mqtt.connectAsync(url, {
        protocolVersion: 5,
        clientId: 'alice-device',
        username: 'guest',
        password: 'guest',
        reconnectPeriod: 0,
      }),
      (e: { code?: number }) => e.code === 0x87,
    );
    const again = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: 'alice-device',
      clean: false,
      username: 'alice',
      password: ALICE_PASSWORD,
      reconnectPeriod: 0,
    });
    assert.equal(again.connected, true);
    await again.endAsync();
  });

  test('gRPC (connect-node): PERMISSION_DENIED for each refused operation and for the vhost', async () => {
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${ports().grpc}` });
    const client = createClient(BrokerService, transport);
    const as = { headers: { authorization: ALICE } };
    const code = async (call: Promise<unknown>) => {
      try {
        await call;
        return 'OK';
      } catch (e) {
        return Code[ConnectError.from(e).code];
      }
    };
    assert.equal(await code(client.declareQueue({ name: 'alice.grpc' }, as)), 'OK');
    assert.equal(await code(client.declareQueue({ name: 'bob.grpc' }, as)), 'PermissionDenied');
    assert.equal(await code(client.purgeQueue({ name: 'guest.q' }, as)), 'PermissionDenied');
    assert.equal(await code(client.deleteQueue({ name: 'guest.q' }, as)), 'PermissionDenied');
    assert.equal(
      await code(
        client.bind(
          {
            exchange: 'amq.topic',
            destination: { case: 'queue', value: 'alice.grpc' },
            routingKey: 'other.#',
          },
          as,
        ),
      ),
      'PermissionDenied',
    );
    const publish = (key: string) =>
      client.publish(
        {
          exchange: 'amq.topic',
          routingKey: key,
          message: create(MessageSchema, { body: Buffer.from('m') }),
        },
        as,
      );
    assert.equal(await code(publish('sensors.alice.g')), 'OK');
    assert.equal(await code(publish('sensors.bob.g')), 'PermissionDenied');
    const sub = client.subscribe({ source: { case: 'queue', value: 'guest.q' }, autoAck: true }, as);
    assert.equal(await code(sub[Symbol.asyncIterator]().next()), 'PermissionDenied');
    const mallory = { headers: { authorization: basic('mallory', 'mallory-pw') } };
    assert.equal(await code(client.declareQueue({ name: 'x' }, mallory)), 'PermissionDenied');
  });

  test('native WebSocket (ws): error frames for refused operations; 403 before the upgrade without the vhost', async () => {
    const url = `ws://127.0.0.1:${ports().http}/ws`;
    const ws = new WebSocket(url, 'switchyard.v1', { headers: { authorization: ALICE } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const frames: Record<string, unknown>[] = [];
    let wake: () => void = () => {};
    ws.on('message', (d) => {
      frames.push(JSON.parse(d.toString()) as Record<string, unknown>);
      wake();
    });
    const next = async () => {
      while (frames.length === 0) await new Promise<void>((r) => (wake = r));
      return frames.shift()!;
    };
    const send = (f: Record<string, unknown>) => ws.send(JSON.stringify(f));
    send({ op: 'publish', id: 1, exchange: 'amq.topic', routingKey: 'sensors.alice.w', body: 'ok' });
    assert.equal((await next()).op, 'confirm');
    send({ op: 'publish', id: 2, exchange: 'amq.topic', routingKey: 'sensors.bob.w', body: 'no' });
    assert.deepEqual(pick(await next()), { op: 'error', id: 2, code: 'ACCESS_REFUSED' });
    send({ op: 'subscribe', sub: 's1', queue: 'guest.q' });
    assert.deepEqual(pick(await next()), { op: 'error', sub: 's1', code: 'ACCESS_REFUSED' });
    send({ op: 'subscribe', sub: 's2', exchange: 'amq.topic', key: 'other.#' });
    assert.deepEqual(pick(await next()), { op: 'error', sub: 's2', code: 'ACCESS_REFUSED' });
    // user_id is checked once, in the core, for every protocol.
    send({
      op: 'publish',
      id: 3,
      exchange: 'amq.topic',
      routingKey: 'sensors.alice.w',
      body: 'x',
      properties: { userId: 'guest' },
    });
    assert.deepEqual(pick(await next()), { op: 'error', id: 3, code: 'PRECONDITION_FAILED' });
    ws.close();

    const refused = new WebSocket(url, 'switchyard.v1', {
      headers: { authorization: basic('mallory', 'mallory-pw') },
    });
    const status = await new Promise<number>((resolve) =>
      refused.once('unexpected-response', (_r, res) => resolve(res.statusCode ?? 0)),
    );
    assert.equal(status, 403);
  });

  test('HTTP REST (fetch) and SSE (eventsource): 403 with {code, message}', async () => {
    const base = `http://127.0.0.1:${ports().http}/api/v1/vhosts/%2F`;
    const post = (key: string, user = ALICE) =>
      fetch(`${base}/exchanges/amq.topic/publish?routingKey=${key}`, {
        method: 'POST',
        headers: { authorization: user, 'content-type': 'application/octet-stream' },
        body: 'm',
      });
    assert.equal((await post('sensors.alice.h')).status, 200);
    const refused = await post('sensors.bob.h');
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, 'ACCESS_REFUSED');
    const noVhost = await post('sensors.mallory.h', basic('mallory', 'mallory-pw'));
    assert.equal(noVhost.status, 403);
    assert.equal(((await noVhost.json()) as { code: string }).code, 'VHOST_ACCESS_REFUSED');
    const get = await fetch(`${base}/queues/guest.q/messages?ack=manual`, {
      headers: { authorization: ALICE },
    });
    assert.equal(get.status, 403);
    assert.equal(((await get.json()) as { code: string }).code, 'ACCESS_REFUSED');

    for (const path of ['queues/guest.q/events', 'exchanges/amq.topic/events?key=other.%23']) {
      const es = new EventSource(`${base}/${path}`, {
        fetch: (input, init) =>
          fetch(input, { ...init, headers: { ...init?.headers, authorization: ALICE } }),
      });
      const status = await new Promise<number | undefined>((resolve) => {
        es.onerror = (e) => resolve(e.code);
        es.onopen = () => resolve(200);
      });
      es.close();
      assert.equal(status, 403, path);
    }
  });

  test('a failed login is answered after the failure delay, on every protocol the same way', async () => {
    const slow = await startTestBroker({}, undefined, { ...CONFIG, auth: { failureDelay: 300 } });
    try {
      const t0 = performance.now();
      await assert.rejects(
        amqplib.connect(`amqp://alice:wrong@127.0.0.1:${slow.server.amqp!.address.port}`),
        /ACCESS_REFUSED/,
      );
      assert.ok(performance.now() - t0 >= 290, 'not answered before the delay');
      const t1 = performance.now();
      const res = await fetch(
        `http://127.0.0.1:${slow.server.http!.address.port}/api/v1/vhosts/%2F/queues/q/messages?ack=manual`,
        {
          headers: { authorization: basic('alice', 'wrong') },
        },
      );
      assert.equal(res.status, 401);
      assert.ok(performance.now() - t1 >= 290, 'not answered before the delay');
    } finally {
      await slow.close();
    }
  });
});

/** The fields of a WebSocket frame a refusal is judged by. */
function pick(f: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { op: f.op };
  for (const k of ['id', 'sub', 'code'] as const) if (f[k] !== undefined) out[k] = f[k];
  return out;
}
