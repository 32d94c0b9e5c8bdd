/**
 * Queue lifecycle through the core's public interface: declare (durable, exclusive, auto-delete,
 * server-named, arguments), the reserved amq. prefix, delete (if-unused, if-empty), purge,
 * basic.get, and exclusive queues going with their connection. RabbitMQ 3.x is the reference.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ErrorCode, SwitchyardError } from '../errors/index.js';
import {
  Broker,
  type CoreConnection,
  type DeclareQueueArgs,
  type DeliverySink,
  type Message,
  Message as Msg,
  type Queue,
  type Session,
} from './index.js';

function open(broker: Broker): CoreConnection {
  return broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost: '/' });
}

function qargs(o: Partial<DeclareQueueArgs> = {}): DeclareQueueArgs {
  return { durable: false, exclusive: false, autoDelete: false, passive: false, args: {}, ...o };
}

function send(c: CoreConnection, queue: string, body: string): void {
  c.publish(c.admitPublish('', '', 'accept'), new Msg('', queue, Buffer.from(body), {}));
}

function throwsCode(fn: () => unknown, code: ErrorCode, text?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (text !== undefined) assert.match(e.message, text);
    return true;
  });
}

/** A sink that records what it is given. */
class Sink implements DeliverySink {
  readonly deliveries: { tag: number; body: string; redelivered: boolean; queue: string }[] = [];
  readonly cancelledTags: string[] = [];
  deliver(_consumerTag: string, deliveryTag: number, redelivered: boolean, msg: Message, queue: Queue): void {
    this.deliveries.push({ tag: deliveryTag, body: msg.body.toString(), redelivered, queue: queue.name });
  }
  cancelled(consumerTag: string): void {
    this.cancelledTags.push(consumerTag);
  }
}

function consume(
  c: CoreConnection,
  s: Session,
  queue: string,
  tag: string,
  sink: DeliverySink,
  noAck = false,
) {
  return c.consume(s, queue, { tag, noAck, exclusive: false, args: {} }, sink);
}

test('queue: declare returns name and counts; redeclare is idempotent', () => {
  const c = open(new Broker());
  assert.deepEqual(c.declareQueue('q', qargs({ durable: true })), {
    name: 'q',
    messageCount: 0,
    consumerCount: 0,
    written: undefined,
  });
  send(c, 'q', 'm1');
  send(c, 'q', 'm2');
  const s = c.openSession();
  consume(c, s, 'q', 'ct', new Sink(), true);
  send(c, 'q', 'm3'); // delivered at once: not counted
  const again = c.declareQueue('q', qargs({ durable: true }));
  assert.deepEqual(again, { name: 'q', messageCount: 0, consumerCount: 1, written: undefined });
  assert.equal(c.vhost.queues.get('q')!.options.durable, true);
});

test('queue: passive declare reports counts, NOT_FOUND when missing', () => {
  const c = open(new Broker());
  c.declareQueue('q', qargs());
  send(c, 'q', 'a');
  assert.deepEqual(c.declareQueue('q', qargs({ passive: true, durable: true })), {
    name: 'q',
    messageCount: 1,
    consumerCount: 0,
    written: undefined,
  });
  throwsCode(
    () => c.declareQueue('nope', qargs({ passive: true })),
    'NOT_FOUND',
    /^no queue 'nope' in vhost '\/'$/,
  );
});

