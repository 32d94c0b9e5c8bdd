/**
 * Interop with the Mosquitto command-line clients (mosquitto_pub and mosquitto_sub, libmosquitto
 * 2.x) over MQTT 3.1.1 and 5, on real sockets. mosquitto_sub runs with `-d` (so its debug lines
 * tell when the SUBACK came: the test waits for that, never sleeps) under `stdbuf -oL` (so those
 * lines arrive as they are printed), and prints each message as one JSON line (`-F %j`, which
 * includes the v5 properties). Every subscriber has `-W` as a last bound and is killed in `after`.
 *
 * Not covered here: topic aliases from the broker to a client (libmosquitto 2.0 fails on a
 * PUBLISH with an empty topic and an alias, eclipse/mosquitto#1468; the paho suite covers
 * aliases), and WebSocket (the Mosquitto clients have no WebSocket transport).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startTestBroker, uniq } from './helpers.js';
import {
  payloads,
  pubTo,
  type Received,
  Sub,
  skip,
  subOnceTo,
  topicBase,
  willArgs,
} from './interop-mqtt-cli-support.js';
import { tempDir } from './support/temp.js';
import { Connections, channel, Inbox } from './interop-support.js';

const broker = await startTestBroker();
const PORT = broker.server.mqtt!.address.port;
const conns = new Connections(broker.url);
after(async () => {
  await conns.closeAll();
  await broker.close();
});

/** Runs mosquitto_pub to completion (bounded); fails unless it exits 0. */

/** Runs mosquitto_pub to completion (bounded); fails unless it exits 0. */
const pub = (args: readonly string[], input?: string) => pubTo(PORT, args, input);

/** Runs mosquitto_sub to completion (bounded): for `-E` (subscribe and leave) and refusals. */
const subOnce = (args: readonly string[]) => subOnceTo(PORT, args);

