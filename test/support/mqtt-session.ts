/**
 * MQTT session tests without sockets: a broker (with a ManualClock when the test moves time), the
 * MQTT front end, and clients that speak packets over in-memory duplex pairs.
 */
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { Broker } from '../../src/core/index.js';
import { type ClientPacket, PacketType } from '../../src/mqtt/codec/index.js';
import { DEFAULT_MQTT_SETTINGS, MqttFrontEnd, type MqttSettings } from '../../src/mqtt/index.js';
import type { Clock } from '../../src/util/clock.js';
import { duplexPair } from './duplex-pair.js';
import { ManualClock } from './manual-clock.js';
import { decodeServerPacket, encodeClientPacket, type ServerPacket, splitPackets } from './mqtt-peer.js';
import { connectPacket, type Version } from './mqtt-samples.js';

export { ManualClock };

export interface Harness {
  readonly broker: Broker;
  readonly fe: MqttFrontEnd;
  readonly clock: ManualClock;
  /** A client stream accepted by the front end (no CONNECT sent yet). */
  open(version?: Version): PeerClient;
  /** A client that has sent its CONNECT and had it accepted. */
  connect(version?: Version, extra?: Parameters<typeof connectPacket>[1]): Promise<PeerClient>;
  close(): Promise<void>;
}

/** A broker and its MQTT front end on a ManualClock (time moves only in advance()). */
export function harness(settings: Partial<MqttSettings> = {}, clock = new ManualClock()): Harness {
  // A refused password is answered at once (src/amqp/timeouts.test.ts shows the delay);
  // clients without a user name act as 'anonymous' unless a test says otherwise.
  const broker = new Broker({ clock: clock as Clock, failureDelayMs: 0 });
  const fe = new MqttFrontEnd(broker, { ...DEFAULT_MQTT_SETTINGS, anonymous: 'loopback', ...settings });
  const clients: PeerClient[] = [];
  let n = 0;
  const h: Harness = {
    broker,
    fe,
    clock,
    open(version: Version = 5) {
      const [client, server] = duplexPair();
      fe.accept(server, '127.0.0.1', 'tcp');
      const c = new PeerClient(client, version);
      clients.push(c);
      return c;
    },
    async connect(version: Version = 5, extra = {}) {
      const c = h.open(version);
      c.send(connectPacket(version, { clientId: `client-${++n}`, keepAlive: 0, ...extra }));
      const ack = await c.next(PacketType.CONNACK);
      assert.equal(ack.type === PacketType.CONNACK && ack.code, 0, 'the CONNECT was accepted');
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await fe.close();
    },
  };
  return h;
}

/** The packets of `T`'s type (an acknowledgement's shape covers four types). */
type OfType<T> = ServerPacket extends infer P
  ? P extends { type: infer K }
    ? T extends K
      ? P
      : never
    : never
  : never;

/** A client's end of a duplex pair: writes packets, decodes what the broker sends. */
export class PeerClient {
  /** Packets received and not yet taken. */
  readonly received: ServerPacket[] = [];
  closed = false;
  private rest = Buffer.alloc(0);
  private wake: (() => void) | undefined;

  constructor(
    readonly stream: Duplex,
    readonly version: Version,
  ) {
    stream.on('data', (d: Buffer) => {
      const { packets, rest } = splitPackets(Buffer.concat([this.rest, d]));
      this.rest = Buffer.from(rest);
      for (const p of packets) this.received.push(decodeServerPacket(p, version));
      this.wake?.();
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  send(p: ClientPacket): void {
    this.write(encodeClientPacket(p, p.type === PacketType.CONNECT ? p.protocolVersion : this.version));
  }

  write(b: Buffer | readonly number[]): void {
    if (!this.stream.destroyed) this.stream.write(Buffer.isBuffer(b) ? b : Buffer.from(b));
  }

  /**
   * The next packet of `type` (earlier ones of other types stay); rejects when the connection
   * closes first, or after a real-time bound (a test that expects the wrong thing fails, not hangs).
   */
  async next<T extends ServerPacket['type']>(type: T, ms = 2000): Promise<OfType<T>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.received.findIndex((p) => p.type === type);
      if (i >= 0) return this.received.splice(i, 1)[0] as OfType<T>;
      if (this.closed) throw new Error(`closed before a packet of type ${type} came`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet of type ${type} within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Lets queued work run (replies wait for promise callbacks and the writer's microtask). */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  }

  /** Resolves once the broker closed the connection (bounded like next()). */
  async waitClosed(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the connection is still open');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  destroy(): void {
    this.stream.destroy();
  }
}
