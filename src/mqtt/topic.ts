/**
 * MQTT topic rules, MQTT matching, and the lossless translation between MQTT topics and the
 * routing keys of the topic exchange MQTT publishes to.
 *
 * Spec clauses are MQTT 5 numbering (MQTT 3.1.1 has the same rules, sections 4.7 and 1.5.3).
 *
 * Translation: an MQTT level becomes an AMQP word, `/` becomes `.`. Inside a level `%`, `.` and `*`
 * are percent-escaped, so a literal `.` cannot split a word and a literal `*` level cannot act as an
 * AMQP wildcard. (`#` needs no escape: it never appears in a topic name, and in a filter it is only
 * ever a whole level, where it means the same thing in both protocols.)
 */

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;
const PERCENT = 0x25;
const DOT = 0x2e;
const STAR = 0x2a;

/** [MQTT-4.7.3-3]: a topic is a UTF-8 string with a 16-bit length prefix. */
const MAX_TOPIC_BYTES = 65535;

const SHARE_PREFIX = '$share/';

/**
 * The rules names and filters share: no U+0000 [MQTT-1.5.4-2], no lone surrogate (it cannot be
 * encoded as well-formed UTF-8, [MQTT-1.5.4-1]) and at most 65535 bytes of UTF-8 [MQTT-4.7.3-3].
 * One pass, because it runs on every PUBLISH.
 */
function stringError(s: string, what: string): string | undefined {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) return `${what} must not contain U+0000`;
      bytes += 1;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return `${what} must be valid UTF-8 (lone surrogate)`;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return `${what} must be valid UTF-8 (lone surrogate)`;
    } else {
      bytes += 3;
    }
  }
  return bytes > MAX_TOPIC_BYTES ? `${what} must be at most ${MAX_TOPIC_BYTES} bytes of UTF-8` : undefined;
}

/** Why `topic` is not a valid PUBLISH topic name, or undefined when it is. */
export function topicNameError(topic: string): string | undefined {
  if (topic.length === 0) return 'topic name must not be empty'; // [MQTT-4.7.3-1]
  // [MQTT-4.7.0-1]
  if (topic.includes('+') || topic.includes('#')) return "topic name must not contain wildcards ('+' or '#')";
  return stringError(topic, 'topic name');
}

/** Why `filter` is not a valid SUBSCRIBE/UNSUBSCRIBE topic filter, or undefined when it is. */
export function topicFilterError(filter: string): string | undefined {
  if (filter.length === 0) return 'topic filter must not be empty'; // [MQTT-4.7.3-1]
  return wildcardError(filter) ?? stringError(filter, 'topic filter');
}

function wildcardError(filter: string): string | undefined {
  const last = filter.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = filter.charCodeAt(i);
    if (c !== PLUS && c !== HASH) continue;
    const wholeLevel =
      (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === last || filter.charCodeAt(i + 1) === SLASH);
    // [MQTT-4.7.1-1]
    if (c === HASH && !(wholeLevel && i === last)) {
      return "'#' must be the whole last level of a topic filter";
    }
    // [MQTT-4.7.1-2]
    if (c === PLUS && !wholeLevel) return "'+' must be a whole level of a topic filter";
  }
  return undefined;
}

/** A shared subscription taken apart: `$share/{group}/{filter}`. */
export interface SharedFilter {
  group: string;
  filter: string;
}

/**
 * Splits a shared subscription `$share/{group}/{filter}` (MQTT 5 section 4.8.2). Undefined when
 * `filter` is not one; `{ error }` when it is one but malformed.
 */
export function parseShared(filter: string): SharedFilter | { error: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  const group = filter.slice(SHARE_PREFIX.length, slash === -1 ? undefined : slash);
  // [MQTT-4.8.2-1]
  if (group.length === 0) return { error: 'shared subscription needs a non-empty share name' };
  // [MQTT-4.8.2-2]; '/' cannot be in `group` as it was cut at the first one.
  if (group.includes('+') || group.includes('#')) {
    return { error: "share name must not contain '/', '+' or '#'" };
  }
  if (slash === -1) return { error: "share name must be followed by '/' and a topic filter" };
  const inner = filter.slice(slash + 1);
  if (inner.length === 0) return { error: "share name must be followed by '/' and a topic filter" };
  // The whole string goes on the wire, so its byte limit and encoding rules apply to the group too.
  const error = topicFilterError(inner) ?? stringError(filter, 'topic filter');
  return error === undefined ? { group, filter: inner } : { error };
}

function isEscaped(c: number): boolean {
  return c === PERCENT || c === DOT || c === STAR;
}

function escapeChar(c: number): string {
  return c === PERCENT ? '%25' : c === DOT ? '%2E' : '%2A';
}

/**
 * Builds a key from `s`: `/` becomes `.`, `%` `.` `*` are escaped and, with `wildcards`, a
 * whole-level `+` becomes `*`. Copies unchanged runs with one slice each.
 */
