/**
 * Routing through the core's public interface: vhosts, the standard exchanges, the four exchange
 * types, exchange-to-exchange bindings, alternate exchanges, internal exchanges and route caching.
 * RabbitMQ 3.x is the reference for behaviour and error codes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ErrorCode, SwitchyardError } from '../errors/index.js';
import {
  Broker,
  type CoreConnection,
  type DeclareExchangeArgs,
  type DeclareQueueArgs,
  EXCHANGE_TYPES,
  type HeaderTable,
  Message,
  REPLY_TO,
} from './index.js';

function open(broker = new Broker(), vhost = '/'): CoreConnection {
  return broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost });
}

function xargs(type: string, o: Partial<DeclareExchangeArgs> = {}): DeclareExchangeArgs {
  return { type, durable: false, autoDelete: false, internal: false, passive: false, args: {}, ...o };
}

function qargs(o: Partial<DeclareQueueArgs> = {}): DeclareQueueArgs {
  return { durable: false, exclusive: false, autoDelete: false, passive: false, args: {}, ...o };
}

function msg(exchange: string, routingKey: string, headers?: HeaderTable): Message {
  return new Message(exchange, routingKey, Buffer.from('body'), headers === undefined ? {} : { headers });
}

/** Publishes and returns the names of the queues reached, sorted. */
function pub(c: CoreConnection, exchange: string, routingKey: string, headers?: HeaderTable): string[] {
  return c
    .publish(c.admitPublish(exchange, '', 'accept'), msg(exchange, routingKey, headers))
    .queues.map((q) => q.name)
    .sort();
}

function queues(c: CoreConnection, ...names: string[]): void {
  for (const n of names) c.declareQueue(n, qargs());
}

function throwsCode(fn: () => unknown, code: ErrorCode, text?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (text !== undefined) assert.match(e.message, text);
    return true;
  });
}

test('vhost: the default vhost / exists with the standard exchanges', () => {
  const broker = new Broker();
  const c = open(broker);
  assert.deepEqual([...broker.vhosts.keys()], ['/']);
  const types = Object.fromEntries([...c.vhost.exchanges].map(([n, x]) => [n, x.type]));
  assert.deepEqual(types, {
    '': 'direct',
    'amq.direct': 'direct',
    'amq.fanout': 'fanout',
    'amq.topic': 'topic',
    'amq.headers': 'headers',
    'amq.match': 'headers',
  });
  for (const x of c.vhost.exchanges.values()) assert.equal(x.options.durable, true);
  assert.deepEqual([...EXCHANGE_TYPES], ['direct', 'fanout', 'topic', 'headers']);
});

test('vhost: connecting to an unknown vhost is NOT_ALLOWED; vhosts are separate', () => {
  const broker = new Broker({ vhosts: ['/', 'dev'] });
  throwsCode(() => open(broker, 'nope'), 'NOT_ALLOWED');
  const a = open(broker, '/');
  const b = open(broker, 'dev');
  queues(a, 'q');
  assert.deepEqual(pub(a, '', 'q'), ['q']);
  assert.deepEqual(pub(b, '', 'q'), []);
  throwsCode(() => b.declareQueue('q', qargs({ passive: true })), 'NOT_FOUND', /no queue 'q' in vhost 'dev'/);
});

test('default exchange: routes to the queue named by the routing key', () => {
  const c = open();
  queues(c, 'q1', 'q2');
  assert.deepEqual(pub(c, '', 'q1'), ['q1']);
  assert.deepEqual(pub(c, '', 'q2'), ['q2']);
  assert.deepEqual(pub(c, '', 'missing'), []);
  assert.equal(c.vhost.queues.get('q1')!.messageCount, 1);
});

test('default exchange: cannot be declared, deleted or bound', () => {
  const c = open();
  queues(c, 'q');
  const text = /operation not permitted on the default exchange/;
  throwsCode(() => c.declareExchange('', xargs('direct')), 'ACCESS_REFUSED', text);
  throwsCode(() => c.deleteExchange('', false), 'ACCESS_REFUSED', text);
  throwsCode(() => c.bindQueue('q', '', 'q', {}), 'ACCESS_REFUSED', text);
  throwsCode(() => c.unbindQueue('q', '', 'q', {}), 'ACCESS_REFUSED', text);
  c.declareExchange('x', xargs('fanout'));
  throwsCode(() => c.bindExchange('x', '', 'k', {}), 'ACCESS_REFUSED', text);
  // Nor may it be the destination of an exchange-to-exchange binding (RabbitMQ checks both ends).
  throwsCode(() => c.bindExchange('', 'x', 'k', {}), 'ACCESS_REFUSED', text);
});

