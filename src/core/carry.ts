/**
 * What a message may hold, and what each consumer's protocol is sent when it cannot carry the
 * message as it is: one policy for every publisher protocol, applied at delivery.
 *
 * - At publish (checkProperties): only what makes no sense in the message model is refused: an
 *   octet (delivery mode, priority) outside 0-255, a timestamp before 1970, a 64-bit integer out
 *   of range, a decimal AMQP cannot express, nesting deeper than 64. Long strings and long header
 *   names are accepted, whatever the publisher's protocol.
 * - At delivery (carriable): a consumer whose wire limits strings (AMQP 0-9-1: short strings of at
 *   most 255 bytes; MQTT 5: 65,535) gets each too-long property moved into the header
 *   `x-<amqp-name>` (`x-correlation-id`, `x-content-type`, ..., as RabbitMQ does with
 *   x-correlation-id), and header names too long for it left out (no table can name them);
 *   header values too long for it are left out too. Nothing that fits is touched.
 * docs/protocol-mapping.md has the table.
 */
import { SwitchyardError } from '../errors/index.js';
import { Decimal, type HeaderTable, type HeaderValue, type Properties } from '../model/index.js';
import { setOwn } from '../util/own-property.js';

/** What one consumer protocol's wire can carry (UTF-8 bytes). */
export interface CarryLimits {
  /** Longest string property (content type, correlation id, reply-to, ...). */
  readonly stringBytes: number;
  /** Longest header name. */
  readonly headerNameBytes: number;
  /** Longest header value, as the consumer's form of it (text for MQTT user properties). */
  readonly headerValueBytes: number;
}

/** AMQP 0-9-1: properties and header names are short strings; header values are long strings. */
export const AMQP_LIMITS: CarryLimits = {
  stringBytes: 255,
  headerNameBytes: 255,
  headerValueBytes: Infinity,
};

/** MQTT 5: every string and user property is at most 65,535 bytes. */
export const MQTT_LIMITS: CarryLimits = {
  stringBytes: 65_535,
  headerNameBytes: 65_535,
  headerValueBytes: 65_535,
};

/** The size of a header value as a consumer's protocol writes it. */
export type HeaderSize = (v: HeaderValue) => number;
const zero: HeaderSize = () => 0;

/** String properties, with their AMQP names (the `x-<name>` header a too-long one moves to). */
const STRING_PROPERTIES: readonly (readonly [keyof Properties, string])[] = [
  ['contentType', 'content-type'],
  ['contentEncoding', 'content-encoding'],
  ['correlationId', 'correlation-id'],
  ['replyTo', 'reply-to'],
  ['expiration', 'expiration'],
  ['messageId', 'message-id'],
  ['type', 'type'],
  ['userId', 'user-id'],
  ['appId', 'app-id'],
  ['clusterId', 'cluster-id'],
];

/** Whether `s` is at most `max` bytes of UTF-8 (cheap for short strings: 3 bytes a unit at most). */
export function fitsBytes(s: string, max: number): boolean {
  return s.length * 3 <= max || (s.length <= max && Buffer.byteLength(s) <= max);
}

/** `s` cut to at most `max` bytes of UTF-8, on a character boundary. */
export function cutToBytes(s: string, max: number): string {
  if (fitsBytes(s, max)) return s;
  let out = Buffer.from(s).subarray(0, max).toString();
  // A cut multi-byte character decodes as U+FFFD (3 bytes); drop characters until it fits.
  while (Buffer.byteLength(out) > max || out.endsWith('\uFFFD')) out = out.slice(0, -1);
  return out;
}

/**
 * Whether a consumer with these limits can be sent `p` as it is (no copy needed). `headerBytes`
 * measures a header value in the consumer's form of it (needed when headerValueBytes is finite).
 */
