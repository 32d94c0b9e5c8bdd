/**
 * The MQTT wire, wrapped around mqtt-packet: PacketReader frames the byte stream itself (so a
 * packet over the size limit is refused from its header, before its body is buffered) and checks
 * the UTF-8 that mqtt-packet would silently repair, then lets mqtt-packet parse each packet.
 * PacketWriter batches everything written in one event-loop turn into one socket write and
 * reports backpressure; PUBLISH without properties, the hot path, is encoded here directly.
 */
import { isUtf8 } from 'node:buffer';
import mqttPacket, { type Packet } from 'mqtt-packet';
// mqtt-packet's packet class (no typings): a fresh one per parsed packet, as its parser expects.
// @ts-expect-error untyped CommonJS module
import MqttPacketObject from 'mqtt-packet/packet.js';
import { takePayloadBuffer, writeDone, writeStarted } from './payload-pool.js';
import { MqttError, Reason } from './reason.js';

export type { Packet };

const CMD_CONNECT = 1;
const CMD_PUBLISH = 3;
const CMD_SUBSCRIBE = 8;
const CMD_UNSUBSCRIBE = 10;

const EMPTY = Buffer.alloc(0);

// mqtt-packet would otherwise build 65,536 two-byte Buffers (about 6 MB) on its first write, to
// save an allocation per packet id; our hot-path packets are encoded here, so it buys nothing.
(mqttPacket.writeToStream as unknown as { cacheNumbers: boolean }).cacheNumbers = false;

/**
 * Stands in for mqtt-packet's byte list (a `bl` stream, a Duplex of its own per connection):
 * the reader hands the parser one whole packet at a time, so a view of that packet is enough.
 * Fewer bytes per idle connection, and no copies.
 */
class PacketBytes {
  private buf: Buffer = EMPTY;
  private off = 0;

  get length(): number {
    return this.buf.length - this.off;
  }

  append(b: Buffer): this {
    if (this.length === 0) {
      this.buf = b;
      this.off = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.off), b]);
      this.off = 0;
    }
    return this;
  }

  consume(n: number): this {
    this.off += n;
    if (this.off >= this.buf.length) {
      this.buf = EMPTY;
      this.off = 0;
    }
    return this;
  }

  readUInt8(i: number): number {
    return this.buf.readUInt8(this.off + i);
  }

  readUInt16BE(i: number): number {
    return this.buf.readUInt16BE(this.off + i);
  }

  readUInt32BE(i: number): number {
    return this.buf.readUInt32BE(this.off + i);
  }

  slice(start = 0, end = this.length): Buffer {
    return this.buf.subarray(this.off + start, this.off + end);
  }

  toString(encoding: BufferEncoding, start = 0, end = this.length): string {
    return this.buf.toString(encoding, this.off + start, this.off + end);
  }
}

interface ParserInternals {
  reader: PacketReader;
  emit(this: ParserInternals, event: string, value: unknown): boolean;
  packet: unknown;
  error: unknown;
  _list: unknown;
  _stateCounter: number;
  _resetState(this: ParserInternals): void;
}

function parserEmit(this: ParserInternals, event: string, value: unknown): boolean {
  this.reader.took(event, value);
  return true;
}

/** mqtt-packet's Parser#_resetState, with PacketBytes for its list. */
function resetState(this: ParserInternals): void {
  this.packet = new (MqttPacketObject as new () => unknown)();
  this.error = null;
  this._list = new PacketBytes();
  this._stateCounter = 0;
}

/**
 * What the reader keeps (payloads, packets cut by a read) is copied into slices of shared slabs
 * rather than a buffer each: every new ArrayBuffer counts as external memory, and at thousands
 * of large messages a second that alone keeps V8 running full collections. A slab is freed when
 * the last message sliced from it is, so slabs stay small: a small message that waits long in a
 * queue holds at most 128 KiB (a view of a socket read held 64 KiB); packets over 16 KiB get a
 * buffer of their own.
 */
