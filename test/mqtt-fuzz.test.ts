/**
 * Live MQTT fuzzing: over 100,000 mutated packets (valid 3.1.1 and 5.0 packets of every type,
 * mutated, and some plain garbage) go to a real listener over many short-lived raw connections,
 * most of which start with a valid CONNECT so that the mutations reach the connected state
 * machine. Meanwhile a well-behaved MQTT.js client publishes at QoS 1 to a topic it subscribes to
 * at QoS 1: it must receive every message the broker acknowledged, and nothing else. At the end
 * the broker still accepts and serves new clients and holds no connection of the fuzzers.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import mqtt from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { MqttConnection } from '../src/mqtt/connection.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { connectPacket, encode, frame, RawMqtt, type Version } from './mqtt-raw.js';
import { poll } from './support/wait.js';

/** Mutated packets to send, at least. */
const MIN_MUTATED = 150_000;
/**
 * Packets that must reach a connected fuzz connection's handlers (not cut off by an earlier fatal
 * one). About 23,000 do: a mutated packet id (0, or none) ends its connection early, and the
 * codec refuses what MQTT calls malformed (a property a packet may not carry, bytes after the
 * last field, a reason code of another packet) before it reaches a handler.
 */
const MIN_HANDLED = 20_000;
/** Packets on one connection, its CONNECT included; most often the last one breaks the framing. */
const PACKETS_PER_CONNECTION = 8;
const PARALLEL = 16;
/**
 * A hang guard, not a verdict: the fuzzing stops here even if it has not sent MIN_MUTATED (and then
 * fails). An idle machine needs about 20 s; a busy one has been seen to need over 60.
 */
const TIME_BUDGET_MS = 240_000;
/** Client ids of the fuzzers: few, so durable sessions (clean = 0) are reused, not piled up. */
const FUZZ_IDS = 24;

// Counts the packets handed to the state machine of a connected fuzz connection.
let handled = 0;
const proto = MqttConnection.prototype as unknown as {
  onPacket(this: { state: string; clientId: string | undefined }, p: Packet): void;
};
const onPacket = proto.onPacket;
proto.onPacket = function (p) {
  if (this.state === 'connected' && this.clientId?.startsWith('fuzz-') === true) handled++;
  onPacket.call(this, p);
};

let broker: TestBroker;
let port: number;
before(async () => {
  broker = await startTestBroker({}, undefined, { mqtt: { port: 0, maxPacketSize: 65536 } });
  port = broker.server.mqtt!.address.port;
});
after(async () => {
  await broker.close();
});

const props5 = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 60,
  topicAlias: 1,
  responseTopic: 'fuzz/reply',
  correlationData: Buffer.from([1, 2, 3]),
  userProperties: { k: 'v' },
  contentType: 'text/plain',
};

function connects(v: Version, id: string): Packet[] {
  const five = v === 5;
  return [
    connectPacket(v, id),
    connectPacket(v, id, {
      keepalive: 30,
      username: 'guest',
      password: Buffer.from('guest'),
      will: {
        topic: 'fuzz/will',
        payload: Buffer.from('bye'),
        qos: 1,
        retain: false,
        ...(five ? { properties: { willDelayInterval: 0, contentType: 'x' } } : {}),
      },
      ...(five
        ? {
            properties: {
              receiveMaximum: 4,
              topicAliasMaximum: 4,
              maximumPacketSize: 4096,
              requestResponseInformation: true,
              userProperties: { a: 'b' },
            },
          }
        : {}),
    }),
  ];
}

/**
 * Valid packets a client may send after CONNECT, every type. `end` ones close the connection
 * even unmutated (DISCONNECT, AUTH, the server-only types, an alias not yet set), so they are rarer.
 */
