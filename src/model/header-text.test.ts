import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headerJson, headerText } from './header-text.js';
import { Decimal } from './values.js';

test('header text: header values of other protocols as text', () => {
  assert.equal(headerText('s'), 's');
  assert.equal(headerText(42), '42');
  assert.equal(headerText(-1.5), '-1.5');
  assert.equal(headerText(12345678901234567890n), '12345678901234567890');
  assert.equal(headerText(true), 'true');
  assert.equal(headerText(false), 'false');
  assert.equal(headerText(null), '');
  assert.equal(headerText(Buffer.from([0, 1, 255])), 'AAH/');
  assert.equal(headerText(new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), '2024-01-02T03:04:05.000Z');
  assert.equal(headerText(new Decimal(2, 12345)), '123.45');
  assert.equal(headerText(new Decimal(3, -5)), '-0.005');
  assert.equal(headerText(new Decimal(0, 7)), '7');
  assert.equal(headerText([1, 'a', true, null]), '[1,"a",true,null]');
  assert.equal(headerText({ a: { b: Buffer.from('x') }, n: 2n }), '{"a":{"b":"eA=="},"n":2}');
  assert.equal(headerText(Number.NaN), 'NaN');
});

test('header text: JSON values keep what JSON can carry; the rest as text', () => {
  assert.deepEqual(
    headerJson({ b: Buffer.from('x'), big: 2n ** 60n, small: 5n, d: new Date(0), bad: new Date(Number.NaN) }),
    {
      b: 'eA==',
      big: '1152921504606846976',
      small: 5,
      d: '1970-01-01T00:00:00.000Z',
      bad: '',
    },
  );
  assert.deepEqual(headerJson([Number.POSITIVE_INFINITY, null]), ['Infinity', null]);
  // A key named __proto__ is data, not a prototype.
  assert.deepEqual(Object.keys(headerJson(JSON.parse('{"__proto__": 1}')) as object), ['__proto__']);
});
