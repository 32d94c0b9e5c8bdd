/**
 * A test client for the native WebSocket protocol (docs/websocket-protocol.md) and a per-file
 * broker fixture, shared by the ws-*.test.ts suites and the session tests over a duplex pair.
 */
import { after, before } from 'node:test';
import WebSocket from 'ws';
import type { CoreConnection } from '../src/core/index.js';
import { WAIT_MS } from './support/wait.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';

export type Frame = Record<string, unknown>;

export const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** A test client: every frame it receives is kept until a test takes it with next(). */
export class Client {
  private readonly inbox: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const f = isBinary ? binaryFrame(data as Buffer) : (JSON.parse(data.toString()) as Frame);
      const i = this.waiters.findIndex((w) => w.match(f));
      if (i < 0) this.inbox.push(f);
      else this.waiters.splice(i, 1)[0]!.resolve(f);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async open(b: TestBroker, opts: ClientOptions = {}): Promise<Client> {
    const ws = connect(b, opts);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }

  send(f: Frame): void {
    this.ws.send(JSON.stringify(f));
  }

  /** The first frame (received or still to come) that matches. */
  next(match: Frame | ((f: Frame) => boolean), ms = WAIT_MS): Promise<Frame> {
    const pred = typeof match === 'function' ? match : (f: Frame) => matches(f, match);
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const w = {
        match: pred,
        resolve: (f: Frame) => {
          clearTimeout(t);
          resolve(f);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(
          new Error(`timed out waiting for ${JSON.stringify(match)}; inbox ${JSON.stringify(this.inbox)}`),
        );
      }, ms);
      this.waiters.push(w);
    });
  }

  /** The next `n` deliveries of `sub`, in order. */
  async deliveries(sub: string, n: number): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next({ op: 'deliver', sub }));
    return out;
  }

  /** Frames not taken yet that match. */
  pending(match: Frame): Frame[] {
    return this.inbox.filter((f) => matches(f, match));
  }

  /** A round trip: every frame the server sent before the pong has arrived when this resolves. */
  async sync(): Promise<void> {
    const id = uniq('sync');
    this.send({ op: 'ping', id });
    await this.next({ op: 'pong', id });
  }

  async subscribe(f: Frame): Promise<Frame> {
    this.send({ op: 'subscribe', ...f });
    return this.next((x) => (x.op === 'subscribed' || x.op === 'error') && x.sub === f.sub);
  }

  async publish(f: Frame): Promise<Frame> {
    const id = uniq('p');
    this.send({ op: 'publish', id, ...f });
    return this.next((x) => (x.op === 'confirm' || x.op === 'error') && x.id === id);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

export interface ClientOptions {
  readonly protocols?: string[];
  readonly headers?: Record<string, string>;
  readonly query?: string;
  readonly autoPong?: boolean;
}

export function connect(b: TestBroker, opts: ClientOptions): WebSocket {
  return new WebSocket(
    `ws://127.0.0.1:${b.server.http!.address.port}/ws${opts.query ?? ''}`,
    opts.protocols ?? ['switchyard.v1'],
    { headers: opts.headers ?? {}, autoPong: opts.autoPong ?? true },
  );
}

export function matches(f: Frame, want: Frame): boolean {
  return Object.entries(want).every(([k, v]) => f[k] === v);
}

/** A binary delivery, decoded as docs/websocket-protocol.md lays it out. */
export function binaryFrame(buf: Buffer): Frame {
  const len = buf.readUInt32BE(1);
  const header = JSON.parse(buf.subarray(5, 5 + len).toString()) as Frame;
  return {
    ...header,
    op: buf[0] === 0x02 ? 'deliver' : `binary-${buf[0]}`,
    binary: true,
    raw: buf.subarray(5 + len),
  };
}

export function binaryPublish(header: Frame, body: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(5);
  prefix[0] = 0x01;
  prefix.writeUInt32BE(h.length, 1);
  return Buffer.concat([prefix, h, body]);
}

/** The upgrade refused: its status and JSON body. */
export function refused(b: TestBroker, opts: ClientOptions): Promise<{ status: number; body: Frame }> {
  const ws = connect(b, opts);
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Frame }));
    });
  });
}

export const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
export const authProtocol = (user: string, password: string) =>
  `auth.${Buffer.from(`${user}:${password}`).toString('base64url')}`;

/**
 * A broker (vhosts '/' and 'other') for a test file, an admin core connection, and the clients
 * a test opens, closed after the file.
 */
export class WsFixture {
  private broker: TestBroker | undefined;
  private adminConn: CoreConnection | undefined;
  private readonly clients: Client[] = [];

  constructor() {
    before(async () => {
      this.broker = await startTestBroker({}, undefined, { vhosts: ['/', 'other'] });
      this.adminConn = this.broker.server.broker.connect({
        protocol: 'test',
        remoteAddress: '127.0.0.1',
        user: 'guest',
        vhost: '/',
      });
    });
    after(async () => {
      for (const c of this.clients) await c.close();
      this.adminConn?.close();
      await this.broker?.close();
    });
  }

  get b(): TestBroker {
    return this.broker!;
  }

  get admin(): CoreConnection {
    return this.adminConn!;
  }

  async open(opts: ClientOptions = {}): Promise<Client> {
    const c = await Client.open(this.b, opts);
    this.clients.push(c);
    return c;
  }

  declareQueue(name = uniq('q'), durable = false): string {
    this.admin.declareQueue(name, { passive: false, durable, exclusive: false, autoDelete: false, args: {} });
    return name;
  }

  depth(queue: string): number {
    return this.admin.declareQueue(queue, {
      passive: true,
      durable: false,
      exclusive: false,
      autoDelete: false,
      args: {},
    }).messageCount;
  }
}