class Slab {
  private buf = Buffer.allocUnsafeSlow(0);
  private used = 0;

  constructor(private readonly size: number) {}

  take(n: number): Buffer {
    if (this.used + n > this.buf.length) {
      this.buf = Buffer.allocUnsafeSlow(this.size);
      this.used = 0;
    }
    const b = this.buf.subarray(this.used, this.used + n);
    this.used += (n + 7) & ~7;
    return b;
  }
}

const slab = new Slab(128 * 1024);

function slabAlloc(n: number): Buffer {
  // Larger buffers come straight from malloc: a big slab costs more (mmap, page faults, zeroing)
  // than it saves in collections (measured with 64 KiB messages).
  return n <= 16 * 1024 ? slab.take(n) : takePayloadBuffer(n);
}

/** A copy of `b` that outlives the chunk it is a view of. */
function copyOut(b: Buffer): Buffer {
  if (b.length === 0) return EMPTY;
  const c = slabAlloc(b.length);
  b.copy(c);
  return c;
}

/**
 * Splits a byte stream into packets and parses them; throws MqttError on bad input.
 *
 * The chunks it is given may be reused by their producer as soon as push() returns (the TCP
 * listener reads every socket into one shared buffer), so whatever outlives the call is copied:
 * a packet cut by the end of a read, and each PUBLISH payload (into slab slices). Packets are
 * otherwise parsed in place.
 */
export class PacketReader {
  /**
   * mqtt-packet's parser, for everything parseHot leaves to it; made on first use and dropped
   * after the CONNECT, so an idle connection has none.
   */
  private parser: ReturnType<typeof mqttPacket.parser> | undefined;
  private parsed: Packet | undefined;
  private parseError: Error | undefined;
  /** A packet cut by the end of a read: its whole size, allocated, filled up to `filled`. */
  private partial: Buffer | undefined;
  private filled = 0;
  /** The first bytes of a packet whose header (type and Remaining Length) is still cut short. */
  private headerPart: Buffer | undefined;
  /** MQTT version the strings inside packets are laid out for (5 has properties). */
  version = 4;

  constructor(
    /** Largest packet accepted, whole (fixed header included). */
    public maxPacketSize: number,
    private readonly owner: { onPacket(p: Packet, raw: Buffer): void },
  ) {}

  private getParser(): ReturnType<typeof mqttPacket.parser> {
    let parser = this.parser;
    if (parser === undefined) {
      parser = mqttPacket.parser({ protocolVersion: this.version as 4 | 5 });
      const internals = parser as unknown as ParserInternals;
      internals._resetState = resetState;
      internals._resetState();
      // The parser's two events arrive through one shared function instead of two listeners
      // (closures) per connection.
      internals.emit = parserEmit;
      internals.reader = this;
      this.parser = parser;
    }
    return parser;
  }

  /** Called by parserEmit. */
  took(event: string, value: unknown): void {
    if (event === 'packet') this.parsed = value as Packet;
    else if (event === 'error') this.parseError ??= value as Error;
  }

  /**
   * Takes the next chunk from the stream; calls onPacket for each whole packet in order. `raw`
   * given to onPacket is valid during that call only.
   */
  push(chunk: Buffer): void {
    let off = 0;
    const partial = this.partial;
    if (partial !== undefined) {
      const take = Math.min(partial.length - this.filled, chunk.length);
      chunk.copy(partial, this.filled, 0, take);
      this.filled += take;
      if (this.filled < partial.length) return;
      this.partial = undefined;
      this.parseOne(partial, true);
      off = take;
    } else if (this.headerPart !== undefined) {
      // Rare (a read ended inside a fixed header): join the few held bytes with this chunk.
      chunk = Buffer.concat([this.headerPart, chunk]);
      this.headerPart = undefined;
    }
    while (off < chunk.length) {
      const size = packetSize(chunk, off);
      if (size > this.maxPacketSize) {
        throw new MqttError(
          Reason.PACKET_TOO_LARGE,
          `packet of ${size} bytes is larger than the maximum packet size ${this.maxPacketSize}`,
        );
      }
      if (size === 0) {
        this.headerPart = Buffer.from(chunk.subarray(off));
        return;
      }
      if (off + size > chunk.length) {
        // Copied once into a buffer of the packet's size; later reads fill it in.
        const p = slabAlloc(size);
        this.filled = chunk.copy(p, 0, off);
        this.partial = p;
        return;
      }
      this.parseOne(chunk.subarray(off, off + size), false);
      off += size;
    }
  }

