import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { BenchFileError, measuredFigures, parseBenchFile, readBenchFile } from './bench-file.js';

const fixture = join(import.meta.dirname, 'testdata', 'bench-sample.jsonl');
const text = readFileSync(fixture, 'utf8');
const lines = text.trimEnd().split('\n');
const meta = lines[0]!;
const result = (o: Record<string, unknown>): string =>
  JSON.stringify({
    type: 'result',
    scenario: 'throughput',
    protocol: 'amqp',
    size: 1024,
    persistent: false,
    msgs_per_s: 1,
    errors: 0,
    ...o,
  });

test('advise bench file: the fixture reads, with latency and throughput per protocol', () => {
  const f = readBenchFile(fixture);
  assert.equal(f.meta.target, 'embedded');
  assert.deepEqual(f.anomalies, []);
  const m = measuredFigures(f, 1024, false);
  assert.deepEqual(m.get('ws'), { protocol: 'ws', size: 1024, p50_us: 55, p99_us: 256, msgs_per_s: 147_761 });
  assert.equal(m.get('rpc-grpc')?.p99_us, 3583);
  assert.equal(m.get('rpc-rest')?.msgs_per_s, 2484);
});

test('advise bench file: the row nearest the size and the asked persistence, lowest rate for latency', () => {
  const f = parseBenchFile(
    [
      meta,
      result({ size: 16, msgs_per_s: 300 }),
      result({ size: 65536, msgs_per_s: 20 }),
      result({ size: 1024, persistent: true, msgs_per_s: 50 }),
      result({
        scenario: 'latency',
        size: 1024,
        rate: 10000,
        msgs_per_s: 10000,
        latency_us: { p50: 9, p90: 9, p99: 900, p999: 9, max: 9 },
      }),
      result({
        scenario: 'latency',
        size: 1024,
        rate: 1000,
        msgs_per_s: 1000,
        latency_us: { p50: 1, p90: 1, p99: 100, p999: 1, max: 1 },
      }),
    ].join('\n'),
    'x.jsonl',
  );
  assert.equal(measuredFigures(f, 100_000, false).get('amqp')?.msgs_per_s, 20);
  assert.equal(measuredFigures(f, 8, false).get('amqp')?.msgs_per_s, 300);
  assert.equal(measuredFigures(f, 1024, true).get('amqp')?.msgs_per_s, 50);
  assert.equal(measuredFigures(f, 1024, false).get('amqp')?.p99_us, 100);
  const lat = (p99: number) => ({ p50: 1, p90: 1, p99, p999: 1, max: 1 });
  const rpc = parseBenchFile(
    [
      meta,
      result({ scenario: 'rpc', protocol: 'rpc-grpc', size: 9, concurrency: 16, latency_us: lat(5000) }),
      result({ scenario: 'rpc', protocol: 'rpc-grpc', size: 9, concurrency: 1, latency_us: lat(300) }),
    ].join('\n'),
    'rpc.jsonl',
  );
  assert.equal(measuredFigures(rpc, 1024, false).get('rpc-grpc')?.p99_us, 300);
  // A summary is optional (a run cut short); unknown extra fields and protocols are kept.
  assert.equal(f.anomalies, undefined);
  const g = parseBenchFile(`${meta}\n${result({ protocol: 'nats', extra: 1 })}\n`, 'y');
  assert.equal(g.results[0]!.protocol, 'nats');
});

test('advise bench file: a bad file is refused with its line and field', () => {
  const bad = (t: string, re: RegExp) =>
    assert.throws(
      () => parseBenchFile(t, 'r.jsonl'),
      (e: Error) => e instanceof BenchFileError && re.test(e.message),
    );
  bad('', /r\.jsonl: empty/);
  bad('not json', /r\.jsonl:1: not JSON/);
  bad(result({}), /r\.jsonl:1: the first line must be the "meta" line/);
  bad(meta.replace('"schema":1', '"schema":2'), /r\.jsonl:1: schema/);
  bad(`${meta}\n${result({ msgs_per_s: 'fast' })}`, /r\.jsonl:2: msgs_per_s/);
  bad(`${meta}\n${result({ scenario: 'soak' })}`, /r\.jsonl:2: scenario/);
  bad(`${meta}\n${result({ latency_us: { p50: 1 } })}`, /r\.jsonl:2: latency_us\.p90/);
  bad(`${meta}\n{"type":"other"}`, /r\.jsonl:2: unknown line type "other"/);
  bad(`${meta}\n${meta}`, /r\.jsonl:2: a second "meta" line/);
  bad(meta, /no "result" lines/);
  assert.throws(() => readBenchFile('/nonexistent/bench.jsonl'), /cannot read bench file/);
});

test('advise bench file: any text either parses or is refused with BenchFileError (property)', () => {
  const lineArb = fc.oneof(
    fc.string(),
    fc.constantFrom(...lines),
    fc.constantFrom(...lines).map((l) => l.slice(0, Math.floor(l.length / 2))),
    fc.json(),
  );
  fc.assert(
    fc.property(fc.array(lineArb, { maxLength: 8 }), (ls) => {
      try {
        const f = parseBenchFile(ls.join('\n'), 'p');
        assert.ok(f.results.length > 0);
        for (const size of [16, 1024, 1 << 20]) measuredFigures(f, size, false);
      } catch (e) {
        assert.ok(e instanceof BenchFileError, String(e));
      }
    }),
  );
});