test('amq.* exchanges: redeclare with same properties is fine, new amq.* names are reserved', () => {
  const c = open();
  const { exchange: x } = c.declareExchange('amq.direct', xargs('direct', { durable: true }));
  assert.equal(x, c.vhost.exchanges.get('amq.direct'));
  throwsCode(
    () => c.declareExchange('amq.direct', xargs('fanout', { durable: true })),
    'PRECONDITION_FAILED',
    /^inequivalent arg 'type' for exchange 'amq.direct' in vhost '\/': received 'fanout' but current is 'direct'$/,
  );
  throwsCode(
    () => c.declareExchange('amq.custom', xargs('direct')),
    'ACCESS_REFUSED',
    /exchange name 'amq.custom' contains reserved prefix 'amq.\*'/,
  );
  throwsCode(
    () => c.deleteExchange('amq.fanout', false),
    'ACCESS_REFUSED',
    /deletion of system exchange 'amq.fanout' in vhost '\/' not allowed/,
  );
  throwsCode(() => c.deleteExchange('amq.nonexistent', false), 'ACCESS_REFUSED');
  assert.ok(c.vhost.exchanges.has('amq.fanout'));
});

test('exchange: declare checks type and equivalence like RabbitMQ', () => {
  const c = open();
  throwsCode(
    () => c.declareExchange('x', xargs('nonsense')),
    'COMMAND_INVALID',
    /unknown exchange type 'nonsense'/,
  );
  c.declareExchange('x', xargs('topic', { durable: true, args: { 'alternate-exchange': 'ae' } }));
  const what = "exchange 'x' in vhost '/'";
  throwsCode(
    () => c.declareExchange('x', xargs('topic', { durable: false, args: { 'alternate-exchange': 'ae' } })),
    'PRECONDITION_FAILED',
    new RegExp(`^inequivalent arg 'durable' for ${what}: received 'false' but current is 'true'$`),
  );
  throwsCode(
    () =>
      c.declareExchange(
        'x',
        xargs('topic', { durable: true, autoDelete: true, args: { 'alternate-exchange': 'ae' } }),
      ),
    'PRECONDITION_FAILED',
    /inequivalent arg 'auto_delete'/,
  );
  throwsCode(
    () =>
      c.declareExchange(
        'x',
        xargs('topic', { durable: true, internal: true, args: { 'alternate-exchange': 'ae' } }),
      ),
    'PRECONDITION_FAILED',
    /inequivalent arg 'internal'/,
  );
  throwsCode(
    () => c.declareExchange('x', xargs('topic', { durable: true, args: { 'alternate-exchange': 'other' } })),
    'PRECONDITION_FAILED',
    /inequivalent arg 'alternate-exchange' for exchange 'x' in vhost '\/'/,
  );
  throwsCode(
    () => c.declareExchange('x', xargs('topic', { durable: true })),
    'PRECONDITION_FAILED',
    /inequivalent arg 'alternate-exchange'.*current is the value 'ae'/,
  );
  // Arguments RabbitMQ does not compare may differ.
  c.declareExchange('x', xargs('topic', { durable: true, args: { 'alternate-exchange': 'ae', other: 1 } }));
  // Passive declare: existence only.
  assert.equal(c.declareExchange('x', xargs('fanout', { passive: true })).exchange.type, 'topic');
  throwsCode(
    () => c.declareExchange('nope', xargs('direct', { passive: true })),
    'NOT_FOUND',
    /no exchange 'nope' in vhost '\/'/,
  );
});

