/**
 * MQTT ⇄ core: a PUBLISH ↔ the core's message container (DESIGN.md section 3, docs/mqtt.md has
 * the table), and errors ↔ MQTT reason codes.
 *
 * Messages: QoS 0 is transient and QoS 1/2 persistent; QoS 2 and the retain flag ride in
 * headers the MQTT side reads back. v5 properties map onto the AMQP-named fields where one
 * exists; what has no field travels in headers, so nothing is dropped.
 */
import { isUtf8 } from 'node:buffer';
import { type HeaderTable, headerText, Message, type Properties } from '../core/index.js';
import { type ErrorCode, isSwitchyardError } from '../errors/index.js';
import { setOwn } from '../util/own-property.js';
import {
  ConnackV3,
  type PublishPacket,
  type PublishProperties,
  Reason,
  type UserProperties,
} from './codec/index.js';
import { routingKeyToTopic, topicToRoutingKey } from './topic.js';

/** Header with the QoS a message was published with, when the delivery mode cannot tell (QoS 2). */
export const H_QOS = 'x-mqtt-publish-qos';
/** Header set on a message published with the retain flag (for Retain As Published). */
export const H_RETAIN = 'x-mqtt-retain';
/** Header on the copy of a retained message sent because of a new subscription. */
export const H_RETAINED_COPY = 'x-mqtt-retained-copy';
/** Correlation Data that is not UTF-8 (AMQP's correlation-id is a string). */
export const H_CORRELATION_BYTES = 'x-correlation-data';

const INTERNAL_HEADERS = new Set([H_QOS, H_RETAIN, H_RETAINED_COPY, H_CORRELATION_BYTES]);

/** AMQP properties with no MQTT counterpart, carried to MQTT 5 as user properties. */
const EXTRA_PROPERTIES = [
  ['messageId', 'x-message-id'],
  ['timestamp', 'x-timestamp'],
  ['type', 'x-type'],
  ['userId', 'x-user-id'],
  ['appId', 'x-app-id'],
  ['priority', 'x-priority'],
] as const;

// Shared, never mutated: the properties of the common publishes cost no allocation.
const TRANSIENT: Properties = Object.freeze({ deliveryMode: 1 });
const PERSISTENT: Properties = Object.freeze({ deliveryMode: 2 });
const EXACTLY_ONCE: Properties = Object.freeze({ deliveryMode: 2, headers: Object.freeze({ [H_QOS]: 2 }) });

/** What a message is made from: a PUBLISH, or a will. */
export type Published = Pick<PublishPacket, 'qos' | 'retain' | 'payload' | 'properties'>;

/**
 * The core message for an inbound PUBLISH (topic already resolved from any alias); `routingKey`
 * is the topic's translation when the caller has it at hand.
 */
export function messageFromPublish(
  exchange: string,
  topic: string,
  p: Published,
  now: number,
  routingKey: string = topicToRoutingKey(topic),
): Message {
  const payload = p.payload;
  const v5 = p.properties;
  let props = p.qos === 0 ? TRANSIENT : p.qos === 1 ? PERSISTENT : EXACTLY_ONCE;
  let expiresAt = 0;
  if (p.retain || (v5 !== undefined && hasMessageProperties(v5))) {
    const headers: HeaderTable = { ...props.headers };
    const out: Properties = { deliveryMode: props.deliveryMode!, headers };
    if (p.retain) headers[H_RETAIN] = true;
    if (v5 !== undefined) {
      if (v5.contentType !== undefined) out.contentType = v5.contentType;
      if (v5.responseTopic !== undefined) out.replyTo = topicToRoutingKey(v5.responseTopic);
      if (v5.correlationData !== undefined) {
        const cd = v5.correlationData;
        if (isUtf8(cd)) out.correlationId = cd.toString('utf8');
        else headers[H_CORRELATION_BYTES] = cd;
      }
      if (v5.payloadFormatIndicator === true) out.contentEncoding = 'utf-8';
      if (v5.messageExpiryInterval !== undefined) {
        out.expiration = String(v5.messageExpiryInterval * 1000);
        expiresAt = now + v5.messageExpiryInterval * 1000;
      }
      if (v5.userProperties !== undefined) {
        for (const [k, v] of Object.entries(v5.userProperties)) setOwn(headers, k, v);
      }
    }
    props = out;
  }
  const m = new Message(exchange, routingKey, payload, props);
  m.persistentHint = p.qos > 0;
  m.expiresAt = expiresAt;
  return m;
}

function hasMessageProperties(v5: PublishProperties): boolean {
  return (
    v5.contentType !== undefined ||
    v5.responseTopic !== undefined ||
    v5.correlationData !== undefined ||
    v5.payloadFormatIndicator === true ||
    v5.messageExpiryInterval !== undefined ||
    (v5.userProperties !== undefined && Object.keys(v5.userProperties).length > 0)
  );
}

/** The QoS a message was published with (AMQP publishes: persistent = 1, transient = 0). */
export function publishedQos(m: Message): number {
  const p = m.properties;
  if (p === TRANSIENT) return 0;
  if (p === PERSISTENT) return 1;
  const q = p.headers?.[H_QOS];
  if (q === 2) return 2;
  return m.persistent ? 1 : 0;
}

export function retainFlag(m: Message): boolean {
  return m.properties.headers?.[H_RETAIN] === true;
}

export function isRetainedCopy(m: Message): boolean {
  return m.properties.headers?.[H_RETAINED_COPY] === true;
}

/**
 * MQTT 5 PUBLISH properties for a delivery (no subscription identifiers, no alias), or
 * undefined when there are none: then the fast encoder can write the packet.
 */
