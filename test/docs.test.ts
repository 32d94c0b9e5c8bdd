import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configurationMd, errorsMd } from '../scripts/gen-docs.js';

test('docs: configuration.md is generated from the schema (run `npm run docs`)', () => {
  assert.equal(readFileSync('docs/configuration.md', 'utf8'), configurationMd());
});

test('docs: errors.md is generated from the error catalogue (run `npm run docs`)', () => {
  assert.equal(readFileSync('docs/errors.md', 'utf8'), errorsMd());
});
