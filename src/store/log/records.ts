/**
 * The message log's record payloads (the framing around them is in scan.ts). Little-endian; ids
 * are u64 written as two u32 halves (message ids are safe integers, below 2^53).
 *
 * A message (the payload of MSG and MOVE, and each entry of a TXN):
 *
 *   u64 id | u16 nQueues | u32 queue × nQueues | u16 propsFormat | u16 exLen | exchange (utf8)
 *   | u16 rkLen | routing key (utf8) | u32 propsLen | u32 bodyLen | props | body
 *
 * Everything before the props is "meta"; the body comes last so its file location is simply the
 * end of the record, which is what paging reads back.
 *
 *   MSG          a message
 *   SETTLE       groups until the end: u32 queue | u32 n | u64 id × n (the message left the queue)
 *   DELIVERED    pairs until the end: u32 queue | u64 upTo (ids ≤ upTo were delivered)
 *   PURGE        u32 queue (every message then in the queue left it)
 *   DELETE_QUEUE u32 queue (as PURGE, and the queue's delivered watermark is forgotten)
 *   TXN          u32 nMsgs | (u32 len | message) × nMsgs | settle groups as in SETTLE
 *   MOVE         a message copied forward by compaction; its queue list is the set still holding it
 *   CHECKPOINT   u64 maxId | pairs until the end: u32 queue | u64 upTo. First record of every
 *                segment: what older segments knew that must survive their deletion.
 */
import { SwitchyardError } from '../../errors/index.js';

export const RecordType = {
  MSG: 1,
  SETTLE: 2,
  DELIVERED: 3,
  PURGE: 4,
  DELETE_QUEUE: 5,
  TXN: 6,
  MOVE: 7,
  CHECKPOINT: 8,
} as const;

/** A message as the broker hands it to the log. */
export interface LogMessage {
  /** Increasing, never reused; the broker continues after the recovered `maxId`. */
  readonly id: number;
  /** Durable queues (small integers the broker assigns) that hold the message. */
  readonly queues: readonly number[];
  readonly exchange: string;
  readonly routingKey: string;
  /** Which codec the props are encoded with (the broker's own numbering). */
  readonly propsFormat: number;
  readonly props: Buffer;
  readonly body: Buffer;
}

const TWO32 = 4294967296;
const EMPTY = Buffer.alloc(0);

export function writeU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v >>> 0, off);
  buf.writeUInt32LE(Math.floor(v / TWO32), off + 4);
}

export function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 0x200000) throw new DecodeError('id beyond 2^53');
  return hi * TWO32 + buf.readUInt32LE(off);
}

/** A CRC-valid record whose payload does not parse: reported as corruption, never thrown out of recovery. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new DecodeError(what);
}

function metaLength(nQueues: number, exLen: number, rkLen: number): number {
  return 8 + 2 + 4 * nQueues + 2 + 2 + exLen + 2 + rkLen + 4 + 4;
}

/** Length of a message's encoding (meta, props and body). */
export function messageLength(m: LogMessage, queues: readonly number[]): number {
  return (
    metaLength(queues.length, Buffer.byteLength(m.exchange), Buffer.byteLength(m.routingKey)) +
    m.props.length +
    m.body.length
  );
}

/**
 * Encodes a message's meta (everything before props and body). `queues` may differ from m.queues
 * (compaction writes the queues still holding it). `lenPrefix` adds the u32 length TXN entries have.
 */
export function encodeMeta(m: LogMessage, queues: readonly number[], lenPrefix: boolean): Buffer {
  const exLen = Buffer.byteLength(m.exchange);
  const rkLen = Buffer.byteLength(m.routingKey);
  if (exLen > 0xffff || rkLen > 0xffff || queues.length > 0xffff || m.propsFormat > 0xffff) {
    throw new SwitchyardError(
      'CONTENT_TOO_LARGE',
      'exchange, routing key or queue list too long for the log',
    );
  }
  const pre = lenPrefix ? 4 : 0;
  const metaLen = metaLength(queues.length, exLen, rkLen);
  const b = Buffer.allocUnsafe(pre + metaLen);
  let o = pre;
  if (lenPrefix) b.writeUInt32LE(metaLen + m.props.length + m.body.length, 0);
  writeU64(b, o, m.id);
  o += 8;
  b.writeUInt16LE(queues.length, o);
  o += 2;
  for (const q of queues) {
    b.writeUInt32LE(q, o);
    o += 4;
  }
  b.writeUInt16LE(m.propsFormat, o);
  b.writeUInt16LE(exLen, o + 2);
  o += 4;
  o += b.write(m.exchange, o, 'utf8');
  b.writeUInt16LE(rkLen, o);
  o += 2;
  o += b.write(m.routingKey, o, 'utf8');
  b.writeUInt32LE(m.props.length, o);
  b.writeUInt32LE(m.body.length, o + 4);
  return b;
}

