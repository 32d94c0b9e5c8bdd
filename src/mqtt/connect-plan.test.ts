import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectPacket } from '../../test/support/mqtt-samples.js';
import { Reason } from './codec/index.js';
import type { ConnectPacket } from './codec/packets.js';
import { connackProperties, identifyClient, planConnect } from './connect-plan.js';
import { DEFAULT_MQTT_SETTINGS } from './settings.js';

const users = async (u: string, p: string) => u === 'alice' && p === 'secret';
const NOW = Date.UTC(2026, 0, 1);

function connect(extra: Partial<ConnectPacket> = {}): ConnectPacket {
  return connectPacket(5, { clientId: 'c1', ...extra });
}

function plan(p: ConnectPacket, settings = DEFAULT_MQTT_SETTINGS) {
  const d = planConnect(p, settings, 'alice', NOW);
  if ('refuse' in d) throw new Error(`refused: ${d.refuse.message}`);
  return d.plan;
}

/** The MQTT 5 reason code a CONNECT is refused with (its catalogue entry's). */
function refusal(p: ConnectPacket, settings = DEFAULT_MQTT_SETTINGS) {
  const d = planConnect(p, settings, 'alice', NOW);
  assert.ok('refuse' in d, 'expected a refusal');
  return d.refuse.spec.mqtt;
}

/** Who a CONNECT is from, or the reason code it is refused with. */
async function identity(p: ConnectPacket, remote = '127.0.0.1', settings = DEFAULT_MQTT_SETTINGS) {
  const who = await identifyClient(p, settings, remote, users);
  return 'refuse' in who ? who.refuse.spec.mqtt : who.user;
}

test('connect: users are checked; anonymous only when the setting allows it', async () => {
  assert.equal(await identity(connect({ username: 'alice', password: Buffer.from('secret') })), 'alice');
  assert.equal(
    await identity(connect({ username: 'alice', password: Buffer.from('nope') })),
    Reason.BAD_USER_NAME_OR_PASSWORD,
  );
  const never = { ...DEFAULT_MQTT_SETTINGS, anonymous: 'never' as const };
  assert.equal(await identity(connect(), '127.0.0.1', never), Reason.BAD_USER_NAME_OR_PASSWORD);
  assert.equal(await identity(connect({ protocolVersion: 4 }), '127.0.0.1', never), Reason.NOT_AUTHORIZED);
  const loopback = { ...DEFAULT_MQTT_SETTINGS, anonymous: 'loopback' as const };
  assert.equal(await identity(connect(), '127.0.0.1', loopback), 'anonymous');
  assert.equal(await identity(connect(), '10.0.0.7', loopback), Reason.BAD_USER_NAME_OR_PASSWORD);
  const always = { ...DEFAULT_MQTT_SETTINGS, anonymous: 'always' as const };
  assert.equal(await identity(connect(), '10.0.0.7', always), 'anonymous');
  assert.equal(
    await identity(connect({ properties: { authenticationMethod: 'SCRAM-SHA-1' } })),
    Reason.BAD_AUTHENTICATION_METHOD,
  );
});

test('connect: client identifiers: assigned when empty with clean start, refused otherwise', () => {
  const p = plan(connect({ clientId: '' }));
  assert.match(p.clientId, /^sy-/);
  assert.equal(p.assigned, p.clientId);
  assert.equal(refusal(connect({ clientId: '', clean: false })), Reason.CLIENT_IDENTIFIER_NOT_VALID);
  assert.equal(refusal(connect({ clientId: 'x'.repeat(201) })), Reason.CLIENT_IDENTIFIER_NOT_VALID);
  assert.equal(refusal(connect({ clientId: 'a\u0000b' })), Reason.CLIENT_IDENTIFIER_NOT_VALID);
});

test('connect: session expiry from v5, from clean session in 3.1.1, capped by the broker', () => {
  assert.equal(plan(connect({ properties: { sessionExpiryInterval: 60 } })).expiry, 60);
  assert.equal(plan(connect({ protocolVersion: 4, clean: false })).expiry, 0xffffffff);
  assert.equal(plan(connect({ protocolVersion: 4, clean: true })).expiry, 0);
  const capped = { ...DEFAULT_MQTT_SETTINGS, maxSessionExpiry: 100 };
  const p = plan(connect({ properties: { sessionExpiryInterval: 5000 } }), capped);
  assert.equal(p.expiry, 100);
  assert.equal(p.expiryCapped, true);
  assert.equal(connackProperties(p, capped, false).sessionExpiryInterval, 100);
});

test('connect: keep-alive capped by maxKeepAlive is announced as Server Keep Alive (v5)', () => {
  const s = { ...DEFAULT_MQTT_SETTINGS, maxKeepAlive: 20 };
  const p = plan(connect({ keepAlive: 0 }), s);
  assert.equal(p.keepAlive, 20);
  assert.equal(connackProperties(p, s, false).serverKeepAlive, 20);
  assert.equal(plan(connect({ keepAlive: 10 }), s).serverKeepAlive, undefined);
  assert.equal(plan(connect({ keepAlive: 90 }), DEFAULT_MQTT_SETTINGS).keepAlive, 90);
});

test('connect: the will is checked before anything happens', () => {
  const will = (topic: string, extra = {}) =>
    connect({
      will: { topic, payload: Buffer.from('bye'), qos: 1, retain: false, properties: undefined, ...extra },
    });
  const p = plan(will('status/c1', { properties: { willDelayInterval: 5 } }));
  assert.equal(p.will?.topic, 'status/c1');
  assert.equal(p.will?.delay, 5);
  assert.equal(refusal(will('status/#')), Reason.TOPIC_NAME_INVALID);
  assert.equal(
    refusal(
      connect({
        will: {
          topic: 't',
          payload: Buffer.from([0xff]),
          qos: 0,
          retain: false,
          properties: { payloadFormatIndicator: true },
        },
      }),
    ),
    Reason.PAYLOAD_FORMAT_INVALID,
  );
});

test('connect: the client limits are kept (v5); a 3.1.1 client gets the in-flight window', () => {
  const p = plan(
    connect({ properties: { receiveMaximum: 5, maximumPacketSize: 1000, topicAliasMaximum: 3 } }),
  );
  assert.deepEqual([p.receiveMaximum, p.maxPacketSize, p.topicAliasMaximum], [5, 1000, 3]);
  const v3 = plan(connect({ protocolVersion: 4 }));
  assert.deepEqual([v3.receiveMaximum, v3.maxPacketSize, v3.topicAliasMaximum], [128, 0, 0]);
});
