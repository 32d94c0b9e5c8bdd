/**
 * switchyard.v1.Message ↔ the core's message container, google.protobuf.Struct ↔ argument
 * tables, and broker errors → gRPC statuses. docs/grpc.md has the tables. proto3 has no
 * "unset" for scalars, so an empty string or a zero is "not set" both ways.
 */
import { create, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  checkProperties,
  type Delivery,
  type HeaderTable,
  type HeaderValue,
  headerJson,
  headerText,
  type Message,
  type Properties,
  type PublishInput,
  type SubscriptionOptions,
} from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import {
  DeliverySchema,
  MessageSchema,
  type Delivery as WireDelivery,
  type PublishRequest,
  type SubscribeRequest,
  type Message as WireMessage,
} from '../gen/switchyard/v1/broker_pb.js';
import { setOwn } from '../util/own-property.js';

/** The trace context a call's metadata carries (W3C names), for messages without their own. */
export interface TraceMetadata {
  readonly traceparent: string | null;
  readonly tracestate: string | null;
}

export const NO_TRACE: TraceMetadata = { traceparent: null, tracestate: null };

/** Response trailer/metadata key with the broker's stable error code (docs/errors.md). */
export const ERROR_CODE_KEY = 'switchyard-error';

const EMPTY = Buffer.alloc(0);

/** A protobuf bytes field as a Buffer over the same memory (no copy). */
export function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The body of a published message. It arrives as a view into the request's read buffer; a queue
 * may keep it for long, so a body much smaller than that buffer is copied rather than let it
 * hold the whole buffer (a 1 KiB message must not keep a 64 KiB chunk alive).
 */
export function bodyOf(m: WireMessage | undefined): Buffer {
  if (m === undefined || m.body.byteLength === 0) return EMPTY;
  const b = m.body;
  if (b.buffer.byteLength > 2 * b.byteLength + 1024) return Buffer.from(b);
  return asBuffer(b);
}

/**
 * The container properties for a published message (a user_id naming someone else than the
 * caller is refused by the core). The message's own traceparent (field, then header) wins over
 * the call's metadata.
 */
export function propertiesFromGrpc(m: WireMessage | undefined, trace: TraceMetadata): Properties {
  const p: Properties = {};
  let headers: HeaderTable | undefined;
  if (m !== undefined) {
    if (m.contentType !== '') p.contentType = m.contentType;
    if (m.contentEncoding !== '') p.contentEncoding = m.contentEncoding;
    for (const k in m.headers) setOwn((headers ??= {}), k, m.headers[k]!);
    if (m.correlationId !== '') p.correlationId = m.correlationId;
    if (m.replyTo !== '') p.replyTo = m.replyTo;
    if (m.expiration !== '') {
      if (!/^\d{1,15}$/.test(m.expiration)) {
        throw invalid(`invalid expiration '${m.expiration}': a number of milliseconds`);
      }
      p.expiration = m.expiration;
    }
    if (m.priority !== 0) {
      if (m.priority > 255) throw invalid(`invalid priority ${m.priority}: 0 to 255`);
      p.priority = m.priority;
    }
    if (m.messageId !== '') p.messageId = m.messageId;
    if (m.persistent) p.deliveryMode = 2;
    if (m.timestamp !== 0n) p.timestamp = Number(m.timestamp);
    if (m.type !== '') p.type = m.type;
    if (m.appId !== '') p.appId = m.appId;
    if (m.userId !== '') p.userId = m.userId; // the core checks it is the publisher's
    if (m.traceparent !== '') {
      headers ??= {};
      headers.traceparent = m.traceparent;
      if (m.tracestate !== '') headers.tracestate = m.tracestate;
    }
  }
  if (trace.traceparent !== null && headers?.traceparent === undefined) {
    headers ??= {};
    headers.traceparent = trace.traceparent;
    if (trace.tracestate !== null) headers.tracestate = trace.tracestate;
  }
  if (headers !== undefined) p.headers = headers;
  checkProperties(p);
  return p;
}

/**
 * The core's publish input for a publish request (Publish, PublishStream, a Session's publish);
 * throws INVALID_ARGUMENT for a bad field.
 */
export function publishInput(
  r: { exchange: string; routingKey: string; message?: PublishRequest['message']; mandatory: boolean },
  trace: TraceMetadata,
): PublishInput {
  return {
    exchange: r.exchange,
    routingKey: r.routingKey,
    body: bodyOf(r.message),
    properties: propertiesFromGrpc(r.message, trace),
    mandatory: r.mandatory,
  };
}

