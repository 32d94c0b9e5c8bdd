import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Answers, answersSchema, TEAM_PROTOCOLS } from './answers.js';
import { measuredFigures, readBenchFile } from './bench-file.js';
import { CRITERIA, OPTIONS } from './rules.js';
import { SCENARIOS } from './scenarios.js';
import { recommend } from './score.js';

const answers = (a: Partial<Answers>): Answers => answersSchema.parse(a);
const top = (a: Partial<Answers>): string => recommend(answers(a)).ranking[0]!.option;

for (const s of SCENARIOS) {
  test(`advise rules: standard scenario: ${s.name} → ${s.expect.join(' or ')}`, () => {
    assert.ok(s.expect.includes(top(s.answers) as never), top(s.answers));
  });
}

test('advise rules: latency-sensitive microservices → gRPC', () => {
  assert.equal(top({ latency: 'low', rpc: true }), 'grpc');
  assert.equal(top({ latency: 'low', rpc: true, throughput: 'high', team: ['grpc'] }), 'grpc');
});

test('advise rules: order processing with guaranteed delivery → AMQP', () => {
  assert.equal(
    top({ persistence: 'durable', guarantee: 'at-least-once', routing: 'topic', ordering: true }),
    'amqp',
  );
  assert.equal(top({ persistence: 'durable', guarantee: 'at-least-once', routing: 'complex' }), 'amqp');
});

test('advise rules: chat → WebSocket, live dashboards → WebSocket or SSE', () => {
  assert.equal(top({ browser: true, bidirectional: true, fanout: true, latency: 'low' }), 'websocket');
  const dashboard = recommend(answers({ browser: true, fanout: true, guarantee: 'at-most-once' })).ranking;
  assert.ok(['websocket', 'sse'].includes(dashboard[0]!.option));
  assert.ok(
    dashboard.slice(0, 2).some((r) => r.option === 'sse'),
    'SSE is at least the runner-up for a feed',
  );
});

test('advise rules: constrained IoT → MQTT, whatever else is asked', () => {
  assert.equal(top({ iot: true }), 'mqtt');
  assert.equal(
    top({ iot: true, persistence: 'durable', routing: 'complex', rpc: true, latency: 'low' }),
    'mqtt',
  );
  const r = recommend(answers({ iot: true, routing: 'complex' }));
  assert.equal(r.ranking[0]!.pinnedBy, 'iot-mqtt');
});

test('advise rules: persistence with replay → a stream queue, with the Switchyard config for the runner-up', () => {
  const r = recommend(answers({ persistence: 'replay' }));
  assert.equal(r.ranking[0]!.option, 'stream');
  assert.equal(r.ranking[0]!.served, false);
  assert.match(r.ranking[0]!.caveats.join(' '), /no stream queues yet/);
  assert.notEqual(r.switchyardChoice, 'stream');
  assert.equal(top({ persistence: 'replay', ordering: true, throughput: 'high' }), 'stream');
});

test('advise rules: managed preferred → a cloud broker first, config still for a self-hosted option', () => {
  const r = recommend(answers({ managed: true, iot: true }));
  assert.deepEqual(
    r.ranking.slice(0, 2).map((x) => x.option),
    ['managed', 'mqtt'],
  );
  assert.equal(r.switchyardChoice, 'mqtt');
});

test('advise rules: browsers never get raw gRPC: the caveat is attached', () => {
  const r = recommend(answers({ browser: true, rpc: true, latency: 'low' }));
  const grpc = r.ranking.find((x) => x.option === 'grpc')!;
  assert.match(grpc.caveats.join(' '), /gRPC-Web/);
});

test('advise rules: ties go to the earlier option of the table', () => {
  // With the defaults gRPC and WebSocket score the same.
  const r = recommend(answers({}));
  const g = r.ranking.findIndex((x) => x.option === 'grpc');
  const w = r.ranking.findIndex((x) => x.option === 'websocket');
  assert.equal(r.ranking[g]!.score, r.ranking[w]!.score);
  assert.ok(g < w);
});

