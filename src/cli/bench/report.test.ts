import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { changePct, formatNumber, renderMarkdownTable, renderTable, rowKey, tableCells } from './report.js';
import { parseResults, type ResultRow } from './schema.js';

const row = (over: Partial<ResultRow>): ResultRow => ({
  type: 'result',
  scenario: 'throughput',
  protocol: 'amqp',
  size: 1024,
  persistent: false,
  msgs_per_s: 1000,
  errors: 0,
  ...over,
});

test('changePct: signed, rounded percent; blank when not comparable', () => {
  assert.equal(changePct(100, 112), '+12%');
  assert.equal(changePct(100, 97), '-3%');
  assert.equal(changePct(100, 100), '+0%'.replace('+', ''));
  assert.equal(changePct(undefined, 5), '');
  assert.equal(changePct(0, 5), '');
  assert.equal(changePct(0, 0), '0%');
});

test('--compare: a change column after each metric, matched by scenario, protocol, size and mode', () => {
  const before = [
    row({ msgs_per_s: 1000, wire_bytes_per_msg: 2000 }),
    row({ protocol: 'ws', msgs_per_s: 10 }),
  ];
  const after = [
    row({ msgs_per_s: 1500, wire_bytes_per_msg: 2000 }),
    row({ persistent: true, msgs_per_s: 500 }),
    row({ protocol: 'ws', msgs_per_s: 5 }),
  ];
  const cells = tableCells(after, before);
  const head = cells[0]!;
  assert.equal(
    head.filter((h) => h === 'change').length,
    head.filter((h, i) => i >= 4 && h !== 'change' && h !== 'errors').length,
  );
  const at = head.indexOf('msg/s') + 1;
  assert.equal(cells[1]![at], '+50%');
  assert.equal(cells[2]![at], 'new');
  assert.equal(cells[3]![at], '-50%');
  const wireAt = head.indexOf('wire B/msg') + 1;
  assert.equal(cells[1]![wireAt], '0%');
  assert.match(renderTable(cells), /\+50%/);
  assert.ok(!tableCells(after).flat().includes('change'));
});

test('rowKey tells persistent from transient and sizes apart', () => {
  assert.notEqual(rowKey(row({})), rowKey(row({ persistent: true })));
  assert.notEqual(rowKey(row({})), rowKey(row({ size: 16 })));
  assert.equal(rowKey(row({})), rowKey(row({ msgs_per_s: 7 })));
});

test('parseResults reads back what a run writes, skipping meta and summary lines', () => {
  const arbRow = fc.record({
    scenario: fc.constantFrom('throughput', 'latency', 'fanout', 'rpc', 'idle'),
    protocol: fc.constantFrom('amqp', 'mqtt-qos1', 'ws', 'rpc-rest'),
    size: fc.nat(70000),
    persistent: fc.boolean(),
    msgs_per_s: fc.nat(),
    errors: fc.nat(5),
  });
  fc.assert(
    fc.property(fc.array(arbRow, { maxLength: 20 }), (rows) => {
      const lines = [
        JSON.stringify({ type: 'meta', schema: 1 }),
        ...rows.map((r) => JSON.stringify({ type: 'result', ...r })),
        JSON.stringify({ type: 'summary', rows: rows.length, duration_s: 1, anomalies: [] }),
      ];
      assert.deepEqual(
        parseResults(lines.join('\n')),
        rows.map((r) => ({ type: 'result', ...r })),
      );
    }),
  );
  assert.throws(() => parseResults('{"type":"result"}'), /line 1/);
  assert.throws(() => parseResults('x'), /line 1: not JSON/);
});

test('renderMarkdownTable: padded columns, at least three dashes, pipes in cells escaped', () => {
  assert.equal(
    renderMarkdownTable(
      ['size', 'msg/s'],
      [
        ['1 KiB', formatNumber(123456)],
        ['a|b', formatNumber(undefined)],
      ],
    ),
    ['| size  | msg/s   |', '| ----- | ------- |', '| 1 KiB | 123,456 |', '| a\\|b  | -       |'].join('\n'),
  );
  assert.equal(formatNumber(2.345, 1), '2.3');
  assert.equal(formatNumber(Number.NaN), '-');
});