  /**
   * Drops the parser after the CONNECT (it keeps that packet as its settings); the next packet
   * that needs one gets a parser set up for the version the CONNECT chose.
   */
  forgetConnect(): void {
    this.parser = undefined;
  }

  /** `owned`: raw is the reader's own copy (else a view of the caller's reused chunk). */
  private parseOne(raw: Buffer, owned: boolean): void {
    const fast = parseHot(raw, this.version, owned);
    if (fast !== undefined) {
      checkPacketId(fast);
      this.owner.onPacket(fast, raw);
      return;
    }
    const props = this.version === 5 || raw[0]! >> 4 === CMD_CONNECT ? userPropertyCount(raw) : 0;
    if (props > MAX_USER_PROPERTIES) {
      throw new MqttError(
        Reason.PACKET_TOO_LARGE,
        `packet with ${props} user properties (at most ${MAX_USER_PROPERTIES} are accepted)`,
      );
    }
    const bad = invalidUtf8(raw, this.version);
    if (bad !== undefined) throw new MqttError(Reason.MALFORMED_PACKET, `${bad} is not valid UTF-8`);
    // mqtt-packet keeps views of the packet (payload, password, properties): give it a copy.
    if (!owned) raw = copyOut(raw);
    try {
      this.getParser().parse(raw);
    } catch (e) {
      // A field that runs past the packet's end: mqtt-packet reads beyond it instead of checking.
      this.parseError ??= e instanceof Error ? e : new Error(String(e));
    }
    const p = this.parsed;
    const e = this.parseError;
    this.parsed = undefined;
    this.parseError = undefined;
    if (e !== undefined) throw new MqttError(Reason.MALFORMED_PACKET, `malformed packet: ${e.message}`);
    if (p === undefined) throw new MqttError(Reason.MALFORMED_PACKET, 'malformed packet: incomplete');
    if (p.cmd === 'connect') this.version = p.protocolVersion === 5 ? 5 : 4;
    checkPacketId(p);
    this.owner.onPacket(p, raw);
  }
}

/**
 * Packet identifiers: mqtt-packet gives -1 for one the packet has no room for, and lets 0
 * through, which MQTT forbids where an id is required (MQTT-2.2.1-3).
 */
function checkPacketId(p: Packet): void {
  let needsId: boolean;
  switch (p.cmd) {
    case 'publish':
      needsId = p.qos > 0;
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'subscribe':
    case 'unsubscribe':
      needsId = true;
      break;
    default:
      needsId = false;
  }
  if (!needsId) return;
  const id = p.messageId;
  if (id === undefined || id < 0 || id > 0xffff) {
    throw new MqttError(Reason.MALFORMED_PACKET, `malformed packet: ${p.cmd} without a packet identifier`);
  }
  if (id === 0) throw new MqttError(Reason.PROTOCOL_ERROR, `${p.cmd} with packet identifier 0`);
}

/**
 * The packets of the message flow (PUBLISH without v5 properties, and the two-byte PUBACK /
 * PUBREC / PUBREL / PUBCOMP), parsed here: they are nearly all the traffic, and mqtt-packet's
 * state machine costs a Packet object and several debug() calls per packet. Anything unusual
 * (properties, bad flags, short fields) returns undefined and goes to mqtt-packet, which also
 * produces the errors, so both paths accept and refuse the same packets.
 */