function seedsOf(v: Version): { flow: Packet[]; end: Packet[] } {
  const five = v === 5;
  const ok = five ? { reasonCode: 0 } : {};
  const flow: Packet[] = [
    { cmd: 'publish', topic: 'fuzz/a', payload: Buffer.from('zero'), qos: 0, retain: false, dup: false },
    {
      cmd: 'publish',
      topic: 'fuzz/b/c',
      payload: Buffer.from('one'),
      qos: 1,
      messageId: 1,
      retain: false,
      dup: false,
    },
    {
      cmd: 'publish',
      topic: 'fuzz/q2',
      payload: Buffer.from('two'),
      qos: 2,
      messageId: 2,
      retain: false,
      dup: false,
    },
    {
      cmd: 'publish',
      topic: 'fuzz/r',
      payload: Buffer.from('kept'),
      qos: 1,
      messageId: 3,
      retain: true,
      dup: false,
    },
    { cmd: 'puback', messageId: 1, ...ok },
    { cmd: 'pubrec', messageId: 2, ...ok },
    { cmd: 'pubrel', messageId: 2, ...ok },
    { cmd: 'pubcomp', messageId: 2, ...ok },
    {
      cmd: 'subscribe',
      messageId: 4,
      subscriptions: [
        { topic: 'fuzz/#', qos: 1 },
        { topic: '#', qos: 2 },
      ],
    },
    { cmd: 'subscribe', messageId: 5, subscriptions: [{ topic: 'fuzz/+/c', qos: 0 }] },
    { cmd: 'unsubscribe', messageId: 6, unsubscriptions: ['fuzz/#', '#'] },
    { cmd: 'pingreq' },
  ];
  const end: Packet[] = [
    { cmd: 'disconnect' },
    { cmd: 'connack', sessionPresent: false, ...(five ? { reasonCode: 0 } : { returnCode: 0 }) },
    { cmd: 'suback', messageId: 1, granted: [1] },
    { cmd: 'unsuback', messageId: 1, ...(five ? { granted: [0] } : {}) } as Packet,
    { cmd: 'pingresp' },
  ];
  if (five) {
    flow.push(
      {
        cmd: 'publish',
        topic: 'fuzz/props',
        payload: Buffer.from('{"a":1}'),
        qos: 1,
        messageId: 7,
        retain: false,
        dup: false,
        properties: props5,
      },
      {
        cmd: 'subscribe',
        messageId: 8,
        subscriptions: [
          { topic: '$share/g/fuzz/#', qos: 1, nl: false, rap: false, rh: 0 },
          { topic: 'fuzz/r', qos: 2, nl: true, rap: true, rh: 1 },
        ],
        properties: { subscriptionIdentifier: 9, userProperties: { s: 't' } },
      },
      { cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['$share/g/fuzz/#'] },
      { cmd: 'puback', messageId: 1, reasonCode: 0x80, properties: { reasonString: 'no' } },
    );
    end.push(
      {
        cmd: 'publish',
        topic: '',
        payload: Buffer.from('aliased'),
        qos: 0,
        retain: false,
        dup: false,
        properties: { topicAlias: 1 },
      },
      { cmd: 'disconnect', reasonCode: 0x04, properties: { sessionExpiryInterval: 0 } },
      { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X' } },
    );
  }
  return { flow, end };
}

const seedBytes = (v: Version) => {
  const { flow, end } = seedsOf(v);
  return { flow: flow.map((p) => encode(p, v)), end: end.map((p) => encode(p, v)) };
};
const SEEDS = { 4: seedBytes(4), 5: seedBytes(5) } as const;
/** One seed: mostly a packet of the flow, one in sixteen a packet that ends the connection. */
const pick = (v: Version, i: number): Buffer => {
  const { flow, end } = SEEDS[v];
  return i % 16 === 0 ? end[(i >> 4) % end.length]! : flow[i % flow.length]!;
};
const CONNECT_SEEDS: Record<Version, Buffer[][]> = {
  4: Array.from({ length: FUZZ_IDS }, (_, i) => connects(4, `fuzz-${i}`).map((p) => encode(p, 4))),
  5: Array.from({ length: FUZZ_IDS }, (_, i) => connects(5, `fuzz-${i}`).map((p) => encode(p, 5))),
};

/** Where the body of a packet starts (after its fixed header). */
function bodyStart(b: Buffer): number {
  let i = 1;
  while (i < b.length && i < 5 && (b[i]! & 0x80) !== 0) i++;
  return i + 1;
}

/** A new fixed header around an edited body: the framing stays valid, the content does not. */
const reframe = frame;

type Mutation = { bytes: Buffer; mutated: boolean };

/**
 * A packet with a mutation that keeps the framing valid, so it reaches mqtt-packet's parser and,
 * if that takes it, the connection's handlers.
 */
function mutateBody(seed: Buffer, op: number, noise: Uint8Array, pos: number): Mutation {
  const start = bodyStart(seed);
  const body = Buffer.from(seed.subarray(start));
  const n0 = noise[0]!;
  const at = body.length === 0 ? 0 : pos % body.length;
  switch (op) {
    case 0: // unchanged: keeps the state machine moving
      return { bytes: seed, mutated: false };
    case 1: // bit flips in the body
      if (body.length === 0) return { bytes: reframe(seed[0]!, Buffer.from(noise)), mutated: true };
      for (let k = 0; k < Math.min(3, noise.length); k++) {
        const q = (at + k * 7) % body.length;
        body[q] = body[q]! ^ (1 << (noise[k]! & 7));
      }
      return { bytes: reframe(seed[0]!, body), mutated: true };
    case 2: // a byte of the body replaced
      if (body.length > 0) body[at] = n0;
      return { bytes: reframe(seed[0]!, body.length > 0 ? body : Buffer.from([n0])), mutated: true };
    case 3: // the flags nibble changed (QoS 3, wrong reserved bits, dup, retain)
      return { bytes: reframe((seed[0]! & 0xf0) | (n0 & 0x0f) | (n0 & 0x0f ? 0 : 1), body), mutated: true };
    case 4: // another packet type with this body
      return { bytes: reframe(((n0 & 0x0f) << 4) | (seed[0]! & 0x0f), body), mutated: true };
    case 5: // bytes inserted
      return {
        bytes: reframe(
          seed[0]!,
          Buffer.concat([body.subarray(0, at), Buffer.from(noise), body.subarray(at)]),
        ),
        mutated: true,
      };
    case 6: // bytes deleted
      return {
        bytes: reframe(seed[0]!, Buffer.concat([body.subarray(0, at), body.subarray(at + 1 + (n0 % 6))])),
        mutated: true,
      };
    default: // truncated
      return { bytes: reframe(seed[0]!, body.subarray(0, at)), mutated: true };
  }
}

/** A mutation that breaks the framing: the connection ends here. */
function mutateFraming(seed: Buffer, op: number, noise: Uint8Array, pos: number): Buffer {
  const b = Buffer.from(seed);
  switch (op) {
    case 0: // a Remaining Length byte changed
      b[1 + (pos % Math.max(1, Math.min(4, b.length - 1)))] = noise[0]!;
      return b;
    case 1: // cut short, then garbage
      return Buffer.concat([b.subarray(0, pos % b.length), Buffer.from(noise)]);
    case 2: // a Remaining Length of five bytes
      return Buffer.from([b[0]!, 0xff, 0xff, 0xff, 0xff, 0x01]);
    case 3: // larger than the maximum packet size, header only
      return Buffer.from([b[0]!, 0xff, 0xff, 0x7f]);
    default: // garbage
      return Buffer.from(noise);
  }
}

interface Plan {
  v: Version;
  /** The CONNECT (valid or mutated) and the packets after it. */
  packets: Buffer[];
  /** How many of them are mutated. */
  mutated: number;
}

const planArb = fc
  .record({
    v: fc.constantFrom<Version>(4, 5),
    id: fc.nat({ max: FUZZ_IDS - 1 }),
    c: fc.nat({ max: 1 }),
    connectKind: fc.nat({ max: 99 }),
    body: fc.array(
      fc.tuple(
        fc.nat(),
        // Three in ten unchanged, so that state builds up (subscriptions, QoS 2 flows) between mutations.
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(0) },
          { weight: 7, arbitrary: fc.integer({ min: 1, max: 7 }) },
        ),
        fc.uint8Array({ minLength: 1, maxLength: 12 }),
        fc.nat(),
      ),
      { minLength: PACKETS_PER_CONNECTION - 2, maxLength: PACKETS_PER_CONNECTION - 2 },
    ),
    // Most connections end with a packet that breaks the framing; the others just end.
    last: fc.option(
      fc.tuple(fc.nat(), fc.nat({ max: 4 }), fc.uint8Array({ minLength: 1, maxLength: 24 }), fc.nat()),
      { freq: 4 },
    ),
    cop: fc.tuple(fc.nat({ max: 7 }), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat()),
  })
  .map(({ v, id, c, connectKind, body, last, cop }): Plan => {
    const packets: Buffer[] = [];
    let mutated = 0;
    const validConnect = CONNECT_SEEDS[v][id]![c]!;
    if (connectKind < 85) packets.push(validConnect);
    else if (connectKind < 97) {
      // A mutated CONNECT: the handshake itself is fuzzed.
      const m = mutateBody(validConnect, 1 + (cop[0] % 7), cop[1], cop[2]);
      packets.push(m.bytes);
      mutated++;
    } else {
      packets.push(Buffer.from(cop[1])); // garbage instead of a CONNECT
      mutated++;
    }
    for (const [i, op, noise, pos] of body) {
      const seed = pick(v, i);
      const m = mutateBody(seed, op, noise, pos);
      packets.push(m.bytes);
      if (m.mutated) mutated++;
    }
    if (last !== null) {
      const end = mutateFraming(pick(v, last[0]), last[1], last[2], last[3]);
      packets.push(end);
      mutated++;
    }
    return { v, packets, mutated };
  });

