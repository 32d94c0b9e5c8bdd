/**
 * Bad MQTT input through a real listener, over raw sockets: each case checks the bytes or
 * reason code that come back and that the offending socket is closed (or, for per-entry
 * failures, kept), while a well-behaved MQTT.js client connected throughout keeps publishing
 * and receiving.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { after, before, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import {
  connectPacket,
  describePacket,
  encode,
  frame,
  mqttString,
  RawMqtt,
  spawnBroker,
  type Version,
} from './mqtt-raw.js';

const MAX_PACKET = 1024;
/** The reason codes a DISCONNECT may carry (MQTT 5 section 3.14.2.1). */
const DISCONNECT_CODES = new Set([
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
  0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
]);
const RECEIVE_MAXIMUM = 2;
const CONNECT_TIMEOUT = 300;

let broker: TestBroker;
let port: number;
let good: MqttClient;
const goodTopic = uniq('good/topic');
const goodInbox: string[] = [];
let goodCloses = 0;

before(async () => {
  broker = await startTestBroker({}, undefined, {
    mqtt: {
      port: 0,
      maxPacketSize: MAX_PACKET,
      receiveMaximum: RECEIVE_MAXIMUM,
      connectTimeout: CONNECT_TIMEOUT,
    },
  });
  port = broker.server.mqtt!.address.port;
  good = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5,
    clientId: uniq('good'),
    reconnectPeriod: 0,
    keepalive: 0,
  });
  good.on('close', () => goodCloses++);
  good.on('message', (_t, payload) => goodInbox.push(payload.toString()));
  await good.subscribeAsync(goodTopic, { qos: 1 });
});

after(async () => {
  for (const raw of RawMqtt.open) raw.destroy();
  await good.endAsync();
  await broker.close();
});

