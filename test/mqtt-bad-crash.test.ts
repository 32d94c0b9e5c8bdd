/**
 * Bad MQTT input that once took the whole broker process down (a reply that threw inside a
 * promise callback was an unhandled rejection): each case runs in a broker process of its own,
 * so a regression shows as that process dying.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uniq } from './helpers.js';
import { rawPublish } from './mqtt-bad-support.js';
import { RawMqtt, spawnBroker, type Version } from './mqtt-raw.js';

/** Sends `bytes` to a fresh broker process after a CONNECT; the process must outlive it. */
async function survives(v: Version, bytes: readonly number[], reason: readonly number[]): Promise<void> {
  const child = await spawnBroker();
  try {
    const raw = await RawMqtt.connected(child.port, v, uniq('crash'));
    const before = raw.bytes.length;
    raw.write(bytes);
    await raw.waitClosed(3_000).catch(() => {});
    raw.destroy();
    const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r('running'), 500))]);
    assert.equal(
      code,
      'running',
      `the broker process exited (${String(code)}): ${child.stderr().slice(0, 600)}`,
    );
    // And it still serves: a new client connects.
    (await RawMqtt.connected(child.port, 4, uniq('after'))).destroy();
    if (v === 5) {
      const reply = raw.bytes.subarray(before);
      assert.equal(reply[0], 0xe0, `a DISCONNECT: ${reply.toString('hex')}`);
      assert.ok(reason.includes(reply[2]!), `reason 0x${reply[2]?.toString(16)}`);
    }
  } finally {
    await child.stop();
  }
}

// Each of these once ended the whole broker process (a reply that threw inside a promise callback
// was an unhandled rejection); each now runs in a broker process of its own, so a regression
// shows as that process dying.
test('mqtt bad input: input that once took the whole broker process down (each in a broker process of its own)', {
  concurrency: true,
}, async (t) => {
  await Promise.all([
    t.test('v5 UNSUBSCRIBE with no topic filter', () =>
      survives(5, [0xa2, 0x03, 0x00, 0x01, 0x00], [0x81, 0x82]),
    ),
    t.test('v5 retained QoS 1 PUBLISH too short for its packet identifier', () =>
      survives(5, [0x33, 0x03, 0x00, 0x01, 0x61], [0x81]),
    ),
    t.test('3.1.1 retained QoS 2 PUBLISH too short for its packet identifier', () =>
      survives(4, [0x35, 0x03, 0x00, 0x01, 0x61], []),
    ),
    t.test('3.1.1 PUBREL too short for its packet identifier, behind a reply still waiting for a write', () =>
      survives(
        4,
        [...rawPublish(4, 'r', { qos: 1, pid: 1 }).map((b, i) => (i === 0 ? b | 1 : b)), 0x62, 0x00],
        [],
      ),
    ),
  ]);
});