test('direct exchange: exact key match, many queues per key, many keys per queue', () => {
  const c = open();
  queues(c, 'q1', 'q2');
  void c.bindQueue('q1', 'amq.direct', 'red', {});
  void c.bindQueue('q2', 'amq.direct', 'red', {});
  void c.bindQueue('q1', 'amq.direct', 'blue', {});
  assert.deepEqual(pub(c, 'amq.direct', 'red'), ['q1', 'q2']);
  assert.deepEqual(pub(c, 'amq.direct', 'blue'), ['q1']);
  assert.deepEqual(pub(c, 'amq.direct', 'green'), []);
  assert.deepEqual(pub(c, 'amq.direct', 'Red'), []);
  assert.deepEqual(pub(c, 'amq.direct', ''), []);
});

test('fanout exchange: every bound queue, whatever the key', () => {
  const c = open();
  queues(c, 'q1', 'q2', 'q3');
  void c.bindQueue('q1', 'amq.fanout', '', {});
  void c.bindQueue('q2', 'amq.fanout', 'ignored', {});
  assert.deepEqual(pub(c, 'amq.fanout', 'anything'), ['q1', 'q2']);
  assert.deepEqual(pub(c, 'amq.fanout', ''), ['q1', 'q2']);
});

test('topic exchange: wildcards through amq.topic', () => {
  const c = open();
  queues(c, 'all', 'temps', 'eu', 'exact');
  void c.bindQueue('all', 'amq.topic', '#', {});
  void c.bindQueue('temps', 'amq.topic', 'sensors.*.temp', {});
  void c.bindQueue('eu', 'amq.topic', 'eu.#', {});
  void c.bindQueue('exact', 'amq.topic', 'eu.fr', {});
  assert.deepEqual(pub(c, 'amq.topic', 'sensors.kitchen.temp'), ['all', 'temps']);
  assert.deepEqual(pub(c, 'amq.topic', 'sensors.kitchen.oven.temp'), ['all']);
  assert.deepEqual(pub(c, 'amq.topic', 'eu'), ['all', 'eu']);
  assert.deepEqual(pub(c, 'amq.topic', 'eu.fr'), ['all', 'eu', 'exact']);
  assert.deepEqual(pub(c, 'amq.topic', ''), ['all']);
});

test('headers exchange: x-match modes through amq.headers and amq.match', () => {
  for (const xn of ['amq.headers', 'amq.match']) {
    const c = open();
    queues(c, 'all', 'any', 'allx', 'anyx', 'none', 'present');
    void c.bindQueue('all', xn, '', { 'x-match': 'all', a: 1, b: 'two' });
    void c.bindQueue('any', xn, '', { 'x-match': 'any', a: 1, b: 'two' });
    void c.bindQueue('allx', xn, '', { 'x-match': 'all-with-x', 'x-t': 'acme', a: 1 });
    void c.bindQueue('anyx', xn, '', { 'x-match': 'any-with-x', 'x-t': 'acme' });
    void c.bindQueue('none', xn, '', {});
    void c.bindQueue('present', xn, '', { b: null });
    assert.deepEqual(pub(c, xn, 'k', { a: 1, b: 'two' }), ['all', 'any', 'none', 'present']);
    assert.deepEqual(pub(c, xn, 'k', { a: 1 }), ['any', 'none']);
    assert.deepEqual(pub(c, xn, 'k', { a: 1, 'x-t': 'acme' }), ['allx', 'any', 'anyx', 'none']);
    assert.deepEqual(pub(c, xn, 'k', { b: 'other' }), ['none', 'present']);
    assert.deepEqual(pub(c, xn, 'k'), ['none']);
  }
});

test('headers exchange: the same key with different headers routes differently (never cached by key)', () => {
  const c = open();
  queues(c, 'red', 'blue');
  void c.bindQueue('red', 'amq.headers', '', { colour: 'red' });
  void c.bindQueue('blue', 'amq.headers', '', { colour: 'blue' });
  assert.deepEqual(pub(c, 'amq.headers', 'k', { colour: 'red' }), ['red']);
  assert.deepEqual(pub(c, 'amq.headers', 'k', { colour: 'blue' }), ['blue']);
  assert.deepEqual(pub(c, 'amq.headers', 'k', { colour: 'red' }), ['red']);
});

