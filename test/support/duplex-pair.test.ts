import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { duplexPair } from './duplex-pair.js';

test('duplex pair: bytes cross in order both ways; end and destroy reach the other side', async () => {
  const [a, b] = duplexPair();
  const got: Buffer[] = [];
  b.on('data', (d: Buffer) => got.push(d));
  a.write('one ');
  a.write(Buffer.from('two'));
  const back = once(a, 'data');
  b.write('pong');
  assert.equal(String((await back)[0]), 'pong');
  const ended = once(b, 'end');
  a.end();
  await ended;
  assert.equal(Buffer.concat(got).toString(), 'one two');
  const closed = once(a, 'close');
  b.destroy();
  await closed;
});

test('duplex pair: a paused reader holds the bytes until it resumes', async () => {
  const [a, b] = duplexPair();
  b.pause();
  for (let i = 0; i < 100; i++) a.write(Buffer.alloc(1024, i));
  const got: Buffer[] = [];
  b.on('data', (d: Buffer) => got.push(d));
  b.resume();
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(Buffer.concat(got).length, 100 * 1024);
  a.destroy();
});
