/**
 * Method frame payloads (spec 4.2.4: class-id, method-id, arguments) to typed method objects and
 * back. Most methods go through one table-driven decoder and encoder over METHOD_SPECS; the
 * per-message methods (basic.publish, ack, nack, reject, deliver) have hand-written decoders, and
 * the broker's per-message replies hand-written writers in content.ts.
 *
 * Errors: a payload too short to hold class-id and method-id is a FRAME_ERROR (501), as in
 * RabbitMQ's rabbit_command_assembler:analyze_frame. Arguments that are truncated, have trailing
 * bytes or hold malformed UTF-8 are a SYNTAX_ERROR (502). RabbitMQ reports those as 501
 * ("cannot decode"); the reply code is a hard error either way and the connection closes.
 *
 * An unknown class or method id is NOT_IMPLEMENTED (540, hard): the spec's reply for "functionality
 * that is not implemented". RabbitMQ itself does not answer it: rabbit_framing_amqp_0_9_1:
 * lookup_method_name exits with {unknown_method_id, …} inside the reader process, which dies and
 * drops the socket without a connection.close. A close with a code is the more useful behaviour.
 */

import { SwitchyardError } from '../../errors/index.js';
import { writeBasicAck, writeBasicNack, writeDeliver, writeGetOk, writeReturn } from './content.js';
import { FrameType } from './constants.js';
import { readFieldTable } from './field-table.js';
import type {
  AmqpMethod,
  AmqpMethodInit,
  FieldKind,
  Method,
  MethodKind,
  MethodSpec,
} from './method-specs.js';
import { METHOD_SPECS } from './method-specs.js';
import { OutBuffer } from './out-buffer.js';
import { frameError, Reader, syntaxError, unencodable, utf8Strict } from './reader.js';

interface CompiledSpec extends MethodSpec {
  readonly kind: MethodKind;
  readonly names: readonly string[];
  readonly kinds: readonly FieldKind[];
  /** `kind field`, precomputed for error texts. */
  readonly labels: readonly string[];
}

const BY_ID = new Map<number, CompiledSpec>();
const BY_KIND = new Map<MethodKind, CompiledSpec>();
for (const kind of Object.keys(METHOD_SPECS) as MethodKind[]) {
  const spec: MethodSpec = METHOD_SPECS[kind];
  const names = Object.keys(spec.fields);
  const compiled: CompiledSpec = {
    ...spec,
    kind,
    names,
    kinds: names.map((n) => spec.fields[n]!),
    labels: names.map((n) => `${kind} ${n}`),
  };
  BY_ID.set((spec.classId << 16) | spec.methodId, compiled);
  BY_KIND.set(kind, compiled);
}

/** Methods followed by content (header and body frames): publish, return, deliver, get-ok. */
export const CONTENT_METHODS: ReadonlySet<MethodKind> = new Set(
  [...BY_KIND.values()].filter((s) => s.content).map((s) => s.kind),
);

/** Methods the spec marks synchronous: the sender waits for the matching -ok unless no-wait is set. */
export const SYNCHRONOUS_METHODS: ReadonlySet<MethodKind> = new Set(
  [...BY_KIND.values()].filter((s) => s.sync).map((s) => s.kind),
);

/** Whether the peer waits for a reply to `m`: a synchronous method without no-wait set. */
export function isSynchronousRequest(m: AmqpMethodInit): boolean {
  return SYNCHRONOUS_METHODS.has(m.kind) && !('noWait' in m && m.noWait);
}

/** The table entry of a method: ids, flags and field list. */
export function methodSpec(kind: MethodKind): MethodSpec {
  return BY_KIND.get(kind)!;
}

/** The method name for a class and method id, or undefined if we do not know it. */
export function methodKindOf(classId: number, methodId: number): MethodKind | undefined {
  return BY_ID.get((classId << 16) | methodId)?.kind;
}

