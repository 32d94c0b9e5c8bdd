/**
 * Helpers shared by the interop suites: amqplib connections that are closed in `after`, channels
 * that record server-sent errors, bounded waits for deliveries, and running external clients.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { after, describe } from 'node:test';
import amqp, {
  type Channel,
  type ChannelModel,
  type ConsumeMessage,
  type GetMessage,
  type Options,
} from 'amqplib';
import { interopTargets, type Target } from './helpers.js';
import { WAIT_MS } from './support/wait.js';

/** An error amqplib raised for a channel.close or connection.close from the broker. */
export interface BrokerError extends Error {
  code?: number;
}

/** The reply text of a close, as amqplib words it: `... with message "TEXT"`. */
export function replyText(e: unknown): string {
  const m = /with message "(.*)"$/s.exec(String((e as Error).message));
  return m === null ? String((e as Error).message) : m[1]!;
}

/** The connections a suite opened; `closeAll` (in `after`) closes what is still open. */
export class Connections {
  private readonly open = new Set<ChannelModel>();

  constructor(private readonly url: string) {}

  /** Connects; connection errors are recorded on the returned `errors` list instead of thrown. */
  async connect(
    opts: { url?: string; query?: string } = {},
  ): Promise<ChannelModel & { errors: BrokerError[] }> {
    const base = opts.url ?? this.url;
    const url = opts.query === undefined ? base : `${base}?${opts.query}`;
    const conn = (await amqp.connect(url)) as ChannelModel & { errors: BrokerError[] };
    conn.errors = [];
    conn.on('error', (e: BrokerError) => conn.errors.push(e));
    this.open.add(conn);
    conn.on('close', () => this.open.delete(conn));
    return conn;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled([...this.open].map((c) => c.close()));
    this.open.clear();
  }
}

export type TrackedChannel = Channel & { errors: BrokerError[]; closed: Promise<void> };

/** A channel whose server-sent errors are recorded (amqplib throws on an unheard 'error'). */
export async function channel(conn: ChannelModel): Promise<TrackedChannel> {
  return track(await conn.createChannel());
}

export async function confirmChannel(conn: ChannelModel): Promise<TrackedChannel & amqp.ConfirmChannel> {
  return track(await conn.createConfirmChannel());
}

function track<C extends Channel>(ch: C): C & { errors: BrokerError[]; closed: Promise<void> } {
  const t = ch as C & { errors: BrokerError[]; closed: Promise<void> };
  t.errors = [];
  t.on('error', (e: BrokerError) => t.errors.push(e));
  t.closed = new Promise((resolve) => t.once('close', () => resolve()));
  return t;
}

/**
 * Declares an amqplib suite once per interop target (Switchyard, and RabbitMQ when RABBITMQ_URL
 * is set), so a difference from RabbitMQ shows up as a failure: `amqplib against <target>`, with
 * the connections it opened closed after it and the targets stopped after the file.
 */
export async function amqplibSuites(suite: (target: Target, conns: Connections) => void): Promise<void> {
  const targets = await interopTargets();
  after(async () => {
    for (const t of targets) await t.stop();
  });
  for (const target of targets) {
    describe(`amqplib against ${target.name}`, { skip: target.skip }, () => {
      const conns = new Connections(target.url);
      after(() => conns.closeAll());
      suite(target, conns);
    });
  }
}

/** Resolves with the rejection of `p` (fails when `p` resolves). */
export async function rejection(p: Promise<unknown>): Promise<BrokerError> {
  try {
    await p;
  } catch (e) {
    return e as BrokerError;
  }
  throw new Error('expected the operation to fail');
}

/** Rejects after `ms` with a message naming what was awaited. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes every ready message from a queue with basic.get (bounded), acking them. */
export async function drain(ch: Channel, queue: string, max = 100): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < max; i++) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
  throw new Error(`more than ${max} messages in ${queue}`);
}

/** The message of a get-ok; fails on get-empty. */
export function getOk(m: GetMessage | false): GetMessage {
  assert.notEqual(m, false, 'expected get-ok, got get-empty');
  return m as GetMessage;
}

/**
 * A consumer that buffers its deliveries so a test can await the next one, or check that nothing
 * more arrives within a short bound. `null` (a server-sent basic.cancel) is recorded too.
 */
