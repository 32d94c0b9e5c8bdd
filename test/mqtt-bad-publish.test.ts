/**
 * Bad MQTT input through a real listener, over raw sockets: PUBLISH (topics, aliases, QoS,
 * payload format, Receive Maximum) and SUBSCRIBE entries.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import {
  connected,
  expectAlive,
  expectDisconnect,
  expectSilentClose,
  RECEIVE_MAXIMUM,
  rawPublish,
  setup,
  withRaw,
} from './mqtt-bad-support.js';
import { describePacket, frame } from './mqtt-raw.js';

setup();

// ---- PUBLISH ------------------------------------------------------------------------------------

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
