/**
 * Properties published in the JSON form (WebSocket, HTTP) or over gRPC are held to the limits of
 * AMQP 0-9-1, the narrowest wire for them: a message another protocol's consumer cannot be sent would otherwise fail inside
 * that consumer's delivery, far from the client that caused it. Short strings are at most 255
 * bytes, octets 0-255, timestamps unsigned, and tagged header values must fit their AMQP types.
 */
import { Decimal, type HeaderTable, type HeaderValue, type Properties } from '../model/index.js';
import { SwitchyardError } from '../errors/index.js';

const SHORT_STRING_BYTES = 255;
/** AMQP field tables nest at most this deep in our codec. */
const MAX_DEPTH = 64;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const SHORT_STRINGS = [
  'contentType',
  'contentEncoding',
  'correlationId',
  'replyTo',
  'expiration',
  'messageId',
  'type',
  'userId',
  'appId',
  'clusterId',
] as const;

/** Throws SYNTAX_ERROR naming the first property no consumer protocol could be sent. */
export function checkCarriable(p: Properties): void {
  for (const k of SHORT_STRINGS) {
    const v = p[k];
    if (v !== undefined && tooLong(v)) throw invalid(`property '${k}' is longer than 255 bytes`);
  }
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
  for (const k in t) {
    if (tooLong(k)) throw invalid(`header name '${k.slice(0, 32)}…' in ${path} is longer than 255 bytes`);
    value(t[k]!, `${path}.${k}`, depth);
  }
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

function tooLong(s: string): boolean {
  return s.length > SHORT_STRING_BYTES || (s.length * 3 > SHORT_STRING_BYTES && Buffer.byteLength(s) > 255);
}

function invalid(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}
