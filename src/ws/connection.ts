/**
 * One client WebSocket: its core connection, its subscriptions, and its outgoing side. Frames out
 * are batched per event-loop turn (the socket is corked on the first send and uncorked on the
 * next tick, so one writev carries them all), and the outgoing buffer is bounded: past
 * HIGH_WATER every subscription of this connection pauses and reading stops until the socket
 * drains, so messages wait in their queues and a slow client slows only itself. A connection
 * that publishes is not read either while a resource alarm blocks publishers.
 */
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import {
  asSwitchyardError,
  type CoreConnection,
  type Delivery,
  type PublishCallback,
} from '../core/index.js';
import { ERRORS, type SwitchyardError } from '../errors/index.js';
import type { Clock } from '../util/clock.js';
import {
  BinaryKind,
  encodeBinaryFrame,
  encodeBinaryPrefix,
  parseBinaryFrame,
  parseTextFrame,
  type Request,
  type RequestContext,
  RequestError,
} from './codec/index.js';
import type { WsContext } from './handlers/context.js';
import { handleCredit } from './handlers/credit.js';
import { handlePing } from './handlers/ping.js';
import { handlePublish } from './handlers/publish.js';
import { handleSettle } from './handlers/settle.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import { deliveryHeaderJson, deliveryJson, errorJson } from './map.js';
import type { WsSubscription } from './subscription.js';

/**
 * Outgoing bytes buffered past which deliveries pause, auto-ack deliveries without credit are
 * dropped and counted, and reading stops: the default of limits.maxOutboundBytes.
 */
export const HIGH_WATER = 1024 * 1024;
/**
 * Bodies up to this size are copied behind their binary header (one frame); larger ones go as a
 * second, continuation frame so the body bytes are never copied.
 */
const COPY_BODY_LIMIT = 16 * 1024;

/** RFC 6455 section 7.4.1: the endpoint is going away (the broker shuts down). */
export const GOING_AWAY = 1001;

/** Why the client is not read; a bit each. */
const OUTPUT_FULL = 1;
const PUBLISHERS_BLOCKED = 2;

export class WsConnection implements WsContext {
  /** Subscriptions by the client's name for them. */
  readonly subs = new Map<string, WsSubscription>();
  /** Server pings sent without a pong since. */
  missedPongs = 0;
  /** The outgoing buffer is past HIGH_WATER: deliveries are paused. */
  outputFull = false;
  private readingPaused = 0;
  /** Whether the client has published: only then does a resource alarm stop its reading. */
  private publisher = false;
  private corked = false;
  private closed = false;
  private drains = 0;

  readonly reportPublishError: PublishCallback = (err) => {
    if (err !== undefined) this.sendError(err, { request: 'publish' });
  };

  constructor(
    readonly ws: WebSocket,
    private readonly socket: Duplex,
    readonly core: CoreConnection,
    private readonly clock: Clock,
    private readonly onClosed: (c: WsConnection) => void,
    /** limits.maxOutboundBytes (issue 15). */
    private readonly highWater = HIGH_WATER,
  ) {
    ws.on('message', this.onMessage);
    ws.on('pong', this.onPong);
    ws.on('close', this.onClose);
    // ws reports protocol violations (oversize, invalid UTF-8) here and then closes with the
    // matching code; nothing more to do, but an unheard 'error' would crash the process.
    ws.on('error', () => {});
    socket.on('drain', this.onDrain);
  }

  private readonly onMessage = (data: RawData, isBinary: boolean): void => {
    // With the default binaryType every message arrives as one Buffer.
    const frame = data as Buffer;
    let req: Request;
    try {
      req = isBinary ? parseBinaryFrame(frame) : parseTextFrame(frame.toString('utf8'));
    } catch (e) {
      if (e instanceof RequestError) this.sendError(e, e.context);
      else this.fail(e);
      return;
    }
    try {
      this.dispatch(req);
    } catch (e) {
      const err = asSwitchyardError(e);
      this.sendError(err, contextOf(req));
      if (err.code === 'INTERNAL_ERROR') this.fail(e);
    }
  };

  private dispatch(req: Request): void {
    switch (req.op) {
      case 'publish':
        handlePublish(this, req);
        return;
      case 'subscribe':
        handleSubscribe(this, req);
        return;
      case 'ack':
      case 'nack':
        handleSettle(this, req);
        return;
      case 'credit':
        handleCredit(this, req);
        return;
      case 'unsubscribe':
        handleUnsubscribe(this, req);
        return;
      case 'ping':
        handlePing(this, req);
        return;
    }
  }

