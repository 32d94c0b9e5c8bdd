/**
 * Interop with the Mosquitto command-line clients over MQTT 5 only: properties both ways (with
 * amqplib on the other side), request/response; and will delays and message expiry against a
 * broker whose clock the test moves (a ManualClock), so those are checked at exact times and
 * never sleep. See interop-mqtt-cli-support.ts for how the clients are run.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { startTestBroker, uniq } from './helpers.js';
import {
  msg,
  payloads,
  prop,
  pubTo,
  Sub,
  skip,
  subOnceTo,
  topicBase,
  willArgs,
} from './interop-mqtt-cli-support.js';
import { Connections, channel, Inbox } from './interop-support.js';
import { harness } from './support/mqtt-session.js';

const broker = await startTestBroker();
const PORT = broker.server.mqtt!.address.port;
const conns = new Connections(broker.url);
const clocked = harness();
const clockListener = await clocked.fe.listen('127.0.0.1', 0);
const CLOCK_PORT = clockListener.address.port;
after(async () => {
  await conns.closeAll();
  await broker.close();
  await clocked.close();
  await clockListener.close();
});

/** Runs mosquitto_pub to completion (bounded); fails unless it exits 0. */
const pub = (args: readonly string[]) => pubTo(PORT, args);

/** Waits (bounded) until the clocked broker has seen a client's connection close. */
async function closedOnBroker(clientId: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (clocked.fe.sessions.get(clientId)?.connection !== undefined) {
    assert.ok(Date.now() < deadline, `the broker still has ${clientId} connected`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('mosquitto clients, MQTT 5 only', { concurrency: true, skip }, () => {
  const V = ['-V', '5'];

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

// One clock for these: they run one after the other.
describe('mosquitto clients, MQTT 5, on the broker clock', { skip }, () => {
  const V = ['-V', '5'];

  test('will delay: the will comes when the delay has passed, not at the disconnect, with its properties', async () => {
    const w = topicBase('will-delay');
    const id = uniq('cli-will-delay');
    const watcher = await Sub.start(CLOCK_PORT, [...V, '-q', '1', '-t', w, '-C', '2']);
    const victim = await Sub.start(CLOCK_PORT, [
      ...V,
      '-i',
      id,
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
    victim.child.kill('SIGKILL');
    await closedOnBroker(id);
    clocked.clock.advance(1_999);
    // A marker published now comes first: the will has not gone yet.
    await pubTo(CLOCK_PORT, [...V, '-q', '1', '-t', w, '-m', 'marker']);
    assert.deepEqual(payloads(await watcher.take(1)), ['marker']);
    clocked.clock.advance(1);
    const [, will] = await watcher.take(2);
    assert.equal(will!.payload, 'late');
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
    const watcher = await Sub.start(CLOCK_PORT, [...V, '-q', '1', '-t', w, '-C', '1']);
    const victim = await Sub.start(CLOCK_PORT, [
      ...V,
      '-c',
      '-i',
      id,
      '-x',
      '30',
      '-t',
      `${w}/x`,
      ...willArgs(w, 'cancelled'),
      ...prop('will', 'will-delay-interval', '2'),
    ]);
    victim.child.kill('SIGKILL');
    await closedOnBroker(id);
    clocked.clock.advance(1_000);
    // Back within the delay (same id, session kept), then a normal disconnect: no will.
    const back = await subOnceTo(CLOCK_PORT, [...V, '-c', '-i', id, '-x', '30', '-t', `${w}/x`, '-E']);
    assert.equal(back.code, 0, back.stderr);
    clocked.clock.advance(3_000);
    await pubTo(CLOCK_PORT, [...V, '-q', '1', '-t', w, '-m', 'marker']);
    assert.deepEqual(payloads(await watcher.take(1)), ['marker']);
  });

  test('message expiry: an expired retained message is not sent to a new subscriber; the interval left goes along', async () => {
    const base = topicBase('expiry');
    const publish = (args: readonly string[]) => pubTo(CLOCK_PORT, [...V, '-q', '1', ...args]);
    await publish([
      '-r',
      ...msg(`${base}/short`, 'short'),
      ...prop('publish', 'message-expiry-interval', '1'),
    ]);
    await publish([
      '-r',
      ...msg(`${base}/long`, 'long'),
      ...prop('publish', 'message-expiry-interval', '60'),
    ]);
    const early = await Sub.start(CLOCK_PORT, [...V, '-q', '1', '-t', `${base}/#`, '-C', '2']);
    const seen = (await early.take(2)).sort((a, b) => a.topic.localeCompare(b.topic));
    // The remaining lifetime goes with the message [MQTT-3.3.2-6]: no time has passed.
    assert.deepEqual(
      seen.map((m) => [m.payload, m.retain, m.properties?.['message-expiry-interval']]),
      [
        ['long', 1, 60],
        ['short', 1, 1],
      ],
    );
    clocked.clock.advance(1_500);
    const later = await Sub.start(CLOCK_PORT, [...V, '-q', '1', '-t', `${base}/#`, '-C', '2']);
    await publish(['-t', `${base}/marker`, '-m', 'marker']);
    assert.deepEqual(
      (await later.take(2)).map((m) => [m.payload, m.retain, m.properties?.['message-expiry-interval']]),
      [
        ['long', 1, 59],
        ['marker', 0, undefined],
      ],
    );
  });
});
