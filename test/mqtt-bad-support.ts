/**
 * Bad MQTT input through a real listener, over raw sockets: the broker the bad-input suites share
 * (one per test file), a well-behaved MQTT.js client connected throughout that must keep
 * publishing and receiving, and the checks on what comes back.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { Packet } from 'mqtt-packet';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { describePacket, frame, mqttString, RawMqtt, type Version } from './mqtt-raw.js';

export const MAX_PACKET = 1024;
/** The reason codes a DISCONNECT may carry (MQTT 5 section 3.14.2.1). */
export const DISCONNECT_CODES = new Set([
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
  0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
]);
export const RECEIVE_MAXIMUM = 2;
export const CONNECT_TIMEOUT = 300;

export let broker: TestBroker;
export let port: number;
let good: MqttClient;
const goodTopic = uniq('good/topic');
const goodInbox: string[] = [];
let goodCloses = 0;

/** Starts the shared broker and the good client for the calling test file. */
export function setup(): void {
  before(async () => {
    broker = await startTestBroker({}, undefined, {
      mqtt: {
        port: 0,
        maxPacketSize: MAX_PACKET,
        receiveMaximum: RECEIVE_MAXIMUM,
        connectTimeout: CONNECT_TIMEOUT,
      },
    });
    port = broker.server.mqtt!.address.port;
    good = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      clientId: uniq('good'),
      reconnectPeriod: 0,
      keepalive: 0,
    });
    good.on('close', () => goodCloses++);
    good.on('message', (_t, payload) => goodInbox.push(payload.toString()));
    await good.subscribeAsync(goodTopic, { qos: 1 });
  });

  after(async () => {
    for (const raw of RawMqtt.open) raw.destroy();
    await good.endAsync();
    await broker.close();
  });
}

let round = 0;
/** The good client publishes at QoS 1 and receives its own message: nothing else was affected. */
export async function goodClientStillWorks(): Promise<void> {
  // (MQTT.js holds a QoS 1 publish of a disconnected client for ever: check the connection first.)
  assert.equal(goodCloses, 0, 'the good client was never disconnected');
  const body = `round-${++round}`;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    good.publishAsync(goodTopic, body, { qos: 1 }),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('no PUBACK for the good client')), 5_000);
    }),
  ]).finally(() => clearTimeout(timer));
  const deadline = Date.now() + 5_000;
  while (!goodInbox.includes(body)) {
    assert.ok(Date.now() < deadline, `the good client did not receive ${body}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const connected = (v: Version, extra: Partial<Packet> = {}) =>
  RawMqtt.connected(port, v, uniq(`bad-v${v}`), extra);

/** The next packet must be a DISCONNECT with `reason` (v5), and then the socket closes. */
export async function expectDisconnect(raw: RawMqtt, reason: number | readonly number[]): Promise<void> {
  const p = await raw.next();
  assert.ok(p !== 'closed' && p.cmd === 'disconnect', `expected DISCONNECT, got ${describePacket(p)}`);
  const allowed = typeof reason === 'number' ? [reason] : reason;
  assert.ok(allowed.includes(p.reasonCode ?? 0), `DISCONNECT reason 0x${(p.reasonCode ?? 0).toString(16)}`);
  await raw.waitClosed();
  assert.equal(await raw.next(), 'closed', 'nothing after the DISCONNECT');
}

/** The socket closes with nothing (more) sent: what 3.1.1 does for any protocol violation. */
export async function expectSilentClose(raw: RawMqtt, bytesBefore = raw.bytes.length): Promise<void> {
  await raw.waitClosed();
  assert.equal(
    raw.bytes.length,
    bytesBefore,
    `unexpected bytes: ${raw.bytes.subarray(bytesBefore).toString('hex')}`,
  );
}

/** The connection is still usable: PINGREQ gets PINGRESP. */
export async function expectAlive(raw: RawMqtt): Promise<void> {
  raw.send({ cmd: 'pingreq' });
  const p = await raw.next();
  assert.ok(p !== 'closed' && p.cmd === 'pingresp', `expected PINGRESP, got ${describePacket(p)}`);
}

/**
 * Runs `body` (which opens a raw connection and returns it), closes it, then checks the good
 * client. A body that fails leaves its socket to after().
 */
export async function withRaw(body: () => Promise<RawMqtt>): Promise<void> {
  (await body()).destroy();
  await goodClientStillWorks();
}

/** A PUBLISH written by hand: topic bytes as given, optional v5 properties bytes. */
export function rawPublish(
  v: Version,
  topic: Buffer | string,
  opts: { qos?: number; pid?: number; props?: number[]; payload?: Buffer } = {},
): Buffer {
  const qos = opts.qos ?? 0;
  const parts: Buffer[] = [mqttString(topic)];
  if (qos > 0) parts.push(Buffer.from([(opts.pid ?? 1) >> 8, (opts.pid ?? 1) & 0xff]));
  if (v === 5) {
    const props = opts.props ?? [];
    parts.push(Buffer.from([props.length, ...props]));
  }
  parts.push(opts.payload ?? Buffer.from('x'));
  return frame(0x30 | (qos << 1), Buffer.concat(parts));
}
