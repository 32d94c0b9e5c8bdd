/**
 * fast-check generators for MQTT topic names and filters, over a small alphabet (with the
 * characters the translation escapes, and `$`) so that generated filters often match.
 */
import fc from 'fast-check';

/** A topic level from `chars`, at most two of them. */
export function levelArb(chars: readonly string[]): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...chars), { maxLength: 2 }).map((c) => c.join(''));
}

export function topicArb(level: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .array(level, { minLength: 1, maxLength: 4 })
    .map((levels) => levels.join('/'))
    .filter((t) => t.length > 0);
}

export function filterArb(level: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(fc.oneof(level, fc.constant('+')), { maxLength: 4 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((f) => f.length > 0);
}
