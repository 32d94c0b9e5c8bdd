/**
 * The client side of an AMQP 0-9-1 session test: writes frames that Switchyard's codec encodes
 * to one end of a duplex pair and reads the server's frames, decoded, from it. It checks nothing
 * itself; tests assert on what it returns.
 */
import type { Duplex } from 'node:stream';
import {
  type AmqpMethod,
  type AmqpMethodInit,
  type ContentHeader,
  decodeContentHeader,
  decodeMethod,
  encodeMethod,
  encodeProperties,
  FRAME_END,
  FrameParser,
  FrameType,
  type Method,
  type MethodKind,
  PROTOCOL_HEADER,
} from '../../src/amqp/codec/index.js';
import type { Properties } from '../../src/core/index.js';

export type ServerFrame =
  | { readonly type: 'method'; readonly channel: number; readonly method: AmqpMethod }
  | { readonly type: 'header'; readonly channel: number; readonly header: ContentHeader }
  | { readonly type: 'body'; readonly channel: number; readonly body: Buffer }
  | { readonly type: 'heartbeat'; readonly channel: number };

/** A message the server sent with basic.deliver, get-ok or return: the method and its content. */
export interface Content<K extends MethodKind> {
  readonly method: Method<K>;
  readonly header: ContentHeader;
  readonly body: Buffer;
}

/** One frame: type, channel, payload, frame-end (spec 4.2.3). */
export function frame(type: number, channel: number, payload: Buffer): Buffer {
  const f = Buffer.alloc(8 + payload.length);
  f[0] = type;
  f.writeUInt16BE(channel, 1);
  f.writeUInt32BE(payload.length, 3);
  payload.copy(f, 7);
  f[7 + payload.length] = FRAME_END;
  return f;
}

export function methodFrame(channel: number, m: AmqpMethodInit): Buffer {
  return frame(FrameType.METHOD, channel, encodeMethod(m));
}

/** A content header frame of class basic (spec 4.2.6). */
export function headerFrame(channel: number, bodySize: number, props: Properties = {}): Buffer {
  const p = encodeProperties(props);
  const payload = Buffer.alloc(12 + p.length);
  payload.writeUInt16BE(60, 0);
  payload.writeBigUInt64BE(BigInt(bodySize), 4);
  p.copy(payload, 12);
  return frame(FrameType.HEADER, channel, payload);
}