  /** Sends a delivery of `sub` in the form the subscription asked for. */
  deliver(sub: WsSubscription, d: Delivery): void {
    // Called from inside another client's publish: nothing may escape into it.
    try {
      if (!sub.binary) {
        this.sendText(deliveryJson(sub.subJson, d));
        return;
      }
      const header = deliveryHeaderJson(sub.subJson, d);
      const body = d.message.body;
      this.cork();
      if (body.length <= COPY_BODY_LIMIT) {
        this.ws.send(encodeBinaryFrame(BinaryKind.DELIVER, header, body));
      } else {
        this.ws.send(encodeBinaryPrefix(BinaryKind.DELIVER, header), { binary: true, fin: false });
        this.ws.send(body, { binary: true, fin: true });
      }
      this.checkBuffer();
    } catch (e) {
      this.fail(e);
    }
  }

  sendText(text: string): void {
    this.cork();
    this.ws.send(text);
    this.checkBuffer();
  }

  sendError(err: SwitchyardError, ctx: RequestContext): void {
    this.sendText(errorJson(err, ctx));
  }

  published(): void {
    this.publisher = true;
    // What was read is accepted; nothing more is read while publishers are blocked.
    if (this.core.broker.publishersBlocked) this.pauseReading(PUBLISHERS_BLOCKED);
  }

  /** A resource alarm started or ended (Broker.onBlockedChange): publishers stop or go on. */
  publishersBlocked(blocked: boolean): void {
    if (!blocked) this.resumeReading(PUBLISHERS_BLOCKED);
    else if (this.publisher) this.pauseReading(PUBLISHERS_BLOCKED);
  }

  /** One server ping; after two without a pong the client is gone (half-open TCP) and is dropped. */
  heartbeat(): void {
    if (this.missedPongs >= 2) {
      this.ws.terminate();
      return;
    }
    this.missedPongs++;
    this.ws.ping();
  }

  /** Closes with 1001 (shutdown); a client that does not answer the close is cut off after `graceMs`. */
  shutdown(graceMs: number): void {
    this.ws.close(GOING_AWAY, 'broker shutting down');
    const t = this.clock.after(graceMs, () => this.ws.terminate());
    this.ws.once('close', () => t.cancel());
  }

  /** A broker bug while serving this client: it alone is closed, with 1011 (the catalogue's). */
  private fail(e: unknown): void {
    if (this.closed) return;
    const err = asSwitchyardError(e);
    process.emitWarning(`websocket connection closed after an internal error: ${err.message}`);
    this.ws.close(ERRORS.INTERNAL_ERROR.ws, 'internal error');
  }

  private cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  private pauseReading(reason: number): void {
    if (this.readingPaused === 0) this.ws.pause();
    this.readingPaused |= reason;
  }

  private resumeReading(reason: number): void {
    if ((this.readingPaused & reason) === 0) return;
    this.readingPaused &= ~reason;
    if (this.readingPaused === 0 && !this.closed) this.ws.resume();
  }

  /** Bytes waiting to be written on the socket (FrontEndStats.outboundBytes). */
  get outboundBytes(): number {
    return this.socket.writableLength;
  }

  private checkBuffer(): void {
    if (this.outputFull || this.socket.writableLength < this.highWater) return;
    this.outputFull = true;
    for (const s of this.subs.values()) {
      s.core.pause();
      // Slow consumers (issue 15): auto-ack deliveries without credit are dropped meanwhile.
      s.core.overflow(true);
    }
    this.pauseReading(OUTPUT_FULL);
  }

  private readonly onDrain = (): void => {
    if (!this.outputFull || this.closed) return;
    this.outputFull = false;
    this.resumeReading(OUTPUT_FULL);
    // Resuming may deliver at once and fill the buffer again: stop as soon as it does, and start
    // with another subscription each time so one deep queue cannot starve the others.
    const subs = [...this.subs.values()];
    const n = subs.length;
    const first = n === 0 ? 0 : this.drains++ % n;
    for (const s of subs) s.core.overflow(false);
    for (let k = 0; k < n && !this.outputFull; k++) subs[(first + k) % n]!.core.resume();
  };

  private readonly onPong = (): void => {
    this.missedPongs = 0;
  };

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.socket.removeListener('drain', this.onDrain);
    // Unsettled deliveries go back to their queues, then the connection's exclusive queues go.
    for (const s of this.subs.values()) s.core.close();
    this.subs.clear();
    this.core.close();
    this.onClosed(this);
  };
}

function contextOf(req: Request): RequestContext {
  switch (req.op) {
    case 'publish':
    case 'ping':
      return req.id === undefined ? { request: req.op } : { request: req.op, id: req.id };
    case 'ack':
    case 'nack':
      return { request: req.op, sub: req.sub, id: req.id };
    default:
      return { request: req.op, sub: req.sub };
  }
}
