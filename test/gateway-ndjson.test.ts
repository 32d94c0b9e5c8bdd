/**
 * The NDJSON line splitter of client-streaming bodies: any split of the body into chunks gives
 * the same lines, and a line over the limit is refused before it is buffered whole.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LineSplitter, ndjsonValues } from '../src/gateway/ndjson.js';

function splitAll(body: Buffer, cuts: number[], max: number): string[] {
  const s = new LineSplitter(max);
  const out: string[] = [];
  let at = 0;
  for (const c of [...cuts.filter((x) => x <= body.length).sort((a, b) => a - b), body.length]) {
    for (const l of s.push(body.subarray(at, c))) out.push(l.toString('latin1'));
    at = c;
  }
  const last = s.end();
  if (last !== undefined) out.push(last.toString('latin1'));
  return out;
}

test('gateway ndjson: every chunking gives the same lines (byte by byte included)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[^\n]{0,20}$/), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(200), { maxLength: 10 }),
      (lines, cuts) => {
        const body = Buffer.from(lines.join('\n'), 'latin1');
        const whole = splitAll(body, [], 1000);
        assert.deepEqual(splitAll(body, cuts, 1000), whole);
        assert.deepEqual(splitAll(body, [...Array(body.length).keys()], 1000), whole);
        const expected = lines.at(-1) === '' ? lines.slice(0, -1) : lines;
        assert.deepEqual(
          whole,
          expected.map((l) => Buffer.from(l, 'latin1').toString('latin1')),
        );
      },
    ),
  );
});

test('gateway ndjson: a line over the limit is a 413, whole or in pieces', () => {
  const s = new LineSplitter(4);
  assert.throws(
    () => s.push(Buffer.from('12345\n')),
    (e: { httpStatus?: number }) => e.httpStatus === 413,
  );
  const t = new LineSplitter(4);
  t.push(Buffer.from('12'));
  assert.throws(
    () => t.push(Buffer.from('345')),
    (e: { httpStatus?: number }) => e.httpStatus === 413,
  );
});

test('gateway ndjson: values, blank lines skipped, a bad line named', async () => {
  const body = async function* () {
    yield Buffer.from('{"a":1}\n\n  \n[2');
    yield Buffer.from(']\n"x"');
  };
  const got: unknown[] = [];
  for await (const v of ndjsonValues(body(), 100)) got.push(v);
  assert.deepEqual(got, [{ a: 1 }, [2], 'x']);
  const bad = async function* () {
    yield Buffer.from('1\n{oops\n');
  };
  await assert.rejects(async () => {
    for await (const _ of ndjsonValues(bad(), 100)) void _;
  }, /request line 2/);
});