/** Subscription options for a queue-or-exchange source; INVALID_ARGUMENT when there is none. */
export function sourceOptions(
  source: SubscribeRequest['source'],
  bindingKey: string,
): Pick<SubscriptionOptions, 'queue' | 'exchange' | 'bindingKey'> {
  switch (source.case) {
    case 'queue':
      if (source.value === '') throw invalid('queue must not be empty');
      return { queue: source.value };
    case 'exchange':
      return { exchange: source.value, bindingKey };
    default:
      throw invalid('subscribe to a queue or to an exchange: set one of queue, exchange');
  }
}

/** A delivery id from the wire as the core's tag (ids beyond 2^53 are never ours: unknown). */
export function deliveryTag(id: bigint): number {
  return id > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(id);
}

/** A delivery as switchyard.v1.Delivery (Subscribe and Session each put it in their envelope). */
export function deliveryToGrpc(subscription: string, d: Delivery): WireDelivery {
  const v = create(DeliverySchema);
  v.subscription = subscription;
  v.deliveryId = BigInt(d.id);
  v.redelivered = d.redelivered;
  v.queue = d.queue;
  v.message = messageToGrpc(d.message);
  return v;
}

/** A delivered (or inspected) container message as switchyard.v1.Message. */
export function messageToGrpc(msg: Message): WireMessage {
  const out = create(MessageSchema);
  out.body = msg.body;
  out.exchange = msg.exchange;
  out.routingKey = msg.routingKey;
  const p = msg.properties;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.contentEncoding !== undefined) out.contentEncoding = p.contentEncoding;
  if (p.correlationId !== undefined) out.correlationId = p.correlationId;
  if (p.replyTo !== undefined) out.replyTo = p.replyTo;
  if (p.expiration !== undefined) out.expiration = p.expiration;
  out.priority = priorityOf(p);
  if (p.messageId !== undefined) out.messageId = p.messageId;
  out.persistent = p.deliveryMode === 2;
  out.timestamp = timestampOf(p);
  if (p.type !== undefined) out.type = p.type;
  if (p.appId !== undefined) out.appId = p.appId;
  if (p.userId !== undefined) out.userId = p.userId;
  const h = p.headers;
  if (h !== undefined) {
    for (const k in h) setOwn(out.headers, k, headerText(h[k]!));
    if (h.traceparent !== undefined) out.traceparent = out.headers.traceparent!;
    if (h.tracestate !== undefined) out.tracestate = out.headers.tracestate!;
  }
  // AMQP's deprecated cluster-id has no field of its own: it rides in headers, not dropped.
  if (p.clusterId !== undefined) out.headers[CLUSTER_ID_HEADER] = p.clusterId;
  return out;
}

/** The header AMQP's cluster-id travels in (Message has no field for it). */
export const CLUSTER_ID_HEADER = 'x-cluster-id';

/** The priority as uint32 (0 = not set; what another protocol set outside that range is left out). */
export function priorityOf(p: Properties): number {
  const v = p.priority;
  return v !== undefined && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : 0;
}

/** The timestamp (seconds) as int64 (0 = not set; fractions are cut, non-numbers left out). */
export function timestampOf(p: Properties): bigint {
  const v = p.timestamp;
  if (v === undefined || !Number.isFinite(v)) return 0n;
  const s = Math.trunc(v);
  return Number.isSafeInteger(s) ? BigInt(s) : 0n;
}

/** google.protobuf.Struct arguments (x-message-ttl, alternate-exchange...) as a header table. */
export function argumentsFromStruct(s: JsonObject | undefined): HeaderTable {
  const out: HeaderTable = {};
  if (s === undefined) return out;
  for (const k of Object.keys(s)) setOwn(out, k, fromJson(s[k]!));
  return out;
}

// Struct numbers are doubles: whole ones become integers, which is what x-message-ttl and the
// like must be for the core and for AMQP consumers of the definitions.
function fromJson(v: JsonValue): HeaderValue {
  if (Array.isArray(v)) return v.map(fromJson);
  if (typeof v === 'object' && v !== null) return argumentsFromStruct(v);
  return v;
}

/** An argument table as google.protobuf.Struct. */
export function argumentsToStruct(t: HeaderTable): JsonObject {
  return headerJson(t) as JsonObject;
}

/**
 * Anything thrown by a handler as the gRPC status to answer: broker errors keep their catalogue
 * status and carry their stable code in the `switchyard-error` trailer.
 */
export function toConnectError(e: unknown): ConnectError {
  if (e instanceof ConnectError) return e;
  if (e instanceof SwitchyardError) {
    return new ConnectError(e.message, e.spec.grpc as Code, { [ERROR_CODE_KEY]: e.code }, undefined, e);
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ConnectError(message, Code.Internal, { [ERROR_CODE_KEY]: 'INTERNAL_ERROR' }, undefined, e);
}

/** A refused field: INVALID_ARGUMENT with the field named. */
export function invalid(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}
