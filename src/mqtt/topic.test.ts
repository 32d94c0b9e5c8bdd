import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { filterArb, levelArb, topicArb } from '../../test/mqtt-arbitraries.js';
import {
  filterToBindingKey,
  parseShared,
  routingKeyToTopic,
  topicFilterError,
  topicMatches,
  topicNameError,
  topicToRoutingKey,
} from './topic.js';

const SEED = 0x70b1c;

// Levels from a small alphabet, so that matches are common and the characters the translation
// escapes ('.', '*', '%') and the '$' rule show up in nearly every run.
const level = levelArb(['a', 'b', '.', '*', '%', '$']);
const topicGen = topicArb(level);
const filterGen = filterArb(level);

// Any code point, plus a high share of the characters the translation treats specially.
const specialCharArb = fc.constantFrom('.', '%', '*', '/', '2', '5', 'E', 'e', 'A', 'a');
const unicodeTopicArb = fc
  .string({ unit: fc.oneof(specialCharArb, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) })
  .filter((t) => topicNameError(t) === undefined);

// Anything at all, lone surrogates included.
const anyStringArb = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
  fc.string({ unit: fc.constantFrom('a', '/', '+', '#', '$', '.', '*', '%', '2', 'E', '$share/') }),
);

/** MQTT matching written plainly over split levels: the reference for `topicMatches`. */
function refMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (t[0]!.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** AMQP topic-exchange matching over words, as RabbitMQ does it: the empty key has no words. */
function amqpMatch(bindingKey: string, routingKey: string): boolean {
  const words = (k: string) => (k === '' ? [] : k.split('.'));
  const go = (b: string[], r: string[]): boolean => {
    if (b.length === 0) return r.length === 0;
    const [w, ...rest] = b;
    if (w === '#') return go(rest, r) || (r.length > 0 && go(b, r.slice(1)));
    if (r.length === 0) return false;
    return (w === '*' || w === r[0]) && go(rest, r.slice(1));
  };
  return go(words(bindingKey), words(routingKey));
}

test('topic: topic name validity', () => {
  const valid = ['a', '/', 'a/b', '/a/', 'a//b', '$SYS/x', ' ', 'a.b*c%', '€', '😀', 'a'.repeat(65535)];
  for (const t of valid) assert.equal(topicNameError(t), undefined, JSON.stringify(t.slice(0, 20)));
  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['a/+', /wildcards/],
    ['a/#', /wildcards/],
    ['a+b', /wildcards/],
    ['#', /wildcards/],
    ['a\u0000b', /U\+0000/],
    ['a\ud800', /surrogate/],
    ['\udc00a', /surrogate/],
    ['\ude00\ud83d', /surrogate/],
    ['a'.repeat(65536), /65535 bytes/],
    ['é'.repeat(32768), /65535 bytes/],
    ['€'.repeat(21846), /65535 bytes/],
    ['😀'.repeat(16384), /65535 bytes/],
  ];
  for (const [t, re] of invalid) assert.match(topicNameError(t) ?? '', re, JSON.stringify(t.slice(0, 20)));
  assert.equal(topicNameError('€'.repeat(21845)), undefined);
  assert.equal(topicNameError(`${'😀'.repeat(16383)}aaa`), undefined);
});

test('topic: the byte limit counts UTF-8 bytes exactly (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: -2, max: 2 }), (s, k) => {
      fc.pre(topicNameError(s || 'a') === undefined);
      const t = s + 'a'.repeat(Math.max(1, 65535 - Buffer.byteLength(s) + k));
      assert.equal(topicNameError(t) === undefined, Buffer.byteLength(t) <= 65535);
    }),
    { seed: SEED, numRuns: 100 },
  );
});