export function fits(p: Properties, limits: CarryLimits, headerBytes: HeaderSize = zero): boolean {
  for (const [field] of STRING_PROPERTIES) {
    const v = p[field];
    if (typeof v === 'string' && !fitsBytes(v, limits.stringBytes)) return false;
  }
  const h = p.headers;
  if (h !== undefined) {
    for (const k in h) {
      if (!fitsBytes(k, limits.headerNameBytes)) return false;
      if (limits.headerValueBytes !== Infinity && headerBytes(h[k]!) > limits.headerValueBytes) return false;
    }
  }
  return true;
}

/**
 * `p` as a consumer with these limits can be sent it (see the module comment). `fullRoutingKey`,
 * when given, goes whole into the header `x-routing-key` (a key its wire had to cut).
 * `headerBytes` measures a header value in the consumer's form of it (see fits()).
 */
export function carriable(
  p: Properties,
  limits: CarryLimits,
  fullRoutingKey?: string,
  headerBytes: HeaderSize = zero,
): Properties {
  const out: Properties = { ...p };
  let headers: HeaderTable | undefined;
  if (p.headers !== undefined) {
    headers = {};
    for (const k in p.headers) {
      const v = p.headers[k]!;
      if (!fitsBytes(k, limits.headerNameBytes)) continue;
      if (limits.headerValueBytes !== Infinity && headerBytes(v) > limits.headerValueBytes) continue;
      setOwn(headers, k, v);
    }
  }
  for (const [field, amqpName] of STRING_PROPERTIES) {
    const v = p[field];
    if (typeof v !== 'string' || fitsBytes(v, limits.stringBytes)) continue;
    delete out[field];
    if (fitsBytes(v, limits.headerValueBytes)) (headers ??= {})[`x-${amqpName}`] = v;
  }
  if (fullRoutingKey !== undefined) (headers ??= {})['x-routing-key'] = fullRoutingKey;
  if (headers !== undefined) out.headers = headers;
  return out;
}

// ---- publish-time checks ---------------------------------------------------------------------

/** Field tables nest at most this deep (the AMQP codec's limit, against stack exhaustion). */
const MAX_DEPTH = 64;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Refuses (SYNTAX_ERROR, naming it) a property value that makes no sense in the message model,
 * whatever protocol published it. Lengths are not checked here: see carriable().
 */
export function checkProperties(p: Properties): void {
  octet(p.deliveryMode, 'deliveryMode');
  octet(p.priority, 'priority');
  const ts = p.timestamp;
  if (ts !== undefined && (!Number.isSafeInteger(ts) || ts < 0)) {
    throw invalid("property 'timestamp' must be a whole number of seconds since 1970");
  }
  if (p.headers !== undefined) {
    if (typeof p.headers !== 'object' || p.headers === null || Array.isArray(p.headers)) {
      throw invalid("property 'headers' must be an object");
    }
    table(p.headers, 'headers', 1);
  }
}

function table(t: HeaderTable, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw invalid(`${path} nests deeper than ${MAX_DEPTH}`);
  for (const k in t) value(t[k]!, `${path}.${k}`, depth);
}

function value(v: HeaderValue, path: string, depth: number): void {
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) throw invalid(`${path}: ${v} does not fit a signed 64-bit integer`);
  } else if (v instanceof Date) {
    if (!(v.getTime() >= 0)) throw invalid(`${path}: a $date must be milliseconds since 1970`);
  } else if (v instanceof Decimal) {
    const ok =
      Number.isInteger(v.scale) &&
      v.scale >= 0 &&
      v.scale <= 255 &&
      Number.isInteger(v.value) &&
      v.value >= 0 &&
      v.value <= 0xffff_ffff;
    if (!ok) throw invalid(`${path}: a $decimal is [scale 0-255, value 0-4294967295]`);
  } else if (Array.isArray(v)) {
    if (depth + 1 > MAX_DEPTH) throw invalid(`${path} nests deeper than ${MAX_DEPTH}`);
    for (let i = 0; i < v.length; i++) value(v[i]!, `${path}[${i}]`, depth + 1);
  } else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    table(v, path, depth + 1);
  }
}

function octet(v: number | undefined, name: string): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 255)) {
    throw invalid(`property '${name}' must be an integer from 0 to 255`);
  }
}

function invalid(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}
