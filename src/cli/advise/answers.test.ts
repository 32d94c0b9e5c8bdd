import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  AnswersError,
  answersSchema,
  coerceAnswer,
  DEFAULT_ANSWERS,
  QUESTIONS,
  readAnswersFile,
  resolveAnswers,
} from './answers.js';
import { promptAnswers } from './prompt.js';
import { tempDir } from '../../../test/support/temp.js';

const dir = tempDir('sy-advise-');
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
const question = (key: string) => QUESTIONS.find((q) => q.key === key)!;

test('advise answers: every question has a flag, choices and a default the schema accepts', () => {
  assert.deepEqual(QUESTIONS.map((q) => q.key).sort(), Object.keys(answersSchema.shape).sort());
  for (const q of QUESTIONS) assert.ok(q.choices.length >= 2 && q.flag.startsWith('--'));
});

test('advise answers: typed answers are coerced: yes/no, comma lists, case', () => {
  assert.equal(coerceAnswer(question('iot'), 'Y'), true);
  assert.equal(coerceAnswer(question('iot'), 'no'), false);
  assert.equal(coerceAnswer(question('iot'), 'maybe'), 'maybe');
  assert.deepEqual(coerceAnswer(question('team'), ' AMQP, grpc ,'), ['amqp', 'grpc']);
  assert.deepEqual(coerceAnswer(question('team'), 'none'), []);
  assert.equal(coerceAnswer(question('latency'), ' LOW '), 'low');
});

test('advise answers: a YAML file, overridden by flags', () => {
  const p = file('a.yaml', 'persistence: durable\nrouting: topic\nordering: true\nteam: [amqp]\n');
  const a = resolveAnswers(readAnswersFile(p), { routing: 'complex' });
  assert.equal(a.persistence, 'durable');
  assert.equal(a.routing, 'complex');
  assert.equal(a.ordering, true);
  assert.deepEqual(a.team, ['amqp']);
  assert.equal(a.latency, DEFAULT_ANSWERS.latency);
  assert.deepEqual(readAnswersFile(file('empty.yaml', '')), {});
});

test('advise answers: errors name the file, the key and the allowed values', () => {
  assert.throws(
    () => readAnswersFile(file('b.yaml', 'latency: fast\n')),
    (e: Error) => {
      assert.ok(e instanceof AnswersError);
      assert.match(e.message, /b\.yaml: latency: .*\(allowed: low, medium, high\)/);
      return true;
    },
  );
  assert.throws(() => readAnswersFile(file('c.yaml', 'latancy: low\n')), /c\.yaml.*latancy/);
  assert.throws(() => readAnswersFile(file('d.yaml', '- a\n- b\n')), /top level must be a map/);
  assert.throws(() => readAnswersFile(file('e.yaml', 'a: [\n')), /e\.yaml: not YAML/);
  assert.throws(() => readAnswersFile(join(dir, 'missing.yaml')), /cannot read answers file/);
  assert.throws(() => resolveAnswers({}, { team: ['cobol'] }), /answers: team\.0: .*allowed: grpc/);
  assert.throws(() => resolveAnswers({}, { iot: 'maybe' }), AnswersError);
});

test('advise answers: resolveAnswers accepts exactly what the schema accepts, and never throws otherwise (property)', () => {
  const value = fc.oneof(fc.string(), fc.boolean(), fc.integer(), fc.constant(null), fc.array(fc.string()));
  const key = fc.constantFrom(...QUESTIONS.map((q) => q.key), 'other');
  fc.assert(
    fc.property(fc.dictionary(key, value), (raw) => {
      const ok = answersSchema.safeParse(raw).success;
      try {
        resolveAnswers({}, raw);
        assert.ok(ok);
      } catch (e) {
        assert.ok(e instanceof AnswersError && !ok);
      }
    }),
  );
});

async function drive(lines: string, end = true): Promise<{ answers: unknown; shown: string }> {
  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => (shown += d.toString()));
  const pending = promptAnswers(input, output);
  input.write(lines);
  if (end) input.end();
  return { answers: await pending, shown };
}

test('advise prompt: Enter takes the default, answers are typed, the rest default at end of input', async () => {
  const { answers, shown } = await drive('low\n\n\nreplay\n');
  assert.deepEqual(answers, { ...DEFAULT_ANSWERS, latency: 'low', persistence: 'replay' });
  assert.match(shown, /Latency target\? \[low\/medium\/high\] \(medium\): /);
  // Input ended after the fifth question: the others were not asked.
  assert.match(shown, /Routing complexity\?/);
  assert.doesNotMatch(shown, /Delivery guarantee\?/);
});

test('advise prompt: a wrong answer is asked again, three wrong answers take the default', async () => {
  const { answers, shown } = await drive('fast\nlow\nx\ny\nz\n');
  assert.equal((answers as { latency: string }).latency, 'low');
  assert.equal((answers as { throughput: string }).throughput, DEFAULT_ANSWERS.throughput);
  assert.match(shown, /please answer one of: low, medium, high/);
  assert.match(shown, /taking the default, medium/);
});

test('advise prompt: all fourteen questions answered', async () => {
  const lines = [
    'high',
    'high',
    'large',
    'durable',
    'complex',
    'y',
    'yes',
    'no',
    'n',
    'yes',
    'yes',
    'exactly-once',
    'amqp,kafka',
    'no',
  ];
  const { answers } = await drive(`${lines.join('\n')}\n`, false);
  assert.deepEqual(answers, {
    latency: 'high',
    throughput: 'high',
    messageSize: 'large',
    persistence: 'durable',
    routing: 'complex',
    bidirectional: true,
    rpc: true,
    iot: false,
    browser: false,
    ordering: true,
    fanout: true,
    guarantee: 'exactly-once',
    team: ['amqp', 'kafka'],
    managed: false,
  });
});