// ---------------------------------------------------------------------------------------------
// Decoding

const TWO_32 = 4294967296;

/**
 * Decodes a method frame payload (starting with class-id). Throws SwitchyardError only:
 * FRAME_ERROR, SYNTAX_ERROR or NOT_IMPLEMENTED (see the module comment).
 */
export function decodeMethod(payload: Buffer): AmqpMethod {
  if (payload.length < 4) throw frameError(`method frame of ${payload.length} bytes has no method id`);
  const classId = (payload[0]! << 8) | payload[1]!;
  const methodId = (payload[2]! << 8) | payload[3]!;
  if (classId === 60) {
    switch (methodId) {
      case 40:
        return decodePublish(payload);
      case 80:
        return decodeAck(payload);
      case 120:
        return decodeNack(payload);
      case 90:
        return decodeReject(payload);
      case 60:
        return decodeDeliver(payload);
    }
  }
  const spec = BY_ID.get((classId << 16) | methodId);
  if (spec === undefined) {
    throw new SwitchyardError('NOT_IMPLEMENTED', `unknown method: class ${classId}, method ${methodId}`);
  }
  try {
    return decodeGeneric(spec, payload);
  } catch (e) {
    // Errors from inside a field table do not know which method they are in; say it.
    if (e instanceof SwitchyardError && !e.message.startsWith(spec.kind)) {
      throw new SwitchyardError(e.code, `${spec.kind}: ${e.message}`);
    }
    throw e;
  }
}

function decodeGeneric(spec: CompiledSpec, payload: Buffer): AmqpMethod {
  const r = new Reader(payload, 4);
  const m: Record<string, unknown> = { kind: spec.kind, classId: spec.classId, methodId: spec.methodId };
  const { names, kinds, labels } = spec;
  // Consecutive bits share an octet, least significant bit first (spec 4.2.5.2).
  let bits = 0;
  let bit = 8;
  for (let i = 0; i < names.length; i++) {
    const k = kinds[i]!;
    const label = labels[i]!;
    if (k === 'bit' || k === 'reserved-bit') {
      if (bit === 8) {
        bits = r.u8(label);
        bit = 0;
      }
      if (k === 'bit') m[names[i]!] = ((bits >> bit) & 1) === 1;
      bit++;
      continue;
    }
    bit = 8;
    switch (k) {
      case 'octet':
        m[names[i]!] = r.u8(label);
        break;
      case 'short':
        m[names[i]!] = r.u16(label);
        break;
      case 'long':
        m[names[i]!] = r.u32(label);
        break;
      case 'longlong':
        m[names[i]!] = r.u64Safe(label);
        break;
      case 'shortstr':
        m[names[i]!] = r.shortStr(label);
        break;
      case 'longstr':
        m[names[i]!] = r.longStr(label);
        break;
      case 'bytes':
        m[names[i]!] = r.longBytes(label);
        break;
      case 'table':
        m[names[i]!] = readFieldTable(r);
        break;
      case 'reserved-short':
        r.skip(2, label);
        break;
      case 'reserved-shortstr':
        r.skipShortStr(label);
        break;
      case 'reserved-longstr':
        r.skipLongStr(label);
        break;
    }
  }
  r.expectEnd(spec.kind);
  return m as AmqpMethod;
}

function truncated(kind: string, n: number): SwitchyardError {
  return syntaxError(`${kind}: ${n} bytes do not hold its arguments`);
}

function tagAt(p: Buffer, at: number, kind: string): number {
  const hi = p.readUInt32BE(at);
  if (hi > 0x1fffff) throw syntaxError(`${kind}: delivery-tag exceeds 2^53`);
  return hi * TWO_32 + p.readUInt32BE(at + 4);
}