export class AmqpTestClient {
  /** Frames received and not yet taken, heartbeats included. */
  readonly received: ServerFrame[] = [];
  /** Set once the server ended or destroyed the stream. */
  ended = false;
  private readonly parser = new FrameParser(0);
  private wake: (() => void) | undefined;

  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.parser.push(chunk, (type, channel, payload) => this.received.push(decode(type, channel, payload)));
      this.notify();
    });
    const ended = () => {
      this.ended = true;
      this.notify();
    };
    // As a TCP socket without allowHalfOpen: when the server ends its side, so does the client.
    stream.on('end', () => {
      ended();
      stream.end();
    });
    stream.on('close', ended);
  }

  /** Writes bytes as one chunk. */
  write(...parts: Buffer[]): void {
    this.stream.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  send(channel: number, m: AmqpMethodInit): void {
    this.write(methodFrame(channel, m));
  }

  /** basic.publish with its header and body frames, in one chunk. */
  publish(
    channel: number,
    exchange: string,
    routingKey: string,
    body: Buffer,
    props: Properties = {},
    mandatory = false,
  ): void {
    this.write(
      methodFrame(channel, { kind: 'basic.publish', exchange, routingKey, mandatory, immediate: false }),
      headerFrame(channel, body.length, props),
      frame(FrameType.BODY, channel, body),
    );
  }

  /** The next frame other than a heartbeat; rejects if the stream ends first or after `ms`. */
  async next(ms = 2000): Promise<ServerFrame> {
    return this.take((f) => f.type !== 'heartbeat', ms);
  }

  /** The next heartbeat frame (other frames stay queued). */
  async heartbeat(ms = 2000): Promise<ServerFrame> {
    return this.take((f) => f.type === 'heartbeat', ms);
  }

  /** The next method, which must be of kind `kind` (on `channel`, when given). */
  async expect<K extends MethodKind>(kind: K, channel?: number, ms?: number): Promise<Method<K>> {
    const f = await this.next(ms);
    if (f.type !== 'method') throw new Error(`expected ${kind}, got a ${f.type} frame`);
    if (f.method.kind !== kind)
      throw new Error(`expected ${kind}, got ${f.method.kind} ${JSON.stringify(f.method)}`);
    if (channel !== undefined && f.channel !== channel) throw new Error(`${kind} on channel ${f.channel}`);
    return f.method as Method<K>;
  }

  /** channel.open, answered by open-ok. */
  async openChannel(channel: number): Promise<void> {
    this.send(channel, { kind: 'channel.open' });
    await this.expect('channel.open-ok', channel);
  }

  /** The next method, a connection.close (channel 0) or channel.close: [code, text, class-id, method-id]. */
  async closeReason(channel: number): Promise<[number, string, number, number]> {
    const c =
      channel === 0 ? await this.expect('connection.close', 0) : await this.expect('channel.close', channel);
    return [c.replyCode, c.replyText, c.replyClassId, c.replyMethodId];
  }

  /** The frames received and not taken, heartbeats left out. */
  unread(): ServerFrame[] {
    return this.received.filter((f) => f.type !== 'heartbeat');
  }

  /** A content-carrying method (deliver, get-ok, return) with its header and body frames. */
  async content<K extends 'basic.deliver' | 'basic.get-ok' | 'basic.return'>(kind: K): Promise<Content<K>> {
    const method = await this.expect(kind);
    const h = await this.next();
    if (h.type !== 'header') throw new Error(`expected a content header, got a ${h.type} frame`);
    const parts: Buffer[] = [];
    let size = 0;
    while (size < h.header.bodySize) {
      const b = await this.next();
      if (b.type !== 'body') throw new Error(`expected a body frame, got a ${b.type} frame`);
      parts.push(b.body);
      size += b.body.length;
    }
    return { method, header: h.header, body: Buffer.concat(parts) };
  }

  /** Waits until the server has ended the stream. */
  async closed(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) await this.waitForData(deadline, 'the stream to end');
  }

  /**
   * The protocol header, start-ok (PLAIN guest/guest), tune-ok and open, as a client that
   * announces `capabilities`; resolves with the server's tune once open-ok arrived.
   */
  async handshake(
    opts: { heartbeat?: number; capabilities?: Record<string, boolean>; vhost?: string } = {},
  ): Promise<Method<'connection.tune'>> {
    this.write(PROTOCOL_HEADER);
    await this.expect('connection.start', 0);
    this.send(0, {
      kind: 'connection.start-ok',
      clientProperties: { product: 'session-test', capabilities: opts.capabilities ?? {} },
      mechanism: 'PLAIN',
      response: Buffer.from('\0guest\0guest'),
      locale: 'en_US',
    });
    const tune = await this.expect('connection.tune', 0);
    this.send(0, {
      kind: 'connection.tune-ok',
      channelMax: tune.channelMax,
      frameMax: tune.frameMax,
      heartbeat: opts.heartbeat ?? 0,
    });
    this.send(0, { kind: 'connection.open', virtualHost: opts.vhost ?? '/' });
    await this.expect('connection.open-ok', 0);
    return tune;
  }

  private async take(match: (f: ServerFrame) => boolean, ms: number): Promise<ServerFrame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.received.findIndex(match);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      if (this.ended) throw new Error('the server ended the stream');
      await this.waitForData(deadline, 'a frame');
    }
  }

  private waitForData(deadline: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => {
          this.wake = undefined;
          reject(new Error(`timed out waiting for ${what}`));
        },
        Math.max(0, deadline - Date.now()),
      );
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

function decode(type: number, channel: number, payload: Buffer): ServerFrame {
  switch (type) {
    case FrameType.METHOD:
      return { type: 'method', channel, method: decodeMethod(payload) };
    case FrameType.HEADER:
      return { type: 'header', channel, header: decodeContentHeader(Buffer.from(payload)) };
    case FrameType.BODY:
      return { type: 'body', channel, body: Buffer.from(payload) };
    case FrameType.HEARTBEAT:
      return { type: 'heartbeat', channel };
    default:
      throw new Error(`unknown frame type ${type} from the server`);
  }
}
