/**
 * What an AMQP 0-9-1 consumer is sent for a message another protocol published with fields the
 * 0-9-1 wire cannot carry (MQTT 5 allows 64 KiB topics, Correlation Data, Content Types and User
 * Property names; AMQP short strings stop at 255 bytes). Nothing is silently cut where it can be
 * kept: as RabbitMQ does with `x-correlation-id`, a property too long for its short string moves
 * to the header `x-<amqp-name>`, and a routing key too long goes whole into `x-routing-key` while
 * basic.deliver carries its first 255 bytes. Header names over 255 bytes cannot be written in any
 * field table and are dropped; so are octets and timestamps out of range (no front end makes
 * those; the guard keeps one bad message from breaking a channel).
 */
import type { HeaderTable, Properties } from '../../core/index.js';
import { setOwn } from '../../util/own-property.js';

const SHORT_STRING_BYTES = 255;

const SHORT_STRINGS: readonly (readonly [keyof Properties, string])[] = [
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

/** Whether s fits an AMQP short string (cheap for the common short ASCII case). */
export function fitsShortString(s: string): boolean {
  return s.length * 3 <= SHORT_STRING_BYTES || Buffer.byteLength(s) <= SHORT_STRING_BYTES;
}

/** s cut to at most 255 bytes of UTF-8, on a character boundary. */
export function cutToShortString(s: string): string {
  if (fitsShortString(s)) return s;
  let out = Buffer.from(s).subarray(0, SHORT_STRING_BYTES).toString();
  // A cut multi-byte character decodes as U+FFFD (3 bytes); drop characters until it fits.
  while (Buffer.byteLength(out) > SHORT_STRING_BYTES || out.endsWith('\uFFFD')) out = out.slice(0, -1);
  return out;
}

/** p made writable as described above; `fullRoutingKey` is set when basic.deliver cuts the key. */
export function carriableProperties(p: Properties, fullRoutingKey?: string): Properties {
  const out: Properties = { ...p };
  let headers: HeaderTable | undefined;
  if (p.headers !== undefined) {
    headers = {};
    for (const k in p.headers) if (fitsShortString(k)) setOwn(headers, k, p.headers[k]!);
  }
  for (const [field, amqpName] of SHORT_STRINGS) {
    const v = p[field];
    if (typeof v === 'string' && !fitsShortString(v)) {
      delete out[field];
      (headers ??= {})[`x-${amqpName}`] = v;
    }
  }
  if (fullRoutingKey !== undefined) (headers ??= {})['x-routing-key'] = fullRoutingKey;
  for (const field of ['deliveryMode', 'priority'] as const) {
    const v = out[field];
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 255)) delete out[field];
  }
  if (out.timestamp !== undefined && (!Number.isSafeInteger(out.timestamp) || out.timestamp < 0))
    delete out.timestamp;
  if (headers !== undefined) out.headers = headers;
  return out;
}
