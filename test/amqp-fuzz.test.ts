/**
 * Live fuzzing: at least 100,000 mutated frames go to a real listener over many raw connections
 * while a well-behaved amqplib client keeps publishing (with confirms) and consuming. The broker
 * must stay up, answer bad input on the offending connection only, and the good client must
 * receive every message the broker confirmed.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import fc from 'fast-check';
import {
  type AmqpMethodInit,
  encodeMethod,
  encodeProperties,
  FRAME_END,
  type FrameHandler,
  FrameParser,
} from '../src/amqp/codec/index.js';
import { startTestBroker, type TestBroker } from './helpers.js';
import { poll } from './support/wait.js';

/** Mutated frames sent; about a third reach the handlers (the rest follow a fatal one on their connection). */
const TOTAL_FRAMES = 320_000;
/** Mutated frames that must reach the broker's frame handlers. */
const MIN_PARSED = 100_000;
const FRAMES_PER_CONNECTION = 10;
const PARALLEL = 16;
const CHANNELS = 8;

// Counts the mutated frames the in-process broker's parsers hand to its fuzzed connections' handlers
// (the handshake frames and the good client's frames are not counted).
const HANDSHAKE_FRAMES = 3 + CHANNELS;
let parsedFrames = 0;
const seen = new WeakMap<FrameParser, { fuzz: boolean; n: number }>();
const push = FrameParser.prototype.push;
FrameParser.prototype.push = function (this: FrameParser, chunk: Buffer, onFrame: FrameHandler) {
  push.call(this, chunk, (type, channel, payload) => {
    let st = seen.get(this);
    if (st === undefined) {
      st = { fuzz: payload.includes('fuzz-client'), n: 0 };
      seen.set(this, st);
    }
    if (st.fuzz && ++st.n > HANDSHAKE_FRAMES) parsedFrames++;
    onFrame(type, channel, payload);
  });
};

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker({ heartbeat: 0 });
});
after(async () => {
  await broker.close();
});

function frame(type: number, channel: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(8 + payload.length);
  f.writeUInt8(type, 0);
  f.writeUInt16BE(channel, 1);
  f.writeUInt32BE(payload.length, 3);
  payload.copy(f, 7);
  f[7 + payload.length] = FRAME_END;
  return f;
}
const method = (ch: number, m: AmqpMethodInit) => frame(1, ch, encodeMethod(m));

function contentHeader(bodySize: number): Buffer {
  const props = encodeProperties({ contentType: 'text/plain', headers: { k: 'v', n: 1 }, deliveryMode: 1 });
  const p = Buffer.alloc(12 + props.length);
  p.writeUInt16BE(60, 0);
  p.writeBigUInt64BE(BigInt(bodySize), 4);
  props.copy(p, 12);
  return frame(2, 1, p);
}

const handshake = Buffer.concat([
  Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'),
  method(0, {
    kind: 'connection.start-ok',
    clientProperties: { product: 'fuzz-client' },
    mechanism: 'PLAIN',
    response: Buffer.from('\x00guest\x00guest'),
    locale: 'en_US',
  }),
  method(0, { kind: 'connection.tune-ok', channelMax: 16, frameMax: 131072, heartbeat: 0 }),
  method(0, { kind: 'connection.open', virtualHost: '/' }),
  ...Array.from({ length: CHANNELS }, (_, i) => method(i + 1, { kind: 'channel.open' })),
]);