let round = 0;
/** The good client publishes at QoS 1 and receives its own message: nothing else was affected. */
async function goodClientStillWorks(): Promise<void> {
  // (MQTT.js holds a QoS 1 publish of a disconnected client for ever: check the connection first.)
  assert.equal(goodCloses, 0, 'the good client was never disconnected');
  const body = `round-${++round}`;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    good.publishAsync(goodTopic, body, { qos: 1 }),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('no PUBACK for the good client')), 5_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const deadline = Date.now() + 5_000;
  while (!goodInbox.includes(body)) {
    assert.ok(Date.now() < deadline, `the good client did not receive ${body}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const connected = (v: Version, extra: Partial<Packet> = {}) =>
  RawMqtt.connected(port, v, uniq(`bad-v${v}`), extra);

/** The next packet must be a DISCONNECT with `reason` (v5), and then the socket closes. */
async function expectDisconnect(raw: RawMqtt, reason: number | readonly number[]): Promise<void> {
  const p = await raw.next();
  assert.ok(p !== 'closed' && p.cmd === 'disconnect', `expected DISCONNECT, got ${describePacket(p)}`);
  const allowed = typeof reason === 'number' ? [reason] : reason;
  assert.ok(allowed.includes(p.reasonCode ?? 0), `DISCONNECT reason 0x${(p.reasonCode ?? 0).toString(16)}`);
  await raw.waitClosed();
  assert.equal(await raw.next(), 'closed', 'nothing after the DISCONNECT');
}

/** The socket closes with nothing (more) sent: what 3.1.1 does for any protocol violation. */
async function expectSilentClose(raw: RawMqtt, bytesBefore = raw.bytes.length): Promise<void> {
  await raw.waitClosed();
  assert.equal(
    raw.bytes.length,
    bytesBefore,
    `unexpected bytes: ${raw.bytes.subarray(bytesBefore).toString('hex')}`,
  );
}

/** The connection is still usable: PINGREQ gets PINGRESP. */
async function expectAlive(raw: RawMqtt): Promise<void> {
  raw.send({ cmd: 'pingreq' });
  const p = await raw.next();
  assert.ok(p !== 'closed' && p.cmd === 'pingresp', `expected PINGRESP, got ${describePacket(p)}`);
}

/**
 * Runs `body` (which opens a raw connection and returns it), closes it, then checks the good
 * client. A body that fails leaves its socket to after().
 */
async function withRaw(body: () => Promise<RawMqtt>): Promise<void> {
  (await body()).destroy();
  await goodClientStillWorks();
}

// ---- before and around CONNECT ------------------------------------------------------------------

test('mqtt bad input: a first packet other than CONNECT closes the socket, no CONNACK', async () => {
  for (const first of [
    { cmd: 'pingreq' },
    { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
    { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '#', qos: 0 }] },
  ] as Packet[]) {
    await withRaw(async () => {
      const raw = await RawMqtt.connect(port);
      raw.send(first);
      await expectSilentClose(raw, 0);
      return raw;
    });
  }
});

test('mqtt bad input: a second CONNECT is a protocol error (v5 DISCONNECT 0x82, 3.1.1 close)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    raw.send(connectPacket(5, 'again'));
    await expectDisconnect(raw, 0x82);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(4);
    raw.send(connectPacket(4, 'again'));
    await expectSilentClose(raw);
    return raw;
  });
});

test('mqtt bad input: protocol level 6 gets CONNACK return code 1, then the socket closes', async () => {
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port);
    const b = encode(connectPacket(4, uniq('lvl6')), 4);
    const at = b.indexOf('MQTT') + 4;
    assert.equal(b[at], 4);
    b[at] = 6;
    raw.write(b);
    await raw.waitClosed();
    assert.deepEqual(raw.bytes, Buffer.from([0x20, 0x02, 0x00, 0x01]));
    return raw;
  });
});

test('mqtt bad input: a wrong protocol name closes the socket, no CONNACK', async () => {
  for (const name of ['MQTX', 'mqtt', 'HTTP']) {
    await withRaw(async () => {
      const raw = await RawMqtt.connect(port);
      const b = encode(connectPacket(4, uniq('name')), 4);
      b.write(name, b.indexOf('MQTT'), 'latin1');
      raw.write(b);
      await expectSilentClose(raw, 0);
      return raw;
    });
  }
  // Not MQTT at all.
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port);
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await expectSilentClose(raw, 0);
    return raw;
  });
});

test('mqtt bad input: reserved flag bits set wrong close the connection', async () => {
  // CONNECT flags, bit 0 reserved [MQTT-3.1.2-3].
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port);
    const b = encode(connectPacket(4, uniq('flags')), 4);
    b[b.indexOf('MQTT') + 5]! |= 0x01;
    raw.write(b);
    await expectSilentClose(raw, 0);
    return raw;
  });
  // Fixed-header flags of CONNECT itself must be 0 [MQTT-2.2.2-1].
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port);
    const b = encode(connectPacket(4, uniq('flags')), 4);
    b[0] = 0x11;
    raw.write(b);
    await expectSilentClose(raw, 0);
    return raw;
  });
  // SUBSCRIBE and PUBREL must have flags 0010, PINGREQ 0000.
  const wrong = [frame(0x80, [0, 1, ...mqttString('a'), 0]), frame(0x60, [0, 1]), frame(0xc1, [])];
  for (const [i, bytes] of wrong.entries()) {
    await withRaw(async () => {
      const raw = await connected(5);
      raw.write(i === 0 ? [...bytes.subarray(0, 4), 0, ...bytes.subarray(4)] : bytes); // v5: property length
      await expectDisconnect(raw, 0x81);
      return raw;
    });
    await withRaw(async () => {
      const raw = await connected(4);
      raw.write(bytes);
      await expectSilentClose(raw);
      return raw;
    });
  }
});

test('mqtt bad input: a Remaining Length of five bytes is malformed (v5 DISCONNECT 0x81)', async () => {
  const bad = [0x30, 0xff, 0xff, 0xff, 0xff, 0x7f];
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(bad);
    await expectDisconnect(raw, 0x81);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(4);
    raw.write(bad);
    await expectSilentClose(raw);
    return raw;
  });
  // Before CONNECT too.
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port);
    raw.write([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]);
    await expectSilentClose(raw, 0);
    return raw;
  });
});

test('mqtt bad input: a packet over the maximum packet size is refused from its header (v5 0x95)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    const connack = raw.packets[0]!;
    assert.ok(connack.cmd === 'connack');
    assert.equal(connack.properties?.maximumPacketSize, MAX_PACKET, 'the limit is announced');
    // Only the header of a 1 MiB PUBLISH: refused without its body.
    raw.write([0x30, 0x80, 0x80, 0x40]);
    await expectDisconnect(raw, 0x95);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(5);
    // One byte over: the whole packet is MAX_PACKET + 1 bytes.
    const body = Buffer.alloc(MAX_PACKET + 1 - 3 - 2 - 1 - 1, 0x61);
    const p = encode({ cmd: 'publish', topic: 't', payload: body, qos: 0, retain: false, dup: false }, 5);
    assert.equal(p.length, MAX_PACKET + 1);
    raw.write(p);
    await expectDisconnect(raw, 0x95);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(5);
    // Exactly the maximum is fine.
    const body = Buffer.alloc(MAX_PACKET - 3 - 2 - 1 - 1, 0x61);
    const p = encode({ cmd: 'publish', topic: 't', payload: body, qos: 0, retain: false, dup: false }, 5);
    assert.equal(p.length, MAX_PACKET);
    raw.write(p);
    await expectAlive(raw);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(4);
    raw.write([0x30, 0x80, 0x80, 0x40]);
    await expectSilentClose(raw);
    return raw;
  });
  // A CONNECT over the limit.
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port, 5);
    raw.write([0x10, 0x80, 0x80, 0x40]);
    await raw.waitClosed();
    assert.equal(
      raw.packets.find((p) => p.cmd === 'connack' && p.reasonCode === 0),
      undefined,
    );
    return raw;
  });
});

// ---- PUBLISH ------------------------------------------------------------------------------------

/** A PUBLISH written by hand: topic bytes as given, optional v5 properties bytes. */
function rawPublish(
  v: Version,
  topic: Buffer | string,
  opts: { qos?: number; pid?: number; props?: number[]; payload?: Buffer } = {},
): Buffer {
  const qos = opts.qos ?? 0;
  const parts: Buffer[] = [mqttString(topic)];
  if (qos > 0) parts.push(Buffer.from([(opts.pid ?? 1) >> 8, (opts.pid ?? 1) & 0xff]));
  if (v === 5) {
    const props = opts.props ?? [];
    parts.push(Buffer.from([props.length, ...props]));
  }
  parts.push(opts.payload ?? Buffer.from('x'));
  return frame(0x30 | (qos << 1), Buffer.concat(parts));
}

test('mqtt bad input: a topic name that is not UTF-8 is malformed (v5 DISCONNECT 0x81, 3.1.1 close)', async () => {
  const topic = Buffer.from([0x61, 0x2f, 0xc3, 0x28]);
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(rawPublish(5, topic));
    await expectDisconnect(raw, 0x81);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(4);
    raw.write(rawPublish(4, topic, { qos: 1 }));
    await expectSilentClose(raw);
    return raw;
  });
});

test('mqtt bad input: a topic name with a wildcard is invalid (v5 DISCONNECT 0x90)', async () => {
  for (const t of ['a/+', 'a/#', '#', 'a+b']) {
    await withRaw(async () => {
      const raw = await connected(5);
      raw.write(rawPublish(5, t, { qos: 1 }));
      await expectDisconnect(raw, 0x90);
      return raw;
    });
  }
  await withRaw(async () => {
    const raw = await connected(4);
    raw.write(rawPublish(4, 'a/+'));
    await expectSilentClose(raw);
    return raw;
  });
});

test('mqtt bad input: an empty topic without a topic alias (v5 DISCONNECT 0x82 or 0x90)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(rawPublish(5, ''));
    await expectDisconnect(raw, [0x82, 0x90]);
    return raw;
  });
  // An alias never set, with an empty topic: a protocol error.
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(rawPublish(5, '', { props: [0x23, 0x00, 0x05] }));
    await expectDisconnect(raw, [0x82, 0x94]);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(4);
    raw.write(rawPublish(4, ''));
    await expectSilentClose(raw);
    return raw;
  });
});

test('mqtt bad input: topic alias 0 or above the maximum is invalid (v5 DISCONNECT 0x94)', async () => {
  for (const alias of [0, 101, 65535]) {
    await withRaw(async () => {
      const raw = await connected(5);
      const connack = raw.packets[0]!;
      assert.ok(connack.cmd === 'connack');
      assert.equal(connack.properties?.topicAliasMaximum, 100);
      raw.write(rawPublish(5, 'a/b', { props: [0x23, alias >> 8, alias & 0xff] }));
      await expectDisconnect(raw, 0x94);
      return raw;
    });
  }
  // A valid alias is set and then used with an empty topic: no error.
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(rawPublish(5, 'alias/t', { props: [0x23, 0, 100] }));
    raw.write(rawPublish(5, '', { props: [0x23, 0, 100] }));
    await expectAlive(raw);
    return raw;
  });
});

test('mqtt bad input: PUBLISH with QoS 3 is malformed (v5 DISCONNECT 0x81, 3.1.1 close)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    const b = rawPublish(5, 'a', { qos: 2 });
    b[0] = 0x36;
    raw.write(b);
    await expectDisconnect(raw, 0x81);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(4);
    const b = rawPublish(4, 'a', { qos: 2 });
    b[0] = 0x36;
    raw.write(b);
    await expectSilentClose(raw);
    return raw;
  });
});

test('mqtt bad input: payload format 1 with a payload that is not UTF-8 (v5 PUBACK 0x99, QoS 0 DISCONNECT 0x99)', async () => {
  const payload = Buffer.from([0x68, 0x69, 0xff, 0xfe]);
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(rawPublish(5, 'pfi', { qos: 1, pid: 77, props: [0x01, 0x01], payload }));
    const ack = await raw.next();
    assert.ok(ack !== 'closed' && ack.cmd === 'puback', `expected PUBACK, got ${describePacket(ack)}`);
    assert.equal(ack.messageId, 77);
    assert.equal(ack.reasonCode, 0x99);
    // The connection goes on; valid UTF-8 with the same indicator is accepted.
    raw.write(rawPublish(5, 'pfi', { qos: 1, pid: 78, props: [0x01, 0x01], payload: Buffer.from('hé') }));
    const ok = await raw.next();
    assert.ok(ok !== 'closed' && ok.cmd === 'puback');
    assert.equal(ok.messageId, 78);
    assert.ok((ok.reasonCode ?? 0) < 0x80, `reason 0x${(ok.reasonCode ?? 0).toString(16)}`);
    return raw;
  });
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(rawPublish(5, 'pfi', { props: [0x01, 0x01], payload }));
    await expectDisconnect(raw, 0x99);
    return raw;
  });
});

test('mqtt bad input: Receive Maximum exceeded with QoS 2 publishes never released (v5 DISCONNECT 0x93)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    const connack = raw.packets[0]!;
    assert.ok(connack.cmd === 'connack');
    assert.equal(connack.properties?.receiveMaximum, RECEIVE_MAXIMUM);
    // PUBREC leaves the message unacknowledged until PUBREL/PUBCOMP: the third is one too many.
    raw.write(Buffer.concat([1, 2, 3].map((pid) => rawPublish(5, 'rm/t', { qos: 2, pid }))));
    const got: Packet[] = [];
    for (;;) {
      const p = await raw.next();
      if (p === 'closed') break;
      got.push(p);
    }
    const last = got.at(-1);
    assert.ok(last?.cmd === 'disconnect', `expected DISCONNECT last, got ${got.map((p) => p.cmd).join(',')}`);
    assert.equal(last.reasonCode, 0x93);
    for (const p of got.slice(0, -1)) assert.equal(p.cmd, 'pubrec');
    assert.ok(raw.isClosed);
    return raw;
  });
  // With PUBREL in between, any number goes.
  await withRaw(async () => {
    const raw = await connected(5);
    for (let pid = 1; pid <= 5; pid++) {
      raw.write(rawPublish(5, 'rm/t', { qos: 2, pid }));
      const rec = await raw.next();
      assert.ok(rec !== 'closed' && rec.cmd === 'pubrec', describePacket(rec));
      raw.write(frame(0x62, [0, pid]));
      const comp = await raw.next();
      assert.ok(comp !== 'closed' && comp.cmd === 'pubcomp', describePacket(comp));
    }
    return raw;
  });
});

test('mqtt bad input: a PUBREC with a failure reason ends the QoS 2 flow and frees its Receive Maximum slot', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    const bad = Buffer.from([0xff]);
    // Payload format 1 with a payload that is not UTF-8: PUBREC 0x99, the flow is over.
    for (let pid = 1; pid <= RECEIVE_MAXIMUM; pid++) {
      raw.write(rawPublish(5, 'rm/pfi', { qos: 2, pid, props: [0x01, 0x01], payload: bad }));
      const rec = await raw.next();
      assert.ok(rec !== 'closed' && rec.cmd === 'pubrec', describePacket(rec));
      assert.equal(rec.reasonCode, 0x99);
    }
    raw.write(rawPublish(5, 'rm/pfi', { qos: 2, pid: 100 }));
    const rec = await raw.next();
    assert.ok(rec !== 'closed' && rec.cmd === 'pubrec', `expected PUBREC, got ${describePacket(rec)}`);
    assert.ok((rec.reasonCode ?? 0) < 0x80);
    return raw;
  });
});

// ---- SUBSCRIBE ----------------------------------------------------------------------------------

test('mqtt bad input: invalid filters in SUBSCRIBE fail only their entries (v5 0x8F, 3.1.1 0x80)', async () => {
  for (const v of [5, 4] as const) {
    await withRaw(async () => {
      const raw = await connected(v);
      raw.send({
        cmd: 'subscribe',
        messageId: 9,
        subscriptions: [
          { topic: 'a/#/b', qos: 1 },
          { topic: 'ok/+', qos: 1 },
          { topic: 'a+', qos: 0 },
          { topic: 'x/#', qos: 2 },
          { topic: '$share/g', qos: 1 },
        ],
      } as Packet);
      const ack = await raw.next();
      assert.ok(ack !== 'closed' && ack.cmd === 'suback', `expected SUBACK, got ${describePacket(ack)}`);
      assert.equal(ack.messageId, 9);
      const bad = v === 5 ? 0x8f : 0x80;
      assert.deepEqual(ack.granted, [bad, 1, bad, 2, bad]);
      await expectAlive(raw);
      return raw;
    });
  }
});

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
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(victim.closes(), 0, 'the live client was disconnected by a refused CONNECT');
    // (MQTT.js would hold a QoS 1 publish of a disconnected client for ever: only publish when connected.)
    await victim.client.publishAsync('victim/t', 'still here', { qos: 1 });
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

// ---- packet identifiers and empty lists --------------------------------------------------------

test('mqtt bad input: a PUBREL too short for its packet identifier is malformed (v5 DISCONNECT 0x81, nothing garbled)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    const before = raw.bytes.length;
    raw.write([0x62, 0x00]);
    await raw.waitClosed();
    const reply = raw.bytes.subarray(before);
    assert.equal(reply[0], 0xe0, `the reply is a DISCONNECT: ${reply.toString('hex')}`);
    assert.equal(raw.parseError, undefined, 'what came back parses');
    assert.equal(reply[2], 0x81);
    return raw;
  });
});

test('mqtt bad input: SUBSCRIBE with no topic filter is a protocol error (v5 DISCONNECT 0x82 or 0x81)', async () => {
  await withRaw(async () => {
    const raw = await connected(5);
    raw.write(frame(0x82, [0, 1, 0]));
    await expectDisconnect(raw, [0x81, 0x82]);
    return raw;
  });
});

test('mqtt bad input: packet identifier 0 in PUBLISH QoS 1, SUBSCRIBE or UNSUBSCRIBE is a protocol error (v5 0x82)', async () => {
  const cases = [
    rawPublish(5, 'pid0', { qos: 1, pid: 0 }),
    frame(0x82, [0, 0, 0, ...mqttString('pid0'), 1]),
    frame(0xa2, [0, 0, 0, ...mqttString('pid0')]),
  ];
  for (const bytes of cases) {
    await withRaw(async () => {
      const raw = await connected(5);
      raw.write(bytes);
      await expectDisconnect(raw, [0x81, 0x82]);
      return raw;
    });
  }
});

/** Sends `bytes` to a fresh broker process after a CONNECT; the process must outlive it. */
async function survives(v: Version, bytes: readonly number[], reason: readonly number[]): Promise<void> {
  const child = await spawnBroker();
  try {
    const raw = await RawMqtt.connected(child.port, v, uniq('crash'));
    const before = raw.bytes.length;
    raw.write(bytes);
    await raw.waitClosed(3_000).catch(() => {});
    raw.destroy();
    const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('running'), 500))]);
    assert.equal(
      code,
      'running',
      `the broker process exited (${String(code)}): ${child.stderr().slice(0, 600)}`,
    );
    // And it still serves: a new client connects.
    (await RawMqtt.connected(child.port, 4, uniq('after'))).destroy();
    if (v === 5) {
      const reply = raw.bytes.subarray(before);
      assert.equal(reply[0], 0xe0, `a DISCONNECT: ${reply.toString('hex')}`);
      assert.ok(reason.includes(reply[2]!), `reason 0x${reply[2]?.toString(16)}`);
    }
  } finally {
    await child.stop();
  }
}

// Each of these once ended the whole broker process (a reply that threw inside a promise callback
// was an unhandled rejection); each now runs in a broker process of its own, so a regression
// shows as that process dying.
test('mqtt bad input: input that once took the whole broker process down (each in a broker process of its own)', {
  concurrency: true,
}, async (t) => {
  await Promise.all([
    t.test('v5 UNSUBSCRIBE with no topic filter', () =>
      survives(5, [0xa2, 0x03, 0x00, 0x01, 0x00], [0x81, 0x82]),
    ),
    t.test('v5 retained QoS 1 PUBLISH too short for its packet identifier', () =>
      survives(5, [0x33, 0x03, 0x00, 0x01, 0x61], [0x81]),
    ),
    t.test('3.1.1 retained QoS 2 PUBLISH too short for its packet identifier', () =>
      survives(4, [0x35, 0x03, 0x00, 0x01, 0x61], []),
    ),
    t.test('3.1.1 PUBREL too short for its packet identifier, behind a reply still waiting for a write', () =>
      survives(
        4,
        [...rawPublish(4, 'r', { qos: 1, pid: 1 }).map((b, i) => (i === 0 ? b | 1 : b)), 0x62, 0x00],
        [],
      ),
    ),
  ]);
});

// ---- timers -------------------------------------------------------------------------------------

test('mqtt bad input: a silent client with keep-alive 1 s is disconnected after 1.5 s (v5 0x8D)', async () => {
  // v5 and 3.1.1 side by side (3.1.1: the same, without a DISCONNECT).
  await Promise.all([
    withRaw(async () => {
      const raw = await connected(5, { keepalive: 1 });
      const started = Date.now();
      const p = await raw.next(4_000);
      const elapsed = Date.now() - started;
      assert.ok(p !== 'closed' && p.cmd === 'disconnect', describePacket(p));
      assert.equal(p.reasonCode, 0x8d);
      await raw.waitClosed();
      assert.ok(elapsed >= 1_400 && elapsed <= 2_900, `disconnected after ${elapsed} ms`);
      return raw;
    }),
    withRaw(async () => {
      const raw = await connected(4, { keepalive: 1 });
      const started = Date.now();
      await raw.waitClosed(4_000);
      const elapsed = Date.now() - started;
      assert.equal(raw.packets.length, 1, 'only the CONNACK');
      assert.ok(elapsed >= 1_400 && elapsed <= 2_900, `closed after ${elapsed} ms`);
      return raw;
    }),
    // PINGREQ every 500 ms keeps a connection alive past the limit.
    withRaw(async () => {
      const raw = await connected(5, { keepalive: 1 });
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 500));
        await expectAlive(raw);
      }
      return raw;
    }),
  ]);
});

test('mqtt bad input: a connection that never sends CONNECT is closed after connectTimeout', async () => {
  await withRaw(async () => {
    const started = Date.now();
    const raw = await RawMqtt.connect(port);
    await raw.waitClosed(3_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= CONNECT_TIMEOUT, `closed after ${elapsed} ms`);
    assert.equal(raw.bytes.length, 0);
    return raw;
  });
  // Half a CONNECT is no better.
  await withRaw(async () => {
    const raw = await RawMqtt.connect(port);
    raw.write(encode(connectPacket(4, 'half'), 4).subarray(0, 6));
    await raw.waitClosed(3_000);
    assert.equal(raw.bytes.length, 0);
    return raw;
  });
});

test('mqtt bad input: the listener still accepts new connections', async () => {
  const s = tcpConnect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.destroy();
  await withRaw(() => connected(4));
  await withRaw(() => connected(5));
});
