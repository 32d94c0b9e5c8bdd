/**
 * Bad MQTT input through a real listener, over raw sockets: authentication (AUTH, methods,
 * passwords), client identifiers, and CONNECTs refused for their will, which must leave the live
 * session of their client id and the session registry alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { uniq } from './helpers.js';
import { broker, connected, DISCONNECT_CODES, port, setup, withRaw } from './mqtt-bad-support.js';
import { connectPacket, describePacket, frame, mqttString, RawMqtt, type Version } from './mqtt-raw.js';

setup();

// ---- authentication and identity ----------------------------------------------------------------

test('mqtt bad input: AUTH after a CONNECT without an authentication method is a protocol error (v5 DISCONNECT 0x82)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-1' } });
    await raw.waitClosed();
    // The DISCONNECT's bytes, whatever a client parser makes of them.
    const at = raw.bytes.indexOf(0xe0, raw.bytes[1]! + 2);
    assert.ok(at > 0, `a DISCONNECT was sent: ${raw.bytes.toString('hex')}`);
    const reason = raw.bytes[at + 2]!;
    assert.ok(DISCONNECT_CODES.has(reason), `0x${reason.toString(16)} is not a DISCONNECT reason code`);
    // [MQTT-3.1.2-32]: no Authentication Method in CONNECT, so the client must not send AUTH.
    assert.equal(reason, 0x82);
    return raw;
  });
});

test('mqtt bad input: CONNECT with an authentication method (v5 CONNACK 0x8C)', async () => {
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 5);
    raw.send(connectPacket(5, uniq('am'), { properties: { authenticationMethod: 'SCRAM-SHA-1' } }));
    const ack = await raw.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'connack', describePacket(ack));
    assert.equal(ack.reasonCode, 0x8c);
    assert.deepEqual([...raw.bytes.subarray(0, 1)], [0x20]);
    assert.equal(raw.bytes[3], 0x8c, 'reason byte after the flags');
    await raw.waitClosed();
    return raw;
  });
});

test('mqtt bad input: a wrong password (v5 CONNACK 0x86, 3.1.1 return code 4)', async () => {
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 5);
    raw.send(connectPacket(5, uniq('pw'), { username: 'guest', password: Buffer.from('wrong') }));
    const ack = await raw.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'connack', describePacket(ack));
    assert.equal(ack.reasonCode, 0x86);
    assert.equal(raw.bytes[3], 0x86);
    await raw.waitClosed();
    return raw;
  });
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 4);
    raw.send(connectPacket(4, uniq('pw'), { username: 'guest', password: Buffer.from('wrong') }));
    await raw.waitClosed();
    assert.deepEqual(raw.bytes, Buffer.from([0x20, 0x02, 0x00, 0x04]));
    return raw;
  });
  // An unknown user likewise.
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 4);
    raw.send(connectPacket(4, uniq('pw'), { username: 'nobody', password: Buffer.from('guest') }));
    await raw.waitClosed();
    assert.deepEqual(raw.bytes, Buffer.from([0x20, 0x02, 0x00, 0x04]));
    return raw;
  });
});

/** A CONNECT with an empty client id and clean session / clean start 0 (mqtt-packet refuses to make one). */
function emptyIdNotClean(v: Version): Buffer {
  return frame(0x10, [...mqttString('MQTT'), v, 0x00, 0, 0, ...(v === 5 ? [0] : []), ...mqttString('')]);
}

test('mqtt bad input: an empty client id without a clean session (3.1.1 return code 2, v5 0x85)', async () => {
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 4);
    raw.write(emptyIdNotClean(4));
    await raw.waitClosed();
    assert.deepEqual(raw.bytes, Buffer.from([0x20, 0x02, 0x00, 0x02]));
    return raw;
  });
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 5);
    raw.write(emptyIdNotClean(5));
    const ack = await raw.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'connack', describePacket(ack));
    assert.equal(ack.reasonCode, 0x85);
    assert.equal(raw.bytes[3], 0x85);
    await raw.waitClosed();
    return raw;
  });
});

/** A live MQTT.js client with `clientId`, and a count of the times it was disconnected. */
async function bystander(clientId: string): Promise<{ client: MqttClient; closes: () => number }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5,
    clientId,
    reconnectPeriod: 0,
    keepalive: 0,
  });
  let n = 0;
  client.on('close', () => n++);
  return { client, closes: () => n };
}

const wildcardWill = { topic: 'will/#', payload: Buffer.from('w'), qos: 0, retain: false } as const;

test('mqtt bad input: a CONNECT refused for its will topic does not take over the live session of its client id', async () => {
  const id = uniq('victim');
  const victim = await bystander(id);
  try {
    await withRaw(async () => {
      const raw = await RawMqtt.connect(port, 5);
      raw.send(connectPacket(5, id, { will: wildcardWill }));
      const ack = await raw.next();
      assert.ok(ack !== 'closed' && ack.cmd === 'connack', describePacket(ack));
      assert.equal(ack.reasonCode, 0x90);
      await raw.waitClosed();
      return raw;
    });
    // A takeover would have sent the victim its DISCONNECT before the refusal went out: a round
    // trip on the victim's connection (bounded: MQTT.js holds the publish of a closed client)
    // comes after it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      victim.client.publishAsync('victim/t', 'still here', { qos: 1 }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('no PUBACK: the victim was disconnected')), 5_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(victim.closes(), 0, 'the live client was disconnected by a refused CONNECT');
  } finally {
    victim.client.end(true);
  }
});

test('mqtt bad input: a CONNECT refused for its will topic leaves no session behind', async () => {
  const fe = broker.server.mqttFrontEnd;
  const id = uniq('ghost');
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 5);
    raw.send(
      connectPacket(5, id, { clean: false, properties: { sessionExpiryInterval: 60 }, will: wildcardWill }),
    );
    const ack = await raw.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'connack', describePacket(ack));
    assert.equal(ack.reasonCode, 0x90);
    assert.equal(ack.sessionPresent, false);
    await raw.waitClosed();
    return raw;
  });
  assert.equal(fe.sessions.get(id) !== undefined, false, 'a session exists for a refused CONNECT');
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 5);
    raw.send(connectPacket(5, id, { clean: false, properties: { sessionExpiryInterval: 60 } }));
    const ack = await raw.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'connack', describePacket(ack));
    assert.equal(ack.reasonCode, 0);
    assert.equal(ack.sessionPresent, false, 'Session Present for a session that was never accepted');
    return raw;
  });
});
