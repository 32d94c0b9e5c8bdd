/**
 * A raw MQTT client for bad-input tests: writes any bytes, parses what comes back with
 * mqtt-packet (for the version it speaks) and keeps the exact bytes, and tells when the broker
 * closed the socket. Every wait is bounded, so a test that expects the wrong thing fails, not hangs.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { tempDir } from './support/temp.js';
import { WAIT_MS } from './support/wait.js';

export type Version = 4 | 5;

/** The bytes of `p` as a client of `version` would send them. */
export function encode(p: Packet, version: Version = 4): Buffer {
  return mqttPacket.generate(p, { protocolVersion: version });
}

/** A CONNECT with a clean session and a client id of its own. */
export function connectPacket(version: Version, clientId: string, extra: Partial<Packet> = {}): Packet {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clean: true,
    clientId,
    keepalive: 0,
    ...extra,
  } as Packet;
}

/** A fixed header and a remaining length around `body` (any bytes: nothing is checked). */
export function frame(first: number, body: Buffer | readonly number[]): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const len: number[] = [];
  let n = b.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([first, ...len]), b]);
}

/** An MQTT string: two length bytes, then the bytes as given. */
export function mqttString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

export class RawMqtt {
  /** Connections not closed yet, so a failed test can close what it opened. */
  static readonly open = new Set<RawMqtt>();
  /** Everything the broker sent, in order. */
  bytes = Buffer.alloc(0);
  readonly packets: Packet[] = [];
  /** Resolves when the socket is closed (by either side). */
  readonly closed: Promise<void>;
  isClosed = false;
  parseError: Error | undefined;
  private readonly parser;
  private waiters: (() => void)[] = [];
  /** Packets already returned by next(). */
  private taken = 0;

  private constructor(
    readonly socket: Socket,
    readonly version: Version,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.wake();
    });
    this.parser.on('error', (e: Error) => {
      this.parseError ??= e;
      this.wake();
    });
    socket.on('data', (d: Buffer) => {
      this.bytes = Buffer.concat([this.bytes, d]);
      this.parser.parse(d);
    });
    socket.on('error', () => {});
    RawMqtt.open.add(this);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        RawMqtt.open.delete(this);
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(port: number, version: Version = 4): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.off('error', reject);
        resolve(new RawMqtt(s, version));
      });
      s.once('error', reject);
    });
  }

  /** Connects and completes a CONNECT / CONNACK (success) exchange. */
  static async connected(
    port: number,
    version: Version,
    clientId: string,
    extra: Partial<Packet> = {},
  ): Promise<RawMqtt> {
    const raw = await RawMqtt.connect(port, version);
    raw.send(connectPacket(version, clientId, extra));
    const ack = await raw.next();
    if (ack === 'closed' || ack.cmd !== 'connack')
      throw new Error(`expected CONNACK, got ${describePacket(ack)}`);
    const code = version === 5 ? ack.reasonCode : ack.returnCode;
    if (code !== 0) throw new Error(`CONNACK refused the connection: ${code}`);
    return raw;
  }

  /** Sends a packet encoded for this client's version. */
  send(p: Packet): void {
    this.write(encode(p, this.version));
  }

  write(b: Buffer | readonly number[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.isBuffer(b) ? b : Buffer.from(b));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * The next packet not yet taken; 'closed' once the socket closed with nothing more (or what came
   * back no longer parses: see parseError and bytes).
   */
  async next(ms = WAIT_MS): Promise<Packet | 'closed'> {
    const deadline = Date.now() + ms;
    for (;;) {
      const p = this.packets[this.taken];
      if (p !== undefined) {
        this.taken++;
        return p;
      }
      if (this.isClosed || this.parseError !== undefined) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for a packet`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits (bounded) for the broker to close the socket; rejects if it stays open. */
  async waitClosed(ms = WAIT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    });
    try {
      await Promise.race([this.closed, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A packet or 'closed', for assertion messages. */
export function describePacket(p: Packet | 'closed'): string {
  if (p === 'closed') return 'a closed socket';
  const { cmd } = p;
  const code =
    'reasonCode' in p ? ` ${String(p.reasonCode)}` : 'returnCode' in p ? ` rc ${String(p.returnCode)}` : '';
  return `${cmd}${code}`;
}

/** A broker in a child process: for input that might take the whole process down. */
export interface ChildBroker {
  /** The MQTT port. */
  readonly port: number;
  readonly ports: { readonly mqtt: number; readonly amqp: number; readonly http: number };
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  /** Whether the process is still running. */
  running(): boolean;
  /** What the process wrote to stderr (a crash's stack). */
  stderr(): string;
  /** Ends the process (if still running) and waits for it. */
  stop(): Promise<void>;
}

export async function spawnBroker(extra: Record<string, unknown> = {}): Promise<ChildBroker> {
  const helpers = new URL('./helpers.ts', import.meta.url).href;
  // The data dir is made (and removed at exit) here: the child is killed, so it cleans up nothing.
  const dataDir = tempDir('switchyard-child-');
  const code = [
    `const { startTestBroker } = await import(${JSON.stringify(helpers)});`,
    `const b = await startTestBroker({}, ${JSON.stringify(dataDir)}, ${JSON.stringify(extra)});`,
    'const s = b.server;',
    `process.stdout.write(JSON.stringify({ mqtt: s.mqtt.address.port, amqp: s.amqp.address.port, http: s.http.address.port }) + '\\n');`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const ports = await new Promise<ChildBroker['ports']>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the broker did not start: ${err}`)), WAIT_MS);
    child.stdout.once('data', (d: Buffer) => {
      clearTimeout(t);
      resolve(JSON.parse(d.toString()) as ChildBroker['ports']);
    });
    void exited.then((c) => reject(new Error(`the broker exited (${c}) before it started: ${err}`)));
  });
  return {
    port: ports.mqtt,
    ports,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}
