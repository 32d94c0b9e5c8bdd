import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeClientPacket } from '../../../test/support/mqtt-peer.js';
import { connectPacket, type Version } from '../../../test/support/mqtt-samples.js';
import { type ErrorCode, SwitchyardError } from '../../errors/index.js';
import { PacketType } from './constants.js';
import { decodePacket } from './decode.js';
import type { ClientPacket } from './packets.js';
import { PayloadPool } from './payload-pool.js';

const POOL = new PayloadPool(false);

/** The catalogue code decoding `bytes` throws for a connection of `v`, or 'accepted'. */
function verdict(bytes: Buffer | readonly number[], v: Version): ErrorCode | 'accepted' {
  try {
    decodePacket(Buffer.from(bytes), v, false, POOL);
    return 'accepted';
  } catch (e) {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    return e.code;
  }
}

/** A fixed header and Remaining Length around `body`. */
function frame(first: number, body: readonly number[]): number[] {
  return [first, body.length, ...body];
}

const str = (s: string) => [0, Buffer.byteLength(s), ...Buffer.from(s)];

test('codec: packets that break the wire format are malformed (0x81), with the clause they break', () => {
  const cases: [string, Version, number[]][] = [
    ['[MQTT-2.1.3-1] PUBACK with flags', 4, frame(0x41, [0, 1])],
    ['[MQTT-3.6.1-1] PUBREL without its 0b0010 flags', 5, frame(0x60, [0, 1])],
    ['[MQTT-3.8.1-1] SUBSCRIBE without its flags', 4, frame(0x80, [0, 1, ...str('a'), 0])],
    ['[MQTT-3.10.1-1] UNSUBSCRIBE with the wrong flags', 5, frame(0xa3, [0, 1, 0, ...str('a')])],
    ['[MQTT-3.14.1-1] DISCONNECT with flags', 5, frame(0xe1, [])],
    ['[MQTT-3.15.1-1] AUTH with flags', 5, frame(0xf2, [])],
    ['packet type 0 is reserved', 4, frame(0x00, [])],
    ['AUTH in 3.1.1 (type 15 is reserved there)', 4, frame(0xf0, [])],
    ['[MQTT-3.3.1-4] PUBLISH with QoS 3', 4, frame(0x36, [...str('t'), 0, 1])],
    ['PUBACK without its packet identifier', 4, frame(0x40, [])],
    ['PUBACK with one byte of it', 5, frame(0x40, [0])],
    ['PUBCOMP, 3.1.1, with bytes after the identifier', 4, frame(0x70, [0, 1, 0])],
    ['QoS 1 PUBLISH too short for its packet identifier', 4, frame(0x32, [...str('a')])],
    ['QoS 2 PUBLISH with one byte of it', 4, frame(0x34, [...str('a'), 0])],
    ['a topic length past the end', 4, frame(0x30, [0, 9, 0x61])],
    ['[MQTT-2.2.2-1] v5 PUBLISH without its Property Length', 5, frame(0x30, [...str('a')])],
    ['v5 PUBACK with a reason code not of PUBACK', 5, frame(0x40, [0, 1, 0x92])],
    ['v5 PUBREL with a reason code not of PUBREL', 5, frame(0x62, [0, 1, 0x10])],
    ['v5 DISCONNECT with reason 0x01', 5, frame(0xe0, [0x01])],
    ['v5 AUTH with reason 0x80', 5, frame(0xf0, [0x80, 0])],
    ['an unknown property', 5, frame(0x30, [...str('a'), 2, 0x7f, 0])],
    [
      'a property not allowed in PUBLISH (Session Expiry Interval)',
      5,
      frame(0x30, [...str('a'), 5, 0x11, 0, 0, 0, 1]),
    ],
    ['a property not allowed in PUBACK (Content Type)', 5, frame(0x40, [0, 1, 0, 4, 0x03, ...str('a')])],
    ['a property length past the end', 5, frame(0x30, [...str('a'), 9, 0x01, 1])],
    ['a property value past its section', 5, frame(0x30, [...str('a'), 2, 0x02, 0, 0, 0, 0])],
    ['[MQTT-3.8.3-5] v5 SUBSCRIBE option bits 6-7 set', 5, frame(0x82, [0, 1, 0, ...str('a'), 0x40])],
    [
      '[MQTT-3.8.3-4] 3.1.1 SUBSCRIBE with No Local (a reserved bit there)',
      4,
      frame(0x82, [0, 1, ...str('a'), 0x04]),
    ],
    ['3.1.1 SUBSCRIBE with QoS 3', 4, frame(0x82, [0, 1, ...str('a'), 3])],
    ['SUBSCRIBE with a filter but no options byte', 4, frame(0x82, [0, 1, ...str('a')])],
    ['PINGREQ with a body', 4, frame(0xc0, [0])],
    ['3.1.1 DISCONNECT with a reason code', 4, frame(0xe0, [0])],
  ];
  const problems: string[] = [];
  for (const [what, v, bytes] of cases) {
    const got = verdict(bytes, v);
    if (got !== 'MALFORMED_PACKET') problems.push(`${what}: ${got}`);
  }
  assert.deepEqual(problems, []);
});