function parseHot(raw: Buffer, version: number, owned: boolean): Packet | undefined {
  const first = raw[0]!;
  const cmd = first >> 4;
  if (cmd === CMD_PUBLISH) {
    const qos = (first >> 1) & 3;
    if (qos === 3) return undefined;
    let p = 1;
    while ((raw[p]! & 0x80) !== 0) p++;
    p++;
    const length = raw.length - p;
    if (p + 2 > raw.length) return undefined;
    const topicEnd = p + 2 + raw.readUInt16BE(p);
    if (topicEnd > raw.length) return undefined;
    const topicBytes = raw.subarray(p + 2, topicEnd);
    if (!isUtf8(topicBytes))
      throw new MqttError(Reason.MALFORMED_PACKET, 'the topic name is not valid UTF-8');
    p = topicEnd;
    let messageId: number | undefined;
    if (qos > 0) {
      if (p + 2 > raw.length) return undefined;
      messageId = raw.readUInt16BE(p);
      p += 2;
    }
    if (version === 5) {
      if (p >= raw.length || raw[p] !== 0) return undefined; // properties: mqtt-packet's job
      p++;
    }
    return {
      cmd: 'publish',
      qos,
      dup: (first & 8) !== 0,
      retain: (first & 1) !== 0,
      topic: topicBytes.toString('utf8'),
      payload: owned ? raw.subarray(p) : copyOut(raw.subarray(p)),
      messageId,
      length,
    } as Packet;
  }
  if (cmd >= 4 && cmd <= 7 && raw.length === 4 && raw[1] === 2 && (first & 0x0f) === (cmd === 6 ? 2 : 0)) {
    // As mqtt-packet does: a v5 ack without a reason code has reason 0 (success).
    const messageId = raw.readUInt16BE(2);
    return (
      version === 5
        ? { cmd: ACK_NAMES[cmd - 4]!, messageId, length: 2, reasonCode: 0 }
        : { cmd: ACK_NAMES[cmd - 4]!, messageId, length: 2 }
    ) as Packet;
  }
  return undefined;
}

const ACK_NAMES = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const;

/**
 * Whole size of the packet at `off` (fixed header included), 0 when its header is not complete
 * yet. Throws for a Remaining Length longer than four bytes.
 */
export function packetSize(b: Buffer, off: number): number {
  let len = 0;
  let mul = 1;
  for (let i = 1; i <= 4; i++) {
    if (off + i >= b.length) return 0;
    const byte = b[off + i]!;
    len += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return 1 + i + len;
    mul *= 128;
  }
  throw new MqttError(Reason.MALFORMED_PACKET, 'malformed Remaining Length');
}

/**
 * User Properties one packet may carry. MQTT sets no limit; every one costs an object when
 * parsed, so a packet of small ones (a million fit in 12 MB) would hold the event loop and the
 * heap. Counted before the packet is parsed.
 */
export const MAX_USER_PROPERTIES = 1024;

const CMD_PUBACK = 4;
const CMD_PUBCOMP = 7;
const CMD_DISCONNECT = 14;
const CMD_AUTH = 15;

/**
 * How many User Properties an MQTT 5 packet carries, counted over its property sections without
 * parsing them. A section cut short counts as far as it goes: mqtt-packet reports the rest.
 */
export function userPropertyCount(raw: Buffer): number {
  const cmd = raw[0]! >> 4;
  let start = 1;
  while (start < raw.length && (raw[start]! & 0x80) !== 0) start++;
  const c = new Cursor(raw, start + 1);
  const rest = raw.length - c.p;
  if (cmd === CMD_CONNECT) {
    if (c.field() === undefined || c.p + 4 > raw.length || raw[c.p] !== 5) return 0;
    const flags = raw[c.p + 1]!;
    c.p += 4;
    let n = c.countUserProperties();
    // The will's properties follow the client identifier.
    if ((flags & 0x04) !== 0 && c.field() !== undefined) n += c.countUserProperties();
    return n;
  }
  if (cmd === CMD_PUBLISH) {
    if (c.field() === undefined) return 0;
    if (((raw[0]! >> 1) & 3) > 0) c.p += 2;
    return c.countUserProperties();
  }
  if (cmd >= CMD_PUBACK && cmd <= CMD_PUBCOMP) {
    // Packet identifier and reason code; properties only when there is more.
    if (rest <= 3) return 0;
    c.p += 3;
    return c.countUserProperties();
  }
  if (cmd === CMD_SUBSCRIBE || cmd === CMD_UNSUBSCRIBE) {
    c.p += 2;
    return c.countUserProperties();
  }
  if (cmd === CMD_DISCONNECT || cmd === CMD_AUTH) {
    if (rest <= 1) return 0;
    c.p += 1;
    return c.countUserProperties();
  }
  return 0;
}

