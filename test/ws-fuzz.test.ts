/**
 * Fuzzing the native WebSocket protocol: property tests of the frame parsers (JSON requests and
 * the binary form) over random, valid and mutated frames, then a live run that sends thousands of
 * mutated frames to one connection while a good connection, an AMQP consumer and an MQTT 5
 * consumer keep receiving every good message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import fc from 'fast-check';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { encodeProperties } from '../src/amqp/codec/properties.js';
import { AMQP_LIMITS, carriable } from '../src/core/index.js';
import {
  BinaryKind,
  decodeBinaryFrame,
  encodeBinaryFrame,
  parseBinaryFrame,
  parseTextFrame,
  type Request,
  RequestError,
} from '../src/ws/codec/index.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';

const SEED = 20_240_611;

// ---------------------------------------------------------------------------------------------
// Arbitraries: valid-looking requests, and mutations of them.

// Valid requests by construction, so that mutations land near the paths that do something.
const exchangeArb = fc.constantFrom('', 'amq.topic', 'amq.direct', 'amq.fanout');
const keyArb = fc.oneof(fc.constantFrom('fuzz.a', 'fuzz.b.c', 'fuzz-q'), fc.string({ maxLength: 12 }));
const goodTaggedArb = fc.oneof(
  fc.record({ $bigint: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) }),
  fc.record({ $date: fc.nat() }),
  fc.record({ $decimal: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.nat()) }),
  fc.record({ $bytes: fc.base64String({ maxLength: 16 }) }),
);
const goodPropertiesArb = fc.record(
  {
    contentType: fc.string({ maxLength: 20 }),
    contentEncoding: fc.string({ maxLength: 10 }),
    headers: fc.dictionary(
      fc.string({ maxLength: 10 }),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), goodTaggedArb),
      {
        maxKeys: 4,
      },
    ),
    deliveryMode: fc.constantFrom(1, 2),
    priority: fc.integer({ min: 0, max: 255 }),
    correlationId: fc.string({ maxLength: 10 }),
    replyTo: fc.string({ maxLength: 10 }),
    expiration: fc.nat({ max: 100_000 }).map(String),
    messageId: fc.string({ maxLength: 10 }),
    timestamp: fc.nat(),
    type: fc.string({ maxLength: 10 }),
    appId: fc.string({ maxLength: 10 }),
  },
  { requiredKeys: [] },
);
const goodBodyArb = fc.oneof(
  fc.record({ body: fc.string({ maxLength: 40 }) }),
  fc.record({
    body: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('base64')),
    bodyEncoding: fc.constant('base64'),
  }),
);
const goodPublishArb = fc
  .tuple(
    fc.record(
      {
        op: fc.constant('publish'),
        id: fc.oneof(fc.nat(), fc.string({ maxLength: 8 })),
        exchange: exchangeArb,
        routingKey: keyArb,
        properties: goodPropertiesArb,
        mandatory: fc.boolean(),
        traceparent: fc.string({ maxLength: 60 }),
      },
      { requiredKeys: ['op'] },
    ),
    goodBodyArb,
  )
  .map(([r, body]) => ({ ...r, ...body }));
const subArb = fc.constantFrom('s1', 's2', 'fz');
const goodSubscribeArb = fc
  .tuple(
    fc.record(
      {
        op: fc.constant('subscribe'),
        sub: subArb,
        ack: fc.constantFrom('auto', 'manual'),
        credit: fc.nat({ max: 20 }),
        prefetch: fc.nat({ max: 20 }),
        binary: fc.boolean(),
        exclusive: fc.boolean(),
      },
      { requiredKeys: ['op', 'sub'] },
    ),
    fc.oneof(
      fc.record({ queue: fc.constantFrom('fuzz-q', 'no-such-q') }),
      fc.record({ exchange: exchangeArb, key: fc.constantFrom('#', 'fuzz.*', 'fuzz.#', '') }),
    ),
  )
  .map(([r, source]) => ({ ...r, ...source }));
const goodOtherArb = fc.oneof(
  fc.record(
    {
      op: fc.constantFrom('ack', 'nack'),
      sub: subArb,
      id: fc.integer({ min: 1, max: 30 }),
      multiple: fc.boolean(),
      requeue: fc.boolean(),
    },
    { requiredKeys: ['op', 'sub', 'id'] },
  ),
  fc.record({ op: fc.constant('credit'), sub: subArb, n: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ op: fc.constant('unsubscribe'), sub: subArb }),
  fc.record({ op: fc.constant('ping'), id: fc.nat() }, { requiredKeys: ['op'] }),
);

// Wild requests: any type in any field, out-of-range numbers, over-long names, bad tags.
const wildNameArb = fc.oneof(
  keyArb,
  fc.string({ minLength: 250, maxLength: 260 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const wildCountArb = fc.oneof(fc.nat({ max: 20 }), fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 1 }));
const badTaggedArb = fc.oneof(
  fc.record({ $bigint: fc.oneof(fc.bigInt().map(String), fc.string({ maxLength: 30 })) }),
  fc.record({ $date: fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.double()) }),
  fc.record({ $decimal: fc.oneof(fc.tuple(fc.integer(), fc.integer()), fc.jsonValue({ maxDepth: 1 })) }),
  fc.record({ $bytes: fc.oneof(fc.base64String({ maxLength: 16 }), fc.integer()) }),
);
const wildPropertiesArb = fc.oneof(
  fc.record(
    {
      contentType: fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 254, maxLength: 258 })),
      headers: fc.dictionary(fc.string({ maxLength: 10 }), badTaggedArb, { maxKeys: 3 }),
      deliveryMode: fc.integer({ min: -2, max: 300 }),
      priority: fc.integer({ min: -2, max: 300 }),
      expiration: fc.string({ maxLength: 6 }),
      timestamp: fc.oneof(fc.integer(), fc.double()),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const wildArb = fc.record(
  {
    op: fc.oneof(
      fc.constantFrom('publish', 'subscribe', 'ack', 'nack', 'credit', 'unsubscribe', 'ping'),
      fc.string({ maxLength: 8 }),
    ),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.double(), fc.constant(null)),
    sub: fc.oneof(subArb, fc.string({ maxLength: 300 }), fc.integer()),
    exchange: wildNameArb,
    routingKey: wildNameArb,
    queue: wildNameArb,
    key: wildNameArb,
    body: fc.oneof(fc.string({ maxLength: 40 }), fc.integer()),
    bodyEncoding: fc.constantFrom('utf8', 'base64', 'hex'),
    properties: wildPropertiesArb,
    ack: fc.constantFrom('auto', 'manual', 'never'),
    credit: wildCountArb,
    prefetch: wildCountArb,
    n: wildCountArb,
    multiple: fc.oneof(fc.boolean(), fc.integer()),
    traceparent: fc.oneof(fc.string({ maxLength: 60 }), fc.integer()),
  },
  { requiredKeys: ['op'] },
);

/** Well-formed publishes whose properties stretch past what AMQP (or the container) can carry. */
const wildPublishArb = fc
  .tuple(goodPublishArb, wildPropertiesArb, fc.oneof(fc.string({ maxLength: 60 }), fc.integer()))
  .map(([r, properties, traceparent]) => ({ ...r, properties, traceparent }));