test('codec: well-formed packets MQTT does not allow are protocol errors (0x82)', () => {
  const cases: [string, Version, number[]][] = [
    ['[MQTT-2.2.1-3] QoS 1 PUBLISH with packet identifier 0', 4, frame(0x32, [...str('a'), 0, 0])],
    ['[MQTT-2.2.1-3] PUBACK with packet identifier 0', 5, frame(0x40, [0, 0])],
    ['[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0', 4, frame(0x82, [0, 0, ...str('a'), 0])],
    ['[MQTT-2.2.1-3] UNSUBSCRIBE with packet identifier 0', 4, frame(0xa2, [0, 0, ...str('a')])],
    ['[MQTT-3.8.3-2] SUBSCRIBE without a topic filter', 5, frame(0x82, [0, 1, 0])],
    ['[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter', 4, frame(0xa2, [0, 1])],
    ['v5 SUBSCRIBE with Maximum QoS 3', 5, frame(0x82, [0, 1, 0, ...str('a'), 3])],
    ['v5 SUBSCRIBE with Retain Handling 3', 5, frame(0x82, [0, 1, 0, ...str('a'), 0x30])],
    ['a repeated Content Type', 5, frame(0x30, [...str('a'), 8, 0x03, ...str('x'), 0x03, ...str('y')])],
    [
      'two Subscription Identifiers in a SUBSCRIBE',
      5,
      frame(0x82, [0, 1, 4, 0x0b, 1, 0x0b, 2, ...str('a'), 0]),
    ],
    [
      '[MQTT-3.3.4-6] a Subscription Identifier in a client PUBLISH',
      5,
      frame(0x30, [...str('a'), 2, 0x0b, 1]),
    ],
    ['Subscription Identifier 0', 5, frame(0x82, [0, 1, 2, 0x0b, 0, ...str('a'), 0])],
    ['CONNACK from a client', 4, frame(0x20, [0, 0])],
    ['SUBACK from a client', 5, frame(0x90, [0, 1, 0, 0])],
    ['PINGRESP from a client', 4, frame(0xd0, [])],
  ];
  const problems: string[] = [];
  for (const [what, v, bytes] of cases) {
    const got = verdict(bytes, v);
    if (got !== 'PROTOCOL_ERROR') problems.push(`${what}: ${got}`);
  }
  assert.deepEqual(problems, []);
});

test('codec: CONNECT checks: name, level, reserved flag, will flags, fields the flags promise', () => {
  const good = encodeClientPacket(connectPacket(4), 4);
  assert.equal(verdict(good, 4), 'accepted');
  const withByte = (at: number, value: number) => {
    const b = Buffer.from(good);
    b[at] = value;
    return b;
  };
  // Bytes: 0x10, length, protocol name (2 + 4), level at 8, flags at 9.
  assert.equal(verdict(withByte(4, 0x51), 4), 'MALFORMED_PACKET', '[MQTT-3.1.2-1] protocol name QQTT');
  assert.equal(verdict(withByte(8, 6), 4), 'UNSUPPORTED_PROTOCOL_VERSION', '[MQTT-3.1.2-2] level 6');
  assert.equal(verdict(withByte(9, 0x03), 4), 'MALFORMED_PACKET', '[MQTT-3.1.2-3] reserved flag');
  assert.equal(verdict(withByte(9, 0x0a), 4), 'MALFORMED_PACKET', '[MQTT-3.1.2-11] will QoS without a will');
  assert.equal(
    verdict(withByte(9, 0x22), 4),
    'MALFORMED_PACKET',
    '[MQTT-3.1.2-13] will retain without a will',
  );
  assert.equal(
    verdict(withByte(9, 0x82), 4),
    'MALFORMED_PACKET',
    '[MQTT-3.1.2-17] user name flag, no user name',
  );
  assert.equal(verdict(withByte(9, 0x42), 4), 'MALFORMED_PACKET', '3.1.1 [MQTT-3.1.2-22] a password alone');
  const will = connectPacket(4, {
    will: { topic: 'w', payload: Buffer.from('x'), qos: 1, retain: false, properties: undefined },
  });
  const willBytes = encodeClientPacket(will, 4);
  willBytes[9] = willBytes[9]! | 0x18;
  assert.equal(verdict(willBytes, 4), 'MALFORMED_PACKET', '[MQTT-3.1.2-12] will QoS 3');
  assert.equal(
    verdict(Buffer.concat([good, Buffer.from([0])]).fill(good[1]! + 1, 1, 2), 4),
    'MALFORMED_PACKET',
    'a byte after the last field',
  );
  // MQTT 5 allows a password without a user name; Authentication Data needs a method.
  assert.equal(
    verdict(encodeClientPacket(connectPacket(5, { password: Buffer.from('p') }), 5), 5),
    'accepted',
  );
  const data = connectPacket(5, { properties: { authenticationData: Buffer.from('d') } });
  assert.equal(verdict(encodeClientPacket(data, 5), 4), 'PROTOCOL_ERROR');
  for (const [name, value] of [
    ['receiveMaximum', 0],
    ['maximumPacketSize', 0],
  ] as const) {
    const p = connectPacket(5, { properties: { [name]: value } });
    assert.equal(verdict(encodeClientPacket(p, 5), 4), 'PROTOCOL_ERROR', `${name} 0`);
  }
  // Request Response / Problem Information other than 0 or 1 (section 3.1.2.11.6 and .7).
  const rri = Buffer.from(
    encodeClientPacket(connectPacket(5, { properties: { requestResponseInformation: true } }), 5),
  );
  rri[rri.indexOf(Buffer.from([0x19, 0x01])) + 1] = 2;
  assert.equal(verdict(rri, 4), 'PROTOCOL_ERROR');
});

