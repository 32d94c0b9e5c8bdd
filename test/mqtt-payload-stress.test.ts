/**
 * The payload pool under stress, byte for byte: several publishers (3.1.1 and 5) send payloads of
 * every size class (small, pooled 16 KiB to 1 MiB, larger) at QoS 0, 1 and 2 to topics with one
 * subscriber (where buffers are reused), with a fan-out of three, with a shared subscription, and
 * retained; an AMQP consumer reads all but the one-subscriber topics. Every payload received, by every client, is
 * compared with what was sent (each one says who sent it, which one it is and how long it is, and
 * the rest follows from that). Run with the pool on and with it off (`mqtt.payloadPool`). Bounded:
 * a fixed number of messages, and every wait has a deadline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { startTestBroker, uniq } from './helpers.js';

const PUBLISHERS = 4;
const PER_PUBLISHER = 48;
const SIZES = [16, 900, 20 * 1024, 40 * 1024, 70 * 1024, 300 * 1024, 1200 * 1024];
/** Sizes of the one-subscriber topic: read in several pieces, so their buffers come from the pool. */
const POOLED = [70 * 1024, 300 * 1024];
const KINDS = ['solo', 'fan', 'share', 'ret'] as const;
const DEADLINE_MS = 60_000;

/** The payload `pub` sends as its `seq`th message: a header, then bytes that follow from it. */
function payload(pub: number, seq: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(pub, 0);
  b.writeUInt32BE(seq, 4);
  b.writeUInt32BE(size, 8);
  let x = (pub * 2654435761 + seq * 40503 + size) >>> 0;
  for (let i = 12; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Whether `b` is exactly a payload as sent; its id ("pub/seq") either way. */
function check(b: Buffer): { id: string; intact: boolean } {
  if (b.length < 12) return { id: `short:${b.length}`, intact: false };
  const pub = b.readUInt32BE(0);
  const seq = b.readUInt32BE(4);
  const size = b.readUInt32BE(8);
  return { id: `${pub}/${seq}`, intact: size === b.length && b.equals(payload(pub, seq, size)) };
}

/** What one receiver got: ids in arrival order, and the ids of payloads that were not intact. */
class Received {
  readonly ids: string[] = [];
  readonly damaged: string[] = [];
  add(b: Buffer): void {
    const { id, intact } = check(b);
    this.ids.push(id);
    if (!intact) this.damaged.push(id);
  }
}

async function until(what: string, ok: () => boolean, started: number): Promise<void> {
  while (!ok()) {
    assert.ok(Date.now() - started < DEADLINE_MS, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const pool of [true, false]) {
  test(`mqtt payload stress: every payload arrives intact under fan-out, sharing, retain, QoS 0/1/2 and AMQP (pool ${pool ? 'on' : 'off'})`, async (tc) => {
    const started = Date.now();
    // Byte integrity is the point: the slow-consumer bound (QoS 0 drops) is set out of the way.
    const b = await startTestBroker({}, undefined, {
      mqtt: { port: 0, payloadPool: pool },
      limits: { maxOutboundBytes: 256 * 1024 * 1024 },
    });
    const url = `mqtt://127.0.0.1:${b.server.mqtt!.address.port}`;
    const clients: MqttClient[] = [];
    const conn = await amqp.connect(b.url);
    const open = async (version: 4 | 5): Promise<MqttClient> => {
      const c = await mqtt.connectAsync(url, { protocolVersion: version, reconnectPeriod: 0, keepalive: 0 });
      clients.push(c);
      return c;
    };
    const receiver = async (version: 4 | 5, filter: string, qos: 0 | 1 | 2): Promise<Received> => {
      const c = await open(version);
      const r = new Received();
      c.on('message', (_t, p) => r.add(p));
      await c.subscribeAsync(filter, { qos });
      return r;
    };
    /** The receiver whose socket is not read until `resume`: writes to it wait, buffers with them. */
    let resume = () => {};
    try {
      const run = uniq('stress').replaceAll('-', '_');
      const t = (kind: string, pub: number | string) => `stress/${run}/${kind}/${pub}`;
      const solo = await receiver(5, t('solo', '+'), 1);
      const slow = clients.at(-1)!;
      slow.stream.pause();
      resume = () => slow.stream.resume();
      const fan = await Promise.all([
        receiver(4, t('fan', '+'), 0),
        receiver(5, t('fan', '+'), 1),
        receiver(5, t('fan', '+'), 2),
      ]);
      const shared = await Promise.all([
        receiver(5, `$share/g/${t('share', '+')}`, 1),
        receiver(4, `$share/g/${t('share', '+')}`, 2),
      ]);
      const ch = await conn.createChannel();
      const { queue } = await ch.assertQueue('', { exclusive: true });
      // Everything but the one-subscriber topics (a second queue there would keep its buffers
      // from being reused).
      for (const kind of ['fan', 'share', 'ret'])
        await ch.bindQueue(queue, 'amq.topic', `stress.${run}.${kind}.*`);
      const amqpGot = new Received();
      await ch.consume(queue, (m) => m !== null && amqpGot.add(m.content), { noAck: true });

      // Each publisher cycles through the kinds, QoS levels and sizes.
      const sent: Record<(typeof KINDS)[number], string[]> = { solo: [], fan: [], share: [], ret: [] };
      const lastRetained = new Map<string, string>();
      await Promise.all(
        Array.from({ length: PUBLISHERS }, async (_, pub) => {
          const c = await open(pub % 2 === 0 ? 5 : 4);
          for (let seq = 0; seq < PER_PUBLISHER; seq++) {
            const kind = KINDS[seq % KINDS.length]!;
            const qos = (Math.floor(seq / KINDS.length) % 3) as 0 | 1 | 2;
            const size =
              kind === 'solo' ? POOLED[(seq / KINDS.length) % 2]! : SIZES[(seq * 5 + pub) % SIZES.length]!;
            const topic = t(kind, pub);
            sent[kind].push(`${pub}/${seq}`);
            if (kind === 'ret') lastRetained.set(topic, `${pub}/${seq}`);
            await c.publishAsync(topic, payload(pub, seq, size), { qos, retain: kind === 'ret' });
          }
        }),
      );
      resume();
      const total = PUBLISHERS * PER_PUBLISHER;
      await until(
        'every delivery',
        () => {
          const sharedCount = shared.reduce((n, r) => n + r.ids.length, 0);
          return (
            solo.ids.length >= sent.solo.length &&
            fan.every((r) => r.ids.length >= sent.fan.length) &&
            sharedCount >= sent.share.length &&
            amqpGot.ids.length >= total - sent.solo.length
          );
        },
        started,
      );
      // Retained: a late subscriber gets the last message of each retained topic.
      const late = await receiver(5, t('ret', '+'), 1);
      await until('the retained messages', () => late.ids.length >= PUBLISHERS, started);

      const sorted = (ids: readonly string[]) => [...ids].sort();
      for (const [name, r] of [
        ['solo', solo],
        ['fan 0', fan[0]!],
        ['fan 1', fan[1]!],
        ['fan 2', fan[2]!],
        ['shared a', shared[0]!],
        ['shared b', shared[1]!],
        ['amqp', amqpGot],
        ['retained', late],
      ] as const) {
        assert.deepEqual(r.damaged, [], `${name}: payloads that differ from what was sent`);
      }
      assert.deepEqual(sorted(solo.ids), sorted(sent.solo));
      for (const r of fan) assert.deepEqual(sorted(r.ids), sorted(sent.fan));
      assert.deepEqual(sorted([...shared[0]!.ids, ...shared[1]!.ids]), sorted(sent.share));
      assert.deepEqual(sorted(amqpGot.ids), sorted([...sent.fan, ...sent.share, ...sent.ret]));
      assert.deepEqual(sorted(late.ids), sorted([...lastRetained.values()]));
      const reused = b.server.mqttFrontEnd.pool.reused;
      tc.diagnostic(`${reused} payload buffers reused`);
      if (pool) assert.ok(reused > 0, 'the pool handed buffers out again (the test reached it)');
      else assert.equal(reused, 0);
    } finally {
      for (const c of clients) c.end(true);
      await conn.close();
      await b.close();
    }
  });
}
