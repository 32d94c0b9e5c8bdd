import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import {
  MAX_USER_PROPERTIES,
  PacketReader,
  type PacketSink,
  PacketWriter,
  packetSize,
  publishPacketSize,
  userPropertyCount,
} from './codec.js';
import { MqttError, Reason } from './reason.js';

const SEED = 0xc0dec;
type Version = 4 | 5;

const gen = (p: Packet, v: Version): Buffer => mqttPacket.generate(p, { protocolVersion: v });

const connect = (v: Version, extra: Record<string, unknown> = {}): Packet =>
  ({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: v,
    clean: true,
    clientId: 'codec-test',
    keepalive: 30,
    ...extra,
  }) as Packet;

/** A reader that has taken the CONNECT of `v` (the version fixes how later packets are laid out). */
function reader(v: Version, max = 1 << 20): { r: PacketReader; got: Packet[]; raws: Buffer[] } {
  const got: Packet[] = [];
  const raws: Buffer[] = [];
  const r = new PacketReader(max, {
    onPacket: (p, raw) => {
      got.push(p);
      raws.push(Buffer.from(raw));
    },
  });
  r.push(gen(connect(v), v));
  got.length = 0;
  raws.length = 0;
  return { r, got, raws };
}

/** A writer whose sink keeps every byte; flush() to see what a turn wrote. */
function writer(v: Version, accept = () => true) {
  const out: Buffer[] = [];
  const blocked: boolean[] = [];
  const sink: PacketSink = {
    write: (b) => {
      out.push(Buffer.from(b));
      return accept();
    },
    cork: () => {},
    uncork: () => {},
  };
  const w = new PacketWriter(sink, { backpressure: (full) => blocked.push(full) });
  w.version = v;
  return { w, out, blocked, bytes: () => Buffer.concat(out) };
}

const payload = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) & 0xff));

/** Every packet type, as a client or a server of that version sends it. */
function samples(v: Version): Packet[] {
  const five = v === 5;
  const userProperties = { a: 'b', c: ['d', 'e'] };
  const ok = five ? { reasonCode: 0 } : {};
  const list: Packet[] = [
    connect(v),
    connect(v, {
      clean: false,
      clientId: 'ü-client',
      username: 'user',
      password: Buffer.from([0xff, 0x00, 0xfe]),
      will: {
        topic: 'will/ü',
        payload: Buffer.from('gone'),
        qos: 1,
        retain: true,
        ...(five ? { properties: { willDelayInterval: 5, contentType: 'text/plain' } } : {}),
      },
      ...(five
        ? {
            properties: {
              sessionExpiryInterval: 60,
              receiveMaximum: 10,
              maximumPacketSize: 4096,
              topicAliasMaximum: 5,
              requestResponseInformation: true,
              requestProblemInformation: false,
              userProperties,
            },
          }
        : {}),
    }),
    five
      ? {
          cmd: 'connack',
          sessionPresent: true,
          reasonCode: 0,
          properties: { assignedClientIdentifier: 'sy-1', topicAliasMaximum: 10, maximumPacketSize: 1000 },
        }
      : { cmd: 'connack', sessionPresent: true, returnCode: 0 },
    { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
    { cmd: 'publish', topic: 'a/ü/€', payload: payload(300), qos: 1, messageId: 7, retain: true, dup: false },
    {
      cmd: 'publish',
      topic: 'q2',
      payload: Buffer.alloc(0),
      qos: 2,
      messageId: 65535,
      retain: false,
      dup: true,
    },
    { cmd: 'publish', topic: 't', payload: payload(20_000), qos: 1, messageId: 1, retain: false, dup: false },
    // mqtt-packet writes a v5 ack without a reasonCode in the long form, with 0 in the short one.
    { cmd: 'puback', messageId: 7, ...ok },
    { cmd: 'pubrec', messageId: 8, ...ok },
    { cmd: 'pubrel', messageId: 9, ...ok },
    { cmd: 'pubcomp', messageId: 10, ...ok },
    {
      cmd: 'subscribe',
      messageId: 11,
      subscriptions: [
        { topic: 'a/+/c', qos: 1, ...(five ? { nl: true, rap: true, rh: 1 } : {}) },
        { topic: '#', qos: 2 },
        { topic: '$share/g/x/#', qos: 0 },
      ],
      ...(five ? { properties: { subscriptionIdentifier: 42 } } : {}),
    } as Packet,
    { cmd: 'suback', messageId: 11, granted: five ? [1, 2, 0x8f] : [1, 2, 0x80] },
    { cmd: 'unsubscribe', messageId: 12, unsubscriptions: ['a/+/c', '#'] },
    // A 3.1.1 UNSUBACK has no reason codes (mqtt-packet's type wants `granted` anyway).
    (five
      ? { cmd: 'unsuback', messageId: 12, granted: [0, 0x11] }
      : { cmd: 'unsuback', messageId: 12 }) as Packet,
    { cmd: 'pingreq' },
    { cmd: 'pingresp' },
    { cmd: 'disconnect' },
  ];
  if (five) {
    list.push(
      {
        cmd: 'publish',
        topic: 'props',
        payload: Buffer.from('{}'),
        qos: 1,
        messageId: 3,
        retain: false,
        dup: false,
        properties: {
          payloadFormatIndicator: true,
          messageExpiryInterval: 100,
          topicAlias: 3,
          responseTopic: 'reply/1',
          correlationData: Buffer.from([1, 2, 3]),
          userProperties,
          contentType: 'application/json',
        },
      },
      { cmd: 'puback', messageId: 7, reasonCode: 0x10, properties: { reasonString: 'nobody' } },
      { cmd: 'pubrec', messageId: 8, reasonCode: 0x80 },
      { cmd: 'pubrel', messageId: 9, reasonCode: 0x92 },
      { cmd: 'pubcomp', messageId: 10, reasonCode: 0x92 },
      { cmd: 'disconnect', reasonCode: 0x04, properties: { sessionExpiryInterval: 10, reasonString: 'bye' } },
      {
        cmd: 'auth',
        reasonCode: 0x18,
        properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('d') },
      },
    );
  }
  return list;
}