/** A message decoded in place: offsets into the buffer it was decoded from. */
export interface MessageView {
  /** Offset of the message's first byte. */
  start: number;
  id: number;
  queues: number[];
  propsFormat: number;
  exStart: number;
  exEnd: number;
  rkStart: number;
  rkEnd: number;
  propsStart: number;
  propsEnd: number;
  bodyStart: number;
  /** End of the body and of the message. */
  end: number;
}

/** Decodes the message in buf[start, end) without copying. */
export function viewMessage(buf: Buffer, start: number, end: number): MessageView {
  check(end - start >= 8 + 2 + 2 + 2 + 2 + 8, 'message too short');
  let o = start;
  const id = readU64(buf, o);
  o += 8;
  const nq = buf.readUInt16LE(o);
  o += 2;
  check(o + 4 * nq + 6 <= end, 'queue list overruns');
  const queues: number[] = new Array(nq);
  for (let i = 0; i < nq; i++, o += 4) queues[i] = buf.readUInt32LE(o);
  const propsFormat = buf.readUInt16LE(o);
  const exLen = buf.readUInt16LE(o + 2);
  const exStart = o + 4;
  const exEnd = exStart + exLen;
  check(exEnd + 2 <= end, 'exchange overruns');
  const rkLen = buf.readUInt16LE(exEnd);
  const rkStart = exEnd + 2;
  const rkEnd = rkStart + rkLen;
  check(rkEnd + 8 <= end, 'routing key overruns');
  const propsLen = buf.readUInt32LE(rkEnd);
  const bodyLen = buf.readUInt32LE(rkEnd + 4);
  const propsStart = rkEnd + 8;
  const bodyStart = propsStart + propsLen;
  check(bodyStart + bodyLen === end, 'message length mismatch');
  return {
    start,
    id,
    queues,
    propsFormat,
    exStart,
    exEnd,
    rkStart,
    rkEnd,
    propsStart,
    propsEnd: bodyStart,
    bodyStart,
    end,
  };
}

/** Settle groups: queue → ids. */
export type SettleGroups = ReadonlyMap<number, readonly number[]>;

export function settleGroupsLength(groups: SettleGroups): number {
  let n = 0;
  for (const ids of groups.values()) if (ids.length > 0) n += 8 + 8 * ids.length;
  return n;
}

/** Writes settle groups at `off`; returns the offset after them. */
export function writeSettleGroups(b: Buffer, off: number, groups: SettleGroups): number {
  for (const [q, ids] of groups) {
    if (ids.length === 0) continue;
    b.writeUInt32LE(q, off);
    b.writeUInt32LE(ids.length, off + 4);
    off += 8;
    for (let i = 0; i < ids.length; i++, off += 8) writeU64(b, off, ids[i]!);
  }
  return off;
}

/** Calls `each(queue, id)` for every settle in buf[off, end). */
export function readSettleGroups(
  buf: Buffer,
  off: number,
  end: number,
  each: (q: number, id: number) => void,
): void {
  while (off < end) {
    check(off + 8 <= end, 'settle group header overruns');
    const q = buf.readUInt32LE(off);
    const n = buf.readUInt32LE(off + 4);
    off += 8;
    check(off + 8 * n <= end, 'settle group overruns');
    for (let i = 0; i < n; i++, off += 8) each(q, readU64(buf, off));
  }
}

export function encodeSettle(groups: SettleGroups): Buffer {
  const b = Buffer.allocUnsafe(settleGroupsLength(groups));
  writeSettleGroups(b, 0, groups);
  return b;
}

/** DELIVERED and the tail of CHECKPOINT: (queue, upTo) pairs. */
export function encodeWatermarks(pairs: Iterable<readonly [number, number]>, maxId?: number): Buffer {
  const list = [...pairs];
  const pre = maxId === undefined ? 0 : 8;
  const b = Buffer.allocUnsafe(pre + 12 * list.length);
  if (maxId !== undefined) writeU64(b, 0, maxId);
  let o = pre;
  for (const [q, upTo] of list) {
    b.writeUInt32LE(q, o);
    writeU64(b, o + 4, upTo);
    o += 12;
  }
  return b;
}

export function readWatermarks(buf: Buffer, off: number, each: (q: number, upTo: number) => void): void {
  check((buf.length - off) % 12 === 0, 'watermark list length');
  for (; off < buf.length; off += 12) each(buf.readUInt32LE(off), readU64(buf, off + 4));
}

