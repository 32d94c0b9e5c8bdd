/**
 * PacketWriter batches everything written in one event-loop turn into one socket write and
 * reports backpressure. PUBLISH (the hot path) goes out as a small header buffer followed by the
 * payload as it is: the payload is not copied until the batch is written.
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
 * Collects the packets of one event-loop turn and writes them together. `backpressure` tells the
 * owner when the socket's buffer is full (pause deliveries) and when it drained.
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
  /** The protocol version packets are encoded for (4 until a v5 CONNECT). */
  version = 4;
  /** The client's Maximum Packet Size (0 = none): reason strings that would exceed it are left out. */
  maxPacketSize = 0;

  constructor(
    private readonly sink: PacketSink,
    private readonly owner: { backpressure(full: boolean): void },
    private readonly pool: PayloadPool,
  ) {}

  /** An encoded packet. */
  send(b: Buffer): void {
    this.push(b);
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
    const v = this.version;
    let head: Buffer;
    if (properties === undefined) {
      // No properties: the common case, written here without the general encoder.
      const v5 = v === 5;
      const rest = 2 + topic.length + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
      head = Buffer.allocUnsafe(5 + 2 + topic.length + 2 + 1);
      head[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0);
      let p = 1;
      let n = rest;
      do {
        let byte = n % 128;
        n = Math.floor(n / 128);
        if (n > 0) byte |= 0x80;
        head[p++] = byte;
      } while (n > 0);
      head[p++] = topic.length >> 8;
      head[p++] = topic.length & 0xff;
      p += topic.copy(head, p);
      if (qos > 0) {
        head[p++] = pid >> 8;
        head[p++] = pid & 0xff;
      }
      if (v5) head[p++] = 0; // Property Length 0 [MQTT-2.2.2-1]
      head = head.subarray(0, p);
    } else {
      head = encodePublishHeader(v, topic, payload.length, qos, pid, retain, dup, properties, propsSize);
    }
    this.push(head);
    if (payload.length === 0 || this.closed) return;
    // A pooled payload is reused once this write of it is done (see payload-pool.ts).
    if (this.pool.writeStarted(payload)) (this.pooled ??= new Set()).add(payload);
    this.push(payload);
  }

  /** PUBACK / PUBREC / PUBREL / PUBCOMP with a reason code and nothing else (the common case). */
  ack(type: AckType, pid: number, reason: number): void {
    const withReason = this.version === 5 && reason !== 0;
    const b = Buffer.allocUnsafe(withReason ? 5 : 4);
    b[0] = (type << 4) | (type === PacketType.PUBREL ? 2 : 0);
    b[1] = withReason ? 3 : 2;
    b[2] = pid >> 8;
    b[3] = pid & 0xff;
    if (withReason) b[4] = reason;
    this.push(b);
  }

  /** An acknowledgement with properties (a reason string in 5). */
  ackWith(type: AckType, pid: number, reason: number, properties: AckProperties): void {
    this.push(encodeAck(this.version, type, pid, reason, properties, this.maxPacketSize));
  }

  connack(sessionPresent: boolean, code: number, properties?: ConnackProperties): void {
    this.push(encodeConnack(this.version, sessionPresent, code, properties, this.maxPacketSize));
  }

  suback(pid: number, codes: readonly number[], properties?: AckProperties): void {
    this.push(encodeSuback(this.version, pid, codes, properties, this.maxPacketSize));
  }

  unsuback(pid: number, codes: readonly number[], properties?: AckProperties): void {
    this.push(encodeUnsuback(this.version, pid, codes, properties, this.maxPacketSize));
  }

  pingresp(): void {
    this.push(PINGRESP);
  }

  /** DISCONNECT with a reason string (MQTT 5 only: the caller checks). */
  disconnect(reason: number, reasonString: string): void {
    this.push(encodeDisconnect(this.version, reason, { reasonString }, this.maxPacketSize));
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
    const pool = this.pool;
    let ok: boolean;
    if (bytes <= 65536 && bufs.length > 1) {
      ok = this.sink.write(Buffer.concat(bufs, bytes));
      if (pooled !== undefined) for (const b of pooled) pool.writeDone(b); // copied by concat
    } else {
      this.sink.cork();
      ok = true;
      for (const b of bufs) {
        ok = pooled?.has(b) === true ? this.sink.write(b, () => pool.writeDone(b)) : this.sink.write(b);
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