export class Inbox {
  readonly messages: (ConsumeMessage | null)[] = [];
  private waiters: (() => void)[] = [];
  consumerTag = '';

  static async consume(ch: Channel, queue: string, options: Options.Consume = {}): Promise<Inbox> {
    const box = new Inbox();
    const ok = await ch.consume(queue, (m) => box.push(m), options);
    box.consumerTag = ok.consumerTag;
    return box;
  }

  push(m: ConsumeMessage | null): void {
    this.messages.push(m);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Waits until at least `n` deliveries have arrived in total. */
  async waitFor(n: number, ms = WAIT_MS): Promise<(ConsumeMessage | null)[]> {
    const deadline = Date.now() + ms;
    while (this.messages.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out: ${this.messages.length} of ${n} deliveries arrived`);
      await wakeOrTimeout(this.waiters, left);
    }
    return this.messages.slice(0, n);
  }

  /** The `n` deliveries so far, all non-null. */
  async take(n: number, ms?: number): Promise<ConsumeMessage[]> {
    const got = await this.waitFor(n, ms);
    return got.map((m, i) => {
      if (m === null) throw new Error(`delivery ${i + 1} was a cancel`);
      return m;
    });
  }

  /**
   * Asserts that the count stays at `n` for `ms` (a bounded wait for "nothing more"). A busy
   * machine can only make this pass when a late extra delivery would have failed it, never fail it.
   */
  async settlesAt(n: number, ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.messages.length !== n) {
      throw new Error(`expected ${n} deliveries, got ${this.messages.length}`);
    }
  }
}

export const bodies = (ms: readonly { content: Buffer }[]): string[] => ms.map((m) => m.content.toString());

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Resolves when one of the functions pushed onto `waiters` is called, or after `ms`: the caller
 * then looks at what changed (nothing, if the time ran out).
 */
function wakeOrTimeout(waiters: (() => void)[], ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    waiters.push(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Runs a program to completion (bounded by `timeoutMs`), with optional stdin. */
export function run(
  file: string,
  args: readonly string[],
  opts: { timeoutMs?: number; input?: string | Buffer; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        timeout: opts.timeoutMs ?? WAIT_MS,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** A frame read by RawAmqp. */
export interface RawFrame {
  readonly type: number;
  readonly channel: number;
  readonly payload: Buffer;
}

/**
 * A minimal AMQP 0-9-1 client over a bare socket, written independently of Switchyard's codec:
 * enough to do the handshake with chosen tune values and then misbehave (go silent, open a
 * vhost that does not exist).
 */
export class RawAmqp {
  private buf = Buffer.alloc(0);
  private readonly frames: RawFrame[] = [];
  private waiters: (() => void)[] = [];
  /** Resolves with the milliseconds from just before the TCP connect to the socket closing. */
  readonly closed: Promise<number>;

  private constructor(
    readonly socket: Socket,
    private readonly started: number,
  ) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 8) {
        const size = this.buf.readUInt32BE(3);
        if (this.buf.length < size + 8) break;
        this.frames.push({
          type: this.buf[0]!,
          channel: this.buf.readUInt16BE(1),
          payload: this.buf.subarray(7, 7 + size),
        });
        this.buf = this.buf.subarray(size + 8);
      }
      this.wake();
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(Date.now() - this.started)));
    // A reset is how a broker may drop a misbehaving client: `closed` tells the tests, not this.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') this.errors.push(e);
    });
    void this.closed.then(() => this.wake());
  }

  /** Socket errors other than a reset (none expected). */
  readonly errors: Error[] = [];

  static async connect(port: number): Promise<RawAmqp> {
    // Timed from before the connect, so that a broker-side timer (started at accept) can never
    // look shorter than it is.
    const started = Date.now();
    const socket = createConnection({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawAmqp(socket, started);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The next non-heartbeat frame. */
  async next(ms = WAIT_MS): Promise<RawFrame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex((f) => f.type !== 8);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.socket.destroyed) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await wakeOrTimeout(this.waiters, left);
    }
  }

  /** The next method frame; returns class id, method id and the arguments' bytes. */
  async method(ms?: number): Promise<{ classId: number; methodId: number; args: Buffer }> {
    const f = await this.next(ms);
    if (f.type !== 1) throw new Error(`expected a method frame, got type ${f.type}`);
    return {
      classId: f.payload.readUInt16BE(0),
      methodId: f.payload.readUInt16BE(2),
      args: f.payload.subarray(4),
    };
  }

  sendMethod(channel: number, classId: number, methodId: number, args: Buffer): void {
    const payload = Buffer.concat([u16(classId), u16(methodId), args]);
    const head = Buffer.alloc(7);
    head[0] = 1;
    head.writeUInt16BE(channel, 1);
    head.writeUInt32BE(payload.length, 3);
    this.socket.write(Buffer.concat([head, payload, Buffer.from([0xce])]));
  }

  /**
   * Protocol header, start-ok (PLAIN guest/guest), tune-ok with `heartbeat`, open `vhost`.
   * Returns the server's answer to connection.open: open-ok, or the close it sent instead.
   */
  async handshake(
    heartbeat: number,
    vhost = '/',
  ): Promise<{ ok: true } | { ok: false; replyCode: number; replyText: string }> {
    this.socket.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
    const start = await this.method();
    if (start.classId !== 10 || start.methodId !== 10) throw new Error('expected connection.start');
    this.sendMethod(
      0,
      10,
      11,
      Buffer.concat([u32(0), shortstr('PLAIN'), longstr(Buffer.from('\0guest\0guest')), shortstr('en_US')]),
    );
    const tune = await this.method();
    if (tune.classId !== 10 || tune.methodId !== 30) throw new Error('expected connection.tune');
    const frameMax = tune.args.readUInt32BE(2);
    const channelMax = tune.args.readUInt16BE(0);
    this.sendMethod(0, 10, 31, Buffer.concat([u16(channelMax), u32(frameMax), u16(heartbeat)]));
    this.sendMethod(0, 10, 40, Buffer.concat([shortstr(vhost), shortstr(''), Buffer.from([0])]));
    const r = await this.method();
    if (r.classId === 10 && r.methodId === 41) return { ok: true };
    if (r.classId === 10 && r.methodId === 50) {
      const replyCode = r.args.readUInt16BE(0);
      const len = r.args[2]!;
      return { ok: false, replyCode, replyText: r.args.subarray(3, 3 + len).toString('utf8') };
    }
    throw new Error(`unexpected method ${r.classId}.${r.methodId} after connection.open`);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
function shortstr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length]), b]);
}
function longstr(b: Buffer): Buffer {
  return Buffer.concat([u32(b.length), b]);
}

/** What a broker did after a misbehaving frame: its connection.close, or dropping the socket. */
export type CloseOutcome =
  | {
      readonly replyCode: number;
      readonly replyText: string;
      readonly classId: number;
      readonly methodId: number;
    }
  | 'socket closed';

/** Reads frames (bounded) until the broker's connection.close or the socket closing. */
export async function closeOutcome(raw: RawAmqp, ms = WAIT_MS): Promise<CloseOutcome> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100; i++) {
    let m: Awaited<ReturnType<RawAmqp['method']>>;
    try {
      m = await raw.method(Math.max(1, deadline - Date.now()));
    } catch (e) {
      if (raw.socket.destroyed || /socket closed/.test(String(e))) return 'socket closed';
      throw e;
    }
    if (m.classId === 10 && m.methodId === 50) {
      const len = m.args[2]!;
      return {
        replyCode: m.args.readUInt16BE(0),
        replyText: m.args.subarray(3, 3 + len).toString('utf8'),
        classId: m.args.readUInt16BE(3 + len),
        methodId: m.args.readUInt16BE(5 + len),
      };
    }
  }
  throw new Error('no connection.close within 100 frames');
}

/** One raw frame: type, channel, payload, and the frame-end octet (0xCE unless testing a bad one). */
export function rawFrame(type: number, channel: number, payload: Buffer, end = 0xce): Buffer {
  const head = Buffer.alloc(7);
  head[0] = type;
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(payload.length, 3);
  return Buffer.concat([head, payload, Buffer.from([end])]);
}

// amqplib has no API for the tx class; its channel's generic rpc takes (class << 16 | method) ids.
const TX = { select: [5898250, 5898251], commit: [5898260, 5898261], rollback: [5898270, 5898271] } as const;
export function txRpc(ch: Channel, which: keyof typeof TX): Promise<unknown> {
  const [method, ok] = TX[which];
  return (ch as unknown as { rpc(m: number, f: object, e: number): Promise<unknown> }).rpc(method, {}, ok);
}
