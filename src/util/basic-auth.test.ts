import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBasicAuth } from './basic-auth.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('parses Basic credentials; the password may contain colons', () => {
  assert.deepEqual(parseBasicAuth(`Basic ${b64('guest:guest')}`), { user: 'guest', password: 'guest' });
  assert.deepEqual(parseBasicAuth(`basic ${b64('u:p:q')}`), { user: 'u', password: 'p:q' });
  assert.deepEqual(parseBasicAuth(`Basic ${b64('ü:ß')}`), { user: 'ü', password: 'ß' });
});

test('no header is undefined; a malformed one is null', () => {
  assert.equal(parseBasicAuth(undefined), undefined);
  assert.equal(parseBasicAuth(''), undefined);
  assert.equal(parseBasicAuth('Bearer abc'), null);
  assert.equal(parseBasicAuth(`Basic ${b64('nocolon')}`), null);
  assert.equal(parseBasicAuth('Basic !!!'), null);
});
