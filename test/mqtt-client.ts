/**
 * A test MQTT 5 client that speaks packets directly, so a test controls exactly what is sent and
 * acknowledged (MQTT.js acknowledges by itself).
 */
import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { WAIT_MS } from './support/wait.js';

export class RawClient {
  private readonly parser = mqttPacket.parser({ protocolVersion: 5 });
  private readonly packets: Packet[] = [];
  private waiter: (() => void) | undefined;
  private constructor(private readonly socket: Socket) {
    this.parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.waiter?.();
    });
    socket.on('data', (d) => this.parser.parse(d));
  }

  static async open(
    port: number,
    connect: Record<string, unknown>,
  ): Promise<{ c: RawClient; connack: Packet }> {
    const socket = netConnect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const c = new RawClient(socket);
    c.send({ cmd: 'connect', protocolVersion: 5, keepalive: 0, clean: false, ...connect } as Packet);
    return { c, connack: await c.next('connack') };
  }

  send(p: Packet): void {
    this.socket.write(mqttPacket.generate(p, { protocolVersion: 5 }));
  }

  /** The next packet of `cmd` (earlier packets of other types are skipped). */
  async next(cmd: string, ms = WAIT_MS): Promise<Packet> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.packets.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd} within ${ms} ms (have ${this.packets.map((p) => p.cmd)})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Packets received and not yet taken by next(). */
  get pending(): readonly Packet[] {
    return this.packets;
  }

  /** Resolves when the broker closes the connection. */
  closed(ms = WAIT_MS): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('connection not closed')), ms);
      this.socket.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
