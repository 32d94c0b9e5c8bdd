/**
 * Interop with amqplib, time and size: heartbeats and the handshake timeout, large bodies, many
 * channels on one connection and many connections.
 *
 * Every scenario runs against Switchyard, and RabbitMQ when RABBITMQ_URL is set (amqplibSuites).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { AmqpFrontEnd } from '../src/amqp/index.js';
import { Broker } from '../src/core/index.js';
import { amqplibSuites, bodies, channel, Inbox, RawAmqp, within, getOk, sleep } from './interop-support.js';
import { WAIT_MS } from './support/wait.js';
import { ManualClock } from './support/manual-clock.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Switchyard's handshake timeout over real sockets, on a ManualClock: a silent client and one
 * that stopped after the protocol header are both still there when the timeout has just run out,
 * and both dropped (without a close method) at the next tick of the front end's one-second clock.
 */
async function switchyardHandshakeTimeout(): Promise<void> {
  const clock = new ManualClock();
  const frontEnd = new AmqpFrontEnd(new Broker({ clock }), { handshakeTimeout: 1000 });
  const listening = await frontEnd.listen('127.0.0.1', 0);
  const quiet = await RawAmqp.connect(listening.address.port);
  const headerOnly = await RawAmqp.connect(listening.address.port);
  try {
    headerOnly.socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    const start = await headerOnly.method();
    assert.deepEqual([start.classId, start.methodId], [10, 10]);
    for (let i = 0; i < 400 && frontEnd.stats().connections < 2; i++) await sleep(5);
    assert.equal(frontEnd.stats().connections, 2, 'both clients accepted');
    clock.advance(1000);
    assert.equal(frontEnd.stats().connections, 2, 'dropped before the timeout ran out');
    clock.advance(1000);
    for (const raw of [quiet, headerOnly])
      await within(raw.closed, 5000, 'the broker to drop a handshaking client');
    assert.equal(frontEnd.stats().connections, 0);
  } finally {
    quiet.destroy();
    headerOnly.destroy();
    await Promise.all([listening.close(), frontEnd.close()]);
  }
}

await amqplibSuites((target, conns) => {
  test('heartbeats and handshake timeout: idle clients stay, silent ones are dropped', async () => {
    const idle = async () => {
      const c = await conns.connect({ query: 'heartbeat=1' });
      const ch = await channel(c);
      await sleep(3200);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('still here'));
      const m = getOk(await ch.get(queue, { noAck: true }));
      assert.equal(m.content.toString(), 'still here');
      assert.deepEqual(c.errors, []);
    };
    // The lower bounds are sound (timed from before the connect); the waits are only safety nets,
    // as a busy machine can make any timer late.
    const silent = async () => {
      const raw = await RawAmqp.connect(target.port);
      try {
        assert.deepEqual(await raw.handshake(1), { ok: true });
        const ms = await within(raw.closed, WAIT_MS, 'the broker to drop the silent client');
        assert.ok(ms >= 1000, `dropped after ${ms} ms`);
      } finally {
        raw.destroy();
      }
    };
    // A client that never completes the handshake is dropped after the handshake timeout:
    // RabbitMQ's is 10 s, measured in real time; the Switchyard side runs a front end with 1 s
    // on a ManualClock, so the drop is checked at exact times instead of within a window.
    const handshake = async () => {
      if (target.name === 'switchyard') return switchyardHandshakeTimeout();
      const quiet = await RawAmqp.connect(target.port);
      const headerOnly = await RawAmqp.connect(target.port);
      try {
        headerOnly.socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
        const start = await headerOnly.method();
        assert.deepEqual([start.classId, start.methodId], [10, 10]);
        for (const raw of [quiet, headerOnly]) {
          const ms = await within(raw.closed, 9000 + WAIT_MS, 'the broker to drop a handshaking client');
          assert.ok(ms >= 9000, `dropped after ${ms} ms`); // RabbitMQ's 10 s, less a second for however it counts
        }
      } finally {
        quiet.destroy();
        headerOnly.destroy();
      }
    };
    await Promise.all([idle(), silent(), handshake()]);
  });

  test('1 MiB and 64 MiB bodies round trip intact', async () => {
    const c = await conns.connect();
    const ch = await channel(c);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const small = randomBytes(1024 * 1024);
    const big = randomBytes(64 * 1024 * 1024);
    ch.sendToQueue(queue, small);
    ch.sendToQueue(queue, big);
    const box = await Inbox.consume(ch, queue, { noAck: true });
    const got = await box.take(2, 60_000);
    assert.equal(got[0]!.content.length, small.length);
    assert.equal(sha(got[0]!.content), sha(small));
    assert.equal(got[1]!.content.length, big.length);
    assert.equal(sha(got[1]!.content), sha(big));
    assert.deepEqual(ch.errors, []);
    await c.close();

    // The same 1 MiB in 4 KiB frames (the smallest frame_max).
    const small4k = await conns.connect({ query: 'frameMax=4096' });
    const ch4k = await channel(small4k);
    const q4k = (await ch4k.assertQueue('', { exclusive: true })).queue;
    ch4k.sendToQueue(q4k, small, { headers: { big: 'x'.repeat(2000) } });
    const box4k = await Inbox.consume(ch4k, q4k, { noAck: true });
    const [m4k] = await box4k.take(1, 30_000);
    assert.equal(sha(m4k!.content), sha(small));
    assert.equal(m4k!.properties.headers?.big, 'x'.repeat(2000));
    await small4k.close();
  });

  test('1,000 channels on one connection each publish and consume', async () => {
    const c = await conns.connect();
    const N = 1000;
    const chans = await Promise.all(Array.from({ length: N }, () => channel(c)));
    await Promise.all(
      chans.map(async (ch, i) => {
        const { queue } = await ch.assertQueue('', { exclusive: true });
        ch.sendToQueue(queue, Buffer.from(`m${i}`));
        const box = await Inbox.consume(ch, queue, { noAck: true });
        const [m] = await box.take(1, 30_000);
        assert.equal(m!.content.toString(), `m${i}`);
      }),
    );
    assert.deepEqual(
      chans.flatMap((ch) => ch.errors),
      [],
    );
    await c.close();
  });

  test('100 concurrent connections each publish and consume', async () => {
    const N = 100;
    const PER = 20;
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const c = await conns.connect();
        const ch = await channel(c);
        const { queue } = await ch.assertQueue('', { exclusive: true });
        for (let k = 0; k < PER; k++) ch.sendToQueue(queue, Buffer.from(`${i}:${k}`));
        const box = await Inbox.consume(ch, queue);
        const got = await box.take(PER, 30_000);
        assert.deepEqual(
          bodies(got),
          Array.from({ length: PER }, (_, k) => `${i}:${k}`),
        );
        ch.ack(got.at(-1)!, true);
        assert.deepEqual(ch.errors, []);
        await c.close();
      }),
    );
  });
});
