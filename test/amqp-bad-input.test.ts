/**
 * Bad input where Switchyard's answer is its own (RabbitMQ drops the socket or has no such
 * limit): each gets the protocol's error on the offending channel or connection only, and the
 * broker keeps serving everyone else.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker, type TestBroker } from './helpers.js';
import { closeOutcome, RawAmqp, rawFrame } from './interop-support.js';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker({ maxMessageSize: 1024 });
});
after(async () => {
  await broker.close();
});

const OPEN_ARGS = Buffer.from([0]);
const shortstr = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

async function opened(): Promise<RawAmqp> {
  const raw = await RawAmqp.connect(broker.port);
  assert.deepEqual(await raw.handshake(0), { ok: true });
  raw.sendMethod(1, 20, 10, OPEN_ARGS);
  const ok = await raw.method();
  assert.deepEqual([ok.classId, ok.methodId], [20, 11]);
  return raw;
}

/** basic.publish to `exchange` with routing key `key` (reserved short, exchange, key, bits). */
function publishArgs(exchange: string, key: string): Buffer {
  return Buffer.concat([Buffer.from([0, 0]), shortstr(exchange), shortstr(key), Buffer.from([0])]);
}

function contentHeader(size: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(60, 0);
  b.writeBigUInt64BE(BigInt(size), 4);
  return b;
}

test('bad input: an unknown method is a 540 NOT_IMPLEMENTED connection close', async () => {
  const raw = await opened();
  try {
    raw.sendMethod(1, 60, 99, Buffer.alloc(0));
    const got = await closeOutcome(raw);
    assert.notEqual(got, 'socket closed');
    if (got !== 'socket closed') assert.equal(got.replyCode, 540, got.replyText);
  } finally {
    raw.destroy();
  }
});

test('bad input: an unknown class is a 540 NOT_IMPLEMENTED connection close', async () => {
  const raw = await opened();
  try {
    raw.sendMethod(1, 77, 10, Buffer.alloc(0));
    const got = await closeOutcome(raw);
    if (got === 'socket closed') assert.fail('expected connection.close');
    assert.equal(got.replyCode, 540, got.replyText);
  } finally {
    raw.destroy();
  }
});

test('bad input: truncated method arguments are a 502 SYNTAX_ERROR connection close', async () => {
  const raw = await opened();
  try {
    // queue.declare whose queue-name length runs past the frame.
    raw.sendMethod(1, 50, 10, Buffer.from([0, 0, 200, 0x61]));
    const got = await closeOutcome(raw);
    if (got === 'socket closed') assert.fail('expected connection.close');
    assert.equal(got.replyCode, 502, got.replyText);
    assert.deepEqual([got.classId, got.methodId], [0, 0]);
  } finally {
    raw.destroy();
  }
});

test('bad input: a message over the size limit closes its channel with 406; the connection lives on', async () => {
  const raw = await opened();
  try {
    raw.sendMethod(1, 60, 40, publishArgs('', 'nowhere'));
    raw.socket.write(rawFrame(2, 1, contentHeader(4096)));
    const close = await raw.method();
    assert.deepEqual([close.classId, close.methodId], [20, 40]);
    assert.equal(close.args.readUInt16BE(0), 406);
    const text = close.args.subarray(3, 3 + close.args[2]!).toString();
    assert.equal(text, 'PRECONDITION_FAILED - message size 4096 is larger than configured max size 1024');
    // The body frames that follow belong to a closed channel: dropped, not an error.
    raw.socket.write(rawFrame(3, 1, Buffer.alloc(4096)));
    raw.sendMethod(1, 20, 41, Buffer.alloc(0)); // channel.close-ok
    raw.sendMethod(1, 20, 10, OPEN_ARGS); // the channel number can be used again
    const reopened = await raw.method();
    assert.deepEqual([reopened.classId, reopened.methodId], [20, 11]);
  } finally {
    raw.destroy();
  }
});

test('bad input: frames on a channel the broker is closing are ignored until close-ok', async () => {
  const raw = await opened();
  try {
    raw.sendMethod(1, 60, 40, publishArgs('no-such-exchange', 'k'));
    raw.socket.write(rawFrame(2, 1, contentHeader(3)));
    raw.socket.write(rawFrame(3, 1, Buffer.from('abc')));
    const close = await raw.method();
    assert.deepEqual([close.classId, close.methodId], [20, 40]);
    assert.equal(close.args.readUInt16BE(0), 404);
    // More methods on the closing channel: ignored (no second close, no connection error).
    raw.sendMethod(1, 60, 10, Buffer.from([0, 0, 0, 0, 0, 1, 0]));
    raw.sendMethod(1, 20, 41, Buffer.alloc(0));
    raw.sendMethod(2, 20, 10, OPEN_ARGS);
    const next = await raw.method();
    assert.deepEqual([next.classId, next.methodId], [20, 11], 'the next frame is channel 2 open-ok');
  } finally {
    raw.destroy();
  }
});

test('bad input: a broken connection does not disturb another client', async () => {
  const conn = await amqp.connect(broker.url);
  const ch = await conn.createChannel();
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  const raw = await opened();
  raw.socket.write(rawFrame(1, 0, Buffer.from([0xff, 0xff, 0xff]), 0x00));
  await raw.closed;
  ch.sendToQueue(q, Buffer.from('still here'));
  const m = await new Promise<amqp.ConsumeMessage>((resolve) => {
    void ch.consume(q, (msg) => msg && resolve(msg), { noAck: true });
  });
  assert.equal(m.content.toString(), 'still here');
  await conn.close();
});
