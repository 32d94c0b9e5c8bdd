/**
 * `switchyard advise` as a script or CI job runs it: flags or an answers file, no terminal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../src/config/schema.js';
import { tempDir } from './support/temp.js';

const root = join(import.meta.dirname, '..');
const fixture = join(root, 'src', 'cli', 'advise', 'testdata', 'bench-sample.jsonl');
const dir = tempDir('sy-cli-advise-');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function advise(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    // stdin is not a terminal here, so the command never prompts.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'advise', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hang guard: a busy machine has been seen to take over 30 s to start tsx and exit.
    const t = setTimeout(() => {
      child.kill();
      reject(new Error(`advise ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, 100_000);
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

interface AdviceJson {
  answersSource: string;
  recommendation: string;
  ranking: { option: string; score: number; served: boolean }[];
  reasons: { criterion: string; reason: string }[];
  tradeoffs: string[];
  measured: string[];
  elsewhere?: string;
  switchyard: { option: string; config: string; snippet: { client: string; code: string } };
}

function json(r: Run): AdviceJson {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as AdviceJson;
}

test('cli advise: --iot --persistence durable --format json recommends MQTT with a valid config', async () => {
  const a = json(await advise(['--iot', '--persistence', 'durable', '--format', 'json']));
  assert.equal(a.answersSource, 'flags');
  assert.equal(a.recommendation, 'mqtt');
  assert.equal(a.ranking.length, 7);
  assert.ok(a.reasons.some((r) => r.criterion === 'iot'));
  assert.ok(a.tradeoffs.some((t) => /QoS/.test(t)));
  assert.equal(a.switchyard.option, 'mqtt');
  const config = configSchema.parse(parseYaml(a.switchyard.config));
  assert.equal(config.mqtt.port, 1883);
  assert.equal(config.mqtt.anonymous, 'never');
  assert.match(a.switchyard.snippet.code, /from 'mqtt'/);
});

test('cli advise: --bench quotes the figures measured on this machine', async () => {
  const a = json(await advise(['--latency', 'low', '--rpc', '--bench', fixture, '--format', 'json']));
  assert.equal(a.recommendation, 'grpc');
  assert.ok(a.measured.some((m) => m.includes('gRPC p99 3,583 µs') && m.includes('p99 6,546 µs')));
  configSchema.parse(parseYaml(a.switchyard.config));
});

test('cli advise: replay → a log, which Switchyard does not serve: said so, config for the runner-up', async () => {
  const a = json(await advise(['--persistence', 'replay', '--format', 'json']));
  assert.equal(a.recommendation, 'stream');
  assert.match(a.elsewhere!, /Kafka/);
  assert.notEqual(a.switchyard.option, 'stream');
  configSchema.parse(parseYaml(a.switchyard.config));
});

test('cli advise: an answers file with flags over it, as Markdown', async () => {
  const file = join(dir, 'answers.yaml');
  writeFileSync(
    file,
    'persistence: durable\nguarantee: at-least-once\nrouting: topic\nordering: true\nmanaged: true\n',
  );
  const r = await advise(['--answers', file, '--no-managed', '--format', 'markdown']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# Protocol advice/);
  assert.match(r.stdout, /\*\*Recommendation: AMQP 0-9-1\*\*/);
  assert.match(r.stdout, /```yaml\n# Switchyard for amqp[\s\S]*\namqp:\n {2}port: 5672\n/);
});

test('cli advise: no answers and no terminal: the defaults, said so on stderr, text output', async () => {
  const r = await advise([]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /using the defaults/);
  assert.match(r.stdout, /^note: no answers given/);
  assert.match(r.stdout, /Recommendation: /);
  assert.match(r.stdout, /Ranking \(top 3\):\n {2}1\. .*\n {2}2\. .*\n {2}3\. /);
});

test('cli advise: invalid flags, answers and bench files exit 2 with a clear message', async () => {
  const badYaml = join(dir, 'bad.yaml');
  writeFileSync(badYaml, 'latency: fast\n');
  const badBench = join(dir, 'bad.jsonl');
  writeFileSync(
    badBench,
    '{"type":"meta","schema":1,"started":"x","target":"embedded"}\n{"type":"result"}\n',
  );
  const [flag, team, file, bench, help] = await Promise.all([
    advise(['--latency', 'fast']),
    advise(['--team', 'amqp,cobol']),
    advise(['--answers', badYaml]),
    advise(['--bench', badBench]),
    advise(['--help']),
  ]);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--latency.*fast.*low, medium, high/s);
  assert.equal(team.code, 2);
  assert.match(team.stderr, /team.*allowed: grpc, amqp/);
  assert.equal(file.code, 2);
  assert.match(file.stderr, /bad\.yaml: latency: .*allowed: low, medium, high/);
  assert.equal(bench.code, 2);
  assert.match(bench.stderr, /bad\.jsonl:2: scenario/);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--persistence <value>/);
});
