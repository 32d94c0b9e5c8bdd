/** `switchyard --print-config` shows the configuration without its secrets. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const root = fileURLToPath(new URL('..', import.meta.url));

test('cli: --print-config shows passwords and hashes as <redacted>', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--print-config'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, SWITCHYARD_USERS: 'alice:s3cret-Pa55,bob:$scrypt$hash' },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /s3cret-Pa55|\$scrypt\$hash/);
  const c = JSON.parse(r.stdout) as { users: Record<string, string> };
  assert.deepEqual(c.users, { alice: '<redacted>', bob: '<redacted>' });
});