test('queue: redeclare with other durable/auto_delete is PRECONDITION_FAILED with RabbitMQ text', () => {
  const c = open(new Broker());
  c.declareQueue('q', qargs({ durable: true }));
  throwsCode(
    () => c.declareQueue('q', qargs({ durable: false })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'durable' for queue 'q' in vhost '\/': received 'false' but current is 'true'$/,
  );
  throwsCode(
    () => c.declareQueue('q', qargs({ durable: true, autoDelete: true })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'auto_delete' for queue 'q' in vhost '\/': received 'true' but current is 'false'$/,
  );
  const e = (() => {
    try {
      c.declareQueue('q', qargs());
    } catch (err) {
      return err as SwitchyardError;
    }
    return undefined;
  })();
  assert.ok(e !== undefined);
  assert.equal(e.spec.amqp, 406);
  assert.match(e.amqpText, /^PRECONDITION_FAILED - inequivalent arg 'durable' for queue 'q' in vhost '\/'/);
});

test('queue: arguments are kept and checked on redeclare', () => {
  const c = open(new Broker());
  const args = { 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx', 'x-custom': 'a' };
  c.declareQueue('q', qargs({ args }));
  assert.deepEqual(c.vhost.queues.get('q')!.options.args, args);
  // Equal values (an integer as bigint is the same integer) and unchecked arguments are fine.
  c.declareQueue(
    'q',
    qargs({ args: { 'x-message-ttl': 1000n, 'x-dead-letter-exchange': 'dlx', 'x-custom': 'b' } }),
  );
  throwsCode(
    () => c.declareQueue('q', qargs({ args: { 'x-message-ttl': 2000, 'x-dead-letter-exchange': 'dlx' } })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'x-message-ttl' for queue 'q' in vhost '\/': received .*2000.* but current is .*1000/,
  );
  throwsCode(
    () => c.declareQueue('q', qargs({ args: { 'x-message-ttl': 1000 } })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'x-dead-letter-exchange' for queue 'q' in vhost '\/': received none but current is .*dlx/,
  );
  throwsCode(
    () => c.declareQueue('q', qargs({ args: { ...args, 'x-max-length': 10 } })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'x-max-length' for queue 'q' in vhost '\/': received .*10.* but current is none$/,
  );
  // A failed redeclare changes nothing.
  assert.deepEqual(c.vhost.queues.get('q')!.options.args, args);
});

test('queue: the amq. prefix is reserved (ACCESS_REFUSED)', () => {
  const c = open(new Broker());
  throwsCode(
    () => c.declareQueue('amq.mine', qargs()),
    'ACCESS_REFUSED',
    /^queue name 'amq.mine' contains reserved prefix 'amq.\*'$/,
  );
  assert.ok(!c.vhost.queues.has('amq.mine'));
  throwsCode(() => c.declareQueue('amq.gen-handmade', qargs()), 'ACCESS_REFUSED');
});

test('queue: server-named queues are amq.gen-..., unique, and usable', () => {
  const c = open(new Broker());
  const a = c.declareQueue('', qargs({ exclusive: true }));
  const b = c.declareQueue('', qargs());
  assert.match(a.name, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
  assert.match(b.name, /^amq\.gen-[A-Za-z0-9_-]{22}$/);
  assert.notEqual(a.name, b.name);
  void c.bindQueue(a.name, 'amq.direct', 'k', {});
  assert.deepEqual(
    c
      .publish(c.admitPublish('amq.direct', '', 'accept'), new Msg('amq.direct', 'k', Buffer.from('x'), {}))
      .queues.map((q) => q.name),
    [a.name],
  );
  assert.equal(c.declareQueue(a.name, qargs({ passive: true })).messageCount, 1);
  assert.equal(c.vhost.queues.get(a.name)!.owner, c);
});

test('queue: exclusive queues are locked to their connection (RESOURCE_LOCKED)', () => {
  const broker = new Broker();
  const owner = open(broker);
  const other = open(broker);
  owner.declareQueue('excl', qargs({ exclusive: true }));
  const locked = /cannot obtain exclusive access to locked queue 'excl' in vhost '\/'/;
  throwsCode(() => other.declareQueue('excl', qargs({ exclusive: true })), 'RESOURCE_LOCKED', locked);
  throwsCode(() => other.declareQueue('excl', qargs()), 'RESOURCE_LOCKED', locked);
  throwsCode(() => other.declareQueue('excl', qargs({ passive: true })), 'RESOURCE_LOCKED', locked);
  throwsCode(() => other.bindQueue('excl', 'amq.direct', 'k', {}), 'RESOURCE_LOCKED');
  throwsCode(() => other.purgeQueue('excl'), 'RESOURCE_LOCKED');
  throwsCode(() => other.deleteQueue('excl', false, false), 'RESOURCE_LOCKED');
  throwsCode(() => other.get(other.openSession(), 'excl', true), 'RESOURCE_LOCKED');
  throwsCode(() => consume(other, other.openSession(), 'excl', 't', new Sink()), 'RESOURCE_LOCKED');
  // The owner may redeclare it, but not as non-exclusive (RabbitMQ's strict check).
  owner.declareQueue('excl', qargs({ exclusive: true }));
  throwsCode(() => owner.declareQueue('excl', qargs()), 'RESOURCE_LOCKED');
  // Anyone may publish to it.
  send(other, 'excl', 'hello');
  assert.equal(owner.declareQueue('excl', qargs({ passive: true })).messageCount, 1);
});

test('queue: declaring an existing non-exclusive queue as exclusive is RESOURCE_LOCKED', () => {
  const c = open(new Broker());
  c.declareQueue('shared', qargs());
  throwsCode(() => c.declareQueue('shared', qargs({ exclusive: true })), 'RESOURCE_LOCKED');
});

test('queue: exclusive queues are deleted when their connection closes', () => {
  const broker = new Broker();
  const owner = open(broker);
  const other = open(broker);
  owner.declareQueue('excl', qargs({ exclusive: true }));
  const gen = owner.declareQueue('', qargs({ exclusive: true })).name;
  owner.declareQueue('plain', qargs());
  void owner.bindQueue('excl', 'amq.fanout', '', {});
  const s = other.openSession();
  const sink = new Sink();
  consume(other, s, 'plain', 'c1', sink);
  owner.close();
  assert.ok(owner.closed);
  assert.ok(!broker.connections.has(owner));
  assert.ok(!other.vhost.queues.has('excl'));
  assert.ok(!other.vhost.queues.has(gen));
  assert.ok(other.vhost.queues.has('plain'));
  assert.deepEqual(
    other.publish(
      other.admitPublish('amq.fanout', '', 'accept'),
      new Msg('amq.fanout', '', Buffer.from('x'), {}),
    ).queues,
    [],
    'its bindings went with it',
  );
  // The name is free again, for anyone.
  other.declareQueue('excl', qargs({ exclusive: true }));
  owner.close(); // closing twice is harmless
});

test('queue: auto-delete goes when its last consumer goes, only after it had one', () => {
  const c = open(new Broker());
  c.declareQueue('ad', qargs({ autoDelete: true }));
  const s = c.openSession();
  send(c, 'ad', 'kept');
  assert.ok(c.vhost.queues.has('ad'), 'no consumer yet: stays');
  consume(c, s, 'ad', 'c1', new Sink(), true);
  consume(c, s, 'ad', 'c2', new Sink(), true);
  s.removeConsumer('c1');
  assert.ok(c.vhost.queues.has('ad'), 'one consumer left');
  s.removeConsumer('c2');
  assert.ok(!c.vhost.queues.has('ad'));
  throwsCode(() => c.declareQueue('ad', qargs({ passive: true })), 'NOT_FOUND');
});

test('queue: auto-delete also goes when the consuming session or connection closes', () => {
  const broker = new Broker();
  const c = open(broker);
  c.declareQueue('ad1', qargs({ autoDelete: true }));
  c.declareQueue('ad2', qargs({ autoDelete: true }));
  const s1 = c.openSession();
  consume(c, s1, 'ad1', 'c', new Sink());
  s1.close();
  assert.ok(!c.vhost.queues.has('ad1'));
  const s2 = c.openSession();
  consume(c, s2, 'ad2', 'c', new Sink());
  c.close();
  assert.ok(!c.vhost.queues.has('ad2'));
});

test('queue: delete if-unused and if-empty are PRECONDITION_FAILED when not met', () => {
  const c = open(new Broker());
  c.declareQueue('q', qargs());
  send(c, 'q', 'a');
  send(c, 'q', 'b');
  throwsCode(
    () => c.deleteQueue('q', false, true),
    'PRECONDITION_FAILED',
    /^queue 'q' in vhost '\/' not empty$/,
  );
  const s = c.openSession();
  const sink = new Sink();
  s.consumerPrefetch = 1;
  consume(c, s, 'q', 'ct', sink);
  throwsCode(
    () => c.deleteQueue('q', true, false),
    'PRECONDITION_FAILED',
    /^queue 'q' in vhost '\/' in use$/,
  );
  assert.equal(c.deleteQueue('q', false, false).messageCount, 1, 'returns the ready messages it held');
  assert.ok(!c.vhost.queues.has('q'));
  assert.equal(c.deleteQueue('q', false, false).messageCount, 0, 'deleting what does not exist succeeds');
});

test('queue: delete removes bindings and cancels its consumers (sink.cancelled)', () => {
  const c = open(new Broker());
  c.declareQueue('q', qargs());
  void c.bindQueue('q', 'amq.topic', '#', {});
  const s = c.openSession();
  const sink = new Sink();
  consume(c, s, 'q', 'ct1', sink);
  consume(c, s, 'q', 'ct2', sink);
  send(c, 'q', 'm');
  c.deleteQueue('q', false, false);
  assert.deepEqual(sink.cancelledTags.sort(), ['ct1', 'ct2']);
  assert.equal(s.consumers.size, 0);
  assert.equal(c.vhost.exchanges.get('amq.topic')!.bindings.size, 0);
  assert.deepEqual(
    c.publish(c.admitPublish('amq.topic', '', 'accept'), new Msg('amq.topic', 'x', Buffer.from(''), {}))
      .queues,
    [],
  );
  // The delivery made before the delete can still be settled; a requeue is dropped.
  assert.equal(s.unackedTags, 1);
  s.settle(1, false, 'requeue');
  assert.equal(s.unackedTags, 0);
  // A new queue with the same name starts empty.
  c.declareQueue('q', qargs());
  assert.equal(c.declareQueue('q', qargs({ passive: true })).messageCount, 0);
});

test('queue: purge drops ready messages and leaves unacked ones', () => {
  const c = open(new Broker());
  c.declareQueue('q', qargs());
  for (const b of ['1', '2', '3', '4']) send(c, 'q', b);
  const s = c.openSession();
  s.consumerPrefetch = 1;
  const sink = new Sink();
  consume(c, s, 'q', 'ct', sink);
  assert.equal(sink.deliveries.length, 1);
  assert.equal(c.purgeQueue('q'), 3);
  assert.equal(c.purgeQueue('q'), 0);
  s.removeConsumer('ct');
  s.settle(1, false, 'requeue');
  assert.equal(c.declareQueue('q', qargs({ passive: true })).messageCount, 1, 'the unacked one came back');
  throwsCode(() => c.purgeQueue('nope'), 'NOT_FOUND');
});

test('queue: basic.get takes messages in order with the remaining count', () => {
  const c = open(new Broker());
  c.declareQueue('q', qargs());
  const s = c.openSession();
  assert.equal(c.get(s, 'q', true), undefined);
  for (const b of ['a', 'b', 'c']) send(c, 'q', b);
  const first = c.get(s, 'q', false)!;
  assert.equal(first.msg.body.toString(), 'a');
  assert.equal(first.remaining, 2);
  assert.equal(first.redelivered, false);
  assert.equal(first.tag, 1);
  const second = c.get(s, 'q', true)!;
  assert.equal(second.tag, 2);
  assert.equal(second.remaining, 1);
  s.settle(first.tag, false, 'requeue');
  const again = c.get(s, 'q', false)!;
  assert.equal(again.msg.body.toString(), 'a');
  assert.equal(again.redelivered, true);
  assert.equal(again.tag, 3);
  throwsCode(() => s.settle(2, false, 'ack'), 'PRECONDITION_FAILED', /unknown delivery tag 2/);
  s.settle(3, false, 'ack');
  assert.equal(c.get(s, 'q', true)!.msg.body.toString(), 'c');
  throwsCode(() => c.get(s, 'nope', true), 'NOT_FOUND');
});

test('queue: the authorizer is asked, and a refusal is ACCESS_REFUSED', () => {
  const asked: string[] = [];
  const broker = new Broker({
    authorize: (id, perm, kind, name) => {
      asked.push(`${id.user}:${perm}:${kind}:${name}`);
      return !(perm === 'configure' && name === 'secret');
    },
  });
  const c = open(broker);
  c.declareQueue('open', qargs());
  throwsCode(
    () => c.declareQueue('secret', qargs()),
    'ACCESS_REFUSED',
    /access to queue 'secret' in vhost '\/' refused for user 'guest'/,
  );
  assert.ok(asked.includes('guest:configure:queue:open'));
  void c.bindQueue('open', 'amq.direct', 'k', {});
  assert.ok(asked.includes('guest:write:queue:open'));
  assert.ok(asked.includes('guest:read:exchange:amq.direct'));
});

test('queue: broker authenticate honours users and loopback-only users', async () => {
  const broker = new Broker({ users: { guest: 'guest', app: 'pw' }, failureDelayMs: 0 });
  assert.ok(await broker.authenticate('guest', 'guest', '127.0.0.1'));
  assert.ok(await broker.authenticate('guest', 'guest', '::1'));
  assert.ok(!(await broker.authenticate('guest', 'guest', '10.0.0.5')), 'guest is loopback-only');
  assert.ok(await broker.authenticate('app', 'pw', '10.0.0.5'));
  assert.ok(!(await broker.authenticate('app', 'wrong', '127.0.0.1')));
  assert.ok(!(await broker.authenticate('nobody', '', '127.0.0.1')));
});

test('queue: closeAll closes every connection and drops their exclusive queues', () => {
  const broker = new Broker();
  const a = open(broker);
  const b = open(broker);
  a.declareQueue('xa', qargs({ exclusive: true }));
  b.declareQueue('xb', qargs({ exclusive: true }));
  broker.closeAll();
  assert.equal(broker.connections.size, 0);
  assert.ok(a.closed && b.closed);
  assert.equal(broker.vhosts.get('/')!.queues.size, 0);
});

test('declare: an exclusive queue is never durable, so either flag redeclares it', () => {
  const c = open(new Broker());
  c.declareQueue('ex', qargs({ exclusive: true, durable: true }));
  c.declareQueue('ex', qargs({ exclusive: true, durable: false }));
  c.declareQueue('ex', qargs({ exclusive: true, durable: true }));
  // A non-exclusive queue keeps its durable flag and checks it.
  c.declareQueue('plain', qargs({ durable: true }));
  throwsCode(() => c.declareQueue('plain', qargs({ durable: false })), 'PRECONDITION_FAILED');
});

test('declare: inequivalent arguments are worded as RabbitMQ words them', () => {
  const c = open(new Broker());
  c.declareQueue('ttl', qargs({ args: { 'x-message-ttl': 1000 } }));
  throwsCode(
    () => c.declareQueue('ttl', qargs({ args: { 'x-message-ttl': 2000 } })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'x-message-ttl' for queue 'ttl' in vhost '\/': received '2000' but current is '1000'$/,
  );
  throwsCode(
    () => c.declareQueue('ttl', qargs()),
    'PRECONDITION_FAILED',
    /: received none but current is the value '1000'$/,
  );
});

test('unbind: a missing queue, exchange or binding is not an error, a locked exclusive queue is', () => {
  const broker = new Broker();
  const c = open(broker);
  const other = open(broker);
  c.declareQueue('q', qargs());
  void c.unbindQueue('q', 'amq.direct', 'never-bound', {});
  void c.unbindQueue('missing', 'amq.direct', 'k', {});
  void c.unbindQueue('q', 'missing', 'k', {});
  throwsCode(() => c.unbindQueue('q', '', 'q', {}), 'ACCESS_REFUSED');
  c.declareQueue('mine', qargs({ exclusive: true }));
  void c.bindQueue('mine', 'amq.direct', 'k', {});
  void other.unbindQueue('mine', 'amq.direct', 'not-this-one', {});
  throwsCode(() => other.unbindQueue('mine', 'amq.direct', 'k', {}), 'RESOURCE_LOCKED');
  void c.unbindQueue('mine', 'amq.direct', 'k', {});
});
