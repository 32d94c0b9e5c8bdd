import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { currentDoc, DOC_PATH } from './docs.js';

test('advise docs: the rules in docs/advise.md are generated from rules.ts (run `node --import tsx src/cli/advise/docs.ts`)', () => {
  const text = readFileSync(join(import.meta.dirname, '..', '..', '..', DOC_PATH), 'utf8');
  assert.equal(text, currentDoc(text));
});