/** Generating a parsed packet again gives the bytes it came from: bytes → packet → bytes. */
function regenerate(p: Packet, v: Version): Buffer {
  return gen(p, v);
}

// ---- round trips --------------------------------------------------------------------------------

for (const v of [4, 5] as const) {
  test(`codec: every packet type round-trips through PacketWriter and PacketReader (v${v})`, () => {
    const types = new Set<string>();
    for (const p of samples(v)) {
      const { w, bytes } = writer(v);
      w.send(p);
      w.flush();
      const wire = bytes();
      assert.deepEqual(wire, gen(p, v), `${p.cmd}: the writer's bytes are mqtt-packet's`);
      const { r, got, raws } = reader(v);
      r.push(wire);
      assert.equal(got.length, 1, p.cmd);
      const q = got[0]!;
      assert.equal(q.cmd, p.cmd);
      assert.deepEqual(raws[0], wire);
      assert.deepEqual(regenerate(q, v), wire, `${p.cmd} regenerates to the same bytes`);
      // Spot checks of the fields a broker acts on.
      for (const k of [
        'topic',
        'messageId',
        'clientId',
        'qos',
        'reasonCode',
        'returnCode',
        'username',
      ] as const) {
        if (k in p)
          assert.deepEqual(
            (q as unknown as Record<string, unknown>)[k],
            (p as unknown as Record<string, unknown>)[k],
            k,
          );
      }
      if (p.cmd === 'publish') assert.deepEqual(q.cmd === 'publish' && q.payload, p.payload);
      if (p.cmd === 'subscribe' && q.cmd === 'subscribe') {
        assert.deepEqual(
          q.subscriptions.map((s) => [s.topic, s.qos]),
          p.subscriptions.map((s) => [s.topic, s.qos]),
        );
      }
      types.add(p.cmd);
    }
    assert.equal(types.size, v === 5 ? 15 : 14, 'every packet type was tried');
  });
}

// Random packets of the types a client sends, valid by construction.
const str = (max = 40) => fc.string({ unit: 'binary', maxLength: max });
const topic = fc.string({ unit: 'binary', minLength: 1, maxLength: 60 });
const pid = fc.integer({ min: 1, max: 65535 });
const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

