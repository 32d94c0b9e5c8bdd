/**
 * Regression tests for three ways anyone could stop the broker (issue 15's first section), each
 * through real sockets:
 * - a refused or half-done WebSocket upgrade cut by a TCP reset crashed the process;
 * - a topic binding with many `#` words froze routing (exponential matching);
 * - a huge MQTT CONNECT was buffered and parsed before its credentials were checked.
 * The broker runs in a child process where a crash is what is being tested.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { startTestBroker, uniq } from './helpers.js';
import {
  type ChildBroker,
  connectPacket,
  encode,
  frame,
  mqttString,
  RawMqtt,
  spawnBroker,
} from './mqtt-raw.js';

const brokers: { stop(): Promise<void> }[] = [];
after(async () => {
  for (const r of RawMqtt.open) r.destroy();
  for (const b of brokers) await b.stop();
});

async function child(extra: Record<string, unknown> = {}): Promise<ChildBroker> {
  const b = await spawnBroker(extra);
  brokers.push(b);
  return b;
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function upgradeRequest(path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
    // A wrong password, so /ws and /mqtt refuse or answer too.
    'Authorization: Basic Z3Vlc3Q6d3Jvbmc=\r\n\r\n'
  );
}

/** One round trip on the child broker's REST API: it is up and serving. */
async function serves(b: ChildBroker): Promise<void> {
  const r = await fetch(
    `http://127.0.0.1:${b.ports.http}/api/v1/vhosts/%2F/queues/${uniq('none')}/messages`,
    {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` },
    },
  );
  assert.equal(r.status, 404);
  await r.body?.cancel();
}

test('a WebSocket upgrade cut by a TCP reset (unknown path, /ws, /mqtt) leaves the broker up', async () => {
  const b = await child();
  for (const path of ['/no-such-path', '/ws', '/mqtt', '/api/v1/vhosts/%2F/queues']) {
    for (let i = 0; i < 20; i++) {
      const s = await tcp(b.ports.http);
      s.on('error', () => s.destroy());
      // The reset reaches the broker while it answers (or completes) the upgrade.
      s.write(upgradeRequest(path), () => s.resetAndDestroy());
    }
    // Also one that waits for the answer and then resets under the broker's further writes.
    const s = await tcp(b.ports.http);
    s.on('error', () => s.destroy());
    s.write(upgradeRequest(path));
    await new Promise<void>((resolve) => {
      s.once('data', () => resolve());
      s.once('close', () => resolve());
    });
    s.resetAndDestroy();
    // The broker may take a moment to see the resets: one more request goes after them (if the
    // broker died, it is not answered, and running() below says so).
    const answered = await serves(b).then(
      () => 'answered',
      (e: unknown) => `not answered: ${String(e)}`,
    );
    assert.ok(b.running(), `the broker exited after upgrades to ${path} (${answered}):\n${b.stderr()}`);
  }
  await serves(b);
  assert.doesNotMatch(b.stderr(), /Unhandled 'error' event/);
});

/** `#.#.#…#.zz`: `hashes` words of `#`, then `zz`. */
function manyHashes(hashes: number): string {
  return `${'#.'.repeat(hashes)}zz`;
}

test('topic routing: a binding with 40 `#` words and 120-word routing keys route at once, correctly', async () => {
  const b = await startTestBroker();
  const conn = await amqp.connect(b.url);
  try {
    const ch = await conn.createConfirmChannel();
    const x = uniq('dos-topic');
    await ch.assertExchange(x, 'topic', { autoDelete: true });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const binding = manyHashes(40);
    assert.ok(Buffer.byteLength(binding) <= 255);
    await ch.bindQueue(q, x, binding);
    const miss = 'a.'.repeat(120).slice(0, -1); // 239 bytes, no `zz`: every `#` split is tried in vain
    const hit = `${'a.'.repeat(120)}zz`.slice(2); // ends in zz
    assert.ok(Buffer.byteLength(hit) <= 255);
    ch.publish(x, miss, Buffer.from('miss'));
    ch.publish(x, hit, Buffer.from('hit'));
    await ch.waitForConfirms();
    const got = await ch.get(q, { noAck: true });
    assert.ok(got !== false);
    assert.equal(got.content.toString(), 'hit');
    assert.equal(await ch.get(q, { noAck: true }), false);
  } finally {
    await conn.close();
    await b.close();
  }
});

test('names and keys over 255 bytes are refused on every protocol, in its own terms', async () => {
  const b = await startTestBroker();
  const http = `http://127.0.0.1:${b.server.http!.address.port}`;
  const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
  const long = `k.${'x'.repeat(300)}`;
  try {
    // HTTP: an SSE subscription with a binding key that long is a 400 before the stream starts.
    const sse = await fetch(`${http}/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=${long}`, {
      headers: auth,
    });
    assert.equal(sse.status, 400);
    assert.equal(((await sse.json()) as { code: string }).code, 'NAME_TOO_LONG');
    // HTTP: a publish with that routing key.
    const pub = await fetch(`${http}/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=${long}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'text/plain' },
      body: 'x',
    });
    assert.equal(pub.status, 400);
    assert.match(((await pub.json()) as { message: string }).message, /at most 255/);

    // WebSocket: subscribing with that binding key is an error frame.
    const ws = new WebSocket(`ws://127.0.0.1:${b.server.http!.address.port}/ws`, { headers: auth });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const answer = new Promise<Record<string, unknown>>((resolve) =>
      ws.on('message', (d) => {
        const m = JSON.parse(String(d)) as Record<string, unknown>;
        if (m.op === 'error') resolve(m);
      }),
    );
    ws.send(JSON.stringify({ op: 'subscribe', sub: 's1', exchange: 'amq.topic', key: long }));
    assert.equal((await answer).code, 'NAME_TOO_LONG');
    ws.close();

    // MQTT 5: a QoS 1 publish on a topic that long gets PUBACK 0x90; a subscription SUBACK 0x8F.
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
      clientId: uniq('dos'),
    });
    try {
      await assert.rejects(
        client.subscribeAsync(`t/${'y'.repeat(300)}/#`, { qos: 1 }),
        /Topic Filter invalid/,
      );
      await assert.rejects(
        client.publishAsync(`t/${'y'.repeat(300)}`, 'x', { qos: 1 }),
        /Topic Name invalid|144/,
      );
    } finally {
      await client.endAsync();
    }
  } finally {
    await b.close();
  }
});

/** A v5 CONNECT with `count` user properties and a wrong password, as bytes. */
function bigConnect(count: number): Buffer {
  const props: Buffer[] = [];
  const one = Buffer.concat([Buffer.from([0x26]), mqttString('k'), mqttString('v')]);
  for (let i = 0; i < count; i++) props.push(one);
  const propBytes = Buffer.concat(props);
  const len: number[] = [];
  let n = propBytes.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  const variable = Buffer.concat([
    mqttString('MQTT'),
    Buffer.from([5, 0xc2, 0, 0]), // level 5, user name + password + clean start, keep-alive 0
    Buffer.from(len),
    propBytes,
  ]);
  return frame(0x10, Buffer.concat([variable, mqttString('big'), mqttString('guest'), mqttString('wrong')]));
}

test('MQTT: a 12 MB CONNECT with 1.75 million user properties is refused from its header, unparsed', async () => {
  const b = await child();
  const bystander = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.port}`, { clientId: uniq('by') });
  try {
    const packet = bigConnect(1_750_000);
    assert.ok(packet.length > 12_000_000);
    const raw = await RawMqtt.connect(b.port, 5);
    raw.write(packet);
    // Closed without a CONNACK: the broker never read the packet, so never learned the password
    // was wrong (the old behaviour was a CONNACK 0x86 after parsing all 12 MB).
    assert.equal(await raw.next(), 'closed');
    assert.equal(raw.bytes.length, 0);
    // The bystander's traffic goes on.
    await bystander.subscribeAsync('dos/by', { qos: 1 });
    const got = new Promise<string>((resolve) => bystander.once('message', (_t, p) => resolve(String(p))));
    await bystander.publishAsync('dos/by', 'still here', { qos: 1 });
    assert.equal(await got, 'still here');
  } finally {
    await bystander.endAsync();
  }
});

test('MQTT: user properties are capped at 1024 a packet; a CONNECT within the unauthenticated size is read', async () => {
  const b = await startTestBroker();
  const port = b.server.mqtt!.address.port;
  try {
    // 2,000 properties fit in 64 KiB, but are over the cap: closed with no CONNACK.
    const tooMany = bigConnect(2000);
    assert.ok(tooMany.length < 64 * 1024);
    const raw = await RawMqtt.connect(port, 5);
    raw.write(tooMany);
    assert.equal(await raw.next(), 'closed');

    // 1,000 properties and a wrong password: read, parsed, refused with 0x86.
    const fine = await RawMqtt.connect(port, 5);
    fine.write(bigConnect(1000));
    const ack = await fine.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'connack');
    assert.equal((ack as { reasonCode?: number }).reasonCode, 0x86);

    // After the CONNECT the full maximum packet size applies: a 1 MiB publish goes through.
    const ok = await RawMqtt.connected(port, 5, uniq('big'));
    ok.send({
      cmd: 'publish',
      topic: 'dos/big',
      payload: Buffer.alloc(1 << 20),
      qos: 1,
      messageId: 1,
      dup: false,
      retain: false,
    });
    const puback = await ok.next();
    assert.ok(puback !== 'closed' && puback.cmd === 'puback', String(puback));

    // A PUBLISH with 1,025 user properties closes the connection (0x95).
    const props: Record<string, string[]> = { k: Array.from({ length: 1025 }, () => 'v') };
    ok.send({
      cmd: 'publish',
      topic: 'dos/props',
      payload: Buffer.from('x'),
      qos: 1,
      messageId: 2,
      dup: false,
      retain: false,
      properties: { userProperties: props },
    });
    const disc = await ok.next();
    assert.ok(disc !== 'closed' && disc.cmd === 'disconnect', String(disc));
    assert.equal((disc as { reasonCode?: number }).reasonCode, 0x95);
  } finally {
    await b.close();
  }
});

test('MQTT over WebSocket: more than 64 KiB before the CONNECT is accepted closes the connection', async () => {
  const b = await startTestBroker();
  const url = `ws://127.0.0.1:${b.server.http!.address.port}/mqtt`;
  try {
    const ws = new WebSocket(url, 'mqtt');
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => ws.terminate());
    ws.send(bigConnect(100_000));
    await closed;

    // Within the limit, a CONNECT is answered and larger packets follow.
    const ok = new WebSocket(url, 'mqtt');
    await new Promise<void>((resolve, reject) => {
      ok.once('open', () => resolve());
      ok.once('error', reject);
    });
    const first = new Promise<Buffer>((resolve) => ok.once('message', (d) => resolve(d as Buffer)));
    ok.send(encode(connectPacket(5, uniq('ws'), { username: 'guest', password: Buffer.from('guest') }), 5));
    const connack = await first;
    assert.equal(connack[0], 0x20);
    assert.equal(connack[3], 0);
    const next = new Promise<Buffer>((resolve) => ok.once('message', (d) => resolve(d as Buffer)));
    ok.send(
      encode(
        {
          cmd: 'publish',
          topic: 'dos/ws',
          payload: Buffer.alloc(200_000),
          qos: 1,
          messageId: 7,
          dup: false,
          retain: false,
        },
        5,
      ),
    );
    assert.equal((await next)[0]! >> 4, 4, 'PUBACK');
    ok.close();
  } finally {
    await b.close();
  }
});

test('AMQP: before connection.tune-ok a frame over 4096 bytes closes the connection (frame_error)', async () => {
  const b = await startTestBroker();
  try {
    const s = await tcp(b.port);
    const received: Buffer[] = [];
    s.on('data', (d: Buffer) => received.push(d));
    s.on('error', () => s.destroy());
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    // A connection.start-ok of 10 KB (a huge client-properties table, say).
    const payload = Buffer.alloc(10_000);
    payload.writeUInt16BE(10, 0);
    payload.writeUInt16BE(11, 2);
    const head = Buffer.alloc(7);
    head[0] = 1;
    head.writeUInt16BE(0, 1);
    head.writeUInt32BE(payload.length, 3);
    s.write(Buffer.concat([head, payload, Buffer.from([0xce])]));
    await closed;
    const all = Buffer.concat(received);
    // The last frame is connection.close 501 FRAME_ERROR.
    const close = all.indexOf(Buffer.from([0x00, 0x0a, 0x00, 0x32]));
    assert.ok(close > 0, 'a connection.close was sent');
    assert.equal(all.readUInt16BE(close + 4), 501);
  } finally {
    await b.close();
  }
});