export function encodeQueue(q: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(q, 0);
  return b;
}

export function readQueue(buf: Buffer): number {
  check(buf.length === 4, 'queue record length');
  return buf.readUInt32LE(0);
}

/** The parts of a TXN record: count, then each message's meta/props/body, then the settles. */
export function txnParts(msgs: readonly LogMessage[], settles: SettleGroups): Buffer[] {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(msgs.length, 0);
  const parts: Buffer[] = [head];
  for (const m of msgs) parts.push(encodeMeta(m, m.queues, true), m.props, m.body);
  parts.push(encodeSettle(settles));
  return parts;
}

/** Walks a TXN payload: each message (with its offset in the payload), then each settle. */
export function readTxn(
  buf: Buffer,
  onMessage: (v: MessageView) => void,
  onSettle: (q: number, id: number) => void,
): void {
  check(buf.length >= 4, 'txn too short');
  const n = buf.readUInt32LE(0);
  let o = 4;
  // Decode everything before applying anything: a transaction is applied whole or not at all.
  const views: MessageView[] = [];
  for (let i = 0; i < n; i++) {
    check(o + 4 <= buf.length, 'txn entry overruns');
    const len = buf.readUInt32LE(o);
    check(o + 4 + len <= buf.length, 'txn entry overruns');
    views.push(viewMessage(buf, o + 4, o + 4 + len));
    o += 4 + len;
  }
  const settles: number[] = [];
  readSettleGroups(buf, o, buf.length, (q, id) => settles.push(q, id));
  for (const v of views) onMessage(v);
  for (let i = 0; i < settles.length; i += 2) onSettle(settles[i]!, settles[i + 1]!);
}

/** A decoded record, for tests and tools (recovery decodes in place instead). */
export type DecodedRecord =
  | { type: 'msg' | 'move'; msg: DecodedMessage }
  | { type: 'settle'; settles: [number, number][] }
  | { type: 'delivered'; marks: [number, number][] }
  | { type: 'purge' | 'delete'; queue: number }
  | { type: 'txn'; msgs: DecodedMessage[]; settles: [number, number][] }
  | { type: 'checkpoint'; maxId: number; marks: [number, number][] };

export interface DecodedMessage {
  id: number;
  queues: number[];
  exchange: string;
  routingKey: string;
  propsFormat: number;
  props: Buffer;
  body: Buffer;
}

function copyMessage(buf: Buffer, v: MessageView): DecodedMessage {
  return {
    id: v.id,
    queues: v.queues,
    exchange: buf.toString('utf8', v.exStart, v.exEnd),
    routingKey: buf.toString('utf8', v.rkStart, v.rkEnd),
    propsFormat: v.propsFormat,
    props: v.propsEnd > v.propsStart ? Buffer.from(buf.subarray(v.propsStart, v.propsEnd)) : EMPTY,
    body: Buffer.from(buf.subarray(v.bodyStart, v.end)),
  };
}

export function decodeRecord(type: number, payload: Buffer): DecodedRecord {
  switch (type) {
    case RecordType.MSG:
    case RecordType.MOVE:
      return {
        type: type === RecordType.MSG ? 'msg' : 'move',
        msg: copyMessage(payload, viewMessage(payload, 0, payload.length)),
      };
    case RecordType.SETTLE: {
      const settles: [number, number][] = [];
      readSettleGroups(payload, 0, payload.length, (q, id) => settles.push([q, id]));
      return { type: 'settle', settles };
    }
    case RecordType.DELIVERED: {
      const marks: [number, number][] = [];
      readWatermarks(payload, 0, (q, u) => marks.push([q, u]));
      return { type: 'delivered', marks };
    }
    case RecordType.PURGE:
    case RecordType.DELETE_QUEUE:
      return { type: type === RecordType.PURGE ? 'purge' : 'delete', queue: readQueue(payload) };
    case RecordType.TXN: {
      const msgs: DecodedMessage[] = [];
      const settles: [number, number][] = [];
      readTxn(
        payload,
        (v) => msgs.push(copyMessage(payload, v)),
        (q, id) => settles.push([q, id]),
      );
      return { type: 'txn', msgs, settles };
    }
    case RecordType.CHECKPOINT: {
      check(payload.length >= 8, 'checkpoint too short');
      const marks: [number, number][] = [];
      readWatermarks(payload, 8, (q, u) => marks.push([q, u]));
      return { type: 'checkpoint', maxId: readU64(payload, 0), marks };
    }
    default:
      throw new DecodeError(`unknown record type ${type}`);
  }
}
