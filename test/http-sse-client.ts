/**
 * Helpers shared by the SSE suites: a raw SSE client (node:http) that sees comments and can stop
 * reading, EventSource helpers, a bounded poll, and a per-file broker fixture with an AMQP
 * channel to fill queues.
 */
import { type ClientRequest, get, type IncomingMessage } from 'node:http';
import { after, before } from 'node:test';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { EventSource } from 'eventsource';
import { poll, WAIT_MS } from './support/wait.js';
import { startTestBroker, type TestBroker } from './helpers.js';

export const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/**
 * A raw SSE client (node:http): sees comments and `retry:`, sends any headers, can stop reading
 * (pause) or stop after `limit` events as if the rest never arrived.
 */
export class RawSse {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retry: number | undefined;
  status = 0;
  ended = false;
  private res: IncomingMessage | undefined;
  private readonly req: ClientRequest;
  private text = '';
  private waiters: { ok: () => boolean; resolve: () => void }[] = [];

  constructor(
    url: string,
    headers: Record<string, string> = {},
    private readonly limit = Number.POSITIVE_INFINITY,
  ) {
    this.req = get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (c: string) => this.onData(c));
      res.on('end', () => {
        this.ended = true;
        this.check();
      });
      res.on('error', () => {});
      this.check();
    });
    this.req.on('error', () => {});
  }

  /** Waits (bounded) until `ok()` holds. */
  until(ok: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
    if (ok()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: ${this.events.length} events`)),
        ms,
      );
      this.waiters.push({
        ok,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  untilEvents(n: number): Promise<void> {
    return this.until(() => this.events.length >= n, `${n} events`);
  }

  get bodies(): string[] {
    return this.events.map((e) => (JSON.parse(e.data) as { body: string }).body);
  }

  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  destroy(): void {
    this.req.destroy();
  }

  private onData(chunk: string): void {
    this.text += chunk;
    let end = this.text.indexOf('\n\n');
    while (end >= 0 && this.events.length < this.limit) {
      const block = this.text.slice(0, end);
      this.text = this.text.slice(end + 2);
      const ev: SseEvent = { event: 'message', id: undefined, data: '' };
      let isEvent = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
        else if (line.startsWith('event: ')) ev.event = line.slice(7);
        else if (line.startsWith('id: ')) ev.id = line.slice(4);
        else if (line.startsWith('data: ')) {
          ev.data = line.slice(6);
          isEvent = true;
        }
      }
      if (isEvent) this.events.push(ev);
      end = this.text.indexOf('\n\n');
    }
    // Past the limit, the client acts as if the connection died right there.
    if (this.events.length >= this.limit) this.destroy();
    this.check();
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.ok()) return true;
      w.resolve();
      return false;
    });
  }
}

/** Polls a broker-side condition with a bound: there is no client-side event for "the server noticed". */
export const eventually = (ok: () => boolean | Promise<boolean>, what: string) =>
  poll(ok, what, undefined, 10);

/** Collects EventSource messages; next(n) waits for n in total. */
export function inbox(es: EventSource): { got: MessageEvent[]; until(n: number): Promise<MessageEvent[]> } {
  const got: MessageEvent[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  es.onmessage = (e) => {
    got.push(e);
    if (waiter !== undefined && got.length >= waiter.n) waiter.resolve();
  };
  return {
    got,
    until: (n) =>
      got.length >= n
        ? Promise.resolve(got)
        : new Promise((resolve, reject) => {
            const t = setTimeout(
              () => reject(new Error(`timed out with ${got.length} of ${n} events`)),
              WAIT_MS,
            );
            waiter = {
              n,
              resolve: () => {
                clearTimeout(t);
                resolve(got);
              },
            };
          }),
  };
}

export function opened(es: EventSource): Promise<void> {
  return new Promise((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = (e) => reject(new Error(`EventSource error: ${e.message ?? e.code}`));
  });
}

/** `m<from>` … `m<to - 1>`. */
export const range = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `m${from + i}`);

/** A broker for a test file (heartbeat every 200 ms), with AMQP channels to fill its queues. */
export class SseFixture {
  private broker: TestBroker | undefined;
  private conn: ChannelModel | undefined;
  private channel: Channel | undefined;
  private confirm: ConfirmChannel | undefined;

  constructor() {
    before(async () => {
      this.broker = await startTestBroker({}, undefined, { http: { port: 0, sseHeartbeat: 200 } });
      this.conn = await amqp.connect(this.broker.url);
      this.channel = await this.conn.createChannel();
      this.confirm = await this.conn.createConfirmChannel();
    });
    after(async () => {
      await this.conn?.close();
      await this.broker?.close();
    });
  }

  get b(): TestBroker {
    return this.broker!;
  }

  get port(): number {
    return this.b.server.http!.address.port;
  }

  /** The API base of vhost '/'. */
  get base(): string {
    return `http://127.0.0.1:${this.port}/api/v1/vhosts/%2F`;
  }

  get ch(): Channel {
    return this.channel!;
  }

  get pub(): ConfirmChannel {
    return this.confirm!;
  }

  async send(q: string, bodies: string[], persistent = false): Promise<void> {
    for (const s of bodies) this.pub.sendToQueue(q, Buffer.from(s), { persistent });
    await this.pub.waitForConfirms();
  }
}