/** Well-formed subscribes with out-of-range counts and names. */
const wildSubscribeArb = fc
  .tuple(goodSubscribeArb, wildCountArb, wildCountArb, wildNameArb)
  .map(([r, credit, prefetch, queue]) => ({ ...r, credit, prefetch, ...('queue' in r ? { queue } : {}) }));

const requestArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: goodPublishArb },
  { weight: 2, arbitrary: wildPublishArb },
  { weight: 2, arbitrary: goodSubscribeArb },
  { weight: 1, arbitrary: wildSubscribeArb },
  { weight: 2, arbitrary: goodOtherArb },
  { weight: 1, arbitrary: wildArb },
);
/** Structural mutations: a field dropped, replaced by any JSON, or added. */
const structuralArb = fc
  .tuple(requestArb, fc.nat(), fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), fc.nat({ max: 2 }))
  .map(([req, pick, field, value, kind]) => {
    const o: Record<string, unknown> = { ...req };
    const keys = Object.keys(o);
    const key = keys[pick % keys.length]!;
    if (kind === 0) delete o[key];
    else if (kind === 1) o[key] = value;
    else o[field] = value;
    return JSON.stringify(o);
  });

/** Character-level mutations of a request's JSON text. */
const textMutationArb = fc
  .tuple(
    requestArb.map((r) => JSON.stringify(r)),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 2 }), fc.string({ minLength: 1, maxLength: 2 })), {
      minLength: 1,
      maxLength: 4,
    }),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [pos, kind, ch] of edits) {
      const i = pos % (s.length + 1);
      if (kind === 0) s = s.slice(0, i) + s.slice(i + 1);
      else if (kind === 1) s = s.slice(0, i) + ch + s.slice(i);
      else s = s.slice(0, i) + ch + s.slice(i + ch.length);
    }
    return s;
  });