/** Names the first string field that is not valid UTF-8 in a packet mqtt-packet would accept. */
function invalidUtf8(raw: Buffer, version: number): string | undefined {
  const cmd = raw[0]! >> 4;
  if (cmd !== CMD_PUBLISH && cmd !== CMD_SUBSCRIBE && cmd !== CMD_UNSUBSCRIBE && cmd !== CMD_CONNECT)
    return undefined;
  let start = 1;
  while (start < raw.length && (raw[start]! & 0x80) !== 0) start++;
  const c = new Cursor(raw, start + 1);
  // A field cut short is left alone here: mqtt-packet reports the malformed packet.
  if (cmd === CMD_PUBLISH) return c.isUtf8Field() === false ? 'the topic name' : undefined;
  if (cmd === CMD_CONNECT) return invalidConnectUtf8(c);
  c.p += 2; // packet identifier
  if (version === 5 && !c.skipProperties()) return undefined;
  while (!c.done) {
    const ok = c.isUtf8Field();
    if (ok === undefined) return undefined;
    if (!ok) return 'a topic filter';
    if (cmd === CMD_SUBSCRIBE) c.p++; // subscription options
  }
  return undefined;
}

/** CONNECT: the client identifier, will topic and user name must be UTF-8 (passwords are binary). */
function invalidConnectUtf8(c: Cursor): string | undefined {
  const name = c.field(); // protocol name
  if (name === undefined || c.p + 4 > c.b.length) return undefined;
  const level = c.b[c.p]!;
  const flags = c.b[c.p + 1]!;
  c.p += 4;
  if (level === 5 && !c.skipProperties()) return undefined;
  const id = c.isUtf8Field();
  if (id === undefined) return undefined;
  if (!id) return 'the client identifier';
  if ((flags & 0x04) !== 0) {
    if (level === 5 && !c.skipProperties()) return undefined;
    const topic = c.isUtf8Field();
    if (topic === undefined) return undefined;
    if (!topic) return 'the will topic';
    if (c.field() === undefined) return undefined; // will payload
  }
  if ((flags & 0x80) !== 0 && c.isUtf8Field() === false) return 'the user name';
  return undefined;
}

/** Reads the variable part of a packet for invalidUtf8; every read stops at the packet's end. */
class Cursor {
  constructor(
    readonly b: Buffer,
    public p: number,
  ) {}

  get done(): boolean {
    return this.p >= this.b.length;
  }

  /** A two-byte-length-prefixed field, or undefined when its length is cut short. */
  field(): Buffer | undefined {
    if (this.p + 2 > this.b.length) return undefined;
    const n = this.b.readUInt16BE(this.p);
    const s = this.b.subarray(this.p + 2, this.p + 2 + n);
    this.p += 2 + n;
    return s;
  }

  /** Whether the next field is UTF-8 (undefined when cut short). */
  isUtf8Field(): boolean | undefined {
    const f = this.field();
    return f === undefined ? undefined : isUtf8(f);
  }

