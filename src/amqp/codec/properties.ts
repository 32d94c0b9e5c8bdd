/**
 * Content properties of class basic (spec 4.2.6.1 and the basic class `<field>` list): a 16-bit
 * flags word, bit 15 first, then the present properties in flag order. The bytes handled here are
 * the header frame payload after class-id (2), weight (2) and body-size (8).
 *
 * A message keeps these bytes as they arrived (AMQP_PROPERTIES_CODEC) and decodes them only when a
 * route or a conversion needs a field (DESIGN.md section 5a); an AMQP consumer gets the same bytes.
 */

import type { Properties } from '../../core/index.js';
import { BasicFlag } from './constants.js';
import { OutBuffer } from './out-buffer.js';
import { unencodable } from './reader.js';

export { AMQP_PROPERTIES_CODEC, AMQP_PROPERTIES_FORMAT, decodeProperties } from '../../model/amqp091.js';

function octet(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw unencodable(`${name} ${v} is not an octet`);
  return v;
}

/**
 * Writes the flags word and property list into `out` (inside an open header frame, or alone).
 * Properties that are undefined are absent. Throws INTERNAL_ERROR for values the wire cannot
 * carry: a short string over 255 bytes, an octet out of range, a negative or fractional timestamp.
 */
export function writeProperties(out: OutBuffer, p: Properties): void {
  let flags = 0;
  if (p.contentType !== undefined) flags |= BasicFlag.CONTENT_TYPE;
  if (p.contentEncoding !== undefined) flags |= BasicFlag.CONTENT_ENCODING;
  if (p.headers !== undefined) flags |= BasicFlag.HEADERS;
  if (p.deliveryMode !== undefined) flags |= BasicFlag.DELIVERY_MODE;
  if (p.priority !== undefined) flags |= BasicFlag.PRIORITY;
  if (p.correlationId !== undefined) flags |= BasicFlag.CORRELATION_ID;
  if (p.replyTo !== undefined) flags |= BasicFlag.REPLY_TO;
  if (p.expiration !== undefined) flags |= BasicFlag.EXPIRATION;
  if (p.messageId !== undefined) flags |= BasicFlag.MESSAGE_ID;
  if (p.timestamp !== undefined) flags |= BasicFlag.TIMESTAMP;
  if (p.type !== undefined) flags |= BasicFlag.TYPE;
  if (p.userId !== undefined) flags |= BasicFlag.USER_ID;
  if (p.appId !== undefined) flags |= BasicFlag.APP_ID;
  if (p.clusterId !== undefined) flags |= BasicFlag.CLUSTER_ID;
  out.u16(flags);
  if (p.contentType !== undefined) out.shortStr(p.contentType);
  if (p.contentEncoding !== undefined) out.shortStr(p.contentEncoding);
  if (p.headers !== undefined) out.table(p.headers);
  if (p.deliveryMode !== undefined) out.u8(octet(p.deliveryMode, 'delivery-mode'));
  if (p.priority !== undefined) out.u8(octet(p.priority, 'priority'));
  if (p.correlationId !== undefined) out.shortStr(p.correlationId);
  if (p.replyTo !== undefined) out.shortStr(p.replyTo);
  if (p.expiration !== undefined) out.shortStr(p.expiration);
  if (p.messageId !== undefined) out.shortStr(p.messageId);
  if (p.timestamp !== undefined) {
    const ts = p.timestamp;
    if (!Number.isSafeInteger(ts) || ts < 0)
      throw unencodable(`timestamp ${ts} is not a non-negative integer`);
    out.u64(ts);
  }
  if (p.type !== undefined) out.shortStr(p.type);
  if (p.userId !== undefined) out.shortStr(p.userId);
  if (p.appId !== undefined) out.shortStr(p.appId);
  if (p.clusterId !== undefined) out.shortStr(p.clusterId);
}

/** Properties with no flags set: the bytes of an empty property list, shared. */
const NO_PROPERTIES = Buffer.from([0, 0]);

/**
 * Encodes properties in a Buffer of their own (flags word and list), to keep in a Message or to
 * pass to writeContentFrames. The result owns its memory; it does not pin an OutBuffer chunk.
 */
export function encodeProperties(p: Properties): Buffer {
  const out = new OutBuffer(256);
  writeProperties(out, p);
  const chunks = out.take();
  if (chunks.length === 1) {
    const only = chunks[0]!;
    return only.length === 2 && only[0] === 0 && only[1] === 0 ? NO_PROPERTIES : only;
  }
  return Buffer.concat(chunks);
}