function packetArb(v: Version): fc.Arbitrary<Packet> {
  const five = v === 5;
  const userProps = fc.dictionary(
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 5 }),
    fc.string({ maxLength: 5 }),
    // mqtt-packet writes nothing at all for an empty userProperties object.
    { minKeys: 1, maxKeys: 2 },
  );
  const publishProps = fc.record(
    {
      payloadFormatIndicator: fc.boolean(),
      messageExpiryInterval: fc.integer({ min: 0, max: 0xffffffff }),
      topicAlias: fc.integer({ min: 1, max: 65535 }),
      responseTopic: topic,
      correlationData: bytesArb(10),
      contentType: str(10),
      userProperties: userProps,
    },
    { requiredKeys: [] },
  );
  const publish = fc
    .record({
      topic,
      payload: bytesArb(400),
      qos: fc.constantFrom(0, 1, 2),
      messageId: pid,
      retain: fc.boolean(),
      dup: fc.boolean(),
      properties: publishProps,
    })
    .map((r): Packet => {
      const { messageId, properties, ...rest } = r;
      return {
        cmd: 'publish',
        ...rest,
        qos: r.qos as 0 | 1 | 2,
        ...(r.qos > 0 ? { messageId } : {}),
        ...(five ? { properties } : {}),
      } as Packet;
    });
  const subscribe = fc
    .record({
      messageId: pid,
      subs: fc.array(
        fc.record({
          topic,
          qos: fc.constantFrom(0, 1, 2),
          nl: fc.boolean(),
          rap: fc.boolean(),
          rh: fc.constantFrom(0, 1, 2),
        }),
        { minLength: 1, maxLength: 4 },
      ),
      id: fc.integer({ min: 1, max: 268435455 }),
    })
    .map(
      ({ messageId, subs, id }): Packet =>
        ({
          cmd: 'subscribe',
          messageId,
          subscriptions: subs.map((s) => (five ? s : { topic: s.topic, qos: s.qos as 0 | 1 | 2 })),
          ...(five ? { properties: { subscriptionIdentifier: id } } : {}),
        }) as Packet,
    );
  const unsubscribe = fc
    .record({ messageId: pid, unsubscriptions: fc.array(topic, { minLength: 1, maxLength: 4 }) })
    .map((r): Packet => ({ cmd: 'unsubscribe', ...r }));
  const ack = fc
    .record({
      cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'),
      messageId: pid,
      failed: fc.boolean(),
    })
    .map(({ failed, ...r }): Packet => {
      const reasonCode = !failed ? 0 : r.cmd === 'puback' || r.cmd === 'pubrec' ? 0x10 : 0x92;
      return (five ? { ...r, reasonCode } : r) as Packet;
    });
  const simple = fc.constantFrom<Packet>({ cmd: 'pingreq' }, { cmd: 'pingresp' });
  return fc.oneof(
    { weight: 4, arbitrary: publish },
    { weight: 2, arbitrary: subscribe },
    { weight: 1, arbitrary: unsubscribe },
    { weight: 2, arbitrary: ack },
    { weight: 1, arbitrary: simple },
  );
}

for (const v of [4, 5] as const) {
  test(`codec: random packets round-trip, bytes → packet → bytes (v${v})`, () => {
    fc.assert(
      fc.property(packetArb(v), (p) => {
        const wire = gen(p, v);
        const { r, got } = reader(v);
        r.push(wire);
        assert.equal(got.length, 1);
        assert.deepEqual(regenerate(got[0]!, v), wire);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
}

// ---- framing across chunks ----------------------------------------------------------------------

/** Feeds `chunks` to a fresh reader of `v` and returns the raw packets it framed. */
function feed(v: Version, chunks: Buffer[]): { raws: Buffer[]; got: Packet[] } {
  const { r, got, raws } = reader(v);
  for (const c of chunks) r.push(c);
  return { raws, got };
}

function cut(stream: Buffer, points: number[]): Buffer[] {
  const sorted = [...new Set(points)].filter((p) => p > 0 && p < stream.length).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of sorted) {
    out.push(stream.subarray(at, p));
    at = p;
  }
  out.push(stream.subarray(at));
  return out;
}

for (const v of [4, 5] as const) {
  test(`codec: a stream split at every byte boundary, and byte by byte, gives the same packets (v${v})`, () => {
    // Small packets, so that every split point is tried in a stream of every type.
    const list = samples(v).filter((p) => p.cmd !== 'connect' && gen(p, v).length < 1000);
    const stream = Buffer.concat(list.map((p) => gen(p, v)));
    const whole = feed(v, [stream]);
    assert.equal(whole.raws.length, list.length);
    for (let i = 1; i < stream.length; i++) {
      const split = feed(v, [stream.subarray(0, i), stream.subarray(i)]);
      assert.deepEqual(split.raws, whole.raws, `split at ${i}`);
      assert.deepEqual(split.got, whole.got, `split at ${i}`);
    }
    for (const step of [1, 2, 3]) {
      const pieces: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) pieces.push(stream.subarray(i, i + step));
      const s = feed(v, pieces);
      assert.deepEqual(s.raws, whole.raws, `${step}-byte pieces`);
      assert.deepEqual(s.got, whole.got, `${step}-byte pieces`);
    }
    // Empty chunks change nothing.
    const withEmpty = feed(v, [Buffer.alloc(0), stream.subarray(0, 5), Buffer.alloc(0), stream.subarray(5)]);
    assert.deepEqual(withEmpty.raws, whole.raws);
  });

  test(`codec: random packets in random chunks give the same packets as one chunk (v${v})`, () => {
    fc.assert(
      fc.property(
        fc.array(packetArb(v), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (packets, points) => {
          const encoded = packets.map((p) => gen(p, v));
          const stream = Buffer.concat(encoded);
          const whole = feed(v, [stream]);
          assert.deepEqual(whole.raws, encoded);
          const chunked = feed(
            v,
            cut(
              stream,
              points.map((p) => p % (stream.length + 1)),
            ),
          );
          assert.deepEqual(chunked.raws, whole.raws);
          assert.deepEqual(chunked.got, whole.got);
        },
      ),
      { seed: SEED, numRuns: 1000 },
    );
  });
}

// ---- size limits and Remaining Length -----------------------------------------------------------

/** The reason of the MqttError `f` throws. */
function reasonOf(f: () => void): number {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof MqttError, `expected an MqttError, got ${String(e)}`);
    return e.reason;
  }
  assert.fail('expected an MqttError');
}

test('codec: a packet over the maximum is refused from its header alone, before its body (0x95)', () => {
  const { r, got } = reader(4, 1024);
  // PUBLISH with Remaining Length 2048: header only, no body at all.
  assert.equal(
    reasonOf(() => r.push(Buffer.from([0x30, 0x80, 0x10]))),
    Reason.PACKET_TOO_LARGE,
  );
  // The header arriving a byte at a time: refused on the byte that completes it.
  const r2 = reader(4, 1024).r;
  r2.push(Buffer.from([0x30]));
  r2.push(Buffer.from([0x80]));
  assert.equal(
    reasonOf(() => r2.push(Buffer.from([0x10]))),
    Reason.PACKET_TOO_LARGE,
  );
  // The largest Remaining Length there is, header only.
  assert.equal(
    reasonOf(() => reader(4, 1024).r.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))),
    Reason.PACKET_TOO_LARGE,
  );
  assert.equal(got.length, 0);
});

