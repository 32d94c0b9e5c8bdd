import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, redactConfig } from './redact.js';
import { configSchema } from './schema.js';

test('redact: users passwords and hashes, and secret-named keys anywhere, become <redacted>', () => {
  const config = configSchema.parse({ users: { alice: 'wonderland', bob: '$scrypt$abc' } });
  const shown = redactConfig(config) as typeof config;
  assert.deepEqual(shown.users, { alice: REDACTED, bob: REDACTED });
  assert.equal(shown.http.port, config.http.port, 'the rest is untouched');
  assert.deepEqual(config.users, { alice: 'wonderland', bob: '$scrypt$abc' }, 'the original is not changed');
  const rich = redactConfig({
    users: { carol: { passwordHash: 'h', tags: ['monitoring'] } },
    tls: { keyFile: 'k.pem', passphrase: 'p' },
    list: [{ token: 't' }],
  });
  assert.deepEqual(rich, {
    users: { carol: { passwordHash: REDACTED, tags: ['monitoring'] } },
    tls: { keyFile: 'k.pem', passphrase: REDACTED },
    list: [{ token: REDACTED }],
  });
});