// basic.publish: class, method, ticket (2), exchange, routing-key, bits mandatory|immediate.
function decodePublish(p: Buffer): Method<'basic.publish'> {
  const n = p.length;
  if (n < 9) throw truncated('basic.publish', n);
  const exStart = 7;
  const exEnd = exStart + p[6]!;
  if (exEnd + 2 > n) throw truncated('basic.publish', n);
  const rkStart = exEnd + 1;
  const rkEnd = rkStart + p[exEnd]!;
  if (rkEnd + 1 !== n) throw truncated('basic.publish', n);
  const bits = p[rkEnd]!;
  return {
    kind: 'basic.publish',
    classId: 60,
    methodId: 40,
    exchange: utf8Strict(p, exStart, exEnd),
    routingKey: utf8Strict(p, rkStart, rkEnd),
    mandatory: (bits & 1) !== 0,
    immediate: (bits & 2) !== 0,
  };
}

// basic.ack / reject / nack: delivery-tag (8), one bits octet; exactly 13 bytes.
function decodeAck(p: Buffer): Method<'basic.ack'> {
  if (p.length !== 13) throw truncated('basic.ack', p.length);
  const bits = p[12]!;
  return {
    kind: 'basic.ack',
    classId: 60,
    methodId: 80,
    deliveryTag: tagAt(p, 4, 'basic.ack'),
    multiple: (bits & 1) !== 0,
  };
}

function decodeReject(p: Buffer): Method<'basic.reject'> {
  if (p.length !== 13) throw truncated('basic.reject', p.length);
  const bits = p[12]!;
  return {
    kind: 'basic.reject',
    classId: 60,
    methodId: 90,
    deliveryTag: tagAt(p, 4, 'basic.reject'),
    requeue: (bits & 1) !== 0,
  };
}

function decodeNack(p: Buffer): Method<'basic.nack'> {
  if (p.length !== 13) throw truncated('basic.nack', p.length);
  const bits = p[12]!;
  return {
    kind: 'basic.nack',
    classId: 60,
    methodId: 120,
    deliveryTag: tagAt(p, 4, 'basic.nack'),
    multiple: (bits & 1) !== 0,
    requeue: (bits & 2) !== 0,
  };
}

// basic.deliver: consumer-tag, delivery-tag (8), bits redelivered, exchange, routing-key.
function decodeDeliver(p: Buffer): Method<'basic.deliver'> {
  const n = p.length;
  if (n < 16) throw truncated('basic.deliver', n);
  const ctStart = 5;
  const ctEnd = ctStart + p[4]!;
  // tag (8), bits (1), exchange length (1), routing-key length (1) must follow
  if (ctEnd + 11 > n) throw truncated('basic.deliver', n);
  const deliveryTag = tagAt(p, ctEnd, 'basic.deliver');
  const bits = p[ctEnd + 8]!;
  const exStart = ctEnd + 10;
  const exEnd = exStart + p[ctEnd + 9]!;
  if (exEnd + 1 > n) throw truncated('basic.deliver', n);
  const rkStart = exEnd + 1;
  const rkEnd = rkStart + p[exEnd]!;
  if (rkEnd !== n) throw truncated('basic.deliver', n);
  return {
    kind: 'basic.deliver',
    classId: 60,
    methodId: 60,
    consumerTag: utf8Strict(p, ctStart, ctEnd),
    deliveryTag,
    redelivered: (bits & 1) !== 0,
    exchange: utf8Strict(p, exStart, exEnd),
    routingKey: utf8Strict(p, rkStart, rkEnd),
  };
}

// ---------------------------------------------------------------------------------------------
// Encoding

const MAX_OF: Partial<Record<FieldKind, number>> = {
  octet: 0xff,
  short: 0xffff,
  long: 0xffffffff,
  longlong: Number.MAX_SAFE_INTEGER,
};

function checkedInt(v: unknown, k: FieldKind, label: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_OF[k]!) {
    throw unencodable(`${label}: ${String(v)} is not a valid ${k}`);
  }
  return v;
}

