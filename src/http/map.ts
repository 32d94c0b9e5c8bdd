/**
 * HTTP ↔ message container (docs/protocol-mapping.md): request headers and query to properties
 * for a raw-body publish, the JSON envelope for a structured publish, and a delivery in the
 * shared JSON form for GET and SSE.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import {
  checkProperties as checkModel,
  decodeBody,
  type HeaderTable,
  type Message,
  messageToJson,
  type Properties,
  propertiesFromJson,
  traceHeaderText,
} from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { setOwn } from '../util/own-property.js';
import { parseJsonObject } from './codec/body.js';

/** The Content-Type that makes a publish body the JSON envelope rather than the message bytes. */
export const ENVELOPE_TYPE = 'application/vnd.switchyard.message+json';

/** What a publish request carries besides the exchange. */
export interface PublishRequest {
  readonly routingKey: string;
  readonly body: Buffer;
  readonly properties: Properties;
  readonly mandatory: boolean;
}

/** Header prefix of user headers: `x-header-region: eu` → headers.region = 'eu'. */
const USER_HEADER = 'x-header-';

/** Whether the request's body is the JSON envelope (the media type, whatever its parameters). */
export function isEnvelope(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === ENVELOPE_TYPE;
}

/**
 * Node hands header values over as latin1; a client that sent UTF-8 (allowed as opaque octets
 * by RFC 9110) gets its text back when the bytes are valid UTF-8.
 */
