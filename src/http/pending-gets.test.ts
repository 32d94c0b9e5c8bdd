/**
 * Manual-get leases: settle by id (all or none), ids bound to user, vhost and queue, expiry
 * requeues, the per-user cap.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../test/support/manual-clock.js';
import { Broker, type CoreConnection, publishConfirmed } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { PendingGets } from './pending-gets.js';

function open(broker: Broker): CoreConnection {
  return broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost: '/' });
}

/** A broker with queue 'q' holding messages m0..m(n-1). */
async function fill(n: number): Promise<{ broker: Broker; admin: CoreConnection }> {
  const broker = new Broker();
  const admin = open(broker);
  admin.declareQueue('q', { passive: false, durable: false, exclusive: false, autoDelete: false, args: {} });
  for (let i = 0; i < n; i++) {
    await publishConfirmed(admin, {
      exchange: '',
      routingKey: 'q',
      body: Buffer.from(`m${i}`),
      properties: {},
    });
  }
  return { broker, admin };
}

/** Takes `n` messages unacked on a fresh connection, leased; returns the ids. */
function lease(leases: PendingGets, broker: Broker, n: number, user = 'guest'): string[] {
  const conn = open(broker);
  const s = conn.openSession();
  const tags: number[] = [];
  for (let i = 0; i < n; i++) tags.push(conn.get(s, 'q', false)!.tag);
  const token = leases.add(user, '/', 'q', conn, s, tags);
  return tags.map((t) => `${token}-${t}`);
}

const ready = (admin: CoreConnection) =>
  admin.declareQueue('q', { passive: true, durable: false, exclusive: false, autoDelete: false, args: {} })
    .messageCount;

test('pending gets: ack, requeue and reject by id; the lease ends with its last id', async () => {
  const { broker, admin } = await fill(3);
  const leases = new PendingGets(new ManualClock());
  const ids = lease(leases, broker, 3);
  assert.equal(ready(admin), 0);
  assert.equal(leases.settle('guest', '/', 'q', [ids[0]!], 'ack'), 1);
  assert.equal(leases.settle('guest', '/', 'q', [ids[1]!, ids[1]!], 'requeue'), 1);
  assert.equal(ready(admin), 1);
  const before = broker.connections.size;
  assert.equal(leases.settle('guest', '/', 'q', [ids[2]!], 'discard'), 1);
  assert.equal(broker.connections.size, before - 1, 'the lease closed its connection');
  assert.equal(leases.unsettled, 0);
  assert.equal(ready(admin), 1);
});

test('pending gets: an unknown id fails the whole call and settles nothing', async () => {
  const { broker } = await fill(2);
  const leases = new PendingGets(new ManualClock());
  const ids = lease(leases, broker, 2);
  const refused = (call: () => unknown) =>
    assert.throws(call, (e: unknown) => e instanceof SwitchyardError && e.code === 'PRECONDITION_FAILED');
  refused(() => leases.settle('guest', '/', 'q', [ids[0]!, 'nope'], 'ack'));
  refused(() => leases.settle('other', '/', 'q', [ids[0]!], 'ack'));
  refused(() => leases.settle('guest', '/x', 'q', [ids[0]!], 'ack'));
  refused(() => leases.settle('guest', '/', 'q2', [ids[0]!], 'ack'));
  refused(() => leases.settle('guest', '/', 'q', [`${ids[0]!}0`], 'ack'));
  refused(() => leases.settle('guest', '/', 'q', ['-1', '', '--', 'x-1e3'], 'ack'));
  assert.equal(leases.unsettled, 2);
  assert.equal(leases.settle('guest', '/', 'q', ids, 'ack'), 2);
  refused(() => leases.settle('guest', '/', 'q', [ids[0]!], 'ack'));
});

test('pending gets: a lease that runs out puts its messages back, redelivered', async () => {
  const { broker, admin } = await fill(2);
  const clock = new ManualClock();
  const leases = new PendingGets(clock, 20);
  const ids = lease(leases, broker, 2);
  clock.advance(19);
  assert.equal(ready(admin), 0);
  clock.advance(1);
  assert.equal(ready(admin), 2);
  assert.throws(() => leases.settle('guest', '/', 'q', [ids[0]!], 'ack'), /lease/);
  assert.equal(clock.pending, 0, 'no timer left behind');
  const s = admin.openSession();
  assert.equal(admin.get(s, 'q', true)!.redelivered, true);
});

test('pending gets: at most maxLeases per user and vhost; close() ends them all', async () => {
  const { broker, admin } = await fill(3);
  const leases = new PendingGets(new ManualClock(), 60_000, 2);
  lease(leases, broker, 1);
  lease(leases, broker, 1);
  assert.throws(
    () => leases.checkRoom('guest', '/'),
    (e: unknown) => (e as SwitchyardError).code === 'RESOURCE_ERROR',
  );
  leases.checkRoom('someone-else', '/');
  leases.close();
  leases.checkRoom('guest', '/');
  assert.equal(ready(admin), 3);
});
