/**
 * Protocol errors no well-behaved client library will send, written with a bare socket (RawAmqp)
 * against each target of interopTargets(): the broker must answer with RabbitMQ's reply code,
 * class-id and method-id (and reply text, where Switchyard matches it; see docs/amqp.md).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { interopTargets } from './helpers.js';
import { type CloseOutcome, closeOutcome, RawAmqp, rawFrame } from './interop-support.js';

const targets = await interopTargets();
after(async () => {
  for (const t of targets) await t.stop();
});

const METHOD = 1;
const HEADER = 2;
const BODY = 3;
const HEARTBEAT = 8;
const QOS_ARGS = Buffer.from([0, 0, 0, 0, 0, 1, 0]); // basic.qos prefetch-size 0, count 1, global 0
const OPEN_ARGS = Buffer.from([0]); // channel.open, reserved shortstr ''
const PUBLISH_ARGS = Buffer.from([0, 0, 0, 1, 0x71, 0]); // basic.publish to '' with key 'q'

function methodPayload(classId: number, methodId: number, args: Buffer): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(classId, 0);
  b.writeUInt16BE(methodId, 2);
  return Buffer.concat([b, args]);
}

/** A content header for class basic with `size` bytes of body and no properties. */
function contentHeader(size: number): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(60, 0);
  b.writeBigUInt64BE(BigInt(size), 4);
  return b;
}

interface Case {
  readonly name: string;
  readonly send: (r: RawAmqp) => void;
  readonly code: number;
  /** Exact reply text, or undefined where only the code is compared (a documented difference). */
  readonly text: string | undefined;
  readonly method: readonly [number, number];
}

const CASES: readonly Case[] = [
  {
    name: 'a method on a channel that is not open',
    send: (r) => r.sendMethod(5, 60, 10, QOS_ARGS),
    code: 504,
    text: "CHANNEL_ERROR - expected 'channel.open'",
    method: [60, 10],
  },
  {
    name: 'channel.open on an open channel',
    send: (r) => {
      r.sendMethod(1, 20, 10, OPEN_ARGS);
      r.sendMethod(1, 20, 10, OPEN_ARGS);
    },
    code: 504,
    text: "CHANNEL_ERROR - second 'channel.open' seen",
    method: [20, 10],
  },
  {
    name: 'a content header with no basic.publish',
    send: (r) => {
      r.sendMethod(1, 20, 10, OPEN_ARGS);
      r.socket.write(rawFrame(HEADER, 1, contentHeader(0)));
    },
    code: 505,
    text: 'UNEXPECTED_FRAME - expected method frame, got non method frame instead',
    method: [0, 0],
  },
  {
    name: 'a method where basic.publish content was expected',
    send: (r) => {
      r.sendMethod(1, 20, 10, OPEN_ARGS);
      r.sendMethod(1, 60, 40, PUBLISH_ARGS);
      r.sendMethod(1, 60, 10, QOS_ARGS);
    },
    code: 505,
    text: 'UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead',
    method: [60, 40],
  },
  {
    name: 'a basic method on channel 0',
    send: (r) => r.sendMethod(0, 60, 10, QOS_ARGS),
    code: 504,
    text: 'CHANNEL_ERROR - unexpected method in connection state running',
    method: [60, 10],
  },
  {
    name: 'connection.close-ok that answers nothing',
    send: (r) => r.sendMethod(0, 10, 51, Buffer.alloc(0)),
    code: 504,
    text: 'CHANNEL_ERROR - unexpected method in connection state running',
    method: [10, 51],
  },
  {
    name: 'a heartbeat on channel 1',
    send: (r) => r.socket.write(rawFrame(HEARTBEAT, 1, Buffer.alloc(0))),
    code: 505,
    text: undefined,
    method: [0, 0],
  },
  {
    name: 'a bad frame-end octet',
    send: (r) => r.socket.write(rawFrame(METHOD, 0, methodPayload(10, 60, Buffer.alloc(0)), 0x00)),
    code: 501,
    text: undefined,
    method: [0, 0],
  },
  {
    name: 'a frame larger than frame_max',
    send: (r) => r.socket.write(rawFrame(BODY, 1, Buffer.alloc(200_000))),
    code: 501,
    text: undefined,
    method: [0, 0],
  },
  {
    name: 'an unknown frame type',
    send: (r) => r.socket.write(rawFrame(9, 0, Buffer.alloc(0))),
    code: 501,
    text: undefined,
    method: [0, 0],
  },
];

/** Sends start-ok with PLAIN guest/`password` and the given client capabilities. */
function startOk(raw: RawAmqp, password: string, capabilities: Record<string, boolean>): void {
  const table: Buffer[] = [];
  for (const [k, v] of Object.entries(capabilities)) {
    table.push(Buffer.from([k.length]), Buffer.from(k), Buffer.from(['t'.charCodeAt(0), v ? 1 : 0]));
  }
  const caps = Buffer.concat(table);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const shortstr = (x: string) => Buffer.concat([Buffer.from([Buffer.byteLength(x)]), Buffer.from(x)]);
  const props =
    caps.length === 0
      ? u32(0)
      : Buffer.concat([
          u32(caps.length + 18),
          shortstr('capabilities'),
          Buffer.from('F'),
          u32(caps.length),
          caps,
        ]);
  const response = Buffer.from(`\0guest\0${password}`);
  raw.sendMethod(
    0,
    10,
    11,
    Buffer.concat([props, shortstr('PLAIN'), u32(response.length), response, shortstr('en_US')]),
  );
}

for (const target of targets) {
  describe(`raw protocol errors against ${target.name}`, { concurrency: true, skip: target.skip }, () => {
    test('a refused login: connection.close only for clients with authentication_failure_close', async () => {
      for (const announce of [false, true]) {
        const raw = await RawAmqp.connect(target.port);
        try {
          raw.socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
          await raw.method();
          startOk(raw, 'wrong', announce ? { authentication_failure_close: true } : {});
          const got = await closeOutcome(raw);
          if (!announce) assert.equal(got, 'socket closed');
          else {
            assert.deepEqual(got, {
              replyCode: 403,
              replyText:
                'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
              classId: 0,
              methodId: 0,
            });
          }
        } finally {
          raw.destroy();
        }
      }
    });

    for (const c of CASES) {
      test(`${c.name} → ${c.code}`, async () => {
        const raw = await RawAmqp.connect(target.port);
        try {
          assert.deepEqual(await raw.handshake(0), { ok: true });
          c.send(raw);
          const got: CloseOutcome = await closeOutcome(raw);
          assert.notEqual(got, 'socket closed', 'expected a connection.close, the socket was dropped');
          if (got === 'socket closed') return;
          assert.equal(got.replyCode, c.code, got.replyText);
          if (c.text !== undefined) assert.equal(got.replyText, c.text);
          assert.deepEqual([got.classId, got.methodId], c.method, 'class-id and method-id');
        } finally {
          raw.destroy();
        }
      });
    }
  });
}
