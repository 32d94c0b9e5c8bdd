import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SwitchyardError } from '../errors/index.js';
import { loadConfig } from './load.js';
import { tempDir } from '../../test/support/temp.js';

function file(text: string): string {
  const p = join(tempDir('sy-cfg-'), 'switchyard.yaml');
  writeFileSync(p, text);
  return p;
}

test('config: defaults', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.amqp.port, 5672);
  assert.equal(c.host, '0.0.0.0');
  assert.deepEqual(c.users, { guest: { password: 'guest', tags: ['administrator'] } });
  assert.equal(c.mqtt.anonymous, 'never');
  assert.equal(c.permissions, undefined);
  assert.deepEqual(c.vhosts, ['/']);
});

test('config: file, then environment, then flags, each overriding the one before', () => {
  const p = file('host: 127.0.0.1\namqp:\n  port: 5000\n  heartbeat: 10\n');
  const fromFile = loadConfig({ file: p, env: {} });
  assert.equal(fromFile.amqp.port, 5000);
  assert.equal(fromFile.amqp.heartbeat, 10);
  const fromEnv = loadConfig({
    file: p,
    env: { SWITCHYARD_AMQP_PORT: '5001', SWITCHYARD_USERS: 'a:b,c:d:e' },
  });
  assert.equal(fromEnv.amqp.port, 5001);
  assert.deepEqual(fromEnv.users, { a: 'b', c: 'd:e' });
  const fromFlag = loadConfig({
    file: p,
    env: { SWITCHYARD_AMQP_PORT: '5001' },
    overrides: { 'amqp.port': 'off' },
  });
  assert.equal(fromFlag.amqp.port, 'off');
  assert.equal(fromFlag.host, '127.0.0.1');
});

test('config: an invalid value names the option and the line in the file', () => {
  const p = file('host: 127.0.0.1\namqp:\n  heartbeat: 10\n  port: ninety\n');
  assert.throws(
    () => loadConfig({ file: p, env: {} }),
    (e: unknown) => {
      assert.ok(e instanceof SwitchyardError);
      assert.equal(e.code, 'INVALID_CONFIG');
      assert.match(e.message, /switchyard\.yaml:4: amqp\.port:/);
      return true;
    },
  );
});

test('config: unknown keys are rejected, not ignored', () => {
  const p = file('amqp:\n  prot: 5672\n');
  assert.throws(() => loadConfig({ file: p, env: {} }), /amqp/);
});

test('config: YAML syntax errors cite line and column', () => {
  const p = file('amqp:\n  port: [1, 2\n');
  assert.throws(() => loadConfig({ file: p, env: {} }), /switchyard\.yaml:\d+:\d+:/);
});

test('config: a missing file is a clear error', () => {
  assert.throws(() => loadConfig({ file: '/nonexistent/sy.yaml', env: {} }), /cannot read config file/);
});