  /** A Variable Byte Integer, or undefined when cut short or longer than four bytes. */
  varint(): number | undefined {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 4 && this.p < this.b.length; i++) {
      const byte = this.b[this.p++]!;
      n += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return n;
      mul *= 128;
    }
    return undefined;
  }

  /**
   * Walks a v5 property section (its length, then the properties) and counts the User
   * Properties in it; stops at an unknown property identifier. Leaves the cursor after it.
   */
  countUserProperties(): number {
    const len = this.varint();
    if (len === undefined) return 0;
    const end = Math.min(this.p + len, this.b.length);
    let n = 0;
    walk: while (this.p < end) {
      const id = this.b[this.p++]!;
      switch (PROPERTY_VALUE[id]) {
        case 1:
          this.p += 1;
          break;
        case 2:
          this.p += 2;
          break;
        case 4:
          this.p += 4;
          break;
        case VARINT:
          if (this.varint() === undefined) break walk;
          break;
        case FIELD:
          if (this.field() === undefined) break walk;
          break;
        case PAIR:
          n++;
          if (this.field() === undefined || this.field() === undefined) break walk;
          break;
        default:
          break walk;
      }
    }
    this.p = end;
    return n;
  }

  /** Skips v5 properties (a Variable Byte Integer length, then that many bytes); false if cut short. */
  skipProperties(): boolean {
    let len = 0;
    let mul = 1;
    for (let i = 0; i < 4 && this.p < this.b.length; i++) {
      const byte = this.b[this.p++]!;
      len += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) {
        this.p += len;
        return this.p <= this.b.length;
      }
      mul *= 128;
    }
    return false;
  }
}

const VARINT = 5;
const FIELD = 6;
const PAIR = 7;

/**
 * The value of each MQTT 5 property, by identifier (MQTT 5 section 2.2.2.2): its size in bytes,
 * or VARINT (Variable Byte Integer), FIELD (UTF-8 string or binary data with a two-byte length),
 * PAIR (a UTF-8 string pair: the User Property).
 */
const PROPERTY_VALUE = (() => {
  const table = new Uint8Array(256); // 0: not a property
  for (const [id, value] of [
    [0x01, 1],
    [0x02, 4],
    [0x03, FIELD],
    [0x08, FIELD],
    [0x09, FIELD],
    [0x0b, VARINT],
    [0x11, 4],
    [0x12, FIELD],
    [0x13, 2],
    [0x15, FIELD],
    [0x16, FIELD],
    [0x17, 1],
    [0x18, 4],
    [0x19, 1],
    [0x1a, FIELD],
    [0x1c, FIELD],
    [0x1f, FIELD],
    [0x21, 2],
    [0x22, 2],
    [0x23, 2],
    [0x24, 1],
    [0x25, 1],
    [0x26, PAIR],
    [0x27, 4],
    [0x28, 1],
    [0x29, 1],
    [0x2a, 1],
  ]) {
    table[id!] = value!;
  }
  return table;
})();

/** The whole size of a PUBLISH as PacketWriter.publish encodes it (no v5 properties). */
export function publishPacketSize(
  topicBytes: number,
  payloadBytes: number,
  qos: number,
  v5: boolean,
): number {
  const rest = 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadBytes;
  const lengthBytes = rest < 128 ? 1 : rest < 16_384 ? 2 : rest < 2_097_152 ? 3 : 4;
  return 1 + lengthBytes + rest;
}