for (const v of ['311', '5'] as const) {
  const V = ['-V', v];

  describe(`mosquitto clients, MQTT ${v === '5' ? '5' : '3.1.1'}`, { concurrency: true, skip }, () => {
    for (const qos of [0, 1, 2]) {
      test(`QoS ${qos} end to end: in order, at the QoS published`, async () => {
        const t = topicBase(`qos${qos}`);
        const s = await Sub.start(PORT, [...V, '-q', String(qos), '-t', t, '-C', '5']);
        await pub([...V, '-q', String(qos), '-t', t, '-l'], 'm1\nm2\nm3\nm4\nm5\n');
        const got = await s.take(5);
        assert.deepEqual(payloads(got), ['m1', 'm2', 'm3', 'm4', 'm5']);
        assert.deepEqual(
          got.map((m) => [m.topic, m.qos, m.retain]),
          Array(5).fill([t, qos, 0]),
        );
        await s.finished();
      });
    }

    test('delivery QoS is the lower of the publish and the subscription QoS', async () => {
      const t = topicBase('downgrade');
      const s1 = await Sub.start(PORT, [...V, '-q', '1', '-t', t, '-C', '2']);
      const s2 = await Sub.start(PORT, [...V, '-q', '2', '-t', t, '-C', '2']);
      await pub([...V, '-q', '2', '-t', t, '-m', 'two']);
      await pub([...V, '-q', '0', '-t', t, '-m', 'zero']);
      assert.deepEqual(
        (await s1.take(2)).map((m) => [m.payload, m.qos]),
        [
          ['two', 1],
          ['zero', 0],
        ],
      );
      assert.deepEqual(
        (await s2.take(2)).map((m) => [m.payload, m.qos]),
        [
          ['two', 2],
          ['zero', 0],
        ],
      );
    });

    test('retained messages reach + and # subscribers; -r -n clears one', async () => {
      const base = topicBase('retained');
      await pub([...V, '-q', '1', '-r', '-t', `${base}/a/temp`, '-m', 'ra']);
      await pub([...V, '-q', '1', '-r', '-t', `${base}/b/temp`, '-m', 'rb']);
      await pub([...V, '-q', '1', '-r', '-t', `${base}/b/other`, '-m', 'rc']);
      const plus = await Sub.start(PORT, [...V, '-q', '1', '-t', `${base}/+/temp`, '-C', '2']);
      const hash = await Sub.start(PORT, [...V, '-q', '1', '-t', `${base}/#`, '-C', '3']);
      const sorted = (ms: Received[]) =>
        ms
          .map((m) => [m.topic, m.payload, m.retain])
          .sort((x, y) => String(x[0]).localeCompare(String(y[0])));
      assert.deepEqual(sorted(await plus.take(2)), [
        [`${base}/a/temp`, 'ra', 1],
        [`${base}/b/temp`, 'rb', 1],
      ]);
      assert.deepEqual(sorted(await hash.take(3)), [
        [`${base}/a/temp`, 'ra', 1],
        [`${base}/b/other`, 'rc', 1],
        [`${base}/b/temp`, 'rb', 1],
      ]);
      await pub([...V, '-q', '1', '-r', '-n', '-t', `${base}/a/temp`]);
      // After the clear: the retained copies come right after the SUBACK, so a marker published
      // once the SUBACK is seen arrives after them; `a/temp` must not be among them.
      const later = await Sub.start(PORT, [...V, '-q', '1', '-t', `${base}/+/temp`, '-C', '2']);
      await pub([...V, '-q', '1', '-t', `${base}/marker/temp`, '-m', 'marker']);
      assert.deepEqual(
        (await later.take(2)).map((m) => [m.topic, m.payload, m.retain]),
        [
          [`${base}/b/temp`, 'rb', 1],
          [`${base}/marker/temp`, 'marker', 0],
        ],
      );
      await pub([...V, '-q', '1', '-r', '-n', '-t', `${base}/b/temp`]);
      await pub([...V, '-q', '1', '-r', '-n', '-t', `${base}/b/other`]);
    });

    test('will: published on SIGKILL, not on a normal disconnect', async () => {
      const w = topicBase('will');
      const watcher = await Sub.start(PORT, [...V, '-q', '1', '-t', w, '-C', '2']);
      const victim = await Sub.start(PORT, [
        ...V,
        '-t',
        `${w}/x`,
        ...willArgs(w, `gone-${v}`),
        '--will-qos',
        '1',
      ]);
      // A client that says DISCONNECT: its will is dropped.
      const polite = await subOnce([...V, '-t', `${w}/y`, '-E', ...willArgs(w, 'never')]);
      assert.equal(polite.code, 0, polite.stderr);
      victim.child.kill('SIGKILL');
      await victim.closed;
      const [will] = await watcher.take(1);
      assert.deepEqual([will!.topic, will!.payload, will!.qos], [w, `gone-${v}`, 1]);
      await pub([...V, '-q', '1', '-t', w, '-m', 'marker']);
      assert.deepEqual(payloads(await watcher.take(2)), [`gone-${v}`, 'marker']);
    });

    test('retained will: a later subscriber gets it with the retain flag', async () => {
      const w = topicBase('will-retained');
      const watcher = await Sub.start(PORT, [...V, '-q', '1', '-t', w, '-C', '1']);
      const victim = await Sub.start(PORT, [
        ...V,
        '-t',
        `${w}/x`,
        ...willArgs(w, 'offline'),
        '--will-qos',
        '1',
        '--will-retain',
      ]);
      victim.child.kill('SIGKILL');
      assert.deepEqual(
        (await watcher.take(1)).map((m) => [m.payload, m.retain]),
        [['offline', 0]],
      );
      const later = await Sub.start(PORT, [...V, '-q', '1', '-t', w, '-C', '1']);
      assert.deepEqual(
        (await later.take(1)).map((m) => [m.payload, m.retain]),
        [['offline', 1]],
      );
      await pub([...V, '-q', '1', '-r', '-n', '-t', w]);
    });

    test('1 MiB payloads at QoS 1 and 2 arrive intact', async () => {
      const t = topicBase('large');
      const dir = tempDir('switchyard-cli-');
      const body = Array.from({ length: 1 << 20 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join(
        '',
      );
      const file = join(dir, 'payload');
      writeFileSync(file, body);
      const s = await Sub.start(PORT, [...V, '-q', '2', '-t', t, '-C', '2']);
      await pub([...V, '-q', '1', '-t', t, '-f', file]);
      await pub([...V, '-q', '2', '-t', t, '-f', file]);
      const got = await s.take(2);
      assert.deepEqual(
        got.map((m) => [m.qos, m.payload.length, m.payload === body]),
        [
          [1, 1 << 20, true],
          [2, 1 << 20, true],
        ],
      );
      await s.finished();
    });

    test('persistent session (-c -i): QoS 1 published while offline arrives on reconnect', async () => {
      const t = topicBase('session');
      const id = uniq(`cli-session-${v}`);
      const first = await subOnce([...V, '-c', '-i', id, '-q', '1', '-t', t, '-E']);
      assert.equal(first.code, 0, first.stderr);
      await pub([...V, '-q', '1', '-t', t, '-l'], 'off1\noff2\noff3\n');
      const back = await Sub.start(PORT, [...V, '-c', '-i', id, '-q', '1', '-t', t, '-C', '3'], false);
      assert.deepEqual(payloads(await back.take(3)), ['off1', 'off2', 'off3']);
      assert.ok(back.messages.every((m) => m.qos === 1));
      await back.finished();
      // A clean session with the same id discards what was kept.
      await subOnce([...V, '-c', '-i', id, '-q', '1', '-t', t, '-E']);
      await pub([...V, '-q', '1', '-t', t, '-m', 'kept?']);
      const clean = await Sub.start(PORT, [...V, '-i', id, '-q', '1', '-t', t, '-C', '1']);
      await pub([...V, '-q', '1', '-t', t, '-m', 'after-clean']);
      assert.deepEqual(payloads(await clean.take(1)), ['after-clean']);
      await clean.finished();
    });

    test('persistent session: what was in flight when the client left is sent again, in order', async () => {
      const t = topicBase('inflight');
      const id = uniq(`cli-inflight-${v}`);
      const first = await subOnce([...V, '-c', '-i', id, '-q', '1', '-t', t, '-E']);
      assert.equal(first.code, 0, first.stderr);
      await pub([...V, '-q', '1', '-t', t, '-l'], 'i1\ni2\ni3\ni4\ni5\n');
      // -C 1 leaves right after the first message: the rest were sent but never acknowledged.
      const one = await Sub.start(PORT, [...V, '-c', '-i', id, '-q', '1', '-t', t, '-C', '1'], false);
      assert.deepEqual(payloads(await one.take(1)), ['i1']);
      await one.finished();
      const rest = await Sub.start(PORT, [...V, '-c', '-i', id, '-q', '1', '-t', t], false);
      await rest.until(() => rest.messages.some((m) => m.payload === 'i5'), 'i5');
      await rest.stop();
      // i1's PUBACK may or may not have left before the DISCONNECT: if not, it comes again first.
      const got = payloads(rest.messages);
      assert.deepEqual(got[0] === 'i1' ? got.slice(1) : got, ['i2', 'i3', 'i4', 'i5']);
    });

    test('shared subscription: two members split the messages, together all of them once', async () => {
      const t = topicBase('shared');
      const filter = `$share/g${v}/${t}`;
      const a = await Sub.start(PORT, [...V, '-q', '1', '-t', filter]);
      const b = await Sub.start(PORT, [...V, '-q', '1', '-t', filter]);
      const lines = Array.from({ length: 20 }, (_, i) => `s${i}`);
      await pub([...V, '-q', '1', '-t', t, '-l'], `${lines.join('\n')}\n`);
      const total = () => a.messages.length + b.messages.length;
      await a.until(() => total() >= 20, '20 messages across both members');
      await Promise.all([a.stop(), b.stop()]);
      const all = [...payloads(a.messages), ...payloads(b.messages)];
      assert.deepEqual(all.sort(), [...lines].sort(), `a: ${a.messages.length}, b: ${b.messages.length}`);
      assert.ok(
        a.messages.length > 0 && b.messages.length > 0,
        `a: ${a.messages.length}, b: ${b.messages.length}`,
      );
      assert.ok(
        [...a.messages, ...b.messages].every((m) => m.topic === t),
        'members see the topic, not the $share filter',
      );
    });

    test('wrong password: CONNACK refused with the bad user name or password code', async () => {
      const r = await subOnce([...V, '-u', 'guest', '-P', 'wrong', '-t', 'x']);
      // mosquitto_sub exits with the CONNACK code: 3.1.1 return code 4, v5 reason 0x86.
      assert.equal(r.code, v === '5' ? 0x86 : 4, r.stderr);
      assert.match(r.stderr, /bad user ?name or password/i);
      const ok = await subOnce([...V, '-u', 'guest', '-P', 'guest', '-t', 'x', '-E']);
      assert.equal(ok.code, 0, ok.stderr);
    });

    test('amqplib: amq.topic binding sensors.*.temp gets mosquitto_pub, and the reverse', async () => {
      // Both versions' tests bind sensors.*.temp: each looks only at its own room.
      const room = uniq(`room${v}`);
      const ch = await channel(await conns.connect());
      const { queue } = await ch.assertQueue('', { exclusive: true });
      await ch.bindQueue(queue, 'amq.topic', 'sensors.*.temp');
      const inbox = new Inbox();
      await ch.consume(queue, (m) => m?.fields.routingKey.includes(room) === true && inbox.push(m), {
        noAck: true,
      });
      await pub([...V, '-q', '1', '-t', `sensors/${room}/temp`, '-m', '21.5']);
      await pub([...V, '-q', '0', '-t', `sensors/${room}/humidity`, '-m', 'not bound']);
      await pub([...V, '-q', '0', '-t', `sensors/${room}/temp`, '-m', '21.6']);
      const [m1, m2] = await inbox.take(2);
      assert.deepEqual(
        [m1!.fields.exchange, m1!.fields.routingKey, m1!.content.toString(), m1!.properties.deliveryMode],
        ['amq.topic', `sensors.${room}.temp`, '21.5', 2],
      );
      assert.deepEqual([m2!.content.toString(), m2!.properties.deliveryMode], ['21.6', 1]);

      const s = await Sub.start(PORT, [...V, '-q', '1', '-t', 'sensors/+/temp']);
      ch.publish('amq.topic', `sensors.${room}.humidity`, Buffer.from('not matched'));
      ch.publish('amq.topic', `sensors.${room}.temp`, Buffer.from('from amqp'), {
        deliveryMode: 2,
        headers: { unit: 'C' },
        contentType: 'text/plain',
      });
      const mine = () => s.messages.filter((m) => m.topic.includes(room));
      await s.until(() => mine().length >= 1, 'the message from amqplib');
      await s.stop();
      // The queue sees the amqplib publish too, and neither humidity message.
      assert.deepEqual(
        (await inbox.take(3)).map((m) => m.content.toString()),
        ['21.5', '21.6', 'from amqp'],
      );
      await inbox.settlesAt(3, 50);
      assert.deepEqual(
        mine().map((m) => [m.topic, m.payload, m.qos]),
        [[`sensors/${room}/temp`, 'from amqp', 1]],
      );
      const got = mine()[0]!;
      if (v === '5') {
        assert.equal(got.properties?.['content-type'], 'text/plain');
        assert.deepEqual(got.properties?.['user-properties'], { unit: 'C' });
      } else assert.equal(got.properties, undefined);
    });
  });
}