test('headers exchange: an invalid x-match is refused with PRECONDITION_FAILED', () => {
  const c = open();
  queues(c, 'q');
  throwsCode(
    () => c.bindQueue('q', 'amq.headers', '', { 'x-match': 'some' }),
    'PRECONDITION_FAILED',
    /x-match/,
  );
  throwsCode(() => c.bindQueue('q', 'amq.headers', '', { 'x-match': 1 }), 'PRECONDITION_FAILED', /x-match/);
  assert.equal(c.vhost.exchanges.get('amq.headers')!.bindings.size, 0);
  // Other exchange types do not interpret x-match.
  void c.bindQueue('q', 'amq.direct', 'k', { 'x-match': 'some' });
});

test('bindings: arguments are part of the identity, in any key order', () => {
  const c = open();
  queues(c, 'q');
  void c.bindQueue('q', 'amq.direct', 'k', { a: 1, b: 2 });
  void c.bindQueue('q', 'amq.direct', 'k', { b: 2, a: 1 }); // the same binding
  void c.bindQueue('q', 'amq.direct', 'k', { a: 2 });
  const x = c.vhost.exchanges.get('amq.direct')!;
  assert.equal(x.bindings.size, 2);
  assert.deepEqual(pub(c, 'amq.direct', 'k'), ['q'], 'one copy per queue however many bindings match');
  assert.equal(c.vhost.queues.get('q')!.messageCount, 1);
  void c.unbindQueue('q', 'amq.direct', 'k', { b: 2, a: 1 });
  assert.equal(x.bindings.size, 1);
  assert.deepEqual([...x.bindings.values()][0]!.args, { a: 2 });
  assert.deepEqual(pub(c, 'amq.direct', 'k'), ['q']);
  void c.unbindQueue('q', 'amq.direct', 'k', { a: 3 }); // not bound: fine, as in RabbitMQ
  void c.unbindQueue('q', 'amq.direct', 'k', { a: 2 });
  assert.deepEqual(pub(c, 'amq.direct', 'k'), []);
});

test('bindings: binding to a missing exchange or queue is NOT_FOUND', () => {
  const c = open();
  queues(c, 'q');
  throwsCode(() => c.bindQueue('q', 'nope', 'k', {}), 'NOT_FOUND', /no exchange 'nope' in vhost '\/'/);
  throwsCode(() => c.bindQueue('nope', 'amq.direct', 'k', {}), 'NOT_FOUND', /no queue 'nope' in vhost '\/'/);
  throwsCode(() => c.bindExchange('nope', 'amq.direct', 'k', {}), 'NOT_FOUND');
  throwsCode(() => c.bindExchange('amq.direct', 'nope', 'k', {}), 'NOT_FOUND');
});

test('exchange-to-exchange: messages flow through chains of exchanges', () => {
  const c = open();
  queues(c, 'q1', 'q2');
  c.declareExchange('front', xargs('topic'));
  c.declareExchange('mid', xargs('direct'));
  c.declareExchange('back', xargs('fanout'));
  void c.bindExchange('mid', 'front', 'orders.#', {});
  void c.bindExchange('back', 'mid', 'orders.eu', {});
  void c.bindQueue('q1', 'mid', 'orders.us', {});
  void c.bindQueue('q2', 'back', '', {});
  assert.deepEqual(pub(c, 'front', 'orders.eu'), ['q2']);
  assert.deepEqual(pub(c, 'front', 'orders.us'), ['q1']);
  assert.deepEqual(pub(c, 'front', 'payments.eu'), []);
  void c.unbindExchange('back', 'mid', 'orders.eu', {});
  assert.deepEqual(pub(c, 'front', 'orders.eu'), []);
});

test('exchange-to-exchange: a queue reached by several paths gets one copy', () => {
  const c = open();
  queues(c, 'q');
  c.declareExchange('a', xargs('fanout'));
  c.declareExchange('b', xargs('fanout'));
  c.declareExchange('d', xargs('fanout'));
  void c.bindExchange('b', 'a', '', {});
  void c.bindExchange('d', 'a', '', {});
  void c.bindQueue('q', 'a', '', {});
  void c.bindQueue('q', 'b', '', {});
  void c.bindQueue('q', 'd', '', {});
  const routed = c.publish(c.admitPublish('a', '', 'accept'), msg('a', 'k'));
  assert.equal(routed.queues.length, 1);
  assert.equal(c.vhost.queues.get('q')!.messageCount, 1);
});

