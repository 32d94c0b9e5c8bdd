import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grpcTimeoutMs } from './grpc-timeout.js';

test('grpc-timeout: every unit, in milliseconds', () => {
  assert.equal(grpcTimeoutMs('2H'), 7_200_000);
  assert.equal(grpcTimeoutMs('3M'), 180_000);
  assert.equal(grpcTimeoutMs('5S'), 5000);
  assert.equal(grpcTimeoutMs('250m'), 250);
  assert.equal(grpcTimeoutMs('500u'), 0.5);
  assert.equal(grpcTimeoutMs('2000000n'), 2);
  assert.equal(grpcTimeoutMs('99999999S'), 99_999_999_000);
});

test('grpc-timeout: anything else is NaN (9 digits, no unit, a sign, spaces, empty)', () => {
  for (const v of ['123456789S', '10', 'S', '-1S', '1.5S', ' 1S', '1s', '']) {
    assert.ok(Number.isNaN(grpcTimeoutMs(v)), v);
  }
});
