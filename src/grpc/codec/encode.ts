/**
 * Protobuf encoding of the hot responses (deliveries and confirms) straight from the core's
 * message container into one buffer with its gRPC frame header, without building protobuf-es
 * message objects first. Field numbers are those of proto/switchyard/v1/broker.proto; the
 * result decodes to exactly what messageToGrpc (map.ts) builds, which encode.test.ts checks
 * with random messages. Fields at their proto3 default are left out, as protobuf does.
 */
import { type Delivery, headerText, type Message } from '../../core/index.js';
import { CLUSTER_ID_HEADER, priorityOf, timestampOf } from '../map.js';
import { FRAME_HEADER } from './framing.js';

const LEN = 2;
const VARINT = 0;

/** Field tags (number << 3 | wire type), all below 2^14 so at most two bytes. */
const T = {
  // SessionResponse
  confirm: (1 << 3) | LEN,
  sessionDelivery: (4 << 3) | LEN,
  // SubscribeResponse
  subscribeDelivery: (2 << 3) | LEN,
  // SessionResponse.Confirm
  publishId: (1 << 3) | VARINT,
  routedQueues: (2 << 3) | VARINT,
  // Delivery
  subscription: (1 << 3) | LEN,
  deliveryId: (2 << 3) | VARINT,
  redelivered: (3 << 3) | VARINT,
  queue: (4 << 3) | LEN,
  message: (5 << 3) | LEN,
  // Message
  body: (1 << 3) | LEN,
  contentType: (2 << 3) | LEN,
  contentEncoding: (3 << 3) | LEN,
  headers: (4 << 3) | LEN,
  correlationId: (5 << 3) | LEN,
  replyTo: (6 << 3) | LEN,
  expiration: (7 << 3) | LEN,
  priority: (8 << 3) | VARINT,
  messageId: (9 << 3) | LEN,
  persistent: (10 << 3) | VARINT,
  timestamp: (11 << 3) | VARINT,
  type: (12 << 3) | LEN,
  appId: (13 << 3) | LEN,
  userId: (14 << 3) | LEN,
  traceparent: (15 << 3) | LEN,
  tracestate: (16 << 3) | LEN,
  exchange: (17 << 3) | LEN,
  routingKey: (18 << 3) | LEN,
  // map entry
  key: (1 << 3) | LEN,
  value: (2 << 3) | LEN,
} as const;

/** Which response a delivery goes in: SessionResponse.delivery or SubscribeResponse.delivery. */
export type DeliveryEnvelope = 'session' | 'subscribe';