test('codec: the maximum packet size counts the whole packet; exactly the maximum is accepted', () => {
  const max = 1024;
  const head = (n: number) =>
    gen({ cmd: 'publish', topic: 't', payload: payload(n), qos: 0, retain: false, dup: false }, 4);
  // Fixed header 1 + 2 length bytes, topic 2 + 1: payload max - 6 makes the packet exactly `max`.
  const exact = head(max - 6);
  assert.equal(exact.length, max);
  const { r, got } = reader(4, max);
  r.push(exact);
  assert.equal(got.length, 1);
  const over = head(max - 5);
  assert.equal(
    reasonOf(() => reader(4, max).r.push(over.subarray(0, 3))),
    Reason.PACKET_TOO_LARGE,
  );
});

test('codec: a Remaining Length of five bytes is malformed (0x81), whole or arriving bytewise', () => {
  const bad = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00]);
  assert.equal(
    reasonOf(() => reader(4).r.push(bad)),
    Reason.MALFORMED_PACKET,
  );
  assert.equal(
    reasonOf(() => packetSize(bad, 0)),
    Reason.MALFORMED_PACKET,
  );
  const { r } = reader(5);
  for (let i = 0; i < 4; i++) r.push(bad.subarray(i, i + 1));
  assert.equal(
    reasonOf(() => r.push(bad.subarray(4, 5))),
    Reason.MALFORMED_PACKET,
  );
});