// ---- UTF-8 --------------------------------------------------------------------------------------

/** `p` with the bytes of `marker` (found once) replaced by bytes that are not UTF-8 (same length). */
function withBadUtf8(p: ClientPacket, v: Version, marker: string): Buffer {
  const b = Buffer.from(encodeClientPacket(p, v));
  const at = b.indexOf(marker);
  assert.ok(at > 0, `marker ${marker} in the packet`);
  assert.equal(b.indexOf(marker, at + 1), -1, `marker ${marker} once`);
  // 0xC3 0x28: a two-byte lead followed by a non-continuation byte; 0xFF never occurs in UTF-8.
  b[at] = 0xc3;
  b[at + 1] = 0x28;
  b[at + 2] = 0xff;
  return b;
}

const MARK = 'XQZ';

for (const v of [4, 5] as const) {
  test(`codec: ill-formed UTF-8 in any string is malformed [MQTT-1.5.4-1]; binary fields may be any bytes (v${v})`, () => {
    const publish = (
      topic: string,
      properties?: ClientPacket & { type: 3 } extends { properties: infer P } ? P : never,
    ) =>
      ({
        type: PacketType.PUBLISH,
        topic,
        payload: Buffer.from('p'),
        qos: 1,
        packetId: 1,
        retain: false,
        dup: false,
        properties,
      }) as ClientPacket;
    const sub = (...filters: string[]): ClientPacket => ({
      type: PacketType.SUBSCRIBE,
      packetId: 1,
      subscriptions: filters.map((topicFilter) => ({
        topicFilter,
        qos: 1,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      })),
      properties: undefined,
    });
    const will = {
      topic: `w/${MARK}`,
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      properties: undefined,
    } as const;
    const cases: [string, ClientPacket][] = [
      ['PUBLISH topic', publish(`a/${MARK}`)],
      ['SUBSCRIBE filter', sub(`${MARK}/#`)],
      ['SUBSCRIBE second filter', sub('ok', MARK)],
      [
        'UNSUBSCRIBE second filter',
        { type: PacketType.UNSUBSCRIBE, packetId: 1, topicFilters: ['ok', MARK], properties: undefined },
      ],
      ['CONNECT client id', connectPacket(v, { clientId: `c-${MARK}` })],
      ['CONNECT will topic', connectPacket(v, { will })],
      ['CONNECT user name', connectPacket(v, { username: `u-${MARK}`, password: Buffer.from('p') })],
      ['CONNECT user name after a will', connectPacket(v, { will: { ...will, topic: 'w' }, username: MARK })],
    ];
    if (v === 5) {
      cases.push(
        ['PUBLISH content type', publish('t', { contentType: MARK })],
        ['PUBLISH response topic', publish('t', { responseTopic: MARK })],
        ['PUBLISH user property name', publish('t', { userProperties: { [MARK]: 'v' } })],
        ['PUBLISH user property value', publish('t', { userProperties: { k: MARK } })],
        [
          'CONNECT will topic after will properties',
          connectPacket(v, { will: { ...will, properties: { willDelayInterval: 1 } } }),
        ],
      );
    }
    const problems: string[] = [];
    for (const [what, p] of cases) {
      const got = verdict(withBadUtf8(p, v, MARK), p.type === PacketType.CONNECT ? 4 : v);
      if (got !== 'MALFORMED_PACKET') problems.push(`${what}: ${got}`);
    }
    assert.deepEqual(problems, []);
    // A password, a will payload, correlation data and a PUBLISH payload are binary.
    const binary = connectPacket(v, {
      username: 'u',
      password: Buffer.from([0xc3, 0x28, 0xff]),
      will: { topic: 'w', payload: Buffer.from([0xff, 0xfe]), qos: 0, retain: false, properties: undefined },
    });
    assert.equal(verdict(encodeClientPacket(binary, v), 4), 'accepted');
    const bytes = publish('t', v === 5 ? { correlationData: Buffer.from([0xff]) } : undefined);
    assert.equal(
      verdict(
        encodeClientPacket({ ...bytes, payload: Buffer.from([0xc3, 0x28, 0xff]) } as ClientPacket, v),
        v,
      ),
      'accepted',
    );
  });
}
