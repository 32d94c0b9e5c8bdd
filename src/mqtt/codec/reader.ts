/**
 * PacketReader frames the byte stream into packets and decodes each: a packet over the size
 * limit is refused from its fixed header, before its body is buffered [MQTT-3.2.2-15] (and the
 * unauthenticated limit keeps a stranger's CONNECT small); Remaining Length is at most four
 * bytes (section 2.1.4). Packets inside a chunk are decoded in place; only what outlives the
 * call is copied.
 */
import { SwitchyardError } from '../../errors/index.js';
import { PacketType } from './constants.js';
import { decodePacketAt } from './decode.js';
import type { ClientPacket } from './packets.js';
import type { PayloadPool } from './payload-pool.js';
import { slabAlloc } from './slab.js';

/** Gets each decoded packet, in order. */
export interface PacketHandler {
  onPacket(p: ClientPacket): void;
}

/**
 * Splits a byte stream into packets and decodes them; throws a SwitchyardError (MALFORMED_PACKET,
 * PROTOCOL_ERROR, PACKET_TOO_LARGE, UNSUPPORTED_PROTOCOL_VERSION) on bad input.
 *
 * A stream's chunks belong to the reader once pushed (a socket's 'data' gives a new buffer per
 * read), so payloads and binary fields are views of them, not copies: at most one read (64 KiB)
 * stays referenced by a message that waits in a queue, and no byte is copied twice. A reader
 * told that its producer reuses chunks (`chunksOwned` false) copies what outlives push() into
 * slab slices instead. A packet cut by the end of a read is copied once into a buffer of its
 * size (from the payload pool when large).
 */
export class PacketReader {
  /** A packet cut by the end of a read: its whole size, allocated, filled up to `filled`. */
  private partial: Buffer | undefined;
  private filled = 0;
  /** The first bytes of a packet whose header (type and Remaining Length) is still cut short. */
  private headerPart: Buffer | undefined;
  /** MQTT version the packets are laid out for (5 has properties): the CONNECT decides. */
  version = 4;
  /** Bytes held back by hold(), in order (the reader's own: copies when chunks are not). */
  private held: Buffer[] | undefined;

  constructor(
    /** Largest packet accepted, whole (fixed header included). */
    public maxPacketSize: number,
    private readonly owner: PacketHandler,
    private readonly pool: PayloadPool,
    /** Whether pushed chunks are the reader's to keep (false: the producer reuses them). */
    private readonly chunksOwned = true,
  ) {}

  /**
   * Stops handing out packets: the rest of the current chunk and every later one are kept until
   * release() (a CONNECT whose password is being checked; the owner stops reading meanwhile).
   */
  hold(): void {
    this.held ??= [];
  }

  /** Hands out what hold() kept, then goes on as before. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    if (held === undefined) return;
    for (let i = 0; i < held.length; i++) {
      if (this.held !== undefined) {
        // Held again by a packet of the replay: the rest waits for the next release().
        (this.held as Buffer[]).push(...held.slice(i));
        return;
      }
      this.push(held[i]!);
    }
  }

  /** Keeps `rest` for release(). */
  private keep(rest: Buffer): void {
    if (rest.length > 0) this.held!.push(this.chunksOwned ? rest : Buffer.from(rest));
  }

  /** Takes the next chunk from the stream; calls onPacket for each whole packet in order. */
  push(chunk: Buffer): void {
    if (this.held !== undefined) return this.keep(chunk);
    let off = 0;
    const partial = this.partial;
    if (partial !== undefined) {
      const take = Math.min(partial.length - this.filled, chunk.length);
      chunk.copy(partial, this.filled, 0, take);
      this.filled += take;
      if (this.filled < partial.length) return;
      this.partial = undefined;
      this.decodeOne(partial, 0, partial.length, true);
      off = take;
      if (this.held !== undefined) return this.keep(chunk.subarray(off));
    } else if (this.headerPart !== undefined) {
      // Rare (a read ended inside a fixed header): join the few held bytes with this chunk (a
      // copy: the reader's own).
      chunk = Buffer.concat([this.headerPart, chunk]);
      this.headerPart = undefined;
    }
    while (off < chunk.length) {
      const size = packetSize(chunk, off);
      if (size > this.maxPacketSize) {
        throw new SwitchyardError(
          'PACKET_TOO_LARGE',
          `packet of ${size} bytes is larger than the maximum packet size ${this.maxPacketSize}`,
        );
      }
      if (size === 0) {
        this.headerPart = Buffer.from(chunk.subarray(off));
        return;
      }
      if (off + size > chunk.length) {
        // Copied once into a buffer of the packet's size; later reads fill it in.
        const p = slabAlloc(size, this.pool);
        this.filled = chunk.copy(p, 0, off);
        this.partial = p;
        return;
      }
      this.decodeOne(chunk, off, off + size, this.chunksOwned);
      off += size;
      if (this.held !== undefined) return this.keep(chunk.subarray(off));
    }
  }

  /** The packet at `b[start, end)`; `owned`: b may be kept (else its producer reuses it). */
  private decodeOne(b: Buffer, start: number, end: number, owned: boolean): void {
    const p = decodePacketAt(b, start, end, this.version, owned, this.pool);
    // The CONNECT fixes the layout of the packets after it, in this chunk too.
    if (p.type === PacketType.CONNECT) this.version = p.protocolVersion === 5 ? 5 : 4;
    this.owner.onPacket(p);
  }
}

/**
 * Whole size of the packet at `off` (fixed header included), 0 when its header is not complete
 * yet. Throws for a Remaining Length longer than four bytes (section 1.5.5).
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
  throw new SwitchyardError('MALFORMED_PACKET', 'malformed Remaining Length');
}
