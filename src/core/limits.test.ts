import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../test/support/manual-clock.js';
import type { SwitchyardError } from '../errors/index.js';
import type { ConnectionInfo } from './identity.js';
import { ConnectionCounter, NO_LIMITS } from './limits.js';

const info = (user: string, remoteAddress = '10.0.0.1', protocol = 'amqp'): ConnectionInfo => ({
  protocol,
  remoteAddress,
  user,
  vhost: '/',
});
const code = (f: () => void) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as SwitchyardError).code;
  }
};

test('limits: new connections a second per source address, on the clock; others are not affected', () => {
  const clock = new ManualClock();
  const c = new ConnectionCounter({ ...NO_LIMITS, maxConnectionRate: 2 }, clock);
  assert.equal(
    code(() => c.admit(info('a'))),
    'ok',
  );
  assert.equal(
    code(() => c.admit(info('a'))),
    'ok',
  );
  assert.equal(
    code(() => c.admit(info('a'))),
    'CONNECTION_RATE',
  );
  assert.equal(
    code(() => c.admit(info('a', '10.0.0.2'))),
    'ok',
  );
  clock.advance(1000);
  assert.equal(
    code(() => c.admit(info('a'))),
    'ok',
  );
});

test('limits: HTTP requests, gRPC calls and internal connections are not counted', () => {
  const c = new ConnectionCounter({ ...NO_LIMITS, maxConnections: 1 }, new ManualClock());
  c.admit(info('a'));
  assert.equal(
    code(() => c.admit(info('a', '10.0.0.1', 'http'))),
    'ok',
  );
  assert.equal(
    code(() => c.admit(info('a', '10.0.0.1', 'grpc'))),
    'ok',
  );
  assert.equal(
    code(() => c.admit({ ...info('a', '', 'mqtt'), internal: true })),
    'ok',
  );
  assert.equal(
    code(() => c.admit(info('b', '10.0.0.1', 'mqtt'))),
    'CONNECTION_LIMIT',
  );
  c.release(info('a'));
  assert.equal(
    code(() => c.admit(info('b', '10.0.0.1', 'mqtt'))),
    'ok',
  );
});
