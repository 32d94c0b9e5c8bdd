import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../test/support/manual-clock.js';
import { hashPassword, parseHash, rabbitHash } from './passwords.js';
import { UserTable } from './users.js';

async function settle<T>(
  p: Promise<T>,
  clock: ManualClock,
  ms: number,
): Promise<{ value: T | undefined; done: boolean }> {
  let value: T | undefined;
  let done = false;
  void p.then((v) => {
    value = v;
    done = true;
  });
  // Let the password check (thread pool) finish while time moves, up to twice `ms`.
  for (let i = 0; i < 400 && !done; i++) {
    await new Promise<void>((r) => setImmediate(r));
    clock.advance(ms / 200);
  }
  return { value, done };
}

test('users: the right password from an allowed address logs in at once; loopback users only from loopback', async () => {
  const clock = new ManualClock();
  const t = new UserTable(
    [
      { name: 'guest', credential: { kind: 'plain', password: 'guest' }, tags: ['administrator'] },
      { name: 'alice', credential: parseHash(await hashPassword('pw')), tags: [] },
      { name: 'bob', credential: parseHash(rabbitHash('rabbit')), tags: [] },
    ],
    { loopbackUsers: ['guest'], clock },
  );
  assert.equal(await t.authenticate('guest', 'guest', '127.0.0.1'), true);
  assert.equal(await t.authenticate('alice', 'pw', '10.0.0.5'), true);
  assert.equal(await t.authenticate('alice', 'pw', '10.0.0.5'), true, 'the second time from the cache');
  assert.equal(await t.authenticate('bob', 'rabbit', '::1'), true);
  assert.equal(t.failures, 0);
  assert.deepEqual(t.tags('guest'), ['administrator']);
  // guest from another machine: refused, after the delay.
  const remote = await settle(t.authenticate('guest', 'guest', '10.0.0.9'), clock, 1000);
  assert.deepEqual(remote, { value: false, done: true });
  assert.equal(t.failures, 1);
});

test('users: a failed login waits 1 s; failures from one address queue, other addresses do not wait for them', async () => {
  const clock = new ManualClock();
  const t = new UserTable([{ name: 'u', credential: { kind: 'plain', password: 'right' }, tags: [] }], {
    loopbackUsers: [],
    clock,
  });
  const answered: string[] = [];
  const a1 = t.authenticate('u', 'wrong', '10.0.0.1').then(() => answered.push('a1'));
  const a2 = t.authenticate('u', 'wrong', '10.0.0.1').then(() => answered.push('a2'));
  const b1 = t.authenticate('nobody', 'x', '10.0.0.2').then(() => answered.push('b1'));
  const good = t.authenticate('u', 'right', '10.0.0.1').then((ok) => answered.push(`good:${ok}`));
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  assert.deepEqual(answered, ['good:true'], 'a success is answered at once');
  clock.advance(999);
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  assert.deepEqual(answered, ['good:true']);
  clock.advance(1);
  await Promise.all([a1, b1]);
  assert.deepEqual(answered.slice(1).sort(), ['a1', 'b1']);
  clock.advance(1000);
  await a2;
  await good;
  assert.equal(t.failures, 3);
});