/** Where written packets go: a socket, or the WebSocket stream in front of one. */
export interface PacketSink {
  write(b: Buffer, done?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

/** Writers with packets waiting for the end of this turn: one microtask writes them all. */
let unflushed: PacketWriter[] = [];

function flushAll(): void {
  const list = unflushed;
  unflushed = [];
  for (const w of list) {
    w.scheduled = false;
    w.flush();
  }
}

/** Above this many batched bytes the batch is written at once rather than at the end of the turn. */
const BATCH_BYTES = 64 * 1024;

/**
 * Collects the packets of one event-loop turn and writes them together. `blocked` tells the owner
 * when the socket's buffer is full (pause deliveries) and when it drained.
 */
export class PacketWriter {
  private bufs: Buffer[] = [];
  private bytes = 0;
  /** Pooled payloads in `bufs`: each is handed back when its write completes. */
  private pooled: Set<Buffer> | undefined;
  /** Waiting in `unflushed` for the end of the turn. */
  scheduled = false;
  /** The socket said its buffer is full and has not drained since. */
  full = false;
  closed = false;
  version = 4;

  constructor(
    private readonly sink: PacketSink,
    private readonly owner: { backpressure(full: boolean): void },
  ) {}

  /** Any packet, encoded by mqtt-packet (its `write` return value is ours: see write()). */
  send(p: Packet): void {
    this.push(this.encode(p));
  }

  /**
   * A packet encoded whole by mqtt-packet: it may refuse a packet halfway (it throws), and half a
   * packet must never reach the batch. Backpressure is the socket's write return, seen in flush().
   */
  encode(p: Packet): Buffer {
    return mqttPacket.generate(p, { protocolVersion: this.version as 4 | 5 });
  }

  /** A packet encode() made. */
  sendEncoded(b: Buffer): void {
    this.push(b);
  }

  /**
   * PUBLISH without properties (3.1.1, or 5 with none), encoded here: the hot path. The payload
   * is not copied until the batch is written.
   */
  publish(topic: Buffer, payload: Buffer, qos: number, pid: number, retain: boolean, dup: boolean): void {
    const v5 = this.version === 5;
    const rest = 2 + topic.length + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
    const head = Buffer.allocUnsafe(5 + 2 + topic.length + 2 + 1);
    head[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
    let p = 1;
    let n = rest;
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 0x80;
      head[p++] = byte;
    } while (n > 0);
    head.writeUInt16BE(topic.length, p);
    p += 2;
    p += topic.copy(head, p);
    if (qos > 0) {
      head.writeUInt16BE(pid, p);
      p += 2;
    }
    if (v5) head[p++] = 0; // no properties
    this.push(head.subarray(0, p));
    if (payload.length === 0 || this.closed) return;
    // A pooled payload is reused once this write of it is done (see payload-pool.ts).
    if (writeStarted(payload)) (this.pooled ??= new Set()).add(payload);
    this.push(payload);
  }

  /** PUBACK / PUBREC / PUBREL / PUBCOMP with a reason code and nothing else (the common case). */
  ack(type: number, pid: number, reason: number): void {
    const withReason = this.version === 5 && reason !== 0;
    const b = Buffer.allocUnsafe(withReason ? 5 : 4);
    b[0] = (type << 4) | (type === 6 ? 2 : 0);
    b[1] = withReason ? 3 : 2;
    b.writeUInt16BE(pid, 2);
    if (withReason) b[4] = reason;
    this.push(b);
  }

  private push(b: Buffer): void {
    if (this.closed) return;
    this.bufs.push(b);
    this.bytes += b.length;
    if (this.bytes >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      unflushed.push(this);
      if (unflushed.length === 1) queueMicrotask(flushAll);
    }
  }

  /** Writes the batch now. */
  flush(): void {
    const bufs = this.bufs;
    if (bufs.length === 0 || this.closed) return;
    this.bufs = [];
    const bytes = this.bytes;
    this.bytes = 0;
    const pooled = this.pooled;
    this.pooled = undefined;
    let ok: boolean;
    if (bytes <= 65536 && bufs.length > 1) {
      ok = this.sink.write(Buffer.concat(bufs, bytes));
      if (pooled !== undefined) for (const b of pooled) writeDone(b); // copied by concat
    } else {
      this.sink.cork();
      ok = true;
      for (const b of bufs) {
        ok = pooled?.has(b) === true ? this.sink.write(b, () => writeDone(b)) : this.sink.write(b);
      }
      this.sink.uncork();
    }
    if (!ok && !this.full) {
      this.full = true;
      this.owner.backpressure(true);
    }
  }

  /** The socket drained: deliveries may go on. */
  drained(): void {
    if (!this.full) return;
    this.full = false;
    this.owner.backpressure(false);
  }
}
