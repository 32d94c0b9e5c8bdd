import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setOwn } from './own-property.js';

test('setOwn: "__proto__" becomes an own entry; the prototype is untouched', () => {
  const t: Record<string, unknown> = {};
  setOwn(t, '__proto__', { polluted: true });
  setOwn(t, 'a', 1);
  assert.deepEqual(Object.keys(t), ['__proto__', 'a']);
  assert.equal(Object.getPrototypeOf(t), Object.prototype);
  assert.equal((t as { polluted?: boolean }).polluted, undefined);
  assert.deepEqual(Object.getOwnPropertyDescriptor(t, '__proto__')?.value, { polluted: true });
});