test('advise rules: every weight is within -3..+3 and every reason is a sentence', () => {
  for (const c of CRITERIA) {
    for (const cells of Object.values(c.cases)) {
      for (const cell of Object.values(cells)) {
        assert.ok(cell.weight >= -3 && cell.weight <= 3, `${c.key}: ${cell.weight}`);
        assert.match(cell.reason, /\.$/);
      }
    }
  }
});

test('advise rules: measured figures scale the latency weight and are quoted', () => {
  const bench = readBenchFile(join(import.meta.dirname, 'testdata', 'bench-sample.jsonl'));
  const a = answers({ latency: 'low', rpc: true });
  const generic = recommend(a);
  const measured = recommend(a, measuredFigures(bench, 1024, false));
  const lat = (r: typeof generic, o: string) =>
    r.criteria.find((c) => c.key === 'latency')!.cells[o as 'grpc'].weight;
  // WebSocket measured best at p99 (256 µs): full weight; AMQP at 644 µs keeps 256/644 of +1.
  assert.equal(lat(measured, 'websocket'), 3);
  assert.equal(lat(measured, 'amqp'), Math.round((256 / 644) * 10) / 10);
  assert.ok(lat(measured, 'grpc') < lat(generic, 'grpc'));
  assert.ok(
    measured.measured.some((m) => /gRPC p99 3,583 µs .* vs REST\/JSON via the gateway p99 6,546 µs/.test(m)),
  );
  assert.equal(measured.ranking[0]!.option, 'grpc');
});

const answersArb: fc.Arbitrary<Answers> = fc.record({
  latency: fc.constantFrom('low', 'medium', 'high'),
  throughput: fc.constantFrom('low', 'medium', 'high'),
  messageSize: fc.constantFrom('small', 'medium', 'large'),
  persistence: fc.constantFrom('none', 'durable', 'replay'),
  routing: fc.constantFrom('simple', 'topic', 'complex'),
  bidirectional: fc.boolean(),
  rpc: fc.boolean(),
  iot: fc.boolean(),
  browser: fc.boolean(),
  ordering: fc.boolean(),
  fanout: fc.boolean(),
  guarantee: fc.constantFrom('at-most-once', 'at-least-once', 'exactly-once'),
  team: fc.uniqueArray(fc.constantFrom(...TEAM_PROTOCOLS)),
  managed: fc.boolean(),
}) as fc.Arbitrary<Answers>;

test('advise rules: any valid answers give a full ranking with scores and reasons (property)', () => {
  const bench = readBenchFile(join(import.meta.dirname, 'testdata', 'bench-sample.jsonl'));
  fc.assert(
    fc.property(answersArb, fc.boolean(), (a, useBench) => {
      const r = recommend(a, useBench ? measuredFigures(bench, 1024, a.persistence !== 'none') : undefined);
      assert.deepEqual([...r.ranking.map((x) => x.option)].sort(), [...OPTIONS].sort());
      for (const x of r.ranking) assert.ok(Number.isFinite(x.score));
      assert.equal(r.criteria.length, CRITERIA.length);
      for (const c of r.criteria) for (const o of OPTIONS) assert.ok(c.cells[o].reason.length > 0);
      // Scores descend after the pinned options.
      const rest = r.ranking.filter((x) => x.pinnedBy === undefined);
      for (let i = 1; i < rest.length; i++) assert.ok(rest[i - 1]!.score >= rest[i]!.score);
      assert.ok(r.ranking.find((x) => x.option === r.switchyardChoice)!.served);
      if (a.iot && !a.managed) assert.equal(r.ranking[0]!.option, 'mqtt');
      if (a.managed) assert.equal(r.ranking[0]!.option, 'managed');
    }),
    { numRuns: 300 },
  );
});