test('exchange-to-exchange: cycles terminate and deliver once', () => {
  const c = open();
  queues(c, 'qa', 'qb', 'qc');
  c.declareExchange('a', xargs('fanout'));
  c.declareExchange('b', xargs('topic'));
  c.declareExchange('cx', xargs('direct'));
  void c.bindExchange('b', 'a', '', {});
  void c.bindExchange('cx', 'b', '#', {});
  void c.bindExchange('a', 'cx', 'k', {}); // back to the start
  void c.bindExchange('b', 'b', '#', {}); // and a self-loop
  void c.bindQueue('qa', 'a', '', {});
  void c.bindQueue('qb', 'b', 'k', {});
  void c.bindQueue('qc', 'cx', 'k', {});
  for (const start of ['a', 'b', 'cx'])
    assert.deepEqual(pub(c, start, 'k'), ['qa', 'qb', 'qc'], `from ${start}`);
  for (const q of ['qa', 'qb', 'qc']) assert.equal(c.vhost.queues.get(q)!.messageCount, 3);
});

test('exchange: deleting an exchange removes its bindings in both directions', () => {
  const c = open();
  queues(c, 'q');
  c.declareExchange('src', xargs('fanout'));
  c.declareExchange('mid', xargs('fanout'));
  void c.bindExchange('mid', 'src', '', {});
  void c.bindQueue('q', 'mid', '', {});
  assert.deepEqual(pub(c, 'src', ''), ['q']);
  throwsCode(
    () => c.deleteExchange('mid', true),
    'PRECONDITION_FAILED',
    /exchange 'mid' in vhost '\/' in use/,
  );
  void c.deleteExchange('mid', false);
  assert.equal(c.vhost.exchanges.get('src')!.bindings.size, 0);
  assert.deepEqual(pub(c, 'src', ''), []);
  void c.deleteExchange('mid', false); // deleting what does not exist succeeds (RabbitMQ 3.x)
  throwsCode(() => c.admitPublish('mid', '', 'accept'), 'NOT_FOUND', /no exchange 'mid' in vhost '\/'/);
  void c.deleteExchange('src', true); // unused now
  assert.ok(!c.vhost.exchanges.has('src'));
});

test('exchange: auto-delete goes when its last binding goes, not before it had one', () => {
  const c = open();
  queues(c, 'q1', 'q2');
  c.declareExchange('ad', xargs('direct', { autoDelete: true }));
  assert.ok(c.vhost.exchanges.has('ad'));
  void c.bindQueue('q1', 'ad', 'k', {});
  void c.bindQueue('q2', 'ad', 'k', {});
  void c.unbindQueue('q1', 'ad', 'k', {});
  assert.ok(c.vhost.exchanges.has('ad'));
  c.deleteQueue('q2', false, false); // losing the binding by queue deletion counts too
  assert.ok(!c.vhost.exchanges.has('ad'));
});

test('alternate-exchange: unroutable messages go to the alternate exchange', () => {
  const c = open();
  queues(c, 'main', 'unrouted');
  c.declareExchange('ae', xargs('fanout'));
  c.declareExchange('x', xargs('direct', { args: { 'alternate-exchange': 'ae' } }));
  void c.bindQueue('main', 'x', 'good', {});
  void c.bindQueue('unrouted', 'ae', '', {});
  assert.deepEqual(pub(c, 'x', 'good'), ['main']);
  assert.deepEqual(pub(c, 'x', 'bad'), ['unrouted']);
});

test('alternate-exchange: a missing alternate exchange leaves the message unroutable', () => {
  const c = open();
  c.declareExchange('x', xargs('direct', { args: { 'alternate-exchange': 'not-there' } }));
  assert.deepEqual(pub(c, 'x', 'k'), []);
  // Declared later (and bound), it takes effect at once, even for a key already routed.
  queues(c, 'late');
  c.declareExchange('not-there', xargs('fanout'));
  void c.bindQueue('late', 'not-there', '', {});
  assert.deepEqual(pub(c, 'x', 'k'), ['late']);
});

