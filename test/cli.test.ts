/**
 * The `switchyard` command as a user runs it: it prints its listeners, serves AMQP, and shuts down
 * gracefully on SIGTERM and SIGINT.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import amqp from 'amqplib';
import { EPHEMERAL_PORTS } from './helpers.js';
import { tempDir } from './support/temp.js';
import { skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

const root = join(import.meta.dirname, '..');

function start(args: string[]): { child: ChildProcess; ready: Promise<{ port: number; output: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise<{ port: number; output: string }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ready line; output: ${output}`)), WAIT_MS);
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /amqp listening on [\d.]+:(\d+)/.exec(output);
      if (m && output.includes('ready')) {
        clearTimeout(t);
        resolve({ port: Number(m[1]), output });
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited ${code}: ${output}`));
    });
  });
  return { child, ready };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`cli: starts, prints its listener, serves AMQP, and exits 0 on ${signal}`, async () => {
    const dataDir = tempDir('sy-cli-');
    const { child, ready } = start(['--host', '127.0.0.1', ...EPHEMERAL_PORTS, '--data-dir', dataDir]);
    const { port } = await ready;
    assert.ok(port > 0);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
    const closedByBroker = new Promise<Error>((resolve) => conn.on('close', (e: Error) => resolve(e)));
    conn.on('error', () => {});
    const done = exited(child);
    child.kill(signal);
    assert.equal(await done, 0);
    // The client was told: connection.close 320 CONNECTION_FORCED, as RabbitMQ does on shutdown.
    const err = await closedByBroker;
    assert.match(String(err), /CONNECTION_FORCED|320/);
  });
}

test('cli: every --<protocol>-port flag reaches the config', async () => {
  const r = spawnSync(
    process.execPath,
    [
      ...['--import', 'tsx', 'src/cli/main.ts', '--amqp-port', 'off', '--mqtt-port', '0'],
      ...['--http-port', '18080', '--grpc-port', 'off', '--print-config'],
    ],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  assert.deepEqual([c.amqp.port, c.mqtt.port, c.http.port, c.grpc.port], ['off', 0, 18080, 'off']);
});

test('cli: a bad flag value is a clear error and exit 1', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--amqp-port', 'seventy'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /amqp\.port/);
});

test('cli: --help documents every flag', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--help'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0);
  for (const flag of ['--config', '--host', '--data-dir', '--amqp-port', '--print-config']) {
    assert.ok(r.stdout.includes(flag), `--help lacks ${flag}`);
  }
});

test('cli: the installed bin runs the built broker', {
  skip: await skipUnless('build'),
}, () => {
  const r = spawnSync(process.execPath, ['bin/switchyard.js', '--version'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});
