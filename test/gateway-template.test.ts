/**
 * HttpRule path templates: examples of the grammar, and fast-check properties: the parser and
 * the matcher never throw anything but TemplateError, and a path rendered from a template with
 * any variable values matches it, giving those values back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  matchTemplate,
  parseTemplate,
  splitPath,
  TemplateError,
  templateShape,
} from '../src/gateway/template.js';

const match = (template: string, path: string) => {
  const t = parseTemplate(template);
  const s = splitPath(path, t.verb !== undefined);
  const m = matchTemplate(t, s.segments, s.verb);
  return m === undefined ? undefined : Object.fromEntries(m);
};

test('gateway template: literals, variables, patterns and verbs', () => {
  assert.deepEqual(match('/v1/items/{id}', '/v1/items/7'), { id: '7' });
  assert.equal(match('/v1/items/{id}', '/v1/items/7/x'), undefined);
  assert.equal(match('/v1/items/{id}', '/v1/items/'), undefined);
  assert.deepEqual(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/1/books/2'), {
    name: 'shelves/1/books/2',
  });
  assert.equal(match('/v1/{name=shelves/*/books/*}', '/v1/shelves/1/cds/2'), undefined);
  assert.deepEqual(match('/v1/{a.b}/x/{c}', '/v1/p/x/q'), { 'a.b': 'p', c: 'q' });
  assert.deepEqual(match('/files/{path=**}', '/files/a/b/c'), { path: 'a/b/c' });
  assert.deepEqual(match('/files/{path=**}', '/files'), { path: '' });
  assert.deepEqual(match('/v1/*/x/**', '/v1/any/x/1/2'), {});
  assert.deepEqual(match('/v1/items/{id}:cancel', '/v1/items/9:cancel'), { id: '9' });
  assert.equal(match('/v1/items/{id}:cancel', '/v1/items/9:undo'), undefined);
  assert.equal(match('/v1/items/{id}:cancel', '/v1/items/9'), undefined);
  assert.deepEqual(match('/v1/items/{id}', '/v1/items/a%2Fb%20c'), { id: 'a/b c' });
  assert.deepEqual(match('/v1/{p=**}', '/v1/a%2Fb/c'), { p: 'a%2Fb/c' });
  assert.equal(templateShape(parseTemplate('/v1/{a}/b')), templateShape(parseTemplate('/v1/{z=*}/b')));
});

test('gateway template: malformed templates are TemplateErrors', () => {
  for (const bad of [
    '',
    'v1',
    '/',
    '/v1//x',
    '/{a',
    '/{a=b/{c}}',
    '/{1a}',
    '/**/x',
    '/{a}/{a}',
    '/x:',
    '/x y',
    '/{a=}',
  ]) {
    assert.throws(() => parseTemplate(bad), TemplateError, bad);
  }
  assert.throws(() => match('/v1/{id}', '/v1/%E0%A4%A'), TemplateError);
});

const ident = fc.stringMatching(/^[a-z_][a-z0-9_]{0,5}$/);
const literal = fc.stringMatching(/^[a-z0-9\-._~]{1,6}$/);

/** A template and a path rendered from it, with the values its variables must capture. */
const rendered = fc
  .array(
    fc.oneof(
      literal.map((l) => ({ kind: 'lit' as const, l })),
      fc.constant({ kind: 'star' as const }),
      fc
        .tuple(
          fc.array(ident, { minLength: 1, maxLength: 2 }),
          fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
        )
        .map(([fieldPath, values]) => ({ kind: 'var' as const, fieldPath, values })),
    ),
    { minLength: 1, maxLength: 5 },
  )
  .chain((segs) =>
    fc.tuple(
      fc.constant(segs),
      fc.option(literal, { nil: undefined }),
      fc.array(literal, { minLength: segs.length, maxLength: segs.length }),
    ),
  )
  .map(([segs, verb, fillers]) => {
    const tpl: string[] = [];
    const path: string[] = [];
    const expect: Record<string, string> = {};
    const names = new Set<string>();
    segs.forEach((s, i) => {
      if (s.kind === 'lit') {
        tpl.push(s.l);
        path.push(s.l);
      } else if (s.kind === 'star') {
        tpl.push('*');
        path.push(fillers[i]!);
      } else {
        const name = s.fieldPath.join('.');
        if (names.has(name)) {
          tpl.push('*');
          path.push(fillers[i]!);
          return;
        }
        names.add(name);
        if (s.values.length === 1) {
          tpl.push(`{${name}}`);
          path.push(encodeURIComponent(s.values[0]!));
          expect[name] = s.values[0]!;
        } else {
          tpl.push(`{${name}=${s.values.map(() => '*').join('/')}}`);
          const enc = s.values.map((v) => encodeURIComponent(v));
          path.push(...enc);
          expect[name] = enc.map((e) => decodeURIComponent(e.replace(/%2F/gi, '%252F'))).join('/');
        }
      }
    });
    const v = verb === undefined ? '' : `:${verb}`;
    return { template: `/${tpl.join('/')}${v}`, path: `/${path.join('/')}${v}`, expect };
  });

test('gateway template: a rendered path matches its template and gives the values back', () => {
  fc.assert(
    fc.property(rendered, ({ template, path, expect }) => {
      assert.deepEqual(match(template, path), expect);
    }),
    { numRuns: 500 },
  );
});

test('gateway template: the parser throws only TemplateError (fuzz)', () => {
  const alphabet = fc.constantFrom(
    '/',
    '{',
    '}',
    '=',
    '*',
    '**',
    ':',
    '.',
    'a',
    'b1',
    '_',
    '%',
    '%2F',
    ' ',
    '',
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.array(alphabet, { maxLength: 12 }).map((a) => a.join('')),
      ),
      (s) => {
        try {
          parseTemplate(s);
        } catch (e) {
          assert.ok(e instanceof TemplateError, String(e));
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('gateway template: the matcher throws only TemplateError on any path (fuzz)', () => {
  const templates = ['/v1/items/{id}', '/v1/{name=shelves/*}/x:verb', '/f/{p=**}', '/a/*/b/**'].map(
    parseTemplate,
  );
  fc.assert(
    fc.property(fc.constantFrom(...templates), fc.string(), fc.boolean(), (t, path, verb) => {
      try {
        const s = splitPath(path, verb);
        matchTemplate(t, s.segments, s.verb);
      } catch (e) {
        assert.ok(e instanceof TemplateError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});
