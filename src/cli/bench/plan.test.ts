import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRpc, PROTOCOL_IDS, parseOptions } from './options.js';
import { planRun } from './plan.js';

const everywhere = {
  amqp: new URL('amqp://h'),
  mqtt: new URL('mqtt://h'),
  http: new URL('http://h'),
  grpc: new URL('grpc://h'),
};

test('the default run covers every protocol at 1 KiB and its estimate fits in 3 minutes', () => {
  const o = parseOptions([]);
  const { steps, notes } = planRun(o, everywhere, null);
  assert.deepEqual(notes, []);
  for (const p of PROTOCOL_IDS) {
    const scenario = isRpc(p) ? 'rpc' : 'throughput';
    assert.ok(
      steps.some((s) => s.protocol === p && s.scenario === scenario && (isRpc(p) || s.size === 1024)),
      p,
    );
  }
  const estimate = steps.reduce((a, s) => a + s.estimateS, 0);
  assert.ok(estimate <= o.budgetS && o.budgetS <= 180, `estimate ${estimate} s`);
});

test('--quick: its estimate fits in 30 s', () => {
  const o = parseOptions(['--quick']);
  const estimate = planRun(o, everywhere, null).steps.reduce((a, s) => a + s.estimateS, 0);
  assert.ok(estimate <= o.budgetS && o.budgetS <= 30, `estimate ${estimate} s`);
});

test('protocols without a target, and RPC without servers, are skipped with a note', () => {
  const o = parseOptions(['--target', 'mqtt://h:1883']);
  const { steps, notes } = planRun(
    o,
    { mqtt: new URL('mqtt://h:1883') },
    'no --rpc-target given with --target',
  );
  assert.ok(steps.every((s) => s.protocol.startsWith('mqtt')));
  assert.ok(notes.some((n) => n.startsWith('amqp: skipped')));
  assert.ok(notes.some((n) => n.startsWith('rpc: skipped')));
  // One idle row per connection kind, not one per QoS.
  assert.equal(steps.filter((s) => s.scenario === 'idle').length, 1);
});