/**
 * Writes a method payload (class-id, method-id, arguments) into `out`. Throws INTERNAL_ERROR for a
 * value the field cannot carry: a short string over 255 bytes, a number out of range, a wrong type.
 */
export function writeMethodPayload(out: OutBuffer, m: AmqpMethodInit): void {
  const spec = BY_KIND.get(m.kind);
  if (spec === undefined) throw unencodable(`unknown method kind ${String(m.kind)}`);
  const { names, kinds, labels } = spec;
  const fields = m as unknown as Record<string, unknown>;
  out.u16(spec.classId);
  out.u16(spec.methodId);
  let bits = 0;
  let nbits = 0;
  for (let i = 0; i < names.length; i++) {
    const k = kinds[i]!;
    if (k === 'bit' || k === 'reserved-bit') {
      if (nbits === 8) {
        out.u8(bits);
        bits = 0;
        nbits = 0;
      }
      if (k === 'bit' && fields[names[i]!] === true) bits |= 1 << nbits;
      nbits++;
      continue;
    }
    if (nbits > 0) {
      out.u8(bits);
      bits = 0;
      nbits = 0;
    }
    const v = fields[names[i]!];
    const label = labels[i]!;
    switch (k) {
      case 'octet':
        out.u8(checkedInt(v, k, label));
        break;
      case 'short':
        out.u16(checkedInt(v, k, label));
        break;
      case 'long':
        out.u32(checkedInt(v, k, label));
        break;
      case 'longlong':
        out.u64(checkedInt(v, k, label));
        break;
      case 'shortstr':
        if (typeof v !== 'string') throw unencodable(`${label}: not a string`);
        out.shortStr(v);
        break;
      case 'longstr':
        if (typeof v !== 'string') throw unencodable(`${label}: not a string`);
        out.longStr(v);
        break;
      case 'bytes':
        if (!(v instanceof Uint8Array)) throw unencodable(`${label}: not a Buffer`);
        out.longStr(v);
        break;
      case 'table':
        if (typeof v !== 'object' || v === null || Array.isArray(v))
          throw unencodable(`${label}: not a table`);
        out.table(v as Record<string, never>);
        break;
      case 'reserved-short':
        out.u16(0);
        break;
      case 'reserved-shortstr':
        out.u8(0);
        break;
      case 'reserved-longstr':
        out.u32(0);
        break;
    }
  }
  if (nbits > 0) out.u8(bits);
}

/**
 * Writes a whole method frame. The broker's per-message methods take the hand-written writers of
 * content.ts; a failed encode leaves nothing of the frame in `out`.
 */
export function writeMethodFrame(out: OutBuffer, channel: number, m: AmqpMethodInit): void {
  switch (m.kind) {
    case 'basic.deliver':
      writeDeliver(out, channel, m.consumerTag, m.deliveryTag, m.redelivered, m.exchange, m.routingKey);
      return;
    case 'basic.ack':
      writeBasicAck(out, channel, m.deliveryTag, m.multiple);
      return;
    case 'basic.nack':
      writeBasicNack(out, channel, m.deliveryTag, m.multiple, m.requeue);
      return;
    case 'basic.get-ok':
      writeGetOk(out, channel, m.deliveryTag, m.redelivered, m.exchange, m.routingKey, m.messageCount);
      return;
    case 'basic.return':
      writeReturn(out, channel, m.replyCode, m.replyText, m.exchange, m.routingKey);
      return;
  }
  out.beginFrame(FrameType.METHOD, channel);
  try {
    writeMethodPayload(out, m);
  } catch (e) {
    out.abortFrame();
    throw e;
  }
  out.endFrame();
}

/** Encodes a method payload (class-id onwards) into a Buffer of its own, through the generic encoder. */
export function encodeMethod(m: AmqpMethodInit): Buffer {
  const out = new OutBuffer(256);
  writeMethodPayload(out, m);
  const chunks = out.take();
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
