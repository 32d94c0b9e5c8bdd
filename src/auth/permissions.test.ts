import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PermissionTable } from './permissions.js';

const vars = (username: string, client_id = '') => ({ username, vhost: '/', client_id });

test('permissions: unanchored expressions as RabbitMQ; empty matches nothing; default exchange is amq.default', () => {
  const t = new PermissionTable([
    { user: 'alice', vhost: '/', configure: '^alice\\.', write: '^(alice\\..*|amq\\.topic)$', read: 'alice' },
    { user: 'bob', vhost: '/', configure: '', write: '.*', read: '' },
    { user: 'carol', vhost: '/', configure: '.*', write: '^amq\\.default$', read: '.*' },
  ]);
  assert.equal(t.allows('alice', '/', 'configure', 'alice.q'), true);
  assert.equal(t.allows('alice', '/', 'configure', 'bob.q'), false);
  assert.equal(t.allows('alice', '/', 'read', 'x.alice.y'), true, 'unanchored: matches anywhere');
  assert.equal(t.allows('alice', '/', 'write', 'amq.topic'), true);
  assert.equal(t.allows('alice', '/', 'write', 'amq.topicx'), false);
  assert.equal(t.allows('bob', '/', 'configure', ''), false, "'' matches nothing, not even ''");
  assert.equal(t.allows('bob', '/', 'read', 'anything'), false);
  assert.equal(t.allows('carol', '/', 'write', ''), true, 'the default exchange is checked as amq.default');
  assert.equal(t.allows('dave', '/', 'read', 'q'), false, 'no entry: nothing');
  assert.equal(t.allows('alice', 'other', 'read', 'alice'), false, 'permissions are per vhost');
  assert.equal(t.canOpen('alice', '/'), true);
  assert.equal(t.canOpen('alice', 'other'), false);
  assert.equal(t.canOpen('dave', '/'), false);
});

test('permissions: topic permissions per exchange, with variables; none defined means allowed', () => {
  const t = new PermissionTable(
    [{ user: 'alice', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    [
      {
        user: 'alice',
        vhost: '/',
        exchange: 'amq.topic',
        write: '^sensors\\.{username}\\.',
        read: '^sensors\\.',
      },
    ],
  );
  assert.equal(t.allowsTopic('alice', '/', 'amq.topic', 'write', 'sensors.alice.t', vars('alice')), true);
  assert.equal(t.allowsTopic('alice', '/', 'amq.topic', 'write', 'sensors.bob.t', vars('alice')), false);
  assert.equal(t.allowsTopic('alice', '/', 'amq.topic', 'read', 'sensors.bob.t', vars('alice')), true);
  assert.equal(
    t.allowsTopic('alice', '/', 'other', 'write', 'anything', vars('alice')),
    true,
    'no entry for the exchange',
  );
  assert.equal(t.hasTopicPermissions('alice', '/', 'amq.topic'), true);
  assert.equal(t.hasTopicPermissions('alice', '/', 'other'), false);
});

test('permissions: variable values are literal, so a client id cannot widen its own permission', () => {
  const t = new PermissionTable(
    [],
    [{ user: 'u', vhost: '/', exchange: 'amq.topic', write: '^devices\\.{client_id}$', read: '' }],
  );
  assert.equal(t.allowsTopic('u', '/', 'amq.topic', 'write', 'devices.d1', vars('u', 'd1')), true);
  assert.equal(t.allowsTopic('u', '/', 'amq.topic', 'write', 'devices.d2', vars('u', '.*')), false);
  assert.equal(t.allowsTopic('u', '/', 'amq.topic', 'write', 'devices..*', vars('u', '.*')), true);
  assert.equal(
    t.allowsTopic('u', '/', 'amq.topic', 'read', 'devices.d1', vars('u', 'd1')),
    false,
    "'' read: nothing",
  );
});
