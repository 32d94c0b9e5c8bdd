/**
 * Header values as text, for the places that carry only strings: gRPC's `headers` map, MQTT 5
 * user properties, HTTP headers. One rule for every protocol (docs/grpc.md, "Headers"): strings
 * as they are, numbers and 64-bit integers in decimal, booleans as true/false, bytes in base64
 * (lossless, and always valid UTF-8), timestamps in ISO 8601 (UTC), AMQP decimals in decimal
 * notation, null as "", arrays and tables as JSON with the same rule inside.
 */
import { setOwn } from '../util/own-property.js';
import { Decimal, type HeaderValue } from './values.js';

/** A value in JSON's types. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A header value as text (see the module comment for the rule). */
export function headerText(v: HeaderValue): string {
  if (typeof v === 'string') return v;
  if (
    typeof v === 'object' &&
    v !== null &&
    !Buffer.isBuffer(v) &&
    !(v instanceof Date) &&
    !(v instanceof Decimal)
  ) {
    return JSON.stringify(headerJson(v));
  }
  const j = headerJson(v);
  return j === null ? '' : String(j);
}

/**
 * A header or argument value in JSON's types (what google.protobuf.Struct and JSON can carry):
 * 64-bit integers beyond 2^53 and non-finite numbers become strings, bytes base64, timestamps
 * ISO 8601 ("" when invalid), decimals their decimal notation.
 */
export function headerJson(v: HeaderValue): JsonValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : String(v);
  }
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? '' : v.toISOString();
  if (v instanceof Decimal) return decimalText(v);
  if (Array.isArray(v)) return v.map(headerJson);
  const o: { [key: string]: JsonValue } = {};
  for (const k of Object.keys(v)) setOwn(o, k, headerJson(v[k]!));
  return o;
}

function decimalText(d: Decimal): string {
  const neg = d.value < 0;
  const digits = Math.abs(d.value)
    .toString()
    .padStart(d.scale + 1, '0');
  const text = d.scale === 0 ? digits : `${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`;
  return neg ? `-${text}` : text;
}
