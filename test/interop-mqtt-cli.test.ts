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
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestBroker, uniq } from './helpers.js';
import { Connections, channel, Inbox, run } from './interop-support.js';
import { tempDir } from './support/temp.js';
import { skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

const SUB = '/usr/bin/mosquitto_sub';
const PUB = '/usr/bin/mosquitto_pub';
const STDBUF = '/usr/bin/stdbuf';
const skip = await skipUnless('mosquitto-clients');

/** The last bound on any one subscriber (`-W`, seconds); tests wait far less. */
const SUB_TIMEOUT_S = 60;

/**
 * The will delay of the test that reconnects within it, and the lifetime of the retained message
 * that a subscriber must still see: the mosquitto client started in between has to make it in
 * time, so these leave a busy machine room (the tests sleep past them once, concurrently).
 */
const CANCEL_DELAY_S = 5;
const SHORT_EXPIRY_S = 5;

/** One message as mosquitto_sub's `-F %j` prints it. */
interface Received {
  readonly topic: string;
  readonly qos: number;
  readonly retain: number;
  readonly payload: string;
  readonly properties?: {
    readonly 'response-topic'?: string;
    readonly 'correlation-data'?: string;
    readonly 'content-type'?: string;
    readonly 'user-properties'?: Record<string, string>;
    readonly [k: string]: unknown;
  };
}

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const c of running) c.kill('SIGKILL');
});