test('codec: packetSize is 0 until the header is complete, then the whole size', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 268_435_455 }), fc.nat(), (len, at) => {
      const b = Buffer.alloc(at % 4);
      const header = frameHeader(0x30, len);
      const buf = Buffer.concat([b, header]);
      for (let i = 0; i < header.length; i++) {
        assert.equal(packetSize(buf.subarray(0, b.length + i), b.length), 0);
      }
      assert.equal(packetSize(buf, b.length), header.length + len);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

function frameHeader(first: number, len: number): Buffer {
  const out = [first];
  do {
    let byte = len % 128;
    len = Math.floor(len / 128);
    if (len > 0) byte |= 0x80;
    out.push(byte);
  } while (len > 0);
  return Buffer.from(out);
}

// ---- UTF-8 --------------------------------------------------------------------------------------

/** `p` with the bytes of `marker` (found once) replaced by bytes that are not UTF-8 (same length). */
function withBadUtf8(p: Packet, v: Version, marker: string): Buffer {
  const b = gen(p, v);
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
  test(`codec: invalid UTF-8 in a topic, filter, client id, will topic or user name is malformed (0x81, v${v})`, () => {
    const cases: [string, Packet][] = [
      [
        'PUBLISH topic',
        { cmd: 'publish', topic: `a/${MARK}`, payload: Buffer.from('p'), qos: 0, retain: false, dup: false },
      ],
      [
        'PUBLISH QoS 1 topic',
        {
          cmd: 'publish',
          topic: MARK,
          payload: Buffer.alloc(0),
          qos: 1,
          messageId: 1,
          retain: false,
          dup: false,
        },
      ],
      [
        'SUBSCRIBE filter',
        { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${MARK}/#`, qos: 1 }] },
      ],
      [
        'SUBSCRIBE second filter',
        {
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [
            { topic: 'ok', qos: 0 },
            { topic: MARK, qos: 1 },
          ],
        },
      ],
      ['UNSUBSCRIBE filter', { cmd: 'unsubscribe', messageId: 1, unsubscriptions: [`+/${MARK}`] }],
      ['UNSUBSCRIBE second filter', { cmd: 'unsubscribe', messageId: 1, unsubscriptions: ['ok', MARK] }],
    ];
    for (const [what, p] of cases) {
      const { r, got } = reader(v);
      assert.equal(
        reasonOf(() => r.push(withBadUtf8(p, v, MARK))),
        Reason.MALFORMED_PACKET,
        what,
      );
      assert.equal(got.length, 0, what);
    }
    const will = { topic: `w/${MARK}`, payload: Buffer.from('x'), qos: 0, retain: false } as const;
    const connects: [string, Packet][] = [
      ['CONNECT client id', connect(v, { clientId: `c-${MARK}` })],
      ['CONNECT will topic', connect(v, { will })],
      ['CONNECT user name', connect(v, { username: `u-${MARK}`, password: Buffer.from('p') })],
      ['CONNECT user name after a will', connect(v, { will: { ...will, topic: 'w' }, username: MARK })],
    ];
    if (v === 5) {
      connects.push([
        'CONNECT v5 will topic after will properties',
        connect(v, {
          will: { ...will, properties: { willDelayInterval: 1, contentType: 'c' } },
          properties: { sessionExpiryInterval: 9 },
        }),
      ]);
    }
    for (const [what, p] of connects) {
      const r = new PacketReader(1 << 20, { onPacket: () => assert.fail(`${what}: no packet expected`) });
      assert.equal(
        reasonOf(() => r.push(withBadUtf8(p, v, MARK))),
        Reason.MALFORMED_PACKET,
        what,
      );
    }
    // Binary fields are not strings: a password and a will payload may be any bytes.
    const binary = connect(v, {
      username: 'u',
      password: Buffer.from([0xc3, 0x28, 0xff]),
      will: { topic: 'w', payload: Buffer.from([0xff, 0xfe]), qos: 0, retain: false },
    });
    const got: Packet[] = [];
    new PacketReader(1 << 20, { onPacket: (p) => got.push(p) }).push(gen(binary, v));
    assert.equal(got.length, 1);
    // So is a PUBLISH payload.
    const { r, got: pubs } = reader(v);
    r.push(
      gen(
        {
          cmd: 'publish',
          topic: 't',
          payload: Buffer.from([0xc3, 0x28, 0xff]),
          qos: 0,
          retain: false,
          dup: false,
        },
        v,
      ),
    );
    assert.equal(pubs.length, 1);
  });
}

test('codec: a packet too short for its packet identifier is malformed (0x81)', () => {
  const short: [string, number[]][] = [
    ['PUBACK, no identifier', [0x40, 0x00]],
    ['PUBACK, one byte of it', [0x40, 0x01, 0x00]],
    ['PUBREC', [0x50, 0x00]],
    ['PUBREL', [0x62, 0x00]],
    ['PUBCOMP', [0x70, 0x01, 0x07]],
    ['QoS 1 PUBLISH', [0x32, 0x03, 0x00, 0x01, 0x61]],
    ['QoS 2 PUBLISH, one byte of it', [0x34, 0x04, 0x00, 0x01, 0x61, 0x00]],
  ];
  const problems: string[] = [];
  for (const v of [4, 5] as const) {
    for (const [what, bytes] of short) {
      const { r, got } = reader(v);
      try {
        r.push(Buffer.from(bytes));
        problems.push(
          `v${v} ${what}: accepted as ${got.map((p) => JSON.stringify(p.cmd === 'publish' ? { ...p, payload: undefined } : p)).join()}`,
        );
      } catch (e) {
        if (!(e instanceof MqttError) || e.reason !== Reason.MALFORMED_PACKET)
          problems.push(`v${v} ${what}: ${String(e)}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

// ---- mutation fuzz ------------------------------------------------------------------------------

const FUZZ_RUNS = 100_000;
const FUZZ_MAX = 4096;

const seeds = (v: Version) =>
  samples(v)
    .map((p) => gen(p, v))
    .filter((b) => b.length < 2000);
const SEEDS: Record<Version, Buffer[]> = { 4: seeds(4), 5: seeds(5) };

/** One mutation of a valid packet (or two back to back), as a list of chunks. */
const mutationArb = fc
  .record({
    v: fc.constantFrom<Version>(4, 5),
    i: fc.nat(),
    j: fc.nat(),
    two: fc.boolean(),
    op: fc.integer({ min: 0, max: 6 }),
    pos: fc.nat(),
    noise: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    flips: fc.integer({ min: 1, max: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .map(({ v, i, j, two, op, pos, noise, flips, cuts }) => {
    const list = SEEDS[v];
    const a = list[i % list.length]!;
    let b = Buffer.from(two ? Buffer.concat([a, list[j % list.length]!]) : a);
    const at = pos % b.length;
    const n0 = noise[0]!;
    switch (op) {
      case 0: // bit flips anywhere
        for (let k = 0; k < flips; k++) {
          const q = (pos + k * 31) % b.length;
          b[q] = b[q]! ^ (1 << ((n0 + k) & 7));
        }
        break;
      case 1: // truncation
        b = b.subarray(0, at);
        break;
      case 2: // insertion
        b = Buffer.concat([b.subarray(0, at), Buffer.from(noise), b.subarray(at)]);
        break;
      case 3: // a Remaining Length byte changed
        b[1 + (pos % 4 < b.length - 1 ? pos % 4 : 0)] = n0;
        break;
      case 4: // a byte of the body replaced, Remaining Length kept (reaches mqtt-packet's parser)
        b[Math.min(b.length - 1, 2 + (pos % Math.max(1, b.length - 2)))] = n0;
        break;
      case 5: // deletion
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (n0 % 8))]);
        break;
      default: // the first byte (type and flags) replaced
        b[0] = n0;
    }
    return {
      v,
      bytes: b,
      chunks: cut(
        b,
        cuts.map((c) => c % (b.length + 1)),
      ),
    };
  });

test(`codec: ${FUZZ_RUNS} mutated packets either parse or throw MqttError, nothing else`, () => {
  const v5Connect = gen(connect(5), 5);
  const v4Connect = gen(connect(4), 4);
  let parsed = 0;
  let refused = 0;
  fc.assert(
    fc.property(mutationArb, fc.boolean(), ({ v, bytes, chunks }, afterConnect) => {
      const raws: Buffer[] = [];
      const r = new PacketReader(FUZZ_MAX, { onPacket: (_p, raw) => raws.push(Buffer.from(raw)) });
      // Most mutations follow a CONNECT (so the reader knows the version); some stand alone.
      const prefix = afterConnect ? (v === 5 ? v5Connect : v4Connect) : Buffer.alloc(0);
      if (prefix.length > 0) r.push(prefix);
      const started = process.hrtime.bigint();
      try {
        for (const c of chunks) r.push(c);
      } catch (e) {
        if (!(e instanceof MqttError)) throw e;
        assert.ok(
          e.reason === Reason.MALFORMED_PACKET ||
            e.reason === Reason.PACKET_TOO_LARGE ||
            e.reason === Reason.PROTOCOL_ERROR, // packet identifier 0
          `reason 0x${e.reason.toString(16)}`,
        );
        refused++;
      }
      // A push takes microseconds; this only catches a parse that blows up (backtracking, a loop
      // over the whole buffer per byte), with room for a busy machine to stall the process.
      assert.ok(process.hrtime.bigint() - started < 10_000_000_000n, 'a push took over 10 seconds');
      // What was framed is exactly a prefix of the input, packet after packet.
      const framed = Buffer.concat(raws);
      assert.deepEqual(framed, Buffer.concat([prefix, bytes]).subarray(0, framed.length));
      parsed += raws.length - (prefix.length > 0 ? 1 : 0);
    }),
    { seed: SEED, numRuns: FUZZ_RUNS },
  );
  // The mutations must be a mix, not all refused at the first byte.
  assert.ok(parsed > FUZZ_RUNS / 10, `parsed ${parsed}`);
  assert.ok(refused > FUZZ_RUNS / 10, `refused ${refused}`);
});

// ---- PacketWriter -------------------------------------------------------------------------------

test('codec: PacketWriter.publish encodes exactly as mqtt-packet does (v4 and v5)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<Version>(4, 5),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.oneof(
        bytesArb(300),
        fc.integer({ min: 0, max: 70_000 }).map((n) => payload(n)),
      ),
      fc.constantFrom(0, 1, 2),
      pid,
      fc.boolean(),
      fc.boolean(),
      (v, t, body, qos, id, retain, dup) => {
        const { w, bytes } = writer(v);
        w.publish(Buffer.from(t), body, qos, id, retain, dup);
        w.flush();
        const expected = gen(
          { cmd: 'publish', topic: t, payload: body, qos: qos as 0 | 1 | 2, messageId: id, retain, dup },
          v,
        );
        assert.deepEqual(bytes(), expected);
      },
    ),
    { seed: SEED, numRuns: 3000 },
  );
});

test('codec: PacketWriter.publish at every Remaining Length boundary', () => {
  for (const v of [4, 5] as const) {
    for (const qos of [0, 1]) {
      for (const rest of [0x7f, 0x80, 0x3fff, 0x4000, 0x1fffff, 0x200000]) {
        const fixed = 2 + 3 + (qos > 0 ? 2 : 0) + (v === 5 ? 1 : 0);
        const body = payload(rest - fixed);
        const { w, bytes } = writer(v);
        w.publish(Buffer.from('a/b'), body, qos, 9, false, false);
        w.flush();
        const out = bytes();
        assert.deepEqual(
          out,
          gen(
            {
              cmd: 'publish',
              topic: 'a/b',
              payload: body,
              qos: qos as 0 | 1,
              messageId: 9,
              retain: false,
              dup: false,
            },
            v,
          ),
          `v${v} qos ${qos} remaining length ${rest}`,
        );
        assert.equal(packetSize(out, 0), out.length);
      }
    }
  }
});

test('codec: PacketWriter.ack writes the shortest form, which mqtt-packet parses back', () => {
  const cmds = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const;
  for (const v of [4, 5] as const) {
    for (let type = 4; type <= 7; type++) {
      const reasons = type <= 5 ? [0, 0x10, 0x99] : [0, 0x92];
      for (const reason of v === 5 ? reasons : [0]) {
        const cmd = cmds[type - 4]!;
        const { w, bytes } = writer(v);
        w.ack(type, 513, reason);
        w.flush();
        const out = bytes();
        if (reason === 0) {
          // Success: Reason Code and Property Length left out (MQTT 5 section 3.4.2.1), as in 3.1.1.
          assert.deepEqual(
            out,
            gen({ cmd, messageId: 513, ...(v === 5 ? { reasonCode: 0 } : {}) } as Packet, v),
          );
        } else {
          // A Reason Code and no Property Length: "less than 4 ... no Property Length" (3.4.2.2.1).
          assert.deepEqual(out, Buffer.from([(type << 4) | (type === 6 ? 2 : 0), 3, 2, 1, reason]));
        }
        const parsed: Packet[] = [];
        const parser = mqttPacket.parser({ protocolVersion: v });
        parser.on('packet', (p: Packet) => parsed.push(p));
        parser.on('error', (e: Error) => assert.fail(e));
        parser.parse(out);
        assert.equal(parsed.length, 1);
        const p = parsed[0]! as Packet & { messageId?: number; reasonCode?: number };
        assert.equal(p.cmd, cmd);
        assert.equal(p.messageId, 513);
        if (v === 5) assert.equal(p.reasonCode, reason, `v${v} ${cmd} ${reason}`);
      }
    }
  }
});

test('codec: a packet mqtt-packet refuses halfway leaves nothing behind in the batch', () => {
  const { w, bytes } = writer(5);
  assert.throws(() =>
    w.send({ cmd: 'pubcomp', messageId: -1, reasonCode: 0x92, properties: { reasonString: 'x' } } as Packet),
  );
  w.send({ cmd: 'disconnect', reasonCode: 0x80 });
  w.flush();
  assert.deepEqual(bytes(), gen({ cmd: 'disconnect', reasonCode: 0x80 }, 5));
});

test('codec: PacketWriter batches one turn into one write', async () => {
  const { w, out } = writer(4);
  w.ack(4, 1, 0);
  w.ack(4, 2, 0);
  w.send({ cmd: 'pingresp' });
  assert.equal(out.length, 0, 'nothing is written before the turn ends');
  await Promise.resolve();
  assert.equal(out.length, 1);
  assert.deepEqual(out[0], Buffer.from([0x40, 2, 0, 1, 0x40, 2, 0, 2, 0xd0, 0]));
  // A closed writer writes nothing more.
  w.closed = true;
  w.ack(4, 3, 0);
  w.flush();
  assert.equal(out.length, 1);
});

test('codec: PacketWriter backpressure: blocked(true) once while full, blocked(false) on drain', async () => {
  let accept = false;
  const { w, out, blocked } = writer(4, () => accept);
  w.ack(4, 1, 0);
  w.flush();
  assert.deepEqual(blocked, [true]);
  assert.equal(w.full, true);
  // More writes while full: no second notice.
  w.ack(4, 2, 0);
  w.flush();
  w.publish(Buffer.from('t'), Buffer.from('x'), 0, 0, false, false);
  await Promise.resolve();
  w.send({ cmd: 'pingresp' });
  w.flush();
  assert.deepEqual(blocked, [true]);
  assert.equal(out.length, 4, 'writes still go to the sink (it buffers)');
  accept = true;
  w.drained();
  assert.deepEqual(blocked, [true, false]);
  assert.equal(w.full, false);
  w.drained();
  assert.deepEqual(blocked, [true, false], 'a drain when not full says nothing');
  w.ack(4, 3, 0);
  w.flush();
  assert.deepEqual(blocked, [true, false]);
  accept = false;
  w.ack(4, 4, 0);
  w.flush();
  assert.deepEqual(blocked, [true, false, true], 'full again after a drain: told again');
});

test('codec: a large batch is written through cork/uncork without waiting for the turn to end', () => {
  const writes: number[] = [];
  let corks = 0;
  const sink: PacketSink = {
    write: (b) => {
      writes.push(b.length);
      return true;
    },
    cork: () => corks++,
    uncork: () => {},
  };
  const w = new PacketWriter(sink, { backpressure: () => {} });
  const big = payload(40 * 1024);
  w.publish(Buffer.from('t'), big, 0, 0, false, false);
  assert.equal(writes.length, 0);
  w.publish(Buffer.from('t'), big, 0, 0, false, false);
  assert.ok(writes.length > 0, 'over 64 KiB: written at once');
  assert.equal(corks, 1);
  assert.equal(
    writes.reduce((a, b) => a + b, 0),
    2 * (big.length + 1 + 3 + 3),
  );
});

test('codec: publishPacketSize is the length PacketWriter.publish writes', () => {
  fc.assert(
    fc.property(
      fc.nat({ max: 300 }),
      fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: 16_000, max: 2_100_000 })),
      fc.constantFrom(0, 1, 2),
      fc.boolean(),
      (topicLen, payloadLen, qos, v5) => {
        const out: Buffer[] = [];
        const w = new PacketWriter(
          { write: (b: Buffer) => out.push(b) > 0, cork: () => {}, uncork: () => {} },
          { backpressure: () => {} },
        );
        w.version = v5 ? 5 : 4;
        w.publish(Buffer.alloc(topicLen, 0x61), Buffer.alloc(payloadLen), qos, qos > 0 ? 1 : 0, false, false);
        w.flush();
        const written = out.reduce((n, b) => n + b.length, 0);
        assert.equal(publishPacketSize(topicLen, payloadLen, qos, v5), written);
      },
    ),
    { numRuns: 300 },
  );
});

test('codec: userPropertyCount counts the User Properties of every v5 packet kind, beside other properties', () => {
  const props = fc.dictionary(
    // mqtt-packet cannot write an empty name or value (it gives an empty buffer).
    fc.string({ minLength: 1, maxLength: 4 }),
    fc.oneof(
      fc.string({ minLength: 1, maxLength: 4 }),
      fc.array(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
    ),
    { maxKeys: 6 },
  );
  const count = (u: Record<string, string | string[]>) =>
    Object.values(u).reduce((n, v) => n + (Array.isArray(v) ? v.length : 1), 0);
  // mqtt-packet writes nothing at all for an empty userProperties object, or for one without a
  // prototype (as fast-check makes them).
  const up = (u: Record<string, string | string[]>) => (count(u) > 0 ? { userProperties: { ...u } } : {});
  fc.assert(
    fc.property(props, props, fc.constantFrom(0, 1, 2), (u, w, qos) => {
      const packets: [Packet, number][] = [
        [
          connect(5, {
            properties: { sessionExpiryInterval: 5, ...up(u), authenticationMethod: 'x' },
            will: {
              topic: 'w',
              payload: Buffer.from('p'),
              qos: 0,
              retain: false,
              properties: { ...up(w), contentType: 'c' },
            },
          }),
          count(u) + count(w),
        ],
        [
          {
            cmd: 'publish',
            topic: 't',
            payload: Buffer.from('x'),
            qos,
            ...(qos > 0 ? { messageId: 3 } : {}),
            dup: false,
            retain: false,
            properties: {
              ...up(u),
              correlationData: Buffer.from('c'),
              messageExpiryInterval: 9,
              subscriptionIdentifier: 200,
            },
          } as Packet,
          count(u),
        ],
        [
          {
            cmd: 'puback',
            messageId: 1,
            reasonCode: 0x10,
            properties: { reasonString: 'r', ...up(u) },
          } as Packet,
          count(u),
        ],
        [
          {
            cmd: 'subscribe',
            messageId: 2,
            subscriptions: [{ topic: 'a', qos: 0 }],
            properties: { ...up(u) },
          } as Packet,
          count(u),
        ],
        [
          {
            cmd: 'disconnect',
            reasonCode: 0,
            properties: { ...up(u), sessionExpiryInterval: 1 },
          } as Packet,
          count(u),
        ],
      ];
      for (const [p, n] of packets) {
        const bytes = gen(p, 5);
        assert.ok(bytes.length > 0, `mqtt-packet wrote no ${p.cmd}`);
        assert.equal(userPropertyCount(bytes), n, p.cmd);
      }
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('codec: a packet with more than MAX_USER_PROPERTIES user properties is refused before parsing (0x95)', () => {
  const { r, got } = reader(5);
  const over = { k: Array.from({ length: MAX_USER_PROPERTIES + 1 }, () => 'v') };
  const p = {
    cmd: 'publish',
    topic: 't',
    payload: Buffer.from('x'),
    qos: 1,
    messageId: 1,
    dup: false,
    retain: false,
  };
  assert.throws(
    () => r.push(gen({ ...p, properties: { userProperties: over } } as Packet, 5)),
    (e: unknown) => e instanceof MqttError && e.reason === Reason.PACKET_TOO_LARGE,
  );
  const { r: r2, got: got2 } = reader(5);
  const at = { k: Array.from({ length: MAX_USER_PROPERTIES }, () => 'v') };
  r2.push(gen({ ...p, properties: { userProperties: at } } as Packet, 5));
  assert.equal(got2.length, 1);
  assert.equal(got.length, 0);
});