test('topic: topic filter validity', () => {
  const valid = ['#', '+', '/', '+/+', 'a/#', '/#', '+/#', 'a/+/b', '+/a/#', '$SYS/#', '$share/g/a', 'a.b*%'];
  for (const f of valid) assert.equal(topicFilterError(f), undefined, f);
  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['a#', /'#'/],
    ['#/a', /'#'/],
    ['a/#/', /'#'/],
    ['a/##', /'#'/],
    ['a/b#', /'#'/],
    ['a+', /'\+'/],
    ['+a/b', /'\+'/],
    ['a/++', /'\+'/],
    ['a/+#', /'\+'|'#'/],
    ['a\u0000', /U\+0000/],
    ['+/\ud800', /surrogate/],
    [`${'a'.repeat(65534)}/#`, /65535 bytes/],
  ];
  for (const [f, re] of invalid) assert.match(topicFilterError(f) ?? '', re, JSON.stringify(f.slice(0, 20)));
});

test('topic: generated topics and filters are valid; every valid topic name is a valid filter', () => {
  fc.assert(
    fc.property(topicGen, filterGen, unicodeTopicArb, (t, f, u) => {
      assert.equal(topicNameError(t), undefined);
      assert.equal(topicFilterError(f), undefined);
      assert.equal(topicFilterError(t), undefined);
      assert.equal(topicFilterError(u), undefined);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

test('topic: parseShared', () => {
  assert.equal(parseShared('a/b'), undefined);
  assert.equal(parseShared('$share'), undefined);
  assert.equal(parseShared('$SHARE/g/a'), undefined);
  assert.deepEqual(parseShared('$share/g/a/+'), { group: 'g', filter: 'a/+' });
  assert.deepEqual(parseShared('$share/g/#'), { group: 'g', filter: '#' });
  assert.deepEqual(parseShared('$share/g//'), { group: 'g', filter: '/' });
  assert.deepEqual(parseShared('$share/g/$share/h/x'), { group: 'g', filter: '$share/h/x' });
  const invalid: [string, RegExp][] = [
    ['$share/', /non-empty share name/],
    ['$share//a', /non-empty share name/],
    ['$share/g', /followed by '\/'/],
    ['$share/g/', /followed by '\/'/],
    ['$share/g+/a', /must not contain/],
    ['$share/#', /must not contain/],
    ['$share/+/a', /must not contain/],
    ['$share/g/a#', /'#'/],
    ['$share/g\u0000/a', /U\+0000/],
    ['$share/\ud800/a', /surrogate/],
    [`$share/${'g'.repeat(65530)}/a`, /65535 bytes/],
  ];
  for (const [f, re] of invalid) {
    const r = parseShared(f);
    assert.ok(r !== undefined && 'error' in r, JSON.stringify(f.slice(0, 20)));
    assert.match(r.error, re, JSON.stringify(f.slice(0, 20)));
  }
});

test('topic: parseShared takes apart what was put together (property)', () => {
  const groupArb = fc.string({ minLength: 1, unit: fc.constantFrom('g', '$', '.', '*', 'é') });
  fc.assert(
    fc.property(groupArb, filterGen, (group, filter) => {
      assert.deepEqual(parseShared(`$share/${group}/${filter}`), { group, filter });
    }),
    { seed: SEED, numRuns: 200 },
  );
});

test('topic: translation examples', () => {
  const cases: [string, string][] = [
    ['a/b', 'a.b'],
    ['a//b', 'a..b'],
    ['/a', '.a'],
    ['a/', 'a.'],
    ['/', '.'],
    ['a.b/c*', 'a%2Eb.c%2A'],
    ['100%/*', '100%25.%2A'],
    ['%2E', '%252E'],
    ['$SYS/x', '$SYS.x'],
  ];
  for (const [topic, rk] of cases) {
    assert.equal(topicToRoutingKey(topic), rk, topic);
    assert.equal(routingKeyToTopic(rk), topic, rk);
  }
  assert.equal(filterToBindingKey('+/a.b/#'), '*.a%2Eb.#');
  assert.equal(filterToBindingKey('+'), '*');
  assert.equal(filterToBindingKey('#'), '#');
  assert.equal(filterToBindingKey('*/+/%'), '%2A.*.%25');
  assert.equal(filterToBindingKey('/+/'), '.*.');
  // Keys from plain AMQP publishers: lower-case escapes decode, other '%' sequences stay.
  assert.equal(routingKeyToTopic('a%2eb.c%2a%25'), 'a.b/c*%');
  assert.equal(routingKeyToTopic('x%41.%.%2.%2F.50%'), 'x%41/%/%2/%2F/50%');
  assert.equal(routingKeyToTopic(''), '');
});

test('topic: routingKeyToTopic inverts topicToRoutingKey (property)', () => {
  fc.assert(
    fc.property(fc.oneof(unicodeTopicArb, topicGen), (t) => {
      assert.equal(routingKeyToTopic(topicToRoutingKey(t)), t);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('topic: topicToRoutingKey is injective (property)', () => {
  // A tiny alphabet in which a broken escape would collide quickly.
  const tinyArb = fc
    .string({ minLength: 1, maxLength: 6, unit: fc.constantFrom('.', '/', '%', '*', '2', 'E', 'A', '5') })
    .filter((t) => topicNameError(t) === undefined);
  fc.assert(
    fc.property(tinyArb, tinyArb, (a, b) => {
      fc.pre(a !== b);
      assert.notEqual(topicToRoutingKey(a), topicToRoutingKey(b));
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test('topic: topicMatches known cases', () => {
  const yes: [string, string][] = [
    ['#', 'a'],
    ['#', 'a/b/c'],
    ['#', '/'],
    ['a/#', 'a'],
    ['a/#', 'a/'],
    ['a/#', 'a/b/c'],
    ['+/#', 'a'],
    ['/#', '/'],
    ['+', 'a'],
    ['+/+', '/'],
    ['a/+', 'a/'],
    ['+/b', '/b'],
    ['a/+/c', 'a/b/c'],
    ['$SYS/#', '$SYS/x'],
    ['$SYS/+', '$SYS/x'],
    ['a/$x', 'a/$x'],
    ['+/$x', 'a/$x'],
    ['a.b', 'a.b'],
  ];
  const no: [string, string][] = [
    ['#', '$SYS'],
    ['#', '$SYS/x'],
    ['+/x', '$a/x'],
    ['+/#', '$a'],
    ['a/+', 'a'],
    ['a/+', 'a/b/c'],
    ['a', 'a/b'],
    ['a/b', 'a'],
    ['a/b', 'a/c'],
    ['+', '/'],
    ['/#', 'a'],
    ['ab', 'a'],
    ['a', 'ab'],
    ['a/#', 'ab'],
    ['a', ''],
    ['', 'a'],
    ['', ''],
  ];
  for (const [f, t] of yes) assert.ok(topicMatches(f, t), `${f} should match ${t}`);
  for (const [f, t] of no) assert.ok(!topicMatches(f, t), `${f} should not match ${t}`);
});

test('topic: topicMatches agrees with the split-based reference (property)', () => {
  fc.assert(
    fc.property(filterGen, topicGen, (f, t) => {
      assert.equal(topicMatches(f, t), refMatches(f, t));
    }),
    { seed: SEED, numRuns: 5000 },
  );
});

test('topic: the exchange route equals MQTT matching, escaping keeps literal . and * inert (property)', () => {
  fc.assert(
    fc.property(filterGen, topicGen, (f, t) => {
      // The exchange knows nothing of `$`: for `$` topics the MQTT side must apply [MQTT-4.7.2-1].
      const dollarRule = t.startsWith('$') && (f.startsWith('+') || f.startsWith('#'));
      const viaExchange = amqpMatch(filterToBindingKey(f), topicToRoutingKey(t)) && !dollarRule;
      assert.equal(viaExchange, topicMatches(f, t));
    }),
    { seed: SEED, numRuns: 5000 },
  );
});

test('topic: no function throws on arbitrary strings (fuzz)', () => {
  fc.assert(
    fc.property(anyStringArb, anyStringArb, (a, b) => {
      topicNameError(a);
      topicFilterError(a);
      parseShared(a);
      parseShared(`$share/${a}`);
      topicToRoutingKey(a);
      filterToBindingKey(a);
      routingKeyToTopic(a);
      topicMatches(a, b);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});