/** A running mosquitto_sub: its messages, its debug log, and bounded waits on both. */
class Sub {
  readonly messages: Received[] = [];
  readonly log: string[] = [];
  exit: Exit | undefined;
  readonly closed: Promise<Exit>;
  private stderr = '';
  private partial = '';
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly child: ChildProcess,
    readonly args: readonly string[],
  ) {
    running.add(child);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      const lines = (this.partial + d).split('\n');
      this.partial = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('{')) this.messages.push(JSON.parse(l) as Received);
        else this.log.push(l);
      }
      this.wake();
    });
    child.stderr!.on('data', (d: string) => {
      this.stderr += d;
    });
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        running.delete(child);
        this.exit = { code, signal };
        this.wake();
        resolve(this.exit);
      });
    });
  }

  /** Starts mosquitto_sub; unless `ready` is false, resolves once the SUBACK has arrived. */
  static async start(port: number, args: readonly string[], ready = true): Promise<Sub> {
    const all = [
      '-d',
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-W',
      String(SUB_TIMEOUT_S),
      '-F',
      '%j',
      ...args,
    ];
    const s = new Sub(spawn(STDBUF, ['-oL', SUB, ...all], { stdio: ['ignore', 'pipe', 'pipe'] }), all);
    if (ready) await s.until(() => s.log.some((l) => l.includes('received SUBACK')), 'the SUBACK');
    return s;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  transcript(): string {
    return `mosquitto_sub ${this.args.join(' ')}\n${this.log.join('\n')}\n${this.messages.map((m) => JSON.stringify(m)).join('\n')}\n${this.stderr}`;
  }

  /** Waits (bounded) until `pred` holds; fails early if mosquitto_sub exits first. */
  async until(pred: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.exit !== undefined) {
        throw new Error(
          `mosquitto_sub exited (${JSON.stringify(this.exit)}) before ${what}:\n${this.transcript()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}:\n${this.transcript()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, left);
        this.waiters.add(done);
      });
    }
  }

  /** The first `n` messages, once they have arrived. */
  async take(n: number, ms?: number): Promise<Received[]> {
    await this.until(() => this.messages.length >= n, `${n} message(s)`, ms);
    return this.messages.slice(0, n);
  }

  /** Waits for a `-C` / `-E` subscriber to finish by itself (bounded) and checks it exited 0. */
  async finished(ms = WAIT_MS): Promise<void> {
    await this.until(() => this.exit !== undefined, 'mosquitto_sub to exit', ms);
    assert.deepEqual(this.exit, { code: 0, signal: null }, this.transcript());
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    if (this.exit === undefined) this.child.kill(signal);
    return this.closed;
  }
}

const payloads = (ms: readonly Received[]): string[] => ms.map((m) => m.payload);

/** `-t topic -m payload`. */
const msg = (topic: string, payload: string): string[] => ['-t', topic, '-m', payload];

/** A will: `--will-topic topic --will-payload payload`. */
const willArgs = (topic: string, payload: string): string[] => [
  '--will-topic',
  topic,
  '--will-payload',
  payload,
];

/** `-D command property value...`: an MQTT 5 property for the CONNECT, PUBLISH or will. */
const prop = (command: string, name: string, ...value: string[]): string[] => ['-D', command, name, ...value];

const broker = await startTestBroker();
const PORT = broker.server.mqtt!.address.port;
const conns = new Connections(broker.url);
after(async () => {
  await conns.closeAll();
  await broker.close();
});

/** Runs mosquitto_pub to completion (bounded); fails unless it exits 0. */
async function pub(args: readonly string[], input?: string): Promise<string> {
  const all = ['-h', '127.0.0.1', '-p', String(PORT), ...args];
  const r = await run(PUB, all, { timeoutMs: WAIT_MS, ...(input === undefined ? {} : { input }) });
  assert.equal(r.code, 0, `mosquitto_pub ${all.join(' ')} exited ${r.code}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

/** Runs mosquitto_sub to completion (bounded): for `-E` (subscribe and leave) and refusals. */
function subOnce(args: readonly string[]) {
  return run(SUB, ['-h', '127.0.0.1', '-p', String(PORT), '-W', '10', ...args], { timeoutMs: WAIT_MS });
}

/** A fresh topic prefix (no wildcard characters). */
const topicBase = (what: string) => uniq(`cli/${what}`).replaceAll('-', '_');

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

describe('mosquitto clients, MQTT 5 only', { concurrency: true, skip }, () => {
  const V = ['-V', '5'];

  test('will delay: the will comes after the delay, not at the disconnect, with its properties', async () => {
    const w = topicBase('will-delay');
    const watcher = await Sub.start(PORT, [...V, '-q', '1', '-t', w, '-C', '1']);
    const victim = await Sub.start(PORT, [
      ...V,
      '-t',
      `${w}/x`,
      '-x',
      '30',
      ...willArgs(w, 'late'),
      ...prop('will', 'will-delay-interval', '2'),
      ...prop('will', 'user-property', 'who', 'victim'),
      ...prop('will', 'content-type', 'text/plain'),
      ...prop('will', 'response-topic', `${w}/back`),
      ...prop('will', 'correlation-data', 'cd-1'),
    ]);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const [will] = await watcher.take(1);
    const waited = Date.now() - killedAt;
    assert.equal(will!.payload, 'late');
    // Timed from before the kill, so never short; how late it may come is the wait's safety net.
    assert.ok(waited >= 1800, `the will came ${waited} ms after the disconnect`);
    assert.deepEqual(will!.properties, {
      'content-type': 'text/plain',
      'response-topic': `${w}/back`,
      'correlation-data': 'cd-1',
      'user-properties': { who: 'victim' },
    });
  });

  test('will delay: reconnecting within the delay cancels the will', async () => {
    const w = topicBase('will-cancel');
    const id = uniq('cli-will-cancel');
    const watcher = await Sub.start(PORT, [...V, '-q', '1', '-t', w, '-C', '1']);
    const victim = await Sub.start(PORT, [
      ...V,
      '-c',
      '-i',
      id,
      '-x',
      '30',
      '-t',
      `${w}/x`,
      ...willArgs(w, 'cancelled'),
      ...prop('will', 'will-delay-interval', String(CANCEL_DELAY_S)),
    ]);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    await victim.closed;
    // Back within the delay (same id, session kept), then a normal disconnect: no will.
    const back = await subOnce([...V, '-c', '-i', id, '-x', '30', '-t', `${w}/x`, '-E']);
    assert.equal(back.code, 0, back.stderr);
    assert.ok(
      Date.now() - killedAt < CANCEL_DELAY_S * 1000,
      'back within the delay (the machine is too busy)',
    );
    // Nothing to wait for but the delay itself: past it, a marker must be the first message.
    await sleep(killedAt + CANCEL_DELAY_S * 1000 + 500 - Date.now());
    await pub([...V, '-q', '1', '-t', w, '-m', 'marker']);
    assert.deepEqual(payloads(await watcher.take(1)), ['marker']);
  });

  test('amqplib ↔ MQTT 5 properties: response topic ↔ reply-to, correlation data ↔ correlation-id, user properties ↔ headers', async () => {
    const room = uniq('props');
    const ch = await channel(await conns.connect());
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', `rpc.${room}.#`);
    const inbox = await Inbox.consume(ch, queue, { noAck: true });
    await pub([
      ...V,
      '-q',
      '1',
      ...msg(`rpc/${room}/req`, 'ask'),
      ...prop('publish', 'response-topic', `rpc/${room}/answers`),
      ...prop('publish', 'correlation-data', 'corr-7'),
      ...prop('publish', 'content-type', 'application/json'),
      ...prop('publish', 'user-property', 'k', 'v'),
    ]);
    const [m] = await inbox.take(1);
    assert.deepEqual(
      {
        body: m!.content.toString(),
        routingKey: m!.fields.routingKey,
        replyTo: m!.properties.replyTo,
        correlationId: m!.properties.correlationId,
        contentType: m!.properties.contentType,
        k: (m!.properties.headers as Record<string, unknown> | undefined)?.k,
      },
      {
        body: 'ask',
        routingKey: `rpc.${room}.req`,
        replyTo: `rpc.${room}.answers`,
        correlationId: 'corr-7',
        contentType: 'application/json',
        k: 'v',
      },
    );
    // The AMQP side answers the MQTT requester the AMQP way: to the reply-to, with the correlation id.
    const s = await Sub.start(PORT, [...V, '-q', '1', '-t', `rpc/${room}/answers`, '-C', '1']);
    ch.publish('amq.topic', m!.properties.replyTo as string, Buffer.from('answer'), {
      correlationId: m!.properties.correlationId as string,
      replyTo: `rpc.${room}.more`,
    });
    const [answer] = await s.take(1);
    assert.deepEqual(
      [answer!.payload, answer!.properties?.['correlation-data'], answer!.properties?.['response-topic']],
      ['answer', 'corr-7', `rpc/${room}/more`],
    );
  });

  test('message expiry: an expired retained message is not sent to a new subscriber', async () => {
    const base = topicBase('expiry');
    await pub([
      ...V,
      '-q',
      '1',
      '-r',
      ...msg(`${base}/short`, 'short'),
      ...prop('publish', 'message-expiry-interval', String(SHORT_EXPIRY_S)),
    ]);
    // The broker has it (mosquitto_pub waited for the PUBACK): it expires before this + the interval.
    const shortPublished = Date.now();
    await pub([
      ...V,
      '-q',
      '1',
      '-r',
      ...msg(`${base}/long`, 'long'),
      ...prop('publish', 'message-expiry-interval', '60'),
    ]);
    const early = await Sub.start(PORT, [...V, '-q', '1', '-t', `${base}/#`, '-C', '2']);
    const seen = (await early.take(2)).sort((a, b) => a.topic.localeCompare(b.topic));
    assert.deepEqual(
      seen.map((m) => [m.payload, m.retain]),
      [
        ['long', 1],
        ['short', 1],
      ],
    );
    // The remaining lifetime goes with the message (MQTT 5 section 3.3.2.3.3).
    const left = seen.map((m) => m.properties?.['message-expiry-interval']);
    assert.ok(
      Number(left[0]) > 30 && Number(left[0]) <= 60 && Number(left[1]) <= SHORT_EXPIRY_S,
      JSON.stringify(left),
    );
    // Nothing to wait for but the clock: past the short interval, only the long-lived one is retained.
    await sleep(shortPublished + SHORT_EXPIRY_S * 1000 + 500 - Date.now());
    const later = await Sub.start(PORT, [...V, '-q', '1', '-t', `${base}/#`, '-C', '2']);
    await pub([...V, '-q', '1', '-t', `${base}/marker`, '-m', 'marker']);
    assert.deepEqual(
      (await later.take(2)).map((m) => [m.payload, m.retain]),
      [
        ['long', 1],
        ['marker', 0],
      ],
    );
    await pub([...V, '-q', '1', '-r', '-n', '-t', `${base}/long`]);
  });

  test('request/response: response-topic and correlation-data round trip', async () => {
    const req = topicBase('rpc/req');
    const resp = topicBase('rpc/resp');
    const server = await Sub.start(PORT, [...V, '-q', '1', '-t', req, '-C', '1']);
    const client = await Sub.start(PORT, [...V, '-q', '1', '-t', resp, '-C', '1']);
    await pub([
      ...V,
      '-q',
      '1',
      ...msg(req, 'ping'),
      ...prop('publish', 'response-topic', resp),
      ...prop('publish', 'correlation-data', 'corr-42'),
    ]);
    const [request] = await server.take(1);
    assert.equal(request!.payload, 'ping');
    const replyTo = request!.properties?.['response-topic'];
    const correlation = request!.properties?.['correlation-data'];
    assert.deepEqual([replyTo, correlation], [resp, 'corr-42']);
    await pub([
      ...V,
      '-q',
      '1',
      ...msg(replyTo!, 'pong'),
      ...prop('publish', 'correlation-data', correlation!),
    ]);
    const [response] = await client.take(1);
    assert.deepEqual(
      [response!.topic, response!.payload, response!.properties?.['correlation-data']],
      [resp, 'pong', 'corr-42'],
    );
  });

  test('user properties and other publish properties reach a v5 subscriber; a 3.1.1 one gets the payload', async () => {
    const t = topicBase('props');
    const s5 = await Sub.start(PORT, [...V, '-q', '1', '-t', t, '-C', '1']);
    const s3 = await Sub.start(PORT, ['-V', '311', '-q', '1', '-t', t, '-C', '1']);
    await pub([
      ...V,
      '-q',
      '1',
      ...msg(t, 'with props'),
      ...prop('publish', 'user-property', 'k1', 'v1'),
      ...prop('publish', 'user-property', 'k2', 'v2'),
      ...prop('publish', 'content-type', 'text/plain'),
      ...prop('publish', 'payload-format-indicator', '1'),
    ]);
    const [m5] = await s5.take(1);
    assert.equal(m5!.payload, 'with props');
    assert.deepEqual(m5!.properties?.['user-properties'], { k1: 'v1', k2: 'v2' });
    assert.equal(m5!.properties?.['content-type'], 'text/plain');
    const [m3] = await s3.take(1);
    assert.deepEqual([m3!.payload, m3!.properties], ['with props', undefined]);
  });
});
