/**
 * Core ⇄ wire mapping for AMQP 0-9-1: the broker's errors as close methods, and the message's
 * properties and routing key as content headers and delivery fields carry them.
 */
import { AMQP_LIMITS, carriable, cutToBytes, fits, fitsBytes, type Message } from '../core/index.js';
import { isSwitchyardError, SwitchyardError } from '../errors/index.js';
import { AMQP_PROPERTIES_CODEC, BasicFlag, encodeProperties } from './codec/index.js';

// Module constants (not BasicFlag.X lookups) on the per-publish path.
const FLAG_CONTENT_TYPE = BasicFlag.CONTENT_TYPE;
const FLAG_CONTENT_ENCODING = BasicFlag.CONTENT_ENCODING;
const FLAG_HEADERS = BasicFlag.HEADERS;
const FLAG_DELIVERY_MODE = BasicFlag.DELIVERY_MODE;

export interface CloseReason {
  readonly replyCode: number;
  readonly replyText: string;
  /** Close the whole connection (hard error) rather than one channel. */
  readonly hard: boolean;
}

/** Turns anything thrown while handling a method into the close to send. Bugs become 541 hard errors. */
export function toCloseReason(e: unknown): CloseReason {
  if (isSwitchyardError(e))
    return { replyCode: e.spec.amqp, replyText: truncate(e.amqpText), hard: e.spec.amqpHard };
  const msg = e instanceof Error ? e.message : String(e);
  return toCloseReason(new SwitchyardError('INTERNAL_ERROR', msg));
}

/** A reply-text is a short string: at most 255 bytes on the wire. */
function truncate(s: string): string {
  if (Buffer.byteLength(s) <= 255) return s;
  let out = s.slice(0, 255);
  while (Buffer.byteLength(out) > 255) out = out.slice(0, -1);
  return out;
}

/**
 * The delivery-mode property read straight from the encoded properties (0 when absent), so a
 * publish need not decode them to know whether it is persistent; undefined if they are malformed
 * (the full decoder then reports it). Layout: AMQP 0-9-1 section 4.2.6.1, class basic.
 */
export function peekDeliveryMode(props: Buffer): number | undefined {
  if (props.length < 2) return undefined;
  const flags = props.readUInt16BE(0);
  if ((flags & FLAG_DELIVERY_MODE) === 0) return 0;
  let pos = 2;
  if ((flags & FLAG_CONTENT_TYPE) !== 0) pos += 1 + (props[pos] ?? 0);
  if ((flags & FLAG_CONTENT_ENCODING) !== 0) pos += 1 + (props[pos] ?? 0);
  if ((flags & FLAG_HEADERS) !== 0) {
    if (pos + 4 > props.length) return undefined;
    pos += 4 + props.readUInt32BE(pos);
  }
  return props[pos];
}

/**
 * The content-header property bytes for msg: as they arrived over AMQP, else encoded, with what
 * the 0-9-1 wire cannot carry as is moved or left out as the core's carry policy says
 * (src/core/carry.ts).
 */
export function propsBytes(msg: Message): Buffer {
  const cached = msg.encodedProperties(AMQP_PROPERTIES_CODEC.format);
  if (cached !== undefined) return cached;
  const key = msg.routingKey;
  const p = msg.properties;
  if (!fitsBytes(key, AMQP_LIMITS.stringBytes)) return encodeProperties(carriable(p, AMQP_LIMITS, key));
  return encodeProperties(fits(p, AMQP_LIMITS) ? p : carriable(p, AMQP_LIMITS));
}

/**
 * The routing key as basic.deliver, get-ok and return carry it: at most 255 bytes (the core holds
 * new keys to that; a message stored before it did may have a longer one, whole in x-routing-key).
 */
export function routingKeyOf(msg: Message): string {
  return cutToBytes(msg.routingKey, AMQP_LIMITS.stringBytes);
}