/** A binary publish built from a publish request's fields (the header) and raw bytes. */
const binaryPublishArb = fc.tuple(goodPublishArb, fc.uint8Array({ maxLength: 64 })).map(([req, body]) => {
  const header: Record<string, unknown> = { ...req };
  delete header.op;
  delete header.body;
  delete header.bodyEncoding;
  return encodeBinaryFrame(BinaryKind.PUBLISH, JSON.stringify(header), Buffer.from(body));
});

/** Byte-level mutations of binary frames: flips, truncation, insertion, a rewritten length. */
const binaryMutationArb = fc
  .tuple(
    binaryPublishArb,
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    }),
    fc.nat(),
  )
  .map(([frame, edits, length]) => {
    let b = Buffer.from(frame);
    for (const [pos, kind, byte] of edits) {
      const i = pos % Math.max(1, b.length);
      if (kind === 0 && b.length > 0) b[i] = byte;
      else if (kind === 1) b = b.subarray(0, i);
      else if (kind === 2) b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      else if (b.length >= 5) b.writeUInt32BE(length % (b.length + 8), 1);
    }
    return b;
  });

// ---------------------------------------------------------------------------------------------
// What every parse must satisfy.

/**
 * A parse gives a well-formed request, or a RequestError: SYNTAX_ERROR (or NAME_TOO_LONG for a
 * name over 255 bytes) with a message and a typed context.
 */
function checkOutcome(parse: () => Request): void {
  let req: Request;
  try {
    req = parse();
  } catch (e) {
    assert.ok(e instanceof RequestError, `not a RequestError: ${String(e)}`);
    assert.ok(e.code === 'SYNTAX_ERROR' || e.code === 'NAME_TOO_LONG', e.code);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0);
    const c = e.context;
    if (c.request !== undefined) assert.equal(typeof c.request, 'string');
    if (c.sub !== undefined) assert.equal(typeof c.sub, 'string');
    if (c.id !== undefined) assert.ok(typeof c.id === 'string' || Number.isFinite(c.id));
    return;
  }
  checkRequest(req);
}

function checkRequest(req: Request): void {
  switch (req.op) {
    case 'publish':
      assert.ok(Buffer.isBuffer(req.body));
      assert.ok(Buffer.byteLength(req.exchange) <= 255 && Buffer.byteLength(req.routingKey) <= 255);
      // Whatever a WebSocket client may publish, an AMQP consumer can be sent (once the core's
      // carry policy has moved what the 0-9-1 wire cannot hold as is).
      encodeProperties(carriable(req.properties, AMQP_LIMITS));
      return;
    case 'subscribe':
      assert.ok((req.queue === undefined) !== (req.exchange === undefined));
      assert.ok(req.credit === undefined || (Number.isInteger(req.credit) && req.credit >= 0));
      assert.ok(Number.isInteger(req.prefetch) && req.prefetch >= 0);
      assert.ok(req.sub.length > 0);
      return;
    case 'ack':
    case 'nack':
      assert.ok(Number.isInteger(req.id) && req.id >= (req.multiple ? 0 : 1));
      return;
    case 'credit':
      assert.ok(Number.isInteger(req.n) && req.n >= 1);
      return;
    case 'unsubscribe':
      assert.ok(req.sub.length > 0);
      return;
    case 'ping':
      return;
  }
}