function varintSize(n: number): number {
  let s = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

function bigVarintSize(n: bigint): number {
  let s = 1;
  while (n >= 0x80n) {
    n >>= 7n;
    s++;
  }
  return s;
}

/** Size of a length-delimited field whose content is `n` bytes (tag below 16 or two bytes). */
function lenField(tag: number, n: number): number {
  return (tag < 0x80 ? 1 : 2) + varintSize(n) + n;
}

/**
 * Text fields of a message in wire order, with their byte lengths: computed once, for the size
 * and then the write.
 */
interface Prepared {
  size: number;
  strings: (string | undefined)[];
  lengths: number[];
  headers: string[] | undefined;
  headerLengths: number[] | undefined;
  priority: number;
  timestamp: bigint;
  persistent: boolean;
  traceparent: string | undefined;
  tracestate: string | undefined;
}

/** Tags of the plain string fields, in the order of Prepared.strings. */
const STRING_TAGS = [
  T.contentType,
  T.contentEncoding,
  T.correlationId,
  T.replyTo,
  T.expiration,
  T.messageId,
  T.type,
  T.appId,
  T.userId,
] as const;

/** Field order on the wire (ascending numbers), as protobuf-es writes them. */
function prepare(msg: Message): Prepared {
  const p = msg.properties;
  const strings = [
    p.contentType,
    p.contentEncoding,
    p.correlationId,
    p.replyTo,
    p.expiration,
    p.messageId,
    p.type,
    p.appId,
    p.userId,
  ];
  const lengths = new Array<number>(strings.length);
  let size = msg.body.length > 0 ? lenField(T.body, msg.body.length) : 0;
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i];
    const n = s === undefined || s === '' ? 0 : Buffer.byteLength(s);
    lengths[i] = n;
    if (n > 0) size += lenField(STRING_TAGS[i]!, n);
  }
  let headers: string[] | undefined;
  let headerLengths: number[] | undefined;
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  const h = p.headers;
  const clusterId = p.clusterId;
  if (h !== undefined) {
    headers = [];
    headerLengths = [];
    for (const k in h) {
      // cluster-id takes this key (messageToGrpc): one entry per key, as in a protobuf map.
      if (clusterId !== undefined && k === CLUSTER_ID_HEADER) continue;
      const v = headerText(h[k]!);
      if (k === 'traceparent') traceparent = v;
      else if (k === 'tracestate') tracestate = v;
      pushEntry(headers, headerLengths, k, v);
    }
  }
  if (clusterId !== undefined)
    pushEntry((headers ??= []), (headerLengths ??= []), CLUSTER_ID_HEADER, clusterId);
  if (headerLengths !== undefined) {
    for (let i = 0; i < headerLengths.length; i += 2) {
      size += lenField(T.headers, entrySize(headerLengths[i]!, headerLengths[i + 1]!));
    }
  }
  const priority = priorityOf(p);
  if (priority !== 0) size += 1 + varintSize(priority);
  const persistent = p.deliveryMode === 2;
  if (persistent) size += 2;
  const timestamp = BigInt.asUintN(64, timestampOf(p));
  if (timestamp !== 0n) size += 1 + bigVarintSize(timestamp);
  const tp = traceparent === undefined || traceparent === '' ? 0 : Buffer.byteLength(traceparent);
  if (tp > 0) size += lenField(T.traceparent, tp);
  const ts = tracestate === undefined || tracestate === '' ? 0 : Buffer.byteLength(tracestate);
  if (ts > 0) size += lenField(T.tracestate, ts);
  const ex = Buffer.byteLength(msg.exchange);
  if (ex > 0) size += lenField(T.exchange, ex);
  const rk = Buffer.byteLength(msg.routingKey);
  if (rk > 0) size += lenField(T.routingKey, rk);
  return {
    size,
    strings,
    lengths,
    headers,
    headerLengths,
    priority,
    timestamp,
    persistent,
    traceparent,
    tracestate,
  };
}

/** Map keys are unique: a later key replaces an earlier one, as in a protobuf map. */
function pushEntry(headers: string[], lengths: number[], k: string, v: string): void {
  headers.push(k, v);
  lengths.push(Buffer.byteLength(k), Buffer.byteLength(v));
}

function entrySize(k: number, v: number): number {
  return (k > 0 ? lenField(T.key, k) : 0) + (v > 0 ? lenField(T.value, v) : 0);
}

/** A writer over one preallocated buffer. */
class Out {
  off = 0;
  constructor(readonly buf: Buffer) {}

  tag(t: number): void {
    if (t < 0x80) this.buf[this.off++] = t;
    else {
      this.buf[this.off++] = (t & 0x7f) | 0x80;
      this.buf[this.off++] = t >>> 7;
    }
  }