test('alternate-exchange: chains and cycles of alternate exchanges terminate', () => {
  const c = open();
  queues(c, 'last');
  c.declareExchange('x1', xargs('direct', { args: { 'alternate-exchange': 'x2' } }));
  c.declareExchange('x2', xargs('topic', { args: { 'alternate-exchange': 'x3' } }));
  c.declareExchange('x3', xargs('direct', { args: { 'alternate-exchange': 'x1' } }));
  assert.deepEqual(pub(c, 'x1', 'k'), []);
  void c.bindQueue('last', 'x3', 'k', {});
  assert.deepEqual(pub(c, 'x1', 'k'), ['last']);
  assert.deepEqual(pub(c, 'x2', 'k'), ['last']);
  assert.deepEqual(pub(c, 'x1', 'other'), []);
});

test('alternate-exchange: used per exchange, only when that exchange itself matched nothing', () => {
  // RabbitMQ (rabbit_exchange:route1/process_alternate) consults an exchange's alternate
  // exchange when the exchange's own bindings gave no destination, even if a destination was
  // another exchange that went on to route nowhere or only to queues already reached.
  const c = open();
  queues(c, 'q', 'q-ae');
  c.declareExchange('ae', xargs('fanout'));
  void c.bindQueue('q-ae', 'ae', '', {});
  c.declareExchange('a', xargs('fanout'));
  c.declareExchange('b', xargs('fanout', { args: { 'alternate-exchange': 'ae' } }));
  void c.bindQueue('q', 'a', '', {});
  void c.bindExchange('b', 'a', '', {});
  void c.bindQueue('q', 'b', '', {});
  // b routes to q (already reached through a): b matched, so its alternate exchange is not used.
  assert.deepEqual(pub(c, 'a', 'k'), ['q']);

  const d = open();
  queues(d, 'q-ae');
  d.declareExchange('ae', xargs('fanout'));
  void d.bindQueue('q-ae', 'ae', '', {});
  d.declareExchange('empty', xargs('fanout'));
  d.declareExchange('top', xargs('fanout', { args: { 'alternate-exchange': 'ae' } }));
  void d.bindExchange('empty', 'top', '', {});
  // top routes to the exchange 'empty' (which routes nowhere): top matched, no alternate.
  assert.deepEqual(pub(d, 'top', 'k'), []);
  // An exchange deeper in the chain that matches nothing uses its own alternate exchange.
  d.declareExchange('deep', xargs('direct', { args: { 'alternate-exchange': 'ae' } }));
  void d.bindExchange('deep', 'top', '', {});
  assert.deepEqual(pub(d, 'top', 'k'), ['q-ae']);
});

test('internal exchange: publishing is ACCESS_REFUSED, routing through it works', () => {
  const c = open();
  queues(c, 'q');
  c.declareExchange('inner', xargs('fanout', { internal: true }));
  c.declareExchange('outer', xargs('direct'));
  void c.bindExchange('inner', 'outer', 'k', {});
  void c.bindQueue('q', 'inner', '', {});
  throwsCode(
    () => c.admitPublish('inner', '', 'accept'),
    'ACCESS_REFUSED',
    /cannot publish to internal exchange 'inner' in vhost '\/'/,
  );
  assert.deepEqual(pub(c, 'outer', 'k'), ['q']);
});

test('publish: unroutable returns an empty set, unknown exchange is NOT_FOUND', () => {
  const c = open();
  const routed = c.publish(c.admitPublish('amq.direct', '', 'accept'), msg('amq.direct', 'nobody'));
  assert.equal(routed.queues.length, 0);
  throwsCode(() => c.admitPublish('nope', '', 'accept'), 'NOT_FOUND', /no exchange 'nope' in vhost '\/'/);
});

test('publish: every routed queue holds the same message object (body not copied)', () => {
  const c = open();
  queues(c, 'q1', 'q2');
  void c.bindQueue('q1', 'amq.fanout', '', {});
  void c.bindQueue('q2', 'amq.fanout', '', {});
  const m = msg('amq.fanout', 'k');
  c.publish(c.admitPublish('amq.fanout', '', 'accept'), m);
  const s = c.openSession();
  const got1 = c.get(s, 'q1', true)!;
  const got2 = c.get(s, 'q2', true)!;
  assert.equal(got1.msg, m);
  assert.equal(got2.msg.body, m.body);
});