export function decodeHeaderValue(v: string): string {
  if (/^[\x00-\x7f]*$/.test(v)) return v;
  const bytes = Buffer.from(v, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : v;
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return decodeHeaderValue(Array.isArray(v) ? v.join(', ') : v);
}

const DIGITS = /^\d+$/;

function bad(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}

/** A non-negative integer header or query value, at most `max`. */
function integer(v: string, what: string, max: number): number {
  const n = Number(v);
  if (!DIGITS.test(v) || !Number.isSafeInteger(n) || n > max) {
    throw bad(`${what} must be an integer from 0 to ${max}, not '${clip(v)}'`);
  }
  return n;
}

function flag(v: string | null | undefined, what: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  const t = v.trim().toLowerCase();
  if (t === 'true') return true;
  if (t === 'false') return false;
  throw bad(`${what} must be true or false, not '${clip(v)}'`);
}

/** The routing key: the query's `routingKey`, else the `x-routing-key` header, else ''. */
function routingKeyOf(h: IncomingHttpHeaders, query: URLSearchParams): string {
  return query.get('routingKey') ?? header(h, 'x-routing-key') ?? '';
}

/** Properties of a raw-body publish, from its headers (docs/http.md has the table). */
export function propertiesFromHeaders(h: IncomingHttpHeaders): Properties {
  const p: Properties = {};
  let v: string | undefined;
  if ((v = header(h, 'content-type')) !== undefined) p.contentType = v;
  if ((v = header(h, 'content-encoding')) !== undefined) p.contentEncoding = v;
  if ((v = header(h, 'x-correlation-id')) !== undefined) p.correlationId = v;
  if ((v = header(h, 'x-reply-to')) !== undefined) p.replyTo = v;
  if ((v = header(h, 'x-message-id')) !== undefined) p.messageId = v;
  if ((v = header(h, 'x-type')) !== undefined) p.type = v;
  if ((v = header(h, 'x-app-id')) !== undefined) p.appId = v;
  if ((v = header(h, 'x-expiration')) !== undefined) p.expiration = String(expiration(v, 'x-expiration'));
  if ((v = header(h, 'x-priority')) !== undefined) p.priority = integer(v, 'x-priority', 255);
  if ((v = header(h, 'x-timestamp')) !== undefined)
    p.timestamp = integer(v, 'x-timestamp', Number.MAX_SAFE_INTEGER);
  const persistent = flag(header(h, 'x-persistent'), 'x-persistent');
  if (persistent !== undefined) p.deliveryMode = persistent ? 2 : 1;
  let headers: HeaderTable | undefined;
  for (const name of Object.keys(h)) {
    if (!name.startsWith(USER_HEADER)) continue;
    const key = name.slice(USER_HEADER.length);
    if (key === '') throw bad(`a user header needs a name after '${USER_HEADER}'`);
    setOwn((headers ??= {}), key, header(h, name)!);
  }
  headers = withTraceContext(headers, h);
  if (headers !== undefined) p.headers = headers;
  checkModel(p);
  return p;
}

/** The W3C trace context headers, as message headers (unless the message already has them). */
function withTraceContext(headers: HeaderTable | undefined, h: IncomingHttpHeaders): HeaderTable | undefined {
  for (const name of ['traceparent', 'tracestate']) {
    const v = header(h, name);
    if (v !== undefined && headers?.[name] === undefined) (headers ??= {})[name] = v;
  }
  return headers;
}

function expiration(v: string, what: string): number {
  return integer(v, what, Number.MAX_SAFE_INTEGER);
}

/** A raw-body publish: the body is the message; everything else comes from headers and query. */
export function rawPublish(h: IncomingHttpHeaders, query: URLSearchParams, body: Buffer): PublishRequest {
  return {
    routingKey: routingKeyOf(h, query),
    body,
    properties: propertiesFromHeaders(h),
    mandatory: flag(query.get('mandatory'), 'mandatory') ?? false,
  };
}

const ENVELOPE_FIELDS = new Set([
  'routingKey',
  'body',
  'bodyEncoding',
  'properties',
  'mandatory',
  'traceparent',
  'tracestate',
]);

/**
 * A JSON-envelope publish: `{routingKey?, body, bodyEncoding?, properties?, mandatory?,
 * traceparent?, tracestate?}`. Unknown fields are refused, as unknown properties are, so a typo
 * is an error rather than a lost field. The query's routingKey and mandatory, and the request's
 * trace context headers, apply when the envelope does not say.
 */
export function envelopePublish(h: IncomingHttpHeaders, query: URLSearchParams, raw: Buffer): PublishRequest {
  const o = parseJsonObject(raw);
  for (const k of Object.keys(o)) {
    if (!ENVELOPE_FIELDS.has(k)) throw bad(`unknown field '${clip(k)}' in the message envelope`);
  }
  if (o.routingKey !== undefined && typeof o.routingKey !== 'string')
    throw bad('routingKey must be a string');
  if (o.mandatory !== undefined && typeof o.mandatory !== 'boolean') throw bad('mandatory must be a boolean');
  if (o.body === undefined) throw bad('the envelope needs a body (a string)');
  const properties = propertiesFromJson(o.properties);
  checkEnvelopeProperties(properties);
  let headers = properties.headers;
  for (const name of ['traceparent', 'tracestate'] as const) {
    const t = o[name];
    if (t === undefined) continue;
    if (typeof t !== 'string') throw bad(`${name} must be a string`);
    if (headers?.[name] === undefined) (headers ??= {})[name] = t;
  }
  headers = withTraceContext(headers, h);
  if (headers !== undefined) properties.headers = headers;
  return {
    routingKey: (o.routingKey as string | undefined) ?? routingKeyOf(h, query),
    body: decodeBody(o.body, o.bodyEncoding),
    properties,
    mandatory: (o.mandatory as boolean | undefined) ?? flag(query.get('mandatory'), 'mandatory') ?? false,
  };
}

/**
 * Range checks the JSON form's type checks leave out: every protocol must be able to encode what
 * is accepted (an AMQP priority is an octet, a timestamp 64 bits, an expiration a count of ms).
 */
function checkEnvelopeProperties(p: Properties): void {
  if (p.priority !== undefined) integer(String(p.priority), 'properties.priority', 255);
  if (p.deliveryMode !== undefined && p.deliveryMode !== 1 && p.deliveryMode !== 2) {
    throw bad(`properties.deliveryMode must be 1 (transient) or 2 (persistent), not ${p.deliveryMode}`);
  }
  if (p.timestamp !== undefined)
    integer(String(p.timestamp), 'properties.timestamp', Number.MAX_SAFE_INTEGER);
  if (p.expiration !== undefined) expiration(p.expiration, 'properties.expiration');
}

/** The JSON form of a delivery, with its trace context also at the top level (docs/http.md). */
export function deliveryJson(
  msg: Message,
  id: string | undefined,
  redelivered: boolean,
  queue: string,
): Record<string, unknown> {
  return { ...(id === undefined ? {} : { id }), redelivered, queue, ...messageJson(msg) };
}

/** The message's part of the JSON form: routing, body, properties, trace context. */
function messageJson(msg: Message): Record<string, unknown> {
  const j = messageToJson(msg);
  const h = msg.properties.headers;
  if (h !== undefined) {
    const tp = traceHeaderText(h.traceparent);
    if (tp !== undefined) j.traceparent = tp;
    const ts = traceHeaderText(h.tracestate);
    if (ts !== undefined) j.tracestate = ts;
  }
  return j;
}

/** The last message encoded by deliveryJsonText, and its encoding without the leading '{'. */
let lastMessage: Message | undefined;
let lastText = '';

/**
 * deliveryJson as JSON text. A fan-out hands the same message to every subscriber one after the
 * other, so the message part is encoded once for all of them, not once per stream.
 */
export function deliveryJsonText(msg: Message, id: string, redelivered: boolean, queue: string): string {
  if (msg !== lastMessage) {
    lastText = JSON.stringify(messageJson(msg)).slice(1);
    lastMessage = msg;
  }
  return `{"id":${JSON.stringify(id)},"redelivered":${redelivered},"queue":${JSON.stringify(queue)},${lastText}`;
}

function clip(s: string): string {
  return s.length <= 100 ? s : `${s.slice(0, 100)}…`;
}
