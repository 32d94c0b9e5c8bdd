/**
 * One AMQP 0-9-1 connection. It owns the socket (any Duplex, so tests run it over an in-memory
 * pair), the frame parser, the output buffer and its flushes, heartbeats and the handshake
 * timeout, the connection-level state and the channel table; it routes each frame to its
 * channel and turns errors into channel.close or connection.close. The methods themselves are
 * handled in handlers/ (dispatch.ts), which see this class only as a ConnectionContext.
 *
 * Hot path: a socket chunk is parsed into frames, each frame is handled as it comes out of the
 * parser, and everything written meanwhile goes out in one flush at the end of the turn.
 */
import type { Duplex } from 'node:stream';
import { type Broker, type CoreConnection, Pause } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { Clock, Timer } from '../util/clock.js';
import { AmqpChannel, type ChannelHost, type HeldFrame } from './channel.js';
import {
  type AmqpMethod,
  type AmqpMethodInit,
  decodeMethod,
  FRAME_MIN_SIZE,
  FrameParser,
  FrameType,
  OutBuffer,
  PROTOCOL_HEADER,
  parseProtocolHeader,
  writeHeartbeat,
  writeMethodFrame,
} from './codec/index.js';
import { contentBody, contentHeader } from './handlers/basic-publish.js';
import { channelOpen, sendStart } from './handlers/connection-methods.js';
import type { ClientCapabilities, ConnectionContext, ConnectionState, MethodId } from './handlers/context.js';
import { dispatchChannelMethod, dispatchConnectionMethod } from './handlers/dispatch.js';
import { type CloseReason, toCloseReason } from './map.js';
import type { AmqpSettings } from './settings.js';

/** How long we wait for connection.close-ok before dropping the socket. */
const CLOSE_TIMEOUT_MS = 3000;
/** After a close during the handshake: a client that failed it may not answer (RabbitMQ closes at once). */
const HANDSHAKE_CLOSE_TIMEOUT_MS = 100;
/** An idle connection gives back its output chunk after this long without a write. */
const RELEASE_OUTPUT_AFTER_MS = 1000;

export class AmqpConnection implements ConnectionContext, ChannelHost {
  readonly out = new OutBuffer();
  state: ConnectionState = 'header';
  /** Frames that arrived while start-ok's password was checked, replayed by loginFinished(). */
  private loginHeld: [type: number, channel: number, payload: Buffer][] | undefined;
  frameMax = FRAME_MIN_SIZE;
  /** Heartbeat interval agreed in tune-ok, seconds (0 = off). */
  heartbeat = 0;
  consumerCancelNotify = false;
  user = '';
  channelMax = 0;
  readonly maxMessageSize: number;
  failedMethod: MethodId | undefined;
  /** Time of the last byte read / written (ms, from the broker's clock). */
  lastRead: number;
  lastWrite: number;

  /** The client announced the connection.blocked capability. */
  private blockedCapable = false;
  /** Channels whose publishes wait for a resource alarm to end (their frames are held). */
  private blockedChannels: AmqpChannel[] | undefined;
  private readonly clock: Clock;
  private readonly parser: FrameParser;
  private readonly channels = new Map<number, AmqpChannel>();
  private core: CoreConnection | undefined;
  private headerBuf: Buffer | undefined;
  private flushScheduled = false;
  private congested = false;
  private pausedForWrite = false;
  /** Over maxOutboundBytes: no-ack deliveries are dropped (Pause.OVERFLOW), the rest wait. */
  private overflowing = false;
  /** Channels with confirms to write at the next flush (created on first use). */
  private confirmChannels: Set<AmqpChannel> | undefined;
  private closeTimer: Timer | undefined;
  private reported = false;
  private readonly acceptedAt: number;

