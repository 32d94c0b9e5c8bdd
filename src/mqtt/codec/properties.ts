/**
 * MQTT 5 properties (section 2.2.2): a Variable Byte Integer length, then identifier-value pairs.
 * One table gives each property its identifier, value type and the packets that may carry it;
 * decoding checks a packet against it, encoding writes from it.
 */
import { SwitchyardError } from '../../errors/index.js';
import { MAX_USER_PROPERTIES, MAX_VARINT } from './constants.js';
import { type Input, malformed, protocolError } from './input.js';
import type { Properties, UserProperties } from './packets.js';

/** The property sections there are, as bits: a property lists the ones it may appear in. */
export const Section = {
  CONNECT: 1 << 0,
  WILL: 1 << 1,
  PUBLISH: 1 << 2,
  /** PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK: a reason string and user properties. */
  ACK: 1 << 3,
  SUBSCRIBE: 1 << 4,
  UNSUBSCRIBE: 1 << 5,
  DISCONNECT: 1 << 6,
  AUTH: 1 << 7,
  CONNACK: 1 << 8,
} as const;

/** How a property's value is laid out. */
const Kind = {
  /** A byte, as a boolean (not 0). */
  Flag: 0,
  /** A byte that must be 0 or 1 (a Protocol Error otherwise), as a boolean. */
  StrictFlag: 1,
  Byte: 2,
  U16: 3,
  U32: 4,
  Varint: 5,
  Utf8: 6,
  Binary: 7,
  /** A UTF-8 string pair: the User Property. */
  Pair: 8,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface PropertySpec {
  readonly id: number;
  readonly name: keyof Properties;
  readonly kind: Kind;
  /** Sections it may appear in (Section bits). */
  readonly in: number;
  /** It may appear more than once (User Property; Subscription Identifier towards a client). */
  readonly repeats: boolean;
}

const S = Section;
const ANY_WITH_REASON = S.ACK | S.DISCONNECT | S.AUTH | S.CONNACK;

/** MQTT 5 Table 2-4. */
const SPECS: readonly PropertySpec[] = [
  { id: 0x01, name: 'payloadFormatIndicator', kind: Kind.Flag, in: S.PUBLISH | S.WILL, repeats: false },
  { id: 0x02, name: 'messageExpiryInterval', kind: Kind.U32, in: S.PUBLISH | S.WILL, repeats: false },
  { id: 0x03, name: 'contentType', kind: Kind.Utf8, in: S.PUBLISH | S.WILL, repeats: false },
  { id: 0x08, name: 'responseTopic', kind: Kind.Utf8, in: S.PUBLISH | S.WILL, repeats: false },
  { id: 0x09, name: 'correlationData', kind: Kind.Binary, in: S.PUBLISH | S.WILL, repeats: false },
  { id: 0x0b, name: 'subscriptionIdentifier', kind: Kind.Varint, in: S.PUBLISH | S.SUBSCRIBE, repeats: true },
  {
    id: 0x11,
    name: 'sessionExpiryInterval',
    kind: Kind.U32,
    in: S.CONNECT | S.CONNACK | S.DISCONNECT,
    repeats: false,
  },
  { id: 0x12, name: 'assignedClientIdentifier', kind: Kind.Utf8, in: S.CONNACK, repeats: false },
  { id: 0x13, name: 'serverKeepAlive', kind: Kind.U16, in: S.CONNACK, repeats: false },
  {
    id: 0x15,
    name: 'authenticationMethod',
    kind: Kind.Utf8,
    in: S.CONNECT | S.CONNACK | S.AUTH,
    repeats: false,
  },
  {
    id: 0x16,
    name: 'authenticationData',
    kind: Kind.Binary,
    in: S.CONNECT | S.CONNACK | S.AUTH,
    repeats: false,
  },
  { id: 0x17, name: 'requestProblemInformation', kind: Kind.StrictFlag, in: S.CONNECT, repeats: false },
  { id: 0x18, name: 'willDelayInterval', kind: Kind.U32, in: S.WILL, repeats: false },
  { id: 0x19, name: 'requestResponseInformation', kind: Kind.StrictFlag, in: S.CONNECT, repeats: false },
  { id: 0x1a, name: 'responseInformation', kind: Kind.Utf8, in: S.CONNACK, repeats: false },
  { id: 0x1c, name: 'serverReference', kind: Kind.Utf8, in: S.CONNACK | S.DISCONNECT, repeats: false },
  { id: 0x1f, name: 'reasonString', kind: Kind.Utf8, in: ANY_WITH_REASON, repeats: false },
  { id: 0x21, name: 'receiveMaximum', kind: Kind.U16, in: S.CONNECT | S.CONNACK, repeats: false },
  { id: 0x22, name: 'topicAliasMaximum', kind: Kind.U16, in: S.CONNECT | S.CONNACK, repeats: false },
  { id: 0x23, name: 'topicAlias', kind: Kind.U16, in: S.PUBLISH, repeats: false },
  { id: 0x24, name: 'maximumQoS', kind: Kind.Byte, in: S.CONNACK, repeats: false },
  { id: 0x25, name: 'retainAvailable', kind: Kind.StrictFlag, in: S.CONNACK, repeats: false },
  {
    id: 0x26,
    name: 'userProperties',
    kind: Kind.Pair,
    in: ANY_WITH_REASON | S.CONNECT | S.WILL | S.PUBLISH | S.SUBSCRIBE | S.UNSUBSCRIBE,
    repeats: true,
  },
  { id: 0x27, name: 'maximumPacketSize', kind: Kind.U32, in: S.CONNECT | S.CONNACK, repeats: false },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', kind: Kind.StrictFlag, in: S.CONNACK, repeats: false },
  {
    id: 0x29,
    name: 'subscriptionIdentifiersAvailable',
    kind: Kind.StrictFlag,
    in: S.CONNACK,
    repeats: false,
  },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', kind: Kind.StrictFlag, in: S.CONNACK, repeats: false },
];

const BY_ID: (PropertySpec | undefined)[] = [];
const BY_NAME = new Map<string, PropertySpec>();
for (const spec of SPECS) {
  BY_ID[spec.id] = spec;
  BY_NAME.set(spec.name, spec);
}

/** Properties whose value 0 is a Protocol Error (MQTT 5 sections 3.1.2.11.3, 3.1.2.11.4, 3.8.2.1.2). */
const NOT_ZERO = new Set<keyof Properties>(['receiveMaximum', 'maximumPacketSize', 'subscriptionIdentifier']);

// ---- decoding -----------------------------------------------------------------------------------

/**
 * Reads a property section at the input's position, for a packet of `section`; undefined when
 * it is empty. A property the packet may not carry, or an unknown one, is a Malformed Packet
 * (MQTT 5 section 2.2.2.2); one given twice that may not repeat is a Protocol Error.
 */
export function decodeProperties(input: Input, section: number): Properties | undefined {
  const length = input.varint('property length');
  if (length === 0) return undefined;
  const end = input.p + length;
  if (end > input.end) throw malformed('the properties run past the end of the packet');
  const outer = input.end;
  input.end = end; // no property value may run past its section
  const out: Record<string, unknown> = {};
  while (input.p < end) {
    const id = input.byte('property identifier');
    const spec = BY_ID[id];
    if (spec === undefined) throw malformed(`unknown property 0x${id.toString(16)}`);
    if ((spec.in & section) === 0) throw malformed(`property ${spec.name} is not allowed in this packet`);
    if (spec.kind === Kind.Pair) {
      readUserProperty(input, out);
      continue;
    }
    const value = readValue(input, spec);
    const had = out[spec.name];
    if (had === undefined) out[spec.name] = value;
    else if (!spec.repeats) throw protocolError(`property ${spec.name} more than once`);
    else if (Array.isArray(had)) had.push(value);
    else out[spec.name] = [had, value];
  }
  input.end = outer;
  return out as Properties;
}

function readValue(input: Input, spec: PropertySpec): unknown {
  const what = spec.name;
  switch (spec.kind) {
    case Kind.Flag:
      return input.byte(what) !== 0;
    case Kind.StrictFlag: {
      const v = input.byte(what);
      if (v > 1) throw protocolError(`${what} must be 0 or 1, not ${v}`);
      return v === 1;
    }
    case Kind.Byte:
      return input.byte(what);
    case Kind.U16:
      return notZero(spec, input.u16(what));
    case Kind.U32:
      return notZero(spec, input.u32(what));
    case Kind.Varint:
      return notZero(spec, input.varint(what));
    case Kind.Utf8:
      return input.string(what);
    case Kind.Binary:
      return input.binary(what);
    case Kind.Pair:
      throw new Error('user properties are read by readUserProperty');
  }
}

function notZero(spec: PropertySpec, v: number): number {
  if (v === 0 && NOT_ZERO.has(spec.name)) throw protocolError(`${spec.name} of 0`);
  return v;
}

function readUserProperty(input: Input, out: Record<string, unknown>): void {
  if (++input.userProperties > MAX_USER_PROPERTIES) {
    throw new SwitchyardError(
      'PACKET_TOO_LARGE',
      `packet with more than ${MAX_USER_PROPERTIES} user properties (at most ${MAX_USER_PROPERTIES} are accepted)`,
    );
  }
  const name = input.string('user property name');
  const value = input.string('user property value');
  let user = out.userProperties as UserProperties | undefined;
  if (user === undefined) {
    user = Object.create(null) as UserProperties;
    out.userProperties = user;
  }
  // A repeated name keeps every value, in order [MQTT-3.3.2-17] [MQTT-3.3.2-18].
  const had = user[name];
  if (had === undefined) user[name] = value;
  else if (Array.isArray(had)) had.push(value);
  else user[name] = [had, value];
}

// ---- encoding -----------------------------------------------------------------------------------

/**
 * The bytes of a property section's content (without its length), in the order of the object's
 * keys; undefined values are left out, arrays repeat their property. 0 for none.
 */
export function propertiesSize(props: Properties | undefined): number {
  if (props === undefined) return 0;
  let n = 0;
  for (const name of Object.keys(props)) {
    const value = (props as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const spec = specOf(name);
    if (spec.kind === Kind.Pair) {
      const user = value as UserProperties;
      for (const k of Object.keys(user)) {
        const v = user[k]!;
        const kb = Buffer.byteLength(k);
        if (Array.isArray(v)) for (const x of v) n += 5 + kb + Buffer.byteLength(x);
        else n += 5 + kb + Buffer.byteLength(v);
      }
    } else if (Array.isArray(value)) {
      for (const v of value) n += 1 + valueSize(spec, v);
    } else n += 1 + valueSize(spec, value);
  }
  return n;
}

function specOf(name: string): PropertySpec {
  const spec = BY_NAME.get(name);
  if (spec === undefined) throw new TypeError(`no MQTT property '${name}'`);
  return spec;
}

function valueSize(spec: PropertySpec, v: unknown): number {
  switch (spec.kind) {
    case Kind.Flag:
    case Kind.StrictFlag:
    case Kind.Byte:
      return 1;
    case Kind.U16:
      return 2;
    case Kind.U32:
      return 4;
    case Kind.Varint:
      return varintSize(v as number);
    case Kind.Utf8:
      return 2 + Buffer.byteLength(v as string);
    case Kind.Binary:
      return 2 + (v as Buffer).length;
    case Kind.Pair:
      throw new Error('user properties are sized by propertiesSize');
  }
}

/** Bytes of `n` as a Variable Byte Integer. */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Writes `n` as a Variable Byte Integer at `p`; returns the position after it. */
export function writeVarint(b: Buffer, p: number, n: number): number {
  if (!(n >= 0 && n <= MAX_VARINT)) throw new RangeError(`${n} does not fit a Variable Byte Integer`);
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    b[p++] = byte;
  } while (n > 0);
  return p;
}

/** Writes a UTF-8 string or binary field with its two-byte length; returns the position after it. */
export function writeField(b: Buffer, p: number, v: string | Buffer): number {
  const n = typeof v === 'string' ? b.write(v, p + 2, 'utf8') : v.copy(b, p + 2);
  if (n > 0xffff) throw new RangeError('a field longer than 65535 bytes');
  b.writeUInt16BE(n, p);
  return p + 2 + n;
}

/**
 * Writes a property section (its length `size`, from propertiesSize, then the properties) at
 * `p`; returns the position after it.
 */
export function writeProperties(b: Buffer, p: number, props: Properties | undefined, size: number): number {
  p = writeVarint(b, p, size);
  if (props === undefined) return p;
  for (const name of Object.keys(props)) {
    const value = (props as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const spec = specOf(name);
    if (spec.kind === Kind.Pair) {
      const user = value as UserProperties;
      for (const k of Object.keys(user)) {
        const v = user[k]!;
        for (const x of Array.isArray(v) ? v : [v]) {
          b[p++] = spec.id;
          p = writeField(b, p, k);
          p = writeField(b, p, x);
        }
      }
    } else if (Array.isArray(value)) {
      for (const v of value) p = writeValue(b, p, spec, v);
    } else p = writeValue(b, p, spec, value);
  }
  return p;
}

function writeValue(b: Buffer, p: number, spec: PropertySpec, v: unknown): number {
  b[p++] = spec.id;
  switch (spec.kind) {
    case Kind.Flag:
    case Kind.StrictFlag:
      b[p] = v === true ? 1 : 0;
      return p + 1;
    case Kind.Byte:
      b[p] = v as number;
      return p + 1;
    case Kind.U16:
      return b.writeUInt16BE(v as number, p);
    case Kind.U32:
      return b.writeUInt32BE(v as number, p);
    case Kind.Varint:
      return writeVarint(b, p, v as number);
    case Kind.Utf8:
    case Kind.Binary:
      return writeField(b, p, v as string | Buffer);
    case Kind.Pair:
      throw new Error('user properties are written by writeProperties');
  }
}
