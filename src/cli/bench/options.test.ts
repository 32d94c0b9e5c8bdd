import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PROTOCOL_IDS, parseOptions, parseSize, SCENARIOS, UsageError } from './options.js';

test('defaults: every protocol and scenario, 1 KiB first, a 3-minute budget', () => {
  const o = parseOptions([]);
  assert.deepEqual(o.protocols, [...PROTOCOL_IDS]);
  assert.deepEqual(o.scenarios, [...SCENARIOS]);
  assert.deepEqual(o.sizes, [1024, 16, 65536]);
  assert.ok(o.budgetS <= 180);
  assert.equal(o.targets, null);
  const q = parseOptions(['--quick']);
  assert.deepEqual(q.sizes, [1024]);
  assert.ok(q.budgetS <= 30);
  assert.equal(q.idle, 200);
});

test('lists, sizes, targets', () => {
  const o = parseOptions([
    '--protocols',
    'amqp,ws',
    '--scenarios',
    'latency',
    '--sizes',
    '16,1k,64KiB',
    '--target',
    'amqp://u:p@h:5672',
    '--target',
    'mqtt://h:1883',
    '--broker-pid',
    '42',
  ]);
  assert.deepEqual(o.protocols, ['amqp', 'ws']);
  assert.deepEqual(o.scenarios, ['latency']);
  assert.deepEqual(o.sizes, [16, 1024, 65536]);
  assert.equal(o.targets?.amqp?.host, 'h:5672');
  assert.equal(o.targets?.mqtt?.port, '1883');
  assert.equal(o.brokerPid, 42);
});

test('bad values are usage errors that name the option', () => {
  const bad: [string[], RegExp][] = [
    [['--protocols', 'amqp,smtp'], /--protocols: unknown 'smtp'/],
    [['--scenarios', ''], /--scenarios is empty/],
    [['--duration', '0'], /--duration wants a positive number/],
    [['--rate', '1.5'], /--rate wants a positive integer/],
    [['--sizes', '1x'], /bad size '1x'/],
    [['--sizes', '8'], /out of range/],
    [['--target', 'ftp://h'], /unknown scheme/],
    [['--target', 'nota url'], /not a URL/],
    [['--broker-pid', '7'], /--broker-pid needs --target/],
    [['--frobnicate'], /Unknown option/],
    [['extra'], /positional/i],
  ];
  for (const [argv, msg] of bad)
    assert.throws(
      () => parseOptions(argv),
      (e: unknown) => e instanceof UsageError && msg.test(e.message),
      argv.join(' '),
    );
});

test('parseSize: a number with an optional k/M unit, any case, optional iB', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }),
      fc.constantFrom('k', 'K', 'kb', 'KiB', 'M', 'MiB', 'm'),
      (n, unit) => {
        const bytes = n * (unit.toLowerCase().startsWith('k') ? 1024 : 1048576);
        assert.equal(parseSize(`${n}${unit}`), bytes);
      },
    ),
  );
  fc.assert(
    fc.property(fc.integer({ min: 16, max: 100_000 }), (n) => {
      assert.equal(parseSize(String(n)), n);
    }),
  );
  fc.assert(
    fc.property(fc.string(), (s) => {
      try {
        const b = parseSize(s);
        assert.ok(Number.isInteger(b) && b >= 16);
      } catch (e) {
        assert.ok(e instanceof UsageError);
      }
    }),
  );
});
