/**
 * The native WebSocket protocol end to end: the binary form both ways, and every error frame
 * (the connection stays open) or close code (it does not).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { uniq } from './helpers.js';
import { binaryPublish, type ClientOptions, type Frame, TRACEPARENT, WsFixture } from './ws-client.js';

const fx = new WsFixture();
const open = (opts?: ClientOptions) => fx.open(opts);
const declareQueue = (name?: string, durable?: boolean) => fx.declareQueue(name, durable);

describe('ws: binary form', () => {
  const BYTES = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0xc3]);

  test('ws: a binary publish of non-UTF-8 bytes reaches JSON (base64) and binary subscribers', async () => {
    const key = uniq('bin');
    const c = await open();
    await c.subscribe({ sub: 'json', exchange: 'amq.topic', key });
    await c.subscribe({ sub: 'bin', exchange: 'amq.topic', key, binary: true });
    c.ws.send(
      binaryPublish(
        {
          id: 9,
          exchange: 'amq.topic',
          routingKey: key,
          properties: { contentType: 'application/x-raw' },
          traceparent: TRACEPARENT,
        },
        BYTES,
      ),
    );
    assert.deepEqual(await c.next({ op: 'confirm', id: 9 }), { op: 'confirm', id: 9, routed: 2 });
    const j = await c.next({ op: 'deliver', sub: 'json' });
    assert.equal(j.bodyEncoding, 'base64');
    assert.deepEqual(Buffer.from(String(j.body), 'base64'), BYTES);
    assert.equal(j.traceparent, TRACEPARENT);
    const bin = await c.next({ op: 'deliver', sub: 'bin' });
    assert.deepEqual(bin.raw, BYTES);
    assert.equal(bin.routingKey, key);
    assert.equal(bin.id, 1);
    assert.equal(bin.redelivered, false);
    assert.equal(bin.traceparent, TRACEPARENT);
    assert.deepEqual(bin.properties, {
      contentType: 'application/x-raw',
      headers: { traceparent: TRACEPARENT },
    });
    assert.equal('body' in bin, false);
  });

  test('ws: large bodies cross the binary form byte for byte both ways', async () => {
    const q = declareQueue();
    const c = await open();
    await c.subscribe({ sub: 'big', queue: q, binary: true });
    const bodies = [Buffer.alloc(0), randomBytes(100), randomBytes(16 * 1024), randomBytes(200_000)];
    for (const body of bodies) c.ws.send(binaryPublish({ routingKey: q }, body));
    c.send({ op: 'publish', routingKey: q, body: bodies[3]!.toString('base64'), bodyEncoding: 'base64' });
    const got = await c.deliveries('big', 5);
    assert.deepEqual(
      got.map((d) => d.raw),
      [...bodies, bodies[3]],
    );
  });

  test('ws: malformed binary frames get SYNTAX_ERROR and the connection stays open', async () => {
    const c = await open();
    const bad: [Buffer, RegExp][] = [
      [Buffer.from([1, 0, 0]), /at least 5 bytes/],
      [Buffer.from([1, 0, 0, 0, 9, 0x7b, 0x7d]), /exceeds/],
      [Buffer.from([1, 0, 0, 0, 2, 0xff, 0xfe]), /UTF-8/],
      [Buffer.from([1, 0, 0, 0, 1, 0x7b]), /not JSON/],
      [binaryPublish({ routingKey: 'x', body: 'no' }, Buffer.alloc(0)), /unknown field "body"/],
      [Buffer.concat([Buffer.from([2, 0, 0, 0, 2]), Buffer.from('{}')]), /only publishes/],
      [Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), Buffer.from('[]')]), /JSON object/],
    ];
    for (const [frame, message] of bad) {
      c.ws.send(frame);
      const e = await c.next({ op: 'error' });
      assert.equal(e.code, 'SYNTAX_ERROR');
      assert.equal(e.status, 400);
      assert.match(String(e.message), message);
    }
    await c.sync();
  });
});

describe('ws: errors', () => {
  test('ws: every error frame names its code, HTTP status and request; the connection stays open', async () => {
    const c = await open();
    const q = declareQueue();
    const cases: [Frame | string, Frame, RegExp][] = [
      ['{"op":', { code: 'SYNTAX_ERROR', status: 400 }, /not JSON/],
      ['[1,2]', { code: 'SYNTAX_ERROR' }, /JSON object/],
      [{ op: 'teleport' }, { code: 'SYNTAX_ERROR' }, /unknown op "teleport"/],
      [{ nop: 1 }, { code: 'SYNTAX_ERROR' }, /missing "op"/],
      [{ op: 'subscribe', queue: q }, { code: 'SYNTAX_ERROR', request: 'subscribe' }, /"sub"/],
      [{ op: 'subscribe', sub: 'a' }, { code: 'SYNTAX_ERROR', sub: 'a' }, /"queue" or "exchange"/],
      [{ op: 'subscribe', sub: 'a', queue: q, ack: 'sometimes' }, { code: 'SYNTAX_ERROR' }, /"ack"/],
      [{ op: 'publish', id: 1, routingKey: q }, { code: 'SYNTAX_ERROR', id: 1 }, /body/],
      [
        { op: 'publish', id: 2, routingKey: q, body: 'x', colour: 1 },
        { code: 'SYNTAX_ERROR', id: 2 },
        /"colour"/,
      ],
      [
        { op: 'publish', id: 3, routingKey: q, body: 'x', properties: { colour: 'red' } },
        { code: 'SYNTAX_ERROR', id: 3 },
        /unknown property 'colour'/,
      ],
      [
        { op: 'publish', id: 4, routingKey: q, body: 'x', properties: { priority: 'high' } },
        { code: 'SYNTAX_ERROR', id: 4 },
        /'priority' must be a number/,
      ],
      [
        { op: 'publish', id: 5, body: '%%%', bodyEncoding: 'base64' },
        { code: 'SYNTAX_ERROR', id: 5 },
        /base64/,
      ],
      [
        { op: 'publish', id: 6, body: 'x', bodyEncoding: 'hex' },
        { code: 'SYNTAX_ERROR', id: 6 },
        /bodyEncoding/,
      ],
      [
        { op: 'publish', id: 7, body: 'x', routingKey: 'k'.repeat(256) },
        { code: 'NAME_TOO_LONG', status: 400 },
        /255 bytes/,
      ],
      [
        { op: 'publish', id: 8, routingKey: q, body: 'x', properties: { expiration: 'soon' } },
        { code: 'PRECONDITION_FAILED', status: 409, id: 8 },
        /expiration/,
      ],
      [
        { op: 'publish', id: 9, exchange: 'no-such-exchange', body: 'x' },
        { code: 'NOT_FOUND', status: 404 },
        /no-such/,
      ],
      [
        { op: 'subscribe', sub: 'nq', queue: uniq('missing') },
        { code: 'NOT_FOUND', status: 404, sub: 'nq' },
        /missing/,
      ],
      [
        { op: 'subscribe', sub: 'nx', exchange: uniq('missing'), key: '#' },
        { code: 'NOT_FOUND', status: 404, sub: 'nx' },
        /missing/,
      ],
      [
        { op: 'publish', id: 10, body: 'x', properties: { priority: 256 } },
        { code: 'SYNTAX_ERROR', id: 10 },
        /'priority' must be an integer from 0 to 255/,
      ],
      [
        { op: 'publish', id: 12, body: 'x', properties: { headers: { when: { $date: 'soon' } } } },
        { code: 'SYNTAX_ERROR', id: 12 },
        /headers\.when/,
      ],
      [
        { op: 'publish', id: 13, body: 'x', properties: { headers: { n: { $bigint: '1e99' } } } },
        { code: 'SYNTAX_ERROR', id: 13 },
        /BigInt/,
      ],
      [
        { op: 'publish', id: 14, body: 'x', properties: { headers: { d: { $decimal: [300, 1] } } } },
        { code: 'SYNTAX_ERROR', id: 14 },
        /\$decimal/,
      ],
      [
        { op: 'ack', sub: 'nobody', id: 1 },
        { code: 'SYNTAX_ERROR', sub: 'nobody', id: 1 },
        /no subscription/,
      ],
      [{ op: 'ack', sub: 'nobody', id: 0 }, { code: 'SYNTAX_ERROR' }, /"id"/],
      [{ op: 'credit', sub: 'nobody', n: 0 }, { code: 'SYNTAX_ERROR' }, /"n"/],
    ];
    for (const [frame, want, message] of cases) {
      c.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      const e = await c.next({ op: 'error' });
      for (const [k, v] of Object.entries(want)) assert.equal(e[k], v, `${JSON.stringify(frame)}: ${k}`);
      assert.match(String(e.message), message, JSON.stringify(frame));
    }
    // Errors that need a live subscription.
    await c.subscribe({ sub: 'live', queue: q });
    const dup = await c.subscribe({ sub: 'live', queue: q });
    assert.deepEqual([dup.code, dup.status], ['COMMAND_INVALID', 400]);
    c.send({ op: 'credit', sub: 'live', n: 5 });
    assert.equal((await c.next({ op: 'error', sub: 'live' })).code, 'COMMAND_INVALID');
    c.send({ op: 'ack', sub: 'live', id: 99 });
    const unknownTag = await c.next({ op: 'error', sub: 'live' });
    assert.deepEqual([unknownTag.code, unknownTag.status, unknownTag.id], ['PRECONDITION_FAILED', 409, 99]);
    assert.equal((await c.publish({ routingKey: q, body: 'still here' })).op, 'confirm');
  });

  test("ws: access refused (an internal exchange) and resource locked (another connection's exclusive queue)", async () => {
    const x = uniq('internal');
    fx.admin.declareExchange(x, {
      type: 'topic',
      passive: false,
      durable: false,
      autoDelete: false,
      internal: true,
      args: {},
    });
    const mine = uniq('exclusive');
    fx.admin.declareQueue(mine, {
      passive: false,
      durable: false,
      exclusive: true,
      autoDelete: false,
      args: {},
    });
    const c = await open();
    const r = await c.publish({ exchange: x, routingKey: 'k', body: 'x' });
    assert.deepEqual([r.code, r.status], ['ACCESS_REFUSED', 403]);
    const s = await c.subscribe({ sub: 'e', queue: mine });
    assert.equal(s.op, 'error');
    // As RabbitMQ: another connection's exclusive queue is locked, not forbidden.
    assert.deepEqual([s.code, s.status], ['RESOURCE_LOCKED', 409]);
    fx.admin.deleteQueue(mine, false, false);
    void fx.admin.deleteExchange(x, false);
  });

  test('ws: ping is answered with pong (echoing an id)', async () => {
    const c = await open();
    c.send({ op: 'ping' });
    assert.deepEqual(await c.next({ op: 'pong' }), { op: 'pong' });
    c.send({ op: 'ping', id: 'rtt-1' });
    assert.deepEqual(await c.next({ op: 'pong' }), { op: 'pong', id: 'rtt-1' });
  });

  test('ws: invalid UTF-8 in a text frame closes that connection with 1007', async () => {
    const c = await open();
    const other = await open();
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    assert.equal((await c.closed).code, 1007);
    await other.sync();
  });
});