/** Valid frames the mutations start from: the broker's whole method surface, content included. */
const seeds: Buffer[] = [
  method(1, {
    kind: 'queue.declare',
    queue: 'fuzz-q',
    passive: false,
    durable: false,
    exclusive: false,
    autoDelete: true,
    noWait: false,
    arguments: {},
  }),
  method(1, {
    kind: 'exchange.declare',
    exchange: 'fuzz-x',
    type: 'topic',
    passive: false,
    durable: false,
    autoDelete: false,
    internal: false,
    noWait: false,
    arguments: {},
  }),
  method(1, {
    kind: 'queue.bind',
    queue: 'fuzz-q',
    exchange: 'fuzz-x',
    routingKey: 'a.#',
    noWait: false,
    arguments: {},
  }),
  // A publish travels as three frames; they stay together so the content is not "unexpected".
  Buffer.concat([
    method(1, {
      kind: 'basic.publish',
      exchange: 'fuzz-x',
      routingKey: 'a.b',
      mandatory: true,
      immediate: false,
    }),
    contentHeader(5),
    frame(3, 1, Buffer.from('hello')),
  ]),
  method(1, {
    kind: 'basic.consume',
    queue: 'fuzz-q',
    consumerTag: '',
    noLocal: false,
    noAck: false,
    exclusive: false,
    noWait: false,
    arguments: {},
  }),
  method(1, { kind: 'basic.ack', deliveryTag: 1, multiple: true }),
  method(1, { kind: 'basic.nack', deliveryTag: 1, multiple: false, requeue: true }),
  method(1, { kind: 'basic.qos', prefetchSize: 0, prefetchCount: 10, global: false }),
  method(1, { kind: 'basic.get', queue: 'fuzz-q', noAck: false }),
  method(1, { kind: 'confirm.select', noWait: false }),
  method(1, { kind: 'tx.select' }),
  method(1, { kind: 'channel.flow', active: false }),
  method(1, { kind: 'queue.purge', queue: 'fuzz-q', noWait: false }),
  method(0, { kind: 'connection.update-secret', newSecret: Buffer.from('s'), reason: 'fuzz' }),
  frame(8, 0, Buffer.alloc(0)),
];

/**
 * One mutated frame. Most mutations change a payload past the class and method ids, so the frame
 * still parses and the method handlers see garbage arguments: the broker answers those with
 * channel or connection errors. Framing mutations (type, size, end octet) are always fatal to the
 * connection, so each batch ends with one; everything before it reaches the handlers.
 */
const payloadMutation = fc
  .tuple(
    fc.integer({ min: 0, max: seeds.length - 1 }),
    fc.integer({ min: 1, max: CHANNELS }),
    fc.integer({ min: 0, max: 3 }),
    fc.uint8Array({ minLength: 1, maxLength: 8 }),
    fc.nat(),
  )
  .map(([i, ch, op, noise, pos]) => {
    const f = Buffer.from(seeds[i]!);
    // Move every frame of the seed to channel `ch`; mutate inside one frame's payload.
    const starts: number[] = [];
    for (let at = 0; at < f.length; at += 8 + f.readUInt32BE(at + 3)) {
      starts.push(at);
      if (f.readUInt16BE(at + 1) !== 0) f.writeUInt16BE(ch, at + 1);
    }
    const at = starts[pos % starts.length]!;
    const end = at + 7 + f.readUInt32BE(at + 3);
    const from = at + (f[at] === 1 ? 11 : 7); // keep class-id and method-id of method frames
    const span = end - from;
    if (span <= 0 || op === 3) return f; // the valid frame: keeps the state machine moving
    if (op === 0) xor(f, from + (pos % span), noise[0]! || 1);
    else if (op === 1)
      for (let k = 0; k < noise.length; k++) xor(f, from + ((pos + k * 5) % span), noise[k]!);
    else f[from + (pos % span)] = noise[0]!;
    return f;
  });

function xor(f: Buffer, i: number, v: number): void {
  f[i] = f.readUInt8(i) ^ v;
}