  varint(n: number): void {
    const b = this.buf;
    while (n >= 0x80) {
      b[this.off++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    b[this.off++] = n;
  }

  bigVarint(n: bigint): void {
    const b = this.buf;
    while (n >= 0x80n) {
      b[this.off++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    b[this.off++] = Number(n);
  }

  str(t: number, s: string, n: number): void {
    this.tag(t);
    this.varint(n);
    this.off += this.buf.write(s, this.off, n, 'utf8');
  }

  bytes(t: number, v: Buffer): void {
    this.tag(t);
    this.varint(v.length);
    v.copy(this.buf, this.off);
    this.off += v.length;
  }
}

function writeMessage(o: Out, msg: Message, p: Prepared): void {
  if (msg.body.length > 0) o.bytes(T.body, msg.body);
  const { strings, lengths } = p;
  // content_type (2), content_encoding (3)
  for (let i = 0; i < 2; i++) if (lengths[i]! > 0) o.str(STRING_TAGS[i]!, strings[i]!, lengths[i]!);
  const h = p.headers;
  if (h !== undefined) {
    const hl = p.headerLengths!;
    for (let i = 0; i < h.length; i += 2) {
      o.tag(T.headers);
      o.varint(entrySize(hl[i]!, hl[i + 1]!));
      if (hl[i]! > 0) o.str(T.key, h[i]!, hl[i]!);
      if (hl[i + 1]! > 0) o.str(T.value, h[i + 1]!, hl[i + 1]!);
    }
  }
  // correlation_id (5), reply_to (6), expiration (7)
  for (let i = 2; i < 5; i++) if (lengths[i]! > 0) o.str(STRING_TAGS[i]!, strings[i]!, lengths[i]!);
  if (p.priority !== 0) {
    o.tag(T.priority);
    o.varint(p.priority);
  }
  if (lengths[5]! > 0) o.str(T.messageId, strings[5]!, lengths[5]!);
  if (p.persistent) {
    o.tag(T.persistent);
    o.varint(1);
  }
  if (p.timestamp !== 0n) {
    o.tag(T.timestamp);
    o.bigVarint(p.timestamp);
  }
  // type (12), app_id (13), user_id (14)
  for (let i = 6; i < 9; i++) if (lengths[i]! > 0) o.str(STRING_TAGS[i]!, strings[i]!, lengths[i]!);
  if (p.traceparent !== undefined && p.traceparent !== '') {
    o.str(T.traceparent, p.traceparent, Buffer.byteLength(p.traceparent));
  }
  if (p.tracestate !== undefined && p.tracestate !== '') {
    o.str(T.tracestate, p.tracestate, Buffer.byteLength(p.tracestate));
  }
  if (msg.exchange !== '') o.str(T.exchange, msg.exchange, Buffer.byteLength(msg.exchange));
  if (msg.routingKey !== '') o.str(T.routingKey, msg.routingKey, Buffer.byteLength(msg.routingKey));
}

/**
 * A delivery as one gRPC frame: SessionResponse{delivery} or SubscribeResponse{delivery}, with
 * the 5-byte Length-Prefixed-Message header in front.
 */
export function encodeDeliveryFrame(envelope: DeliveryEnvelope, subscription: string, d: Delivery): Buffer {
  const p = prepare(d.message);
  const subLen = Buffer.byteLength(subscription);
  const queueLen = Buffer.byteLength(d.queue);
  const deliverySize =
    (subLen > 0 ? lenField(T.subscription, subLen) : 0) +
    (d.id !== 0 ? 1 + varintSize(d.id) : 0) +
    (d.redelivered ? 2 : 0) +
    (queueLen > 0 ? lenField(T.queue, queueLen) : 0) +
    lenField(T.message, p.size);
  const outerTag = envelope === 'session' ? T.sessionDelivery : T.subscribeDelivery;
  const total = lenField(outerTag, deliverySize);
  const o = new Out(Buffer.allocUnsafe(FRAME_HEADER + total));
  o.buf[0] = 0;
  o.buf.writeUInt32BE(total, 1);
  o.off = FRAME_HEADER;
  o.tag(outerTag);
  o.varint(deliverySize);
  if (subLen > 0) o.str(T.subscription, subscription, subLen);
  if (d.id !== 0) {
    o.tag(T.deliveryId);
    o.varint(d.id);
  }
  if (d.redelivered) {
    o.tag(T.redelivered);
    o.varint(1);
  }
  if (queueLen > 0) o.str(T.queue, d.queue, queueLen);
  o.tag(T.message);
  o.varint(p.size);
  writeMessage(o, d.message, p);
  return o.buf;
}

/** SessionResponse{confirm{publish_id, routed_queues}} as one gRPC frame. */
export function encodeConfirmFrame(publishId: bigint, routedQueues: number): Buffer {
  const id = BigInt.asUintN(64, publishId);
  const confirmSize =
    (id !== 0n ? 1 + bigVarintSize(id) : 0) + (routedQueues !== 0 ? 1 + varintSize(routedQueues) : 0);
  const total = 1 + varintSize(confirmSize) + confirmSize;
  const o = new Out(Buffer.allocUnsafe(FRAME_HEADER + total));
  o.buf[0] = 0;
  o.buf.writeUInt32BE(total, 1);
  o.off = FRAME_HEADER;
  o.tag(T.confirm);
  o.varint(confirmSize);
  if (id !== 0n) {
    o.tag(T.publishId);
    o.bigVarint(id);
  }
  if (routedQueues !== 0) {
    o.tag(T.routedQueues);
    o.varint(routedQueues);
  }
  return o.buf;
}