export function publishProperties(m: Message, now: number): PublishProperties | undefined {
  const p = m.properties;
  if (p === TRANSIENT || p === PERSISTENT || p === EXACTLY_ONCE) {
    return m.expiresAt === 0 ? undefined : { messageExpiryInterval: remaining(m.expiresAt, now) };
  }
  const out: PublishProperties = {};
  let any = false;
  if (p.contentType !== undefined) {
    out.contentType = p.contentType;
    any = true;
  }
  if (p.replyTo !== undefined) {
    out.responseTopic = routingKeyToTopic(p.replyTo);
    any = true;
  }
  const cdBytes = p.headers?.[H_CORRELATION_BYTES];
  if (Buffer.isBuffer(cdBytes)) {
    out.correlationData = cdBytes;
    any = true;
  } else if (p.correlationId !== undefined) {
    out.correlationData = Buffer.from(p.correlationId, 'utf8');
    any = true;
  }
  const user: UserProperties = {};
  let anyUser = false;
  if (p.contentEncoding !== undefined) {
    if (/^utf-?8$/i.test(p.contentEncoding)) out.payloadFormatIndicator = true;
    else {
      user['x-content-encoding'] = p.contentEncoding;
      anyUser = true;
    }
    any = true;
  }
  if (m.expiresAt !== 0) {
    out.messageExpiryInterval = remaining(m.expiresAt, now);
    any = true;
  } else if (p.expiration !== undefined && /^\d+$/.test(p.expiration)) {
    out.messageExpiryInterval = Math.ceil(Number(p.expiration) / 1000);
    any = true;
  }
  for (const [field, name] of EXTRA_PROPERTIES) {
    const v = p[field];
    if (v !== undefined) {
      user[name] = String(v);
      anyUser = true;
    }
  }
  if (p.headers !== undefined) {
    for (const [k, v] of Object.entries(p.headers)) {
      if (INTERNAL_HEADERS.has(k)) continue;
      setOwn(user, k, Array.isArray(v) ? v.map(headerText) : headerText(v));
      anyUser = true;
    }
  }
  // Only set when there is one: an empty object would say nothing on the wire.
  if (anyUser) {
    out.userProperties = user;
    any = true;
  }
  return any ? out : undefined;
}

function remaining(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}

/** A copy of a message marked as sent because of a subscription (retained delivery). */
export function retainedCopy(m: Message): Message {
  const p = m.properties;
  const copy = new Message(m.exchange, m.routingKey, m.body, {
    ...p,
    headers: { ...p.headers, [H_RETAINED_COPY]: true },
  });
  copy.persistentHint = m.persistent;
  copy.expiresAt = m.expiresAt;
  return copy;
}

// ---- errors ⇄ reason codes ----------------------------------------------------------------------

const TEXT: Record<number, string> = {
  0: 'success',
  16: 'no matching subscribers',
  17: 'no subscription existed',
  128: 'unspecified error',
  131: 'implementation specific error',
  135: 'not authorized',
  143: 'topic filter invalid',
  144: 'topic name invalid',
  145: 'packet identifier in use',
  146: 'packet identifier not found',
  151: 'quota exceeded',
  153: 'payload format invalid',
};

/** The Reason String sent with a non-success acknowledgement (MQTT 5). */
export function reasonText(code: number): string {
  return TEXT[code] ?? `reason 0x${code.toString(16)}`;
}

/** The 3.1.1 CONNACK return code for a v5 CONNACK reason (3.1.1 has only five). */
export function connackV3(reason: number): number {
  switch (reason) {
    case Reason.SUCCESS:
      return ConnackV3.ACCEPTED;
    case Reason.UNSUPPORTED_PROTOCOL_VERSION:
      return ConnackV3.UNACCEPTABLE_PROTOCOL_VERSION;
    case Reason.CLIENT_IDENTIFIER_NOT_VALID:
      return ConnackV3.IDENTIFIER_REJECTED;
    case Reason.BAD_USER_NAME_OR_PASSWORD:
      return ConnackV3.BAD_USER_NAME_OR_PASSWORD;
    case Reason.NOT_AUTHORIZED:
      return ConnackV3.NOT_AUTHORIZED;
    default:
      return ConnackV3.SERVER_UNAVAILABLE;
  }
}

/** The v5 reason code of an error: its catalogue entry's MQTT code. */
export function reasonOf(e: unknown): number {
  return isSwitchyardError(e) ? e.spec.mqtt : Reason.UNSPECIFIED_ERROR;
}

/**
 * The errors the MQTT front end raises itself. A connection ends with their reason code; any
 * other error (a core refusal of a QoS 0 publish, which has no acknowledgement to carry its
 * code, or a bug) ends it with 0x80, as it always has.
 */
const MQTT_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'MALFORMED_PACKET',
  'PROTOCOL_ERROR',
  'UNSUPPORTED_PROTOCOL_VERSION',
  'CLIENT_ID_INVALID',
  'BAD_AUTHENTICATION_METHOD',
  'KEEP_ALIVE_TIMEOUT',
  'SESSION_TAKEN_OVER',
  'TOPIC_FILTER_INVALID',
  'TOPIC_NAME_INVALID',
  'RECEIVE_MAXIMUM_EXCEEDED',
  'TOPIC_ALIAS_INVALID',
  'PACKET_TOO_LARGE',
  'PAYLOAD_FORMAT_INVALID',
  'CONSUMER_CANCELLED',
  'STORE_FAILED',
  'CONNECTION_FORCED',
]);

/** The reason code a DISCONNECT gives for the error that ends a connection. */
export function disconnectReason(e: unknown): number {
  return isSwitchyardError(e) && MQTT_ERRORS.has(e.code) ? e.spec.mqtt : Reason.UNSPECIFIED_ERROR;
}