function toKey(s: string, wildcards: boolean): string {
  let out = '';
  let run = 0; // start of the run not yet copied to `out`
  let levelStart = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i === s.length ? SLASH : s.charCodeAt(i);
    if (c === SLASH) {
      if (wildcards && i === levelStart + 1 && s.charCodeAt(levelStart) === PLUS) {
        // A whole-level '+' is AMQP's '*'; '#' is the same in both and falls through unchanged.
        out += `${s.slice(run, levelStart)}*`;
        run = i;
      }
      if (i < s.length) {
        out += `${s.slice(run, i)}.`;
        run = i + 1;
      }
      levelStart = i + 1;
    } else if (isEscaped(c)) {
      out += s.slice(run, i) + escapeChar(c);
      run = i + 1;
    }
  }
  return out + s.slice(run);
}

/** The routing key an MQTT PUBLISH to `topic` is routed with. Inverse: `routingKeyToTopic`. */
export function topicToRoutingKey(topic: string): string {
  return toKey(topic, false);
}

/**
 * The binding key for an MQTT topic filter: levels escaped as in `topicToRoutingKey`, whole-level
 * `+` as `*`, whole-level `#` as `#`. Validate the filter first: a misplaced `#` is passed through.
 */
export function filterToBindingKey(filter: string): string {
  return toKey(filter, true);
}

function hexEquals(s: string, i: number, hi: number, lo: number): boolean {
  // `| 0x20` folds 'A'-'F' to lower case; digits are unaffected.
  return s.charCodeAt(i) === hi && (s.charCodeAt(i + 1) | 0x20) === lo;
}

/** The byte a `%XX` at `i` stands for, when it is one of our three escapes. */
function unescapeAt(s: string, i: number): string | undefined {
  if (hexEquals(s, i + 1, 0x32, 0x35)) return '%'; // %25
  if (hexEquals(s, i + 1, 0x32, 0x65)) return '.'; // %2E
  if (hexEquals(s, i + 1, 0x32, 0x61)) return '*'; // %2A
  return undefined;
}

/**
 * The MQTT topic for an AMQP routing key: `.` becomes `/`, `%25`, `%2E`, `%2A` are decoded and
 * everything else is kept, so keys from AMQP publishers that never escaped anything still map.
 * Such keys may contain `/`, `+`, `#` or be empty; the result is then not a valid topic name.
 */
export function routingKeyToTopic(rk: string): string {
  let out = '';
  let run = 0;
  for (let i = 0; i < rk.length; i++) {
    const c = rk.charCodeAt(i);
    if (c === DOT) {
      out += `${rk.slice(run, i)}/`;
      run = i + 1;
    } else if (c === PERCENT) {
      const decoded = unescapeAt(rk, i);
      if (decoded === undefined) continue;
      out += rk.slice(run, i) + decoded;
      i += 2;
      run = i + 1;
    }
  }
  return out + rk.slice(run);
}

function isWildcard(c: number): boolean {
  return c === PLUS || c === HASH;
}

/**
 * Whether MQTT topic filter `filter` matches topic name `topic`: `+` is one level, `#` zero or more
 * trailing levels ("a/#" matches "a"). Walks both strings by index without allocating, as it runs
 * per delivered message. Assumes valid inputs; on invalid ones it answers without throwing.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  if (fl === 0 || tl === 0) return false;
  // [MQTT-4.7.2-1]: `$SYS/...` and the like are only reached by filters that name them.
  if (topic.charCodeAt(0) === DOLLAR && isWildcard(filter.charCodeAt(0))) return false;
  let fi = 0;
  let ti = 0;
  for (;;) {
    // Here fi and ti are each at the start of a level.
    const c = fi < fl ? filter.charCodeAt(fi) : -1;
    if (c === HASH && fi + 1 === fl) return true;
    if (c === PLUS && (fi + 1 === fl || filter.charCodeAt(fi + 1) === SLASH)) {
      fi++;
      while (ti < tl && topic.charCodeAt(ti) !== SLASH) ti++;
    } else {
      while (fi < fl && ti < tl) {
        const a = filter.charCodeAt(fi);
        if (a === SLASH || a !== topic.charCodeAt(ti)) break;
        fi++;
        ti++;
      }
      const filterLevelEnds = fi === fl || filter.charCodeAt(fi) === SLASH;
      const topicLevelEnds = ti === tl || topic.charCodeAt(ti) === SLASH;
      if (!filterLevelEnds || !topicLevelEnds) return false;
    }
    if (fi === fl) return ti === tl;
    // The filter goes on after the topic ended: only a final "/#" (zero levels) still matches.
    if (ti === tl) return fi + 2 === fl && filter.charCodeAt(fi + 1) === HASH;
    fi++;
    ti++;
  }
}