const framingMutation = fc
  .tuple(
    fc.integer({ min: 0, max: seeds.length - 1 }),
    fc.integer({ min: 0, max: 3 }),
    fc.uint8Array({ minLength: 1, maxLength: 24 }),
    fc.nat(),
  )
  .map(([i, op, noise, pos]) => {
    const f = Buffer.from(seeds[i]!);
    switch (op) {
      case 0:
        xor(f, pos % 7, noise[0]! || 1); // type, channel or size
        return f;
      case 1:
        xor(f, f.length - 1, noise[0]! || 1); // the frame-end octet
        return f;
      case 2:
        return Buffer.concat([f.subarray(0, pos % f.length), Buffer.from(noise)]); // truncated, then garbage
      default:
        return Buffer.from(noise); // noise only
    }
  });

function fuzzConnection(port: number, frames: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port }, () => {
      s.write(handshake);
      for (const f of frames) if (!s.destroyed) s.write(f);
      s.end();
    });
    s.resume(); // what the broker answers does not matter here, only that it stays up
    // The broker closes a connection on a bad frame; a reset of ours is part of that.
    s.on('error', () => s.destroy());
    s.on('close', () => resolve());
    s.setTimeout(10_000, () => s.destroy());
  });
}

test('fuzz: over 100,000 mutated frames handled by a live listener; a good client loses nothing', async (t) => {
  // The well-behaved client: publishes with confirms to one queue, consumes from it on another connection.
  const pubConn = await amqp.connect(broker.url);
  const subConn = await amqp.connect(broker.url);
  const pub = await pubConn.createConfirmChannel();
  const sub = await subConn.createChannel();
  const q = (await sub.assertQueue('good-client', { durable: false })).queue;
  const received = new Set<number>();
  await sub.consume(q, (m) => {
    if (m === null) return;
    received.add(m.content.readUInt32BE(0));
    sub.ack(m);
  });
  const confirmed: number[] = [];
  let stop = false;
  const publishing = (async () => {
    for (let n = 0; !stop && n < 1_000_000; n++) {
      const b = Buffer.alloc(64);
      b.writeUInt32BE(n, 0);
      await new Promise<void>((resolve, reject) =>
        pub.sendToQueue(q, b, {}, (err) => (err ? reject(err) : resolve())),
      );
      confirmed.push(n);
    }
  })();

  const nBatches = Math.ceil(TOTAL_FRAMES / FRAMES_PER_CONNECTION);
  const body = fc.sample(payloadMutation, { numRuns: nBatches * (FRAMES_PER_CONNECTION - 1), seed: 42 });
  const finale = fc.sample(framingMutation, { numRuns: nBatches, seed: 43 });
  const batches: Buffer[][] = [];
  for (let b = 0; b < nBatches; b++) {
    batches.push([
      ...body.slice(b * (FRAMES_PER_CONNECTION - 1), (b + 1) * (FRAMES_PER_CONNECTION - 1)),
      finale[b]!,
    ]);
  }
  let sent = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < batches.length) {
        const b = batches[next++]!;
        await fuzzConnection(broker.port, b);
        sent += b.length;
      }
    }),
  );
  assert.ok(sent >= TOTAL_FRAMES, `sent ${sent} frames`);
  // Most of them must have reached the broker's frame handlers, not been dropped after a first error.
  assert.ok(parsedFrames >= MIN_PARSED, `the broker handled only ${parsedFrames} mutated frames`);

  stop = true;
  await publishing;
  assert.ok(confirmed.length > 0, 'the good client published while the fuzzer ran');
  // Every confirmed message arrives (bounded wait for the tail; the assertion below says what is missing).
  await poll(() => received.size >= confirmed.length, 'the confirmed messages').catch((e: unknown) =>
    t.diagnostic(String(e)),
  );
  const missing = confirmed.filter((n) => !received.has(n));
  assert.deepEqual(missing, [], `${missing.length} confirmed messages were not delivered`);

  // The broker still serves new clients.
  const c = await amqp.connect(broker.url);
  const ch = await c.createChannel();
  await ch.assertQueue('after-fuzz', { autoDelete: true });
  await c.close();
  await pubConn.close();
  await subConn.close();
});
