/**
 * Every file and directory the store creates (the data directory, the message log's segments,
 * the definitions' journal and snapshot, the lock) is 0600 / 0700 whatever the umask: a
 * permissive umask (000) would otherwise leave published messages readable by every user, and
 * a strict one (0277) must not leave the broker unable to write its own files.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import amqp from 'amqplib';
import { startTestBroker } from './helpers.js';
import { tempDir } from './support/temp.js';

/** Every path under `dir` (itself included) with its permission bits. */
function modes(dir: string): [string, number, boolean][] {
  const out: [string, number, boolean][] = [];
  const walk = (p: string): void => {
    const st = statSync(p);
    out.push([p, st.mode & 0o777, st.isDirectory()]);
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(dir);
  return out;
}

for (const umask of [0o000, 0o277]) {
  test(`store modes: files 0600 and directories 0700 under umask ${umask.toString(8).padStart(3, '0')}`, {
    skip: process.platform === 'win32' ? 'POSIX modes' : false,
  }, async () => {
    const dataDir = join(tempDir('switchyard-modes-'), 'data', 'nested');
    const old = process.umask(umask);
    try {
      const b = await startTestBroker({}, dataDir);
      try {
        const conn = await amqp.connect(b.url);
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue('durable-q', { durable: true });
        ch.sendToQueue('durable-q', Buffer.from('secret'), { persistent: true });
        await ch.waitForConfirms();
        await conn.close();
        const seen = modes(join(dataDir, '..'));
        assert.ok(
          seen.some(([p]) => p.includes('messages') && !p.endsWith('messages')),
          'a segment was written',
        );
        assert.ok(
          seen.some(([p]) => p.endsWith('.lock') || p.includes('lock')),
          'the lock is there',
        );
        for (const [p, mode, isDir] of seen) {
          assert.equal(mode, isDir ? 0o700 : 0o600, `${p}: ${mode.toString(8)}`);
        }
      } finally {
        await b.close();
      }
    } finally {
      process.umask(old);
    }
  });
}
