/**
 * PacketWriter batches everything written in one event-loop turn into one socket write and
 * reports backpressure. Small packets (acknowledgements, PUBLISH headers, small payloads) are
 * written straight into a staging buffer shared by the batches that follow until it is full, so
 * a message costs no buffer of its own; large payloads go to the socket as they are, uncopied.
 */
import { type AckType, PacketType } from './constants.js';
import {
  encodeAck,
  encodeConnack,
  encodeDisconnect,
  encodePublishHeader,
  encodeSuback,
  encodeUnsuback,
  PINGRESP,
} from './encode.js';
import type { AckProperties, ConnackProperties, PublishProperties } from './packets.js';
import type { PayloadPool } from './payload-pool.js';
import { varintSize, writeVarint } from './properties.js';

/** Where written packets go: a socket, or the WebSocket stream in front of one. */
export interface PacketSink {
  write(b: Buffer, done?: (err?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  /** Bytes written and not yet taken by the peer (a stream's writableLength). */
  readonly writableLength?: number;
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
 * Staging buffers: a staging buffer is never written over (what a batch wrote in it is handed to
 * the socket, which may keep it until sent); the next batch goes on after it. A writer starts
 * with a small one (from Node's shared pool) and doubles it up to STAGE_MAX as it fills; one that
 * wrote little in a batch lets its staging buffer go, so an idle connection holds none.
 */
const STAGE_MIN = 512;
const STAGE_MAX = 16 * 1024;
/** A batch that staged at least this much keeps its staging buffer for the next one. */
const STAGE_KEEP = 1024;
/** Payloads up to this size are copied into the staging buffer; larger ones are referenced. */
const COPY_BYTES = 2 * 1024;

/**
 * Collects the packets of one event-loop turn and writes them together. `backpressure` tells the
 * owner when the socket's buffer is full (pause deliveries) and when it drained.
 */
export class PacketWriter {
  /** The batch: slices of staging buffers and payloads, in order. */
  private parts: Buffer[] = [];
  private bytes = 0;
  /** Where small packets are written; `stageStart` is where the part being written began. */
  private stage: Buffer | undefined;
  private stageStart = 0;
  private stageUsed = 0;
  /** Where in the staging buffer this batch began. */
  private batchStart = 0;
  /** Pooled payloads in `parts`: each is handed back when its write completes. */
  private pooled: Set<Buffer> | undefined;
  /** Waiting in `unflushed` for the end of the turn. */
  scheduled = false;
  /** The socket said its buffer is full and has not drained since. */
  full = false;
  /** Bytes the socket may hold before `overflow` (limits.maxOutboundBytes, issue 15). */
  maxBuffered = Number.POSITIVE_INFINITY;
  /** Over maxBuffered and not drained since. */
  over = false;
  closed = false;
  /** The protocol version packets are encoded for (4 until a v5 CONNECT). */
  version = 4;
  /** The client's Maximum Packet Size (0 = none): reason strings that would exceed it are left out. */
  maxPacketSize = 0;

  constructor(
    private readonly sink: PacketSink,
    private readonly owner: { backpressure(full: boolean): void; overflow?(over: boolean): void },
    private readonly pool: PayloadPool,
  ) {}

  /** Bytes in this turn's batch, not yet handed to the stream. */
  get batched(): number {
    return this.bytes;
  }

  /** An encoded packet. */
  send(b: Buffer): void {
    this.add(b);
  }

  /**
   * PUBLISH: the header (with `properties`, whose encoded size `propsSize` the caller has from
   * propertiesSize) and then the payload, not copied until the batch is written.
   */
  publish(
    topic: Buffer,
    payload: Buffer,
    qos: number,
    pid: number,
    retain: boolean,
    dup: boolean,
    properties?: PublishProperties,
    propsSize = 0,
  ): void {
    if (this.closed) return;
    const v = this.version;
    if (properties === undefined) {
      // No properties: the common case, written here without the general encoder.
      const v5 = v === 5;
      const rest = 2 + topic.length + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
      const headBytes = 1 + varintSize(rest) + rest - payload.length;
      const copy = payload.length <= COPY_BYTES;
      const b = this.room(headBytes + (copy ? payload.length : 0));
      let p = this.stageUsed;
      b[p] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
      p = writeVarint(b, p + 1, rest);
      b[p++] = topic.length >> 8;
      b[p++] = topic.length & 0xff;
      p += topic.copy(b, p);
      if (qos > 0) {
        b[p++] = pid >> 8;
        b[p++] = pid & 0xff;
      }
      if (v5) b[p++] = 0; // Property Length 0 [MQTT-2.2.2-1]
      if (copy) p += payload.copy(b, p);
      this.staged(p);
      if (copy) return;
    } else {
      this.add(encodePublishHeader(v, topic, payload.length, qos, pid, retain, dup, properties, propsSize));
      if (payload.length <= COPY_BYTES) {
        if (payload.length > 0) this.copyIn(payload);
        return;
      }
    }
    // A pooled payload is reused once this write of it is done (see payload-pool.ts).
    if (this.pool.writeStarted(payload)) (this.pooled ??= new Set()).add(payload);
    this.reference(payload);
  }

  /** PUBACK / PUBREC / PUBREL / PUBCOMP with a reason code and nothing else (the common case). */
  ack(type: AckType, pid: number, reason: number): void {
    if (this.closed) return;
    const withReason = this.version === 5 && reason !== 0;
    const b = this.room(5);
    const p = this.stageUsed;
    b[p] = (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
    b[p + 1] = withReason ? 3 : 2;
    b[p + 2] = pid >> 8;
    b[p + 3] = pid & 0xff;
    if (withReason) b[p + 4] = reason;
    this.staged(p + (withReason ? 5 : 4));
  }

  /** An acknowledgement with properties (a reason string in 5). */
  ackWith(type: AckType, pid: number, reason: number, properties: AckProperties): void {
    this.add(encodeAck(this.version, type, pid, reason, properties, this.maxPacketSize));
  }

  connack(sessionPresent: boolean, code: number, properties?: ConnackProperties): void {
    this.add(encodeConnack(this.version, sessionPresent, code, properties, this.maxPacketSize));
  }

  suback(pid: number, codes: readonly number[], properties?: AckProperties): void {
    this.add(encodeSuback(this.version, pid, codes, properties, this.maxPacketSize));
  }

  unsuback(pid: number, codes: readonly number[], properties?: AckProperties): void {
    this.add(encodeUnsuback(this.version, pid, codes, properties, this.maxPacketSize));
  }

  pingresp(): void {
    this.add(PINGRESP);
  }

  /** DISCONNECT with a reason string (MQTT 5 only: the caller checks). */
  disconnect(reason: number, reasonString: string): void {
    this.add(encodeDisconnect(this.version, reason, { reasonString }, this.maxPacketSize));
  }

  /** Staging room for `n` more bytes at `stageUsed` (a new staging buffer when this one is full). */
  private room(n: number): Buffer {
    const stage = this.stage;
    if (stage !== undefined && this.stageUsed + n <= stage.length) return stage;
    this.seal();
    const size = Math.max(n, stage === undefined ? STAGE_MIN : Math.min(stage.length * 2, STAGE_MAX));
    const fresh = Buffer.allocUnsafe(size);
    this.stage = fresh;
    this.stageStart = 0;
    this.stageUsed = 0;
    this.batchStart = 0;
    return fresh;
  }

  /** The staging buffer is written up to `end`. */
  private staged(end: number): void {
    this.bytes += end - this.stageUsed;
    this.stageUsed = end;
    this.queued();
  }

  /** Ends the part being written in the staging buffer (a referenced buffer comes next). */
  private seal(): void {
    if (this.stageUsed > this.stageStart) {
      this.parts.push(this.stage!.subarray(this.stageStart, this.stageUsed));
      this.stageStart = this.stageUsed;
    }
  }

  /** A buffer for the batch: copied into the staging buffer when small, else as it is. */
  private add(b: Buffer): void {
    if (b.length <= COPY_BYTES) this.copyIn(b);
    else this.reference(b);
  }

  private copyIn(b: Buffer): void {
    if (this.closed) return;
    const stage = this.room(b.length);
    this.staged(this.stageUsed + b.copy(stage, this.stageUsed));
  }

  /** `b` goes to the socket as it is, after what is staged so far. */
  private reference(b: Buffer): void {
    if (this.closed) return;
    this.seal();
    this.parts.push(b);
    this.bytes += b.length;
    this.queued();
  }

  private queued(): void {
    if (this.bytes >= BATCH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      unflushed.push(this);
      if (unflushed.length === 1) queueMicrotask(flushAll);
    }
  }

  /** Writes the batch now. */
  flush(): void {
    if (this.closed) return;
    this.seal();
    const parts = this.parts;
    if (parts.length === 0) return;
    this.parts = [];
    this.bytes = 0;
    // Little was staged in this batch: the staging buffer goes (with the write), none is held idle.
    if (this.stageUsed - this.batchStart < STAGE_KEEP) this.stage = undefined;
    this.batchStart = this.stage === undefined ? 0 : this.stageUsed;
    const pooled = this.pooled;
    this.pooled = undefined;
    const pool = this.pool;
    let ok: boolean;
    if (parts.length === 1 && pooled === undefined) ok = this.sink.write(parts[0]!);
    else {
      // Several parts (a large or pooled payload between staged ones): one writev.
      this.sink.cork();
      ok = true;
      for (const b of parts) {
        ok = pooled?.has(b) === true ? this.sink.write(b, () => pool.writeDone(b)) : this.sink.write(b);
      }
      this.sink.uncork();
    }
    if (!ok && !this.full) {
      this.full = true;
      this.owner.backpressure(true);
    }
    // Slow consumers: past the bound, QoS 0 deliveries are dropped until the socket drains.
    if (!ok && !this.over && (this.sink.writableLength ?? 0) >= this.maxBuffered) {
      this.over = true;
      this.owner.overflow?.(true);
    }
  }

  /** The socket drained: deliveries may go on. */
  drained(): void {
    if (this.over) {
      this.over = false;
      this.owner.overflow?.(false);
    }
    if (!this.full) return;
    this.full = false;
    this.owner.backpressure(false);
  }
}