  constructor(
    private readonly socket: Duplex,
    readonly broker: Broker,
    readonly settings: AmqpSettings,
    readonly remoteAddress: string,
    private readonly onClosed: (c: AmqpConnection) => void,
    /** The subject CN of the client's verified TLS certificate (front end: certificateUser). */
    readonly certUser: string | undefined = undefined,
  ) {
    this.clock = broker.clock;
    const now = this.clock.now();
    this.lastRead = now;
    this.lastWrite = now;
    this.acceptedAt = now;
    this.maxMessageSize = settings.maxMessageSize;
    // Until connection.tune-ok the spec's minimum frame size applies (RabbitMQ's initial_frame_max):
    // a client that has not logged in cannot make the broker buffer a large frame.
    this.parser = new FrameParser(FRAME_MIN_SIZE);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.teardown);
    socket.on('close', this.teardown);
    socket.on('end', this.teardown);
  }

  // Socket listeners are arrow-function fields: one closure each, shared by the events.
  private readonly onData = (chunk: Buffer): void => {
    this.lastRead = this.clock.now();
    if (this.state === 'closed') return;
    try {
      if (this.state === 'header') {
        chunk = this.readHeader(chunk);
        if (chunk.length === 0 || (this.state as ConnectionState) !== 'start') return;
      }
      this.parser.push(chunk, this.onFrame);
    } catch (e) {
      // As RabbitMQ, a connection error caused by a method names it in the close's class-id
      // and method-id (0/0 for a content or malformed frame).
      const m = this.failedMethod;
      this.closeWith(toCloseReason(e), m?.classId ?? 0, m?.methodId ?? 0);
    }
    // Replies written by channel handlers go out with this turn's flush.
    if (this.out.length > 0) this.scheduleFlush();
  };

  /** Checks the 8-byte protocol header; answers a mismatch with the header we speak, then closes. */
  private readHeader(chunk: Buffer): Buffer {
    const buf = this.headerBuf === undefined ? chunk : Buffer.concat([this.headerBuf, chunk]);
    const verdict = parseProtocolHeader(buf);
    if (verdict === 'incomplete') {
      this.headerBuf = buf;
      return Buffer.alloc(0);
    }
    this.headerBuf = undefined;
    if (verdict === 'mismatch') {
      // Spec 4.2.2: the server MUST respond with a valid protocol header and then close the socket.
      this.state = 'closed';
      this.socket.end(PROTOCOL_HEADER);
      return Buffer.alloc(0);
    }
    this.state = 'start';
    sendStart(this);
    return buf.subarray(8);
  }

  private readonly onFrame = (type: number, channel: number, payload: Buffer): void => {
    if (this.state === 'closing') {
      // After our connection.close only close / close-ok matter (0-9-1 section 2.2.4).
      if (type === FrameType.METHOD && channel === 0) {
        const m = decodeMethod(payload);
        if (m.kind === 'connection.close-ok' || m.kind === 'connection.close') this.finishClose(m.kind);
      }
      return;
    }
    if (this.state === 'closed') return;
    if (this.loginHeld !== undefined) {
      // Frames a client sent right behind its start-ok wait for the password check (RabbitMQ
      // leaves them in the socket: its reader checks the password before it reads on).
      this.loginHeld.push([type, channel, Buffer.from(payload)]);
      return;
    }
    switch (type) {
      case FrameType.METHOD: {
        const m = decodeMethod(payload);
        // Kept only while the method is handled: if it throws, onData's catch names it.
        this.failedMethod = m;
        if (channel === 0) dispatchConnectionMethod(this, m);
        else if (m.kind === 'channel.open') channelOpen(this, channel);
        else this.channelFrame(type, channel, payload, m);
        this.failedMethod = undefined;
        return;
      }
      case FrameType.HEADER:
      case FrameType.BODY:
        this.channelFrame(type, channel, payload, undefined);
        return;
      case FrameType.HEARTBEAT:
        // RabbitMQ answers a heartbeat on a channel other than 0 with 505 UNEXPECTED_FRAME.
        if (channel !== 0)
          throw new SwitchyardError('UNEXPECTED_FRAME', `heartbeat frame on channel ${channel}`);
        return;
      default:
        throw new SwitchyardError('FRAME_ERROR', `unknown frame type ${type}`);
    }
  };

  /**
   * Hands a frame to its channel's handler; turns a channel error into channel.close, and lets
   * a hard one through to close the connection.
   */
  private channelFrame(type: number, id: number, payload: Buffer, m: AmqpMethod | undefined): void {
    if (this.state !== 'running') {
      throw new SwitchyardError('COMMAND_INVALID', `frame on channel ${id} before the connection is open`);
    }
    const ch = this.channels.get(id);
    if (ch === undefined) {
      // RabbitMQ's text exactly (the channel number is in the frame already).
      throw new SwitchyardError('CHANNEL_ERROR', `expected 'channel.open'`);
    }
    if (ch.state === 'closing') {
      if (m?.kind === 'channel.close-ok') this.channels.delete(id);
      else if (m?.kind === 'channel.close') this.send(id, { kind: 'channel.close-ok' });
      return;
    }
    if (ch.held !== undefined) {
      // A reply on this channel waits for the store: later frames wait behind it, in order.
      ch.held.push({ type, payload, method: m });
      return;
    }
    if (m?.kind === 'basic.publish' && this.broker.publishersBlocked) {
      this.holdPublish(ch, { type, payload, method: m });
      return;
    }
    try {
      if (type === FrameType.METHOD) dispatchChannelMethod(ch, m!);
      else if (type === FrameType.HEADER) contentHeader(ch, payload);
      else contentBody(ch, payload);
    } catch (e) {
      const r = toCloseReason(e);
      if (r.hard) throw e;
      this.closeChannel(ch, r, m);
    }
  }

  /** Runs frames that waited behind a held reply (see AmqpChannel.holdUntil). */
  replay(frames: readonly HeldFrame[], ch: AmqpChannel): void {
    for (let i = 0; i < frames.length; i++) {
      if (ch.held !== undefined) {
        // Another reply is held: the rest waits again, still in order.
        for (let j = i; j < frames.length; j++) ch.held.push(frames[j]!);
        return;
      }
      const f = frames[i]!;
      try {
        this.channelFrame(f.type, ch.id, f.payload, f.method);
      } catch (e) {
        this.closeWith(toCloseReason(e), 0, 0);
        return;
      }
    }
    this.wrote();
  }

  private closeChannel(ch: AmqpChannel, r: CloseReason, m: AmqpMethod | undefined): void {
    ch.writeConfirms();
    ch.release();
    ch.state = 'closing';
    this.confirmChannels?.delete(ch);
    this.send(ch.id, {
      kind: 'channel.close',
      replyCode: r.replyCode,
      replyText: r.replyText,
      replyClassId: m?.classId ?? 0,
      replyMethodId: m?.methodId ?? 0,
    });
  }

  /** Sends connection.close and waits (bounded) for close-ok; the core state is released at once. */
  closeWith(r: CloseReason, classId: number, methodId: number): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const wasHandshaking =
      this.state === 'start' || this.state === 'login' || this.state === 'tune' || this.state === 'header';
    this.state = 'closing';
    this.releaseCore();
    writeMethodFrame(this.out, 0, {
      kind: 'connection.close',
      replyCode: r.replyCode,
      replyText: r.replyText,
      replyClassId: classId,
      replyMethodId: methodId,
    });
    this.flush();
    this.closeTimer = this.clock.after(wasHandshaking ? HANDSHAKE_CLOSE_TIMEOUT_MS : CLOSE_TIMEOUT_MS, () =>
      this.socket.destroy(),
    );
  }

  private finishClose(kind: string): void {
    if (kind === 'connection.close') this.send(0, { kind: 'connection.close-ok' });
    this.flush();
    this.state = 'closed';
    this.socket.end();
  }

  /** Broker shutdown or operator close: 320 CONNECTION_FORCED. */
  forceClose(text: string): void {
    this.closeWith(toCloseReason(new SwitchyardError('CONNECTION_FORCED', text)), 0, 0);
  }

  // --- ConnectionContext: the handshake handlers move the state on through these.

  loggingIn(): void {
    this.state = 'login';
    this.loginHeld = [];
    this.socket.pause();
  }

  loginFinished(): void {
    const held = this.loginHeld;
    this.loginHeld = undefined;
    if (held === undefined || this.state === 'closed' || this.state === 'closing') return;
    try {
      for (const [type, channel, payload] of held) this.onFrame(type, channel, payload);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (this.out.length > 0) this.scheduleFlush();
    if (this.blockedChannels === undefined) this.socket.resume();
  }

  fail(e: unknown): void {
    const m = this.failedMethod;
    this.closeWith(toCloseReason(e), m?.classId ?? 0, m?.methodId ?? 0);
    if (this.out.length > 0) this.scheduleFlush();
  }

  loggedIn(user: string, caps: ClientCapabilities): void {
    this.user = user;
    this.consumerCancelNotify = caps.consumerCancelNotify;
    this.blockedCapable = caps.connectionBlocked;
    this.state = 'tune';
  }

  tuned(frameMax: number, channelMax: number, heartbeat: number): void {
    this.frameMax = frameMax;
    this.parser.setMaxFrameSize(frameMax);
    this.channelMax = channelMax;
    this.heartbeat = heartbeat;
    this.state = 'open';
  }

  opened(core: CoreConnection): void {
    this.core = core;
    this.state = 'running';
  }

  closeRequested(): void {
    this.send(0, { kind: 'connection.close-ok' });
    this.flush();
    this.state = 'closed';
    this.releaseCore();
    this.socket.end();
  }

  drop(): void {
    this.state = 'closed';
    this.socket.destroy();
  }

  hasChannel(id: number): boolean {
    return this.channels.has(id);
  }

  openChannel(id: number): void {
    const ch = new AmqpChannel(this, id, this.core!);
    if (this.overflowing) ch.session.pause(Pause.OVERFLOW);
    this.channels.set(id, ch);
  }

  forget(ch: AmqpChannel): void {
    this.channels.delete(ch.id);
    this.confirmChannels?.delete(ch);
  }

  // --- resource alarms

  /**
   * A resource alarm started or ended. As RabbitMQ does: tell the client (connection.blocked /
   * unblocked, if it announced the capability); a connection that publishes while blocked stops
   * being read until the alarm ends, so consumers keep working and publishers wait.
   */
  blockedChanged(blocked: boolean, reason: string): void {
    if (this.state !== 'running') return;
    if (this.blockedCapable) {
      this.send(0, blocked ? { kind: 'connection.blocked', reason } : { kind: 'connection.unblocked' });
    }
    if (blocked || this.blockedChannels === undefined) return;
    const waiting = this.blockedChannels;
    this.blockedChannels = undefined;
    this.socket.resume();
    for (const ch of waiting) {
      const frames = ch.held ?? [];
      ch.held = undefined;
      if (ch.state === 'open') this.replay(frames, ch);
    }
  }

  /**
   * A publish during a resource alarm: it and everything after it on the channel wait, and the
   * socket is no longer read, until the alarm ends. Consumers on other connections go on.
   */
  private holdPublish(ch: AmqpChannel, frame: HeldFrame): void {
    ch.held = [frame];
    (this.blockedChannels ??= []).push(ch);
    this.socket.pause();
  }

  // --- time

  /**
   * Called every second by the front end's clock: drops a client that has not opened the
   * connection within the handshake timeout, sends heartbeats and drops a peer that missed two.
   */
  tick(now: number): void {
    if (this.state === 'closed') return;
    const handshaking =
      this.state === 'header' ||
      this.state === 'start' ||
      this.state === 'login' ||
      this.state === 'tune' ||
      this.state === 'open';
    if (handshaking && now - this.acceptedAt > this.settings.handshakeTimeout) {
      // Without this a client that connects and sends nothing (or stops mid-handshake, before
      // heartbeats are negotiated) holds its socket forever. RabbitMQ drops it after its
      // handshake_timeout (10 s), without a close method.
      this.state = 'closed';
      this.releaseCore();
      this.socket.destroy();
      return;
    }
    // An idle connection gives back its output chunk: idle connections should cost a few KiB each.
    if (now - this.lastWrite > RELEASE_OUTPUT_AFTER_MS && this.out.length === 0) this.out.release();
    if (this.heartbeat === 0) return;
    const ms = this.heartbeat * 1000;
    if (now - this.lastRead > 2 * ms) {
      // Missed heartbeats (spec 4.2.7: after two intervals without traffic the peer is dead):
      // RabbitMQ drops the socket without a close method.
      this.state = 'closed';
      this.releaseCore();
      this.socket.destroy();
      return;
    }
    if (now - this.lastWrite >= ms / 2) {
      writeHeartbeat(this.out);
      this.flush();
    }
  }

  // --- writing

  send(channel: number, m: AmqpMethodInit): void {
    writeMethodFrame(this.out, channel, m);
    this.wrote();
  }

  confirmPending(ch: AmqpChannel): void {
    (this.confirmChannels ??= new Set()).add(ch);
    this.scheduleFlush();
  }

  /** Something was appended to `out`: schedule a flush, and pause deliveries above the high-water mark. */
  wrote(): void {
    this.scheduleFlush();
    if (!this.pausedForWrite && this.out.length > this.settings.writeHighWater) this.pauseDeliveries();
  }

  /** Bytes waiting to be written: ours and the socket's (FrontEndStats.outboundBytes). */
  get outboundBytes(): number {
    return this.out.length + this.socket.writableLength;
  }

  /**
   * Slow consumers (issue 15): beyond maxOutboundBytes the socket could not send, no-ack
   * deliveries are dropped and counted; below it they flow again. Checked after each flush and
   * drain, not per delivery: a turn's burst to a client that reads goes out whole, and what the
   * client does not take counts.
   */
  private checkOverflow(): void {
    const over = this.socket.writableLength >= this.settings.maxOutboundBytes;
    if (over === this.overflowing) return;
    this.overflowing = over;
    for (const ch of this.channels.values()) {
      if (over) ch.session.pause(Pause.OVERFLOW);
      else ch.session.resume(Pause.OVERFLOW);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One flush per event-loop turn, after every frame of the turn's chunks (not a timer).
    setImmediate(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  flush(): void {
    if (this.confirmChannels !== undefined && this.confirmChannels.size > 0) {
      for (const ch of this.confirmChannels) ch.writeConfirms();
      this.confirmChannels?.clear();
    }
    if (this.out.length === 0) return;
    const chunks = this.out.take();
    if (this.state === 'closed' || this.socket.destroyed) return;
    this.lastWrite = this.clock.now();
    let ok = true;
    if (chunks.length === 1) ok = this.socket.write(chunks[0]!);
    else {
      this.socket.cork();
      for (const c of chunks) ok = this.socket.write(c);
      this.socket.uncork();
    }
    // Node's stream says false above its own 16 KiB mark, and a TLS socket's writes finish
    // asynchronously, so over TLS nearly every flush would pause deliveries until 'drain'; the
    // broker's mark (writeHighWater) decides instead.
    if (!ok && this.socket.writableLength > this.settings.writeHighWater) {
      this.congested = true;
      this.pauseDeliveries();
    } else if (this.pausedForWrite && !this.congested) {
      this.resumeDeliveries();
    }
    this.checkOverflow();
  }

  private readonly onDrain = (): void => {
    this.congested = false;
    this.checkOverflow();
    if (this.pausedForWrite && this.out.length <= this.settings.writeHighWater) this.resumeDeliveries();
  };

  private pauseDeliveries(): void {
    this.pausedForWrite = true;
    for (const ch of this.channels.values()) ch.session.pause(Pause.BACKPRESSURE);
  }

  private resumeDeliveries(): void {
    this.pausedForWrite = false;
    for (const ch of this.channels.values()) ch.session.resume(Pause.BACKPRESSURE);
  }

  // --- teardown

  private releaseCore(): void {
    for (const ch of this.channels.values()) ch.release();
    this.channels.clear();
    this.confirmChannels?.clear();
    this.core?.close();
    this.core = undefined;
  }

  private readonly teardown = (): void => {
    this.closeTimer?.cancel();
    this.state = 'closed';
    this.releaseCore();
    if (!this.socket.destroyed) this.socket.destroy();
    if (!this.reported) {
      this.reported = true;
      this.onClosed(this);
    }
  };
}
