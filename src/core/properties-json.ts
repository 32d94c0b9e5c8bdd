/**
 * A protocol-neutral stored form of message properties, for messages whose properties did not
 * arrive in a wire form the store can keep as is. JSON, with the header values JSON has no type
 * for (bytes, 64-bit integers, timestamps, decimals) tagged, so decoding gives the same values.
 */
import { Decimal, type HeaderValue, type Properties, type PropertiesCodec } from '../model/index.js';

export const JSON_PROPERTIES_FORMAT = 'switchyard-json';

export function encodeJsonProperties(p: Properties): Buffer {
  return Buffer.from(JSON.stringify(p, tag));
}

export function decodeJsonProperties(bytes: Buffer): Properties {
  return JSON.parse(bytes.toString('utf8'), untag) as Properties;
}

export const JSON_PROPERTIES_CODEC: PropertiesCodec = {
  format: JSON_PROPERTIES_FORMAT,
  decode: decodeJsonProperties,
};

// `this[key]` is the value before toJSON ran (Buffer and Date have toJSON methods).
function tag(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const orig = this[key];
  if (typeof orig === 'bigint') return { $bigint: orig.toString() };
  if (Buffer.isBuffer(orig)) return { $bytes: orig.toString('base64') };
  if (orig instanceof Date) return { $date: orig.getTime() };
  if (orig instanceof Decimal) return { $decimal: [orig.scale, orig.value] };
  return value;
}

function untag(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1) return value;
  const v = o[keys[0]!];
  switch (keys[0]) {
    case '$bigint':
      return BigInt(v as string);
    case '$bytes':
      return Buffer.from(v as string, 'base64');
    case '$date':
      return new Date(v as number);
    case '$decimal': {
      const [scale, n] = v as [number, number];
      return new Decimal(scale, n) as HeaderValue;
    }
    default:
      return value;
  }
}
