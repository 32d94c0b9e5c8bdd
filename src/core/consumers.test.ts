/**
 * Consumers and sessions through the core's public interface: credit (per-consumer and
 * per-session prefetch), round-robin dispatch, delivery tags, ack / requeue / discard with
 * `multiple`, redelivery order, session close, pause/resume and cancellation (exclusive consumers
 * and direct reply-to: reply-to.test.ts).
 * RabbitMQ 3.x is the reference.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SwitchyardError } from '../errors/index.js';
import { Broker, Pause } from './index.js';

import { consume, open, qargs, range, send, setup, Sink, throwsCode } from './test-consumers.js';

test('consume: ready messages are delivered at once, in publish order', () => {
  const { c, s, sink } = setup('q');
  send(c, 'q', 1, 2, 3);
  consume(c, s, 'q', 'ct', sink);
  assert.deepEqual(sink.bodies(), ['1', '2', '3']);
  send(c, 'q', 4);
  assert.deepEqual(sink.bodies(), ['1', '2', '3', '4']);
  assert.ok(sink.got.every((d) => d.consumer === 'ct' && d.queue === 'q' && !d.redelivered));
});

test('consume: a missing queue is NOT_FOUND', () => {
  const { c, s, sink } = setup();
  throwsCode(() => consume(c, s, 'nope', 'ct', sink), 'NOT_FOUND', /no queue 'nope' in vhost '\/'/);
});

test('delivery tags: increase per session from 1, across consumers and basic.get', () => {
  const { c, s, sink } = setup('q1', 'q2', 'q3');
  consume(c, s, 'q1', 'a', sink);
  consume(c, s, 'q2', 'b', sink, { noAck: true });
  send(c, 'q1', 'x');
  send(c, 'q2', 'y');
  send(c, 'q3', 'z');
  const got = c.get(s, 'q3', false)!;
  send(c, 'q1', 'w');
  assert.deepEqual(
    sink.got.map((d) => d.tag),
    [1, 2, 4],
  );
  assert.equal(got.tag, 3);
  // Another session numbers its own deliveries.
  const s2 = c.openSession();
  const sink2 = new Sink();
  c.declareQueue('q4', qargs());
  consume(c, s2, 'q4', 'a', sink2);
  send(c, 'q4', 'v');
  assert.deepEqual(
    sink2.got.map((d) => d.tag),
    [1],
  );
});

test('dispatch: round-robin across consumers', () => {
  const { c, s, sink } = setup('q');
  const s2 = c.openSession();
  consume(c, s, 'q', 'c1', sink);
  consume(c, s2, 'q', 'c2', sink);
  consume(c, s, 'q', 'c3', sink);
  send(c, 'q', ...range(1, 7));
  assert.deepEqual(
    sink.got.map((d) => `${d.consumer}:${d.body}`),
    ['c1:1', 'c2:2', 'c3:3', 'c1:4', 'c2:5', 'c3:6', 'c1:7'],
  );
});

test('dispatch: round-robin carries on correctly after a consumer leaves', () => {
  const { c, s, sink } = setup('q');
  for (const t of ['c1', 'c2', 'c3']) consume(c, s, 'q', t, sink, { noAck: true });
  send(c, 'q', 1, 2);
  s.removeConsumer('c1');
  send(c, 'q', 3, 4, 5);
  assert.deepEqual(
    sink.got.map((d) => `${d.consumer}:${d.body}`),
    ['c1:1', 'c2:2', 'c3:3', 'c2:4', 'c3:5'],
  );
});

test('credit: per-consumer prefetch (consumerPrefetch before consume)', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 2;
  consume(c, s, 'q', 'ct', sink);
  s.consumerPrefetch = 0; // later changes do not affect an existing consumer
  send(c, 'q', ...range(1, 5));
  assert.deepEqual(sink.bodies(), ['1', '2']);
  s.settle(1, false, 'ack');
  assert.deepEqual(sink.bodies(), ['1', '2', '3']);
  s.settle(3, true, 'ack');
  assert.deepEqual(sink.bodies(), ['1', '2', '3', '4', '5']);
  assert.equal(c.vhost.queues.get('q')!.messageCount, 0);
});

test('credit: a consumer out of credit is skipped, and never stalls the others', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 1;
  consume(c, s, 'q', 'slow', sink);
  s.consumerPrefetch = 0;
  consume(c, s, 'q', 'fast', sink);
  send(c, 'q', ...range(1, 6));
  assert.deepEqual(
    sink.got.map((d) => `${d.consumer}:${d.body}`),
    ['slow:1', 'fast:2', 'fast:3', 'fast:4', 'fast:5', 'fast:6'],
  );
});

test('credit: per-session prefetch (session.prefetch) is shared by the session consumers', () => {
  const { c, s, sink } = setup('q1', 'q2');
  s.prefetch = 3;
  consume(c, s, 'q1', 'a', sink);
  consume(c, s, 'q2', 'b', sink);
  send(c, 'q1', ...range(1, 4));
  send(c, 'q2', ...range(11, 14));
  assert.equal(sink.got.length, 3);
  assert.equal(s.unackedCount, 3);
  s.settle(sink.got[0]!.tag, false, 'ack');
  assert.equal(sink.got.length, 4);
  s.settle(0, true, 'ack'); // everything outstanding
  assert.equal(sink.got.length, 7);
  // Raising the limit and kicking the session lets the rest flow.
  s.prefetch = 0;
  s.kick();
  assert.equal(sink.got.length, 8);
});

test('credit: both limits apply together', () => {
  const { c, s, sink } = setup('q');
  s.prefetch = 3;
  s.consumerPrefetch = 2;
  consume(c, s, 'q', 'a', sink);
  consume(c, s, 'q', 'b', sink);
  send(c, 'q', ...range(1, 10));
  assert.deepEqual(
    sink.got.map((d) => `${d.consumer}:${d.body}`),
    ['a:1', 'b:2', 'a:3'],
  );
});

test('credit: noAck consumers are not limited by prefetch', () => {
  const { c, s, sink } = setup('q');
  s.prefetch = 1;
  s.consumerPrefetch = 1;
  consume(c, s, 'q', 'ct', sink, { noAck: true });
  send(c, 'q', ...range(1, 5));
  assert.equal(sink.got.length, 5);
  assert.equal(s.unackedTags, 0);
  throwsCode(() => s.settle(1, false, 'ack'), 'PRECONDITION_FAILED', /unknown delivery tag 1/);
});

test('credit: basic.get deliveries do not use up session prefetch (as in RabbitMQ)', () => {
  const { c, s, sink } = setup('q', 'got');
  s.prefetch = 1;
  send(c, 'got', 'g1', 'g2');
  const g1 = c.get(s, 'got', false)!;
  c.get(s, 'got', false);
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', 1, 2);
  assert.deepEqual(sink.bodies(), ['1'], 'the consumer still has its one credit');
  s.settle(g1.tag, false, 'ack');
  assert.deepEqual(sink.bodies(), ['1'], 'acking a get frees no consumer credit');
  s.settle(sink.got[0]!.tag, false, 'ack');
  assert.deepEqual(sink.bodies(), ['1', '2']);
  assert.equal(s.unackedTags, 2, 'one get and one delivery outstanding');
});

test('settle: ack with multiple settles everything up to the tag', () => {
  const { c, s, sink } = setup('q');
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', ...range(1, 6));
  s.settle(3, true, 'ack');
  assert.equal(s.unackedTags, 3);
  throwsCode(() => s.settle(2, false, 'ack'), 'PRECONDITION_FAILED', /^unknown delivery tag 2$/);
  s.settle(5, false, 'ack');
  s.settle(6, true, 'ack'); // 4 and 6; 5 is gone already
  assert.equal(s.unackedTags, 0);
  assert.equal(c.vhost.queues.get('q')!.messageCount, 0);
});

test('settle: unknown and repeated tags are PRECONDITION_FAILED (amqp 406)', () => {
  const { c, s, sink } = setup('q');
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', 1);
  for (const [tag, multiple] of [
    [99, false],
    [99, true],
    [0, false],
  ] as const) {
    assert.throws(
      () => s.settle(tag, multiple, 'ack'),
      (e: unknown) =>
        e instanceof SwitchyardError &&
        e.code === 'PRECONDITION_FAILED' &&
        e.spec.amqp === 406 &&
        e.amqpText === `PRECONDITION_FAILED - unknown delivery tag ${tag}`,
    );
  }
  s.settle(1, false, 'ack');
  throwsCode(() => s.settle(1, false, 'ack'), 'PRECONDITION_FAILED', /unknown delivery tag 1/);
  throwsCode(() => s.settle(1, false, 'requeue'), 'PRECONDITION_FAILED');
  s.settle(0, true, 'ack'); // "everything" with nothing outstanding is fine
});

test('settle: nack with requeue redelivers with the redelivered flag; reject discards', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 1;
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', 'a', 'b');
  assert.deepEqual(sink.take(), [{ consumer: 'ct', tag: 1, body: 'a', redelivered: false, queue: 'q' }]);
  s.settle(1, false, 'requeue');
  assert.deepEqual(sink.take(), [{ consumer: 'ct', tag: 2, body: 'a', redelivered: true, queue: 'q' }]);
  s.settle(2, false, 'discard');
  assert.deepEqual(sink.take(), [{ consumer: 'ct', tag: 3, body: 'b', redelivered: false, queue: 'q' }]);
  s.settle(3, false, 'discard');
  assert.equal(c.vhost.queues.get('q')!.messageCount, 0);
  assert.equal(s.unackedTags, 0);
});

test('settle: requeued messages go back to their original place (nack 3,7,5 → 3,5,7, then 11..)', () => {
  const { c, s, sink } = setup('q');
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', ...range(1, 10));
  assert.deepEqual(sink.bodies(), range(1, 10));
  sink.take();
  s.pause(Pause.FLOW); // so that each requeue is not redelivered at once
  for (const tag of [3, 7, 5]) s.settle(tag, false, 'requeue');
  send(c, 'q', 11, 12);
  assert.equal(sink.got.length, 0);
  s.resume(Pause.FLOW);
  assert.deepEqual(
    sink.got.map((d) => [d.body, d.redelivered]),
    [
      ['3', true],
      ['5', true],
      ['7', true],
      ['11', false],
      ['12', false],
    ],
  );
});

test('settle: requeue order holds without consumers too (basic.get)', () => {
  const { c, s } = setup('q');
  send(c, 'q', ...range(1, 10));
  const tags = range(1, 10).map(() => c.get(s, 'q', false)!.tag);
  for (const i of [2, 6, 4]) s.settle(tags[i]!, false, 'requeue'); // bodies 3, 7, 5
  send(c, 'q', 11);
  const order: string[] = [];
  for (let g = c.get(s, 'q', true); g !== undefined; g = c.get(s, 'q', true))
    order.push(g.msg.body.toString());
  assert.deepEqual(order, ['3', '5', '7', '11']);
});

test('settle: nack multiple with requeue redelivers in the original order', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 4;
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', ...range(1, 6));
  sink.take();
  s.settle(4, true, 'requeue');
  assert.deepEqual(
    sink.got.map((d) => [d.body, d.redelivered]),
    [
      ['1', true],
      ['2', true],
      ['3', true],
      ['4', true],
    ],
  );
});

test('settle: requeue order survives requeues from several sessions in any order', () => {
  const { c, s, sink } = setup('q');
  const s2 = c.openSession();
  const sink2 = new Sink();
  consume(c, s, 'q', 'a', sink);
  consume(c, s2, 'q', 'b', sink2);
  send(c, 'q', ...range(1, 10)); // a: odd, b: even
  assert.deepEqual(sink.bodies(), ['1', '3', '5', '7', '9']);
  s2.close();
  s.close();
  const s3 = c.openSession();
  const sink3 = new Sink();
  consume(c, s3, 'q', 'c', sink3);
  assert.deepEqual(sink3.bodies(), range(1, 10));
  assert.ok(sink3.got.every((d) => d.redelivered));
});

test('settle: redelivery order is publish order whatever is settled how (property)', () => {
  type Op = { kind: 'ack' | 'requeue' | 'discard'; pick: number; multiple: boolean };
  const opArb: fc.Arbitrary<Op> = fc.record({
    kind: fc.constantFrom('ack', 'requeue', 'discard'),
    pick: fc.nat(),
    multiple: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 25 }), fc.array(opArb, { maxLength: 30 }), (n, ops) => {
      const { c, s, sink } = setup('q');
      consume(c, s, 'q', 'ct', sink);
      send(c, 'q', ...range(1, n));
      s.pause(Pause.BACKPRESSURE);
      const outstanding = new Map(sink.got.map((d) => [d.tag, Number(d.body)]));
      const requeued: number[] = [];
      for (const op of ops) {
        const tags = [...outstanding.keys()];
        if (tags.length === 0) break;
        const tag = tags[op.pick % tags.length]!;
        s.settle(tag, op.multiple, op.kind);
        for (const t of tags) {
          if (t === tag || (op.multiple && t < tag)) {
            if (op.kind === 'requeue') requeued.push(outstanding.get(t)!);
            outstanding.delete(t);
          }
        }
      }
      send(c, 'q', n + 1);
      sink.take();
      s.resume(Pause.BACKPRESSURE);
      const expected = [...requeued.sort((a, b) => a - b).map(String), String(n + 1)];
      assert.deepEqual(sink.bodies(), expected);
      assert.deepEqual(
        sink.got.map((d) => d.redelivered),
        expected.map((_, i) => i < requeued.length),
      );
    }),
    { seed: 0xc0ffee, numRuns: 300 },
  );
});

test('settle: an ack from inside deliver is safe (re-entrant dispatch keeps order)', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 1;
  sink.onDeliver = (d) => s.settle(d.tag, false, 'ack');
  send(c, 'q', ...range(1, 50));
  consume(c, s, 'q', 'ct', sink);
  assert.deepEqual(sink.bodies(), range(1, 50));
  assert.equal(s.unackedTags, 0);
});

test('session: close requeues unacked deliveries, in order, flagged redelivered', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 3;
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', ...range(1, 5));
  s.settle(2, false, 'ack');
  assert.deepEqual(sink.bodies(), ['1', '2', '3', '4']);
  const s2 = c.openSession();
  const sink2 = new Sink();
  consume(c, s2, 'q', 'other', sink2);
  assert.deepEqual(sink2.bodies(), ['5']);
  s.close();
  assert.ok(s.closed);
  assert.ok(!c.sessions.has(s));
  assert.deepEqual(
    sink2.got.map((d) => [d.body, d.redelivered]),
    [
      ['5', false],
      ['1', true],
      ['3', true],
      ['4', true],
    ],
  );
  assert.equal(sink.got.length, 4, 'the closed session got nothing more');
  s.close(); // twice is harmless
});

test('session: recover requeues every unacked delivery', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 2;
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', 'a', 'b', 'c');
  sink.take();
  s.recover();
  assert.deepEqual(
    sink.got.map((d) => [d.body, d.redelivered]),
    [
      ['a', true],
      ['b', true],
    ],
  );
});

test('session: connection close closes its sessions and requeues their deliveries', () => {
  const broker = new Broker();
  const c1 = open(broker);
  const c2 = open(broker);
  c1.declareQueue('q', qargs());
  const s1 = c1.openSession();
  const sink1 = new Sink();
  consume(c1, s1, 'q', 'ct', sink1);
  send(c1, 'q', 'a', 'b');
  c1.close();
  assert.ok(s1.closed);
  const sink2 = new Sink();
  consume(c2, c2.openSession(), 'q', 'ct', sink2);
  assert.deepEqual(
    sink2.got.map((d) => [d.body, d.redelivered]),
    [
      ['a', true],
      ['b', true],
    ],
  );
});

test('pause: FLOW and BACKPRESSURE stop delivery; resume restarts it; reasons nest', () => {
  const { c, s, sink } = setup('q');
  consume(c, s, 'q', 'ct', sink);
  s.pause(Pause.FLOW);
  send(c, 'q', 1, 2);
  assert.equal(sink.got.length, 0);
  s.pause(Pause.BACKPRESSURE);
  s.resume(Pause.FLOW);
  send(c, 'q', 3);
  assert.equal(sink.got.length, 0, 'still paused for backpressure');
  s.resume(Pause.FLOW); // not paused for that reason: nothing happens
  assert.equal(sink.got.length, 0);
  s.resume(Pause.BACKPRESSURE);
  assert.deepEqual(sink.bodies(), ['1', '2', '3']);
  send(c, 'q', 4);
  assert.deepEqual(sink.bodies(), ['1', '2', '3', '4']);
});

test('pause: a paused session does not hold up other sessions on the same queue', () => {
  const { c, s, sink } = setup('q');
  const s2 = c.openSession();
  const sink2 = new Sink();
  consume(c, s, 'q', 'paused', sink);
  consume(c, s2, 'q', 'live', sink2);
  s.pause(Pause.BACKPRESSURE);
  send(c, 'q', ...range(1, 4));
  assert.equal(sink.got.length, 0);
  assert.deepEqual(sink2.bodies(), range(1, 4));
});

test('pause: pausing inside deliver stops the dispatch loop at once', () => {
  const { c, s, sink } = setup('q');
  sink.onDeliver = () => s.pause(Pause.BACKPRESSURE);
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', 1, 2, 3);
  assert.deepEqual(sink.bodies(), ['1']);
  sink.onDeliver = undefined;
  s.resume(Pause.BACKPRESSURE);
  assert.deepEqual(sink.bodies(), ['1', '2', '3']);
});

test('cancel: a cancelled consumer gets no more; its unacked deliveries can still be settled', () => {
  const { c, s, sink } = setup('q');
  s.consumerPrefetch = 2;
  consume(c, s, 'q', 'ct', sink);
  send(c, 'q', 1, 2, 3);
  assert.ok(s.removeConsumer('ct') !== undefined);
  assert.equal(s.removeConsumer('ct'), undefined);
  send(c, 'q', 4);
  assert.deepEqual(sink.bodies(), ['1', '2']);
  s.settle(1, false, 'ack');
  s.settle(2, false, 'requeue');
  assert.deepEqual(sink.bodies(), ['1', '2']);
  assert.equal(c.vhost.queues.get('q')!.messageCount, 3);
  assert.deepEqual(sink.cancelledTags, [], 'a client cancel is not a broker cancel');
});

test('cancel: deleting the queue calls sink.cancelled for each of its consumers', () => {
  const { c, s, sink } = setup('q', 'other');
  consume(c, s, 'q', 'on-q', sink);
  consume(c, s, 'other', 'on-other', sink);
  c.deleteQueue('q', false, false);
  assert.deepEqual(sink.cancelledTags, ['on-q']);
  assert.deepEqual([...s.consumers.keys()], ['on-other']);
});

for (const noAck of [false, true]) {
  test(`undeliverable (noAck ${noAck}): a sink that throws loses its consumer, not the message or the publish`, () => {
    const { c, s, sink } = setup('q');
    const failing = new Sink();
    let reason: SwitchyardError | undefined;
    failing.onDeliver = (d) => {
      if (d.body === '2') throw new Error('cannot express message 2');
    };
    failing.cancelled = (tag: string, why?: SwitchyardError) => {
      failing.cancelledTags.push(tag);
      reason = why;
    };
    const s2 = c.openSession();
    consume(c, s2, 'q', 'failing', failing, { noAck });
    send(c, 'q', 1);
    assert.doesNotThrow(() => send(c, 'q', 2), 'the publish does not see the consumer failure');
    assert.deepEqual(failing.cancelledTags, ['failing']);
    assert.equal(reason?.code, 'INTERNAL_ERROR');
    assert.match(reason!.message, /cannot express message 2/);
    assert.deepEqual([...s2.consumers.keys()], []);
    assert.equal(s2.unackedTags, noAck ? 0 : 1, 'only message 1 is outstanding');
    consume(c, s, 'q', 'other', sink);
    assert.deepEqual(
      sink.take().map((d) => [d.body, d.redelivered]),
      [['2', true]],
      'message 2 went back to the queue for the other consumers',
    );
  });
}
