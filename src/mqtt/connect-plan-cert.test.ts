import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectPacket } from '../../test/support/mqtt-samples.js';
import { Reason } from './codec/index.js';
import { identifyClient } from './connect-plan.js';
import { DEFAULT_MQTT_SETTINGS } from './settings.js';

const passwords = async (u: string, p: string) => u === 'alice' && p === 'secret';
const settings = {
  ...DEFAULT_MQTT_SETTINGS,
  anonymous: 'never' as const,
  certLogin: true,
  userExists: (u: string) => u === 'alice' || u === 'bob',
};

test('connect: certificate login: no user name → the certificate CN, if that user exists', async () => {
  const p = connectPacket(5, { clientId: 'c1' });
  const d = await identifyClient(p, settings, '10.0.0.7', passwords, 'bob');
  assert.ok('user' in d);
  assert.equal(d.user, 'bob');
  const no = await identifyClient(p, settings, '10.0.0.7', passwords, 'mallory');
  assert.ok('refuse' in no);
  assert.equal(no.refuse.spec.mqtt, Reason.BAD_USER_NAME_OR_PASSWORD);
  assert.match(no.refuse.message, /certificate user 'mallory' refused: not a broker user/);
  // Without a userExists answer, nobody logs in by certificate.
  const { userExists: _, ...noTable } = settings;
  assert.ok('refuse' in (await identifyClient(p, noTable, '10.0.0.7', passwords, 'bob')));
});

test('connect: certificate login: a user name and password are checked as usual', async () => {
  const named = connectPacket(5, { clientId: 'c1', username: 'alice', password: Buffer.from('secret') });
  const d = await identifyClient(named, settings, '10.0.0.7', passwords, 'bob');
  assert.ok('user' in d);
  assert.equal(d.user, 'alice');
  const wrong = connectPacket(5, { clientId: 'c1', username: 'alice', password: Buffer.from('nope') });
  assert.ok('refuse' in (await identifyClient(wrong, settings, '10.0.0.7', passwords, 'bob')));
});