test('route-cache: a repeated route is served from the cache', () => {
  const c = open();
  queues(c, 'q');
  void c.bindQueue('q', 'amq.topic', 'a.*', {});
  const x = c.admitPublish('amq.topic', '', 'accept');
  const first = c.publish(x, msg('amq.topic', 'a.b'));
  const second = c.publish(x, msg('amq.topic', 'a.b'));
  assert.equal(second.queues, first.queues, 'the same cached array');
  assert.deepEqual(
    second.queues.map((q) => q.name),
    ['q'],
  );
});

test('route-cache: bindings added or removed after a cached route take effect at once', () => {
  const c = open();
  queues(c, 'q1', 'q2', 'q3');
  c.declareExchange('t', xargs('topic'));
  void c.bindQueue('q1', 't', 'a.#', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q1']);
  assert.deepEqual(pub(c, 't', 'a.b'), ['q1']);
  void c.bindQueue('q2', 't', '*.b', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q1', 'q2']);
  void c.unbindQueue('q1', 't', 'a.#', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q2']);
  // Cached miss, then a binding appears.
  assert.deepEqual(pub(c, 't', 'z'), []);
  void c.bindQueue('q3', 't', 'z', {});
  assert.deepEqual(pub(c, 't', 'z'), ['q3']);
  // Through an exchange-to-exchange binding added after caching.
  c.declareExchange('down', xargs('fanout'));
  void c.bindQueue('q3', 'down', '', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q2']);
  void c.bindExchange('down', 't', 'a.b', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q2', 'q3']);
  // A binding change downstream also invalidates the upstream exchange's cache.
  void c.unbindQueue('q3', 'down', '', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q2']);
  // Deleting a queue, then an exchange.
  void c.bindQueue('q1', 'down', '', {});
  assert.deepEqual(pub(c, 't', 'a.b'), ['q1', 'q2']);
  c.deleteQueue('q2', false, false);
  assert.deepEqual(pub(c, 't', 'a.b'), ['q1']);
  void c.deleteExchange('down', false);
  assert.deepEqual(pub(c, 't', 'a.b'), []);
});

test('route-cache: a downstream headers exchange makes the route uncacheable', () => {
  const c = open();
  queues(c, 'red', 'blue');
  c.declareExchange('t', xargs('topic'));
  c.declareExchange('h', xargs('headers'));
  void c.bindExchange('h', 't', '#', {});
  void c.bindQueue('red', 'h', '', { colour: 'red' });
  void c.bindQueue('blue', 'h', '', { colour: 'blue' });
  assert.deepEqual(pub(c, 't', 'k', { colour: 'red' }), ['red']);
  assert.deepEqual(pub(c, 't', 'k', { colour: 'blue' }), ['blue']);
  // Same through an alternate exchange.
  c.declareExchange('d', xargs('direct', { args: { 'alternate-exchange': 'h' } }));
  assert.deepEqual(pub(c, 'd', 'k', { colour: 'red' }), ['red']);
  assert.deepEqual(pub(c, 'd', 'k', { colour: 'blue' }), ['blue']);
});

test('route-cache: routing cost through an exchange does not grow with unrelated bindings', () => {
  // Count Map lookups for one uncached publish with few and with many unrelated bindings.
  const lookups = (unrelated: number) => {
    const c = open();
    queues(c, 'q', 'other');
    c.declareExchange('t', xargs('topic'));
    void c.bindQueue('q', 't', 'a.*.c', {});
    for (let i = 0; i < unrelated; i++) void c.bindQueue('other', 't', `other.${i}.x`, {});
    const x = c.admitPublish('t', '', 'accept');
    const m = msg('t', 'a.b.c');
    const original = Map.prototype.get;
    let n = 0;
    Map.prototype.get = function (this: Map<unknown, unknown>, k: unknown) {
      n++;
      return original.call(this, k);
    };
    let routed: readonly unknown[];
    try {
      routed = c.publish(x, m).queues;
    } finally {
      Map.prototype.get = original;
    }
    assert.equal(routed.length, 1);
    return n;
  };
  assert.equal(lookups(20_000), lookups(5));
});

test('reply-to: REPLY_TO is the RabbitMQ pseudo-queue name', () => {
  assert.equal(REPLY_TO, 'amq.rabbitmq.reply-to');
});
