/**
 * Bad MQTT input through a real listener, over raw sockets: what comes before and around CONNECT,
 * framing (reserved bits, Remaining Length, size limits) and packet identifiers. Each case checks
 * the bytes or reason code that come back and that the offending socket is closed, while a
 * well-behaved MQTT.js client connected throughout keeps publishing and receiving.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect as tcpConnect } from 'node:net';
import { uniq } from './helpers.js';
import {
  connected,
  expectAlive,
  expectDisconnect,
  expectSilentClose,
  MAX_PACKET,
  port,
  rawPublish,
  setup,
  withRaw,
} from './mqtt-bad-support.js';
import type { Packet } from 'mqtt-packet';
import { connectPacket, encode, frame, mqttString, RawMqtt } from './mqtt-raw.js';

setup();

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