describe('ws fuzz: parsers', () => {
  test('ws fuzz: arbitrary text never escapes as anything but a RequestError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' })), (s) =>
        checkOutcome(() => parseTextFrame(s)),
      ),
      { numRuns: 4000, seed: SEED },
    );
  });

  test('ws fuzz: generated requests parse to well-formed requests or SYNTAX_ERROR', () => {
    fc.assert(
      fc.property(requestArb, (r) => checkOutcome(() => parseTextFrame(JSON.stringify(r)))),
      { numRuns: 4000, seed: SEED },
    );
  });

  test('ws fuzz: structurally mutated requests', () => {
    fc.assert(
      fc.property(structuralArb, (s) => checkOutcome(() => parseTextFrame(s))),
      { numRuns: 4000, seed: SEED },
    );
  });

  test('ws fuzz: character-mutated requests', () => {
    fc.assert(
      fc.property(textMutationArb, (s) => checkOutcome(() => parseTextFrame(s))),
      { numRuns: 4000, seed: SEED },
    );
  });

  test('ws fuzz: binary frames round-trip (encode → decode = identity)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.jsonValue({ maxDepth: 3 }),
        fc.uint8Array({ maxLength: 256 }),
        (kind, header, body) => {
          const text = JSON.stringify(header);
          const f = decodeBinaryFrame(encodeBinaryFrame(kind, text, Buffer.from(body)));
          assert.equal(f.kind, kind);
          assert.deepEqual(f.header, JSON.parse(text));
          assert.deepEqual(new Uint8Array(f.body), body);
        },
      ),
      { numRuns: 2000, seed: SEED },
    );
  });

  test('ws fuzz: random and mutated binary frames', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          binaryMutationArb,
          fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        ),
        (b) => checkOutcome(() => parseBinaryFrame(b)),
      ),
      { numRuns: 4000, seed: SEED },
    );
  });

  test('ws fuzz: a valid binary publish keeps its body bytes as a view', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), fc.string({ maxLength: 20 }), (body, key) => {
        const frame = encodeBinaryFrame(
          BinaryKind.PUBLISH,
          JSON.stringify({ routingKey: key }),
          Buffer.from(body),
        );
        const r = parseBinaryFrame(frame);
        assert.deepEqual(new Uint8Array(r.body), body);
        assert.equal(r.body.buffer, frame.buffer);
      }),
      { numRuns: 1000, seed: SEED },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Live: mutated frames at one connection while others keep working.

