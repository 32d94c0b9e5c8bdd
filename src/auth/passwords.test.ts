import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, parseHash, rabbitHash, verifyPassword } from './passwords.js';

test('passwords: our scrypt form round-trips, is salted, and refuses a wrong password', async () => {
  const h = await hashPassword('s3cret');
  assert.match(h, /^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(await hashPassword('s3cret'), h, 'a new salt every time');
  const c = parseHash(h);
  assert.equal(await verifyPassword(c, 's3cret'), true);
  assert.equal(await verifyPassword(c, 's3cret '), false);
  assert.equal(await verifyPassword(c, ''), false);
});

test("passwords: RabbitMQ's salted SHA-256 (its default), SHA-512 and MD5 hashes verify as RabbitMQ does", async () => {
  // A hash made the way rabbit_password_hashing_sha256 does: base64(salt ++ sha256(salt ++ password)).
  const salt = Buffer.from([0x90, 0x8d, 0xc6, 0x0a]);
  const h256 = rabbitHash('guest', 'sha256', salt);
  assert.equal(Buffer.from(h256, 'base64').length, 36);
  assert.equal(await verifyPassword(parseHash(h256), 'guest'), true);
  assert.equal(await verifyPassword(parseHash(h256), 'Guest'), false);
  const h512 = rabbitHash('pw', 'sha512');
  assert.equal(await verifyPassword(parseHash(h512, 'rabbit_password_hashing_sha512'), 'pw'), true);
  const hmd5 = rabbitHash('pw', 'md5');
  assert.equal(await verifyPassword(parseHash(hmd5, 'rabbit_password_hashing_md5'), 'pw'), true);
  // A SHA-512 hash read as SHA-256 is the wrong length: refused with a message that shows no hash.
  assert.throws(
    () => parseHash(h512),
    (e: Error) => !e.message.includes(h512) && /sha256/.test(e.message),
  );
});

test('passwords: a known RabbitMQ definitions hash logs in', async () => {
  // From the RabbitMQ documentation's password hashing example (password "test12").
  const c = parseHash('kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR');
  assert.equal(await verifyPassword(c, 'test12'), true);
});

test('passwords: plain passwords compare in constant time; malformed hashes are refused without echo', async () => {
  assert.equal(await verifyPassword({ kind: 'plain', password: 'abc' }, 'abc'), true);
  assert.equal(await verifyPassword({ kind: 'plain', password: 'abc' }, 'abcd'), false);
  for (const bad of ['$scrypt$ln=99,r=8,p=1$AAAA$AAAA', '$scrypt$nonsense', 'not base64!', 'AAAA']) {
    assert.throws(
      () => parseHash(bad),
      (e: Error) => !e.message.includes(bad),
    );
  }
});