/** What the fuzzers saw come back that a conforming client parser refuses (should be nothing). */
const badReplies = new Map<string, { count: number; example: string }>();

/** The version the broker speaks after this (maybe mutated) CONNECT: what it parses it as. */
function versionOf(connectBytes: Buffer): Version {
  let v: Version = 4;
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'connect' && p.protocolVersion === 5) v = 5;
  });
  parser.on('error', () => {});
  try {
    parser.parse(connectBytes);
  } catch {
    // not a CONNECT the broker takes either
  }
  return v;
}

function fuzzConnection(plan: Plan): Promise<void> {
  return new Promise((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: versionOf(plan.packets[0]!) });
    let failed = false;
    let received = Buffer.alloc(0);
    parser.on('error', (e: Error) => {
      if (failed) return;
      failed = true;
      const entry = badReplies.get(e.message) ?? { count: 0, example: '' };
      entry.count++;
      if (entry.example === '') entry.example = received.subarray(0, 200).toString('hex');
      badReplies.set(e.message, entry);
    });
    const s: Socket = connect({ host: '127.0.0.1', port }, () => {
      for (const p of plan.packets) if (!s.destroyed) s.write(p);
      s.end();
    });
    s.on('data', (d: Buffer) => {
      if (failed) return;
      if (received.length < 4096) received = Buffer.concat([received, d]);
      parser.parse(d);
    });
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.setTimeout(10_000, () => s.destroy());
  });
}