/** Wakes a waiter whenever any consumer makes progress, so the test awaits events, not sleeps. */
class Progress {
  private wake: (() => void) | undefined;
  bump(): void {
    this.wake?.();
  }
  async until(done: () => boolean, state: () => string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out: ${state()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }
}

describe('ws fuzz: live', () => {
  let b: TestBroker;
  before(async () => {
    b = await startTestBroker();
  });
  after(async () => {
    await b.close();
  });

  test('ws fuzz: 5,000 mutated frames to one connection; good traffic on others loses nothing', async () => {
    const url = `ws://127.0.0.1:${b.server.http!.address.port}/ws`;
    const openWs = async (): Promise<WebSocket> => {
      const ws = new WebSocket(url, 'switchyard.v1');
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      return ws;
    };
    const run = uniq('good');
    const N = 1000;
    const key = `good.${run}`;
    const goodBody = (i: number) => `${run}-${i}`;

    const progress = new Progress();
    // The good WebSocket connection: subscribes, publishes N with confirms, must see all N in order.
    const good = await openWs();
    const goodSeen: string[] = [];
    let confirms = 0;
    let goodErrors = 0;
    const goodSubscribed = new Promise<void>((resolve) => {
      good.on('message', (d) => {
        const f = JSON.parse(d.toString()) as Record<string, unknown>;
        if (f.op === 'subscribed') resolve();
        else if (f.op === 'deliver') goodSeen.push(String(f.body));
        else if (f.op === 'confirm') confirms++;
        else if (f.op === 'error') goodErrors++;
        progress.bump();
      });
    });
    good.send(JSON.stringify({ op: 'subscribe', sub: 'g', exchange: 'amq.topic', key }));
    await goodSubscribed;

    // Consumers of two other protocols on everything: a fuzzed message must not break them.
    const amqp = await amqplib.connect(b.url);
    const ch = await amqp.createChannel();
    let amqpBroken: unknown;
    ch.on('error', (e) => (amqpBroken = e));
    amqp.on('error', (e) => (amqpBroken = e));
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', '#');
    const amqpSeen: string[] = [];
    await ch.consume(
      queue,
      (m) => {
        if (m !== null && m.fields.routingKey === key) amqpSeen.push(m.content.toString());
        progress.bump();
      },
      { noAck: true },
    );
    const m5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${b.server.mqtt!.address.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    let mqttBroken: unknown;
    m5.on('error', (e) => (mqttBroken = e));
    m5.on('close', () => (mqttBroken ??= new Error('MQTT connection closed')));
    const mqttSeen: string[] = [];
    m5.on('message', (topic, payload) => {
      if (topic === key.replace('.', '/')) mqttSeen.push(payload.toString());
      progress.bump();
    });
    await m5.subscribeAsync('#', { qos: 0 });

    // The fuzzed connection.
    const fuzz = await openWs();
    let fuzzReplies = 0;
    fuzz.on('message', () => fuzzReplies++);
    const frames = fc.sample(
      fc.oneof(
        { weight: 2, arbitrary: textMutationArb.map((s) => ({ text: s })) },
        { weight: 2, arbitrary: structuralArb.map((s) => ({ text: s })) },
        { weight: 1, arbitrary: requestArb.map((r) => ({ text: JSON.stringify(r) })) },
        // Straight at the other protocols' consumers (bound to everything on amq.topic).
        {
          weight: 1,
          arbitrary: wildPublishArb.map((r) => ({ text: JSON.stringify({ ...r, exchange: 'amq.topic' }) })),
        },
        { weight: 2, arbitrary: binaryMutationArb.map((bin) => ({ bin })) },
        { weight: 1, arbitrary: binaryPublishArb.map((bin) => ({ bin })) },
      ),
      { numRuns: 5000, seed: SEED },
    );
    let sent = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      if ('text' in f) fuzz.send(f.text);
      else fuzz.send(f.bin);
      sent++;
      if (i % 5 === 0 && i / 5 < N) {
        good.send(
          JSON.stringify({
            op: 'publish',
            id: i,
            exchange: 'amq.topic',
            routingKey: key,
            body: goodBody(i / 5),
          }),
        );
      }
      // Let the event loop breathe so the connections interleave, without unbounded buffering.
      if (i % 250 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.equal(sent, 5000);

    // The fuzzed connection is still open and still answers.
    const pong = new Promise<void>((resolve) =>
      fuzz.on('message', (d) => {
        if (d.toString() === '{"op":"pong","id":"end"}') resolve();
      }),
    );
    fuzz.send(JSON.stringify({ op: 'ping', id: 'end' }));
    await pong;
    assert.equal(fuzz.readyState, WebSocket.OPEN);
    assert.ok(fuzzReplies > 1000, `replies to the fuzzed connection: ${fuzzReplies}`);

    const want = Array.from({ length: N }, (_, i) => goodBody(i));
    await progress.until(
      () => goodSeen.length >= N && amqpSeen.length >= N && mqttSeen.length >= N && confirms >= N,
      () => `ws ${goodSeen.length}, amqp ${amqpSeen.length}, mqtt ${mqttSeen.length}, confirms ${confirms}`,
    );
    assert.equal(goodErrors, 0);
    assert.equal(confirms, N);
    assert.deepEqual(goodSeen, want);
    assert.equal(amqpBroken, undefined, `AMQP consumer broke: ${String(amqpBroken)}`);
    assert.deepEqual(amqpSeen, want);
    assert.equal(mqttBroken, undefined, `MQTT consumer broke: ${String(mqttBroken)}`);
    assert.deepEqual(mqttSeen, want);

    m5.removeAllListeners('close');
    await m5.endAsync();
    await amqp.close();
    good.close();
    fuzz.close();
  });
});
