/**
 * The JSON form of a message shared by the JSON front ends (native WebSocket, HTTP REST, SSE):
 * docs/protocol-mapping.md documents it. The body travels as UTF-8 text when it is valid UTF-8
 * and as base64 otherwise (`bodyEncoding` says which), so any bytes survive the trip. Header
 * values JSON has no type for use the tagged forms of the stored JSON properties
 * ({"$bytes": base64}, {"$bigint": "…"}, {"$date": ms}, {"$decimal": [scale, value]}).
 */
import { isUtf8 } from 'node:buffer';
import { SwitchyardError } from '../errors/index.js';
import { decodeJsonProperties, encodeJsonProperties } from './properties-json.js';
import { checkProperties } from './carry.js';
import type { HeaderValue, Properties } from '../model/index.js';
import type { Message } from './message.js';

export type BodyEncoding = 'utf8' | 'base64';

export interface JsonMessage {
  exchange?: string;
  routingKey?: string;
  body: string;
  bodyEncoding?: BodyEncoding;
  properties?: Record<string, unknown>;
}

const PROPERTY_TYPES: Readonly<Record<keyof Properties, 'string' | 'number' | 'object'>> = {
  contentType: 'string',
  contentEncoding: 'string',
  headers: 'object',
  deliveryMode: 'number',
  priority: 'number',
  correlationId: 'string',
  replyTo: 'string',
  expiration: 'string',
  messageId: 'string',
  timestamp: 'number',
  type: 'string',
  userId: 'string',
  appId: 'string',
  clusterId: 'string',
};

/** The body in its JSON form: text when it is valid UTF-8, else base64. */
export function encodeBody(body: Buffer): { body: string; bodyEncoding: BodyEncoding } {
  if (isUtf8(body)) return { body: body.toString('utf8'), bodyEncoding: 'utf8' };
  return { body: body.toString('base64'), bodyEncoding: 'base64' };
}

export function decodeBody(body: unknown, encoding: unknown): Buffer {
  if (typeof body !== 'string') throw invalid('body must be a string');
  if (encoding === undefined || encoding === 'utf8') return Buffer.from(body, 'utf8');
  if (encoding === 'base64') {
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(body)) throw invalid('body is not valid base64');
    return Buffer.from(body, 'base64');
  }
  throw invalid(`bodyEncoding must be "utf8" or "base64", not ${JSON.stringify(encoding)}`);
}

/** Properties in their JSON form (tagged header values). */
export function propertiesToJson(p: Properties): Record<string, unknown> {
  return JSON.parse(encodeJsonProperties(p).toString('utf8')) as Record<string, unknown>;
}

/**
 * Validates and converts JSON properties. Unknown names and wrong types are refused with the
 * field named, so a client learns of its typo instead of losing a property.
 */
export function propertiesFromJson(v: unknown): Properties {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('properties must be an object');
  for (const [k, val] of Object.entries(v)) {
    const want = PROPERTY_TYPES[k as keyof Properties];
    if (want === undefined) throw invalid(`unknown property '${k}'`);
    if (val === null || val === undefined) continue;
    const got = Array.isArray(val) ? 'array' : typeof val;
    if (got !== want) throw invalid(`property '${k}' must be a ${want}, not ${got}`);
  }
  const p = decodeJsonProperties(Buffer.from(JSON.stringify(v)));
  for (const k of Object.keys(p) as (keyof Properties)[]) if (p[k] === null) delete p[k];
  checkProperties(p);
  return p;
}

/** A message (or delivery) in the JSON form; `extra` fields (id, redelivered, queue) go first. */
export function messageToJson(msg: Message, extra?: Record<string, unknown>): Record<string, unknown> {
  const { body, bodyEncoding } = encodeBody(msg.body);
  return {
    ...extra,
    exchange: msg.exchange,
    routingKey: msg.routingKey,
    body,
    bodyEncoding,
    properties: propertiesToJson(msg.properties),
  };
}

/**
 * A trace-context header (traceparent, tracestate) as the JSON forms also give it at their top
 * level: text, or bytes read as UTF-8 (a client may send the header as an AMQP byte array);
 * undefined for any other type, which is no trace context.
 */
export function traceHeaderText(v: HeaderValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}

function invalid(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}