test('mqtt fuzz: over 100,000 mutated packets through a live listener; a good client loses nothing', {
  timeout: TIME_BUDGET_MS + 60_000,
}, async (t) => {
  const fe = broker.server.mqttFrontEnd;
  const goodTopic = uniq('good/topic');
  const good = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5,
    clientId: uniq('good'),
    reconnectPeriod: 0,
    keepalive: 0,
  });
  let goodCloses = 0;
  good.on('close', () => goodCloses++);
  const received: number[] = [];
  const unexpected: string[] = [];
  good.on('message', (topic, payload) => {
    const m = /^good-(\d+)$/.exec(payload.toString());
    if (topic !== goodTopic || m === null)
      unexpected.push(`${topic}: ${payload.toString('hex').slice(0, 80)}`);
    else received.push(Number(m[1]));
  });
  await good.subscribeAsync(goodTopic, { qos: 1 });

  const acked: number[] = [];
  let stop = false;
  let publishError: unknown;
  const publishing = (async () => {
    for (let n = 0; !stop && n < 1_000_000; n++) {
      try {
        await good.publishAsync(goodTopic, `good-${n}`, { qos: 1 });
      } catch (e) {
        publishError = e;
        return;
      }
      acked.push(n);
    }
  })();

  // Plans are drawn in batches (fast-check, fixed seeds) until enough mutations are planned.
  const started = Date.now();
  let mutated = 0;
  let packets = 0;
  let connections = 0;
  let batch = 0;
  while (mutated < MIN_MUTATED && Date.now() - started < TIME_BUDGET_MS && batch < 100) {
    const plans = fc.sample(planArb, { numRuns: 2000, seed: 0x6d717474 + batch++ });
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < plans.length && Date.now() - started < TIME_BUDGET_MS) {
          const plan = plans[next++]!;
          await fuzzConnection(plan);
          mutated += plan.mutated;
          packets += plan.packets.length;
          connections++;
        }
      }),
    );
  }
  const elapsed = Date.now() - started;
  t.diagnostic(
    `${connections} connections, ${packets} packets, ${mutated} mutated, ${handled} handled while connected, ` +
      `${acked.length} good publishes, ${elapsed} ms`,
  );
  assert.ok(mutated >= MIN_MUTATED, `only ${mutated} mutated packets sent in ${elapsed} ms`);
  assert.ok(handled >= MIN_HANDLED, `only ${handled} packets reached a connected connection's handlers`);

  stop = true;
  await publishing;
  assert.equal(publishError, undefined, `the good client's publish failed: ${String(publishError)}`);
  assert.ok(acked.length > 0, 'the good client published while the fuzzers ran');
  // Every acknowledged message arrives (bounded wait for the tail), nothing else does.
  const got = new Set(received);
  await poll(() => {
    for (const n of received) got.add(n);
    return acked.every((n) => got.has(n));
  }, 'the acknowledged messages to arrive').catch((e: unknown) => t.diagnostic(String(e)));
  const missing = acked.filter((n) => !got.has(n));
  assert.deepEqual(
    missing,
    [],
    `${missing.length} of ${acked.length} acknowledged messages were not delivered`,
  );
  assert.deepEqual(unexpected, [], 'messages the good client did not publish');
  assert.equal(received.length, got.size, 'no message was delivered twice');
  assert.equal(goodCloses, 0, 'the good client stayed connected');

  // The broker is up and serves new clients, over MQTT.js (both versions) and a raw socket.
  for (const protocolVersion of [4, 5] as const) {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion, reconnectPeriod: 0 });
    const topic = uniq('after/fuzz');
    const arrived = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync(topic, { qos: 1 });
    await c.publishAsync(topic, 'after', { qos: 1 });
    assert.equal(await arrived, 'after');
    await c.endAsync();
  }
  const raw = await RawMqtt.connected(port, 5, uniq('after-raw'));
  raw.destroy();

  // No fuzz connection is left behind in the front end.
  const fuzzLeft = () => [...fe.connections].some((c) => c.clientId?.startsWith('fuzz-') !== false);
  await poll(() => !fuzzLeft(), 'the fuzz connections to go').catch((e: unknown) => t.diagnostic(String(e)));
  const left = [...fe.connections].filter((c) => c.clientId?.startsWith('fuzz-') !== false).length;
  assert.equal(left, 0, `${left} fuzz connections still registered`);
  await good.endAsync();
});

test('mqtt fuzz: everything the broker sent the fuzzers parses as MQTT', () => {
  const summary = [...badReplies].map(([msg, { count, example }]) => `${msg} x${count} (e.g. ${example})`);
  assert.deepEqual(summary, []);
});
