/**
 * One AMQP 0-9-1 connection: the protocol header, the connection-class handshake (start, tune,
 * open), heartbeats, frame dispatch to channels, batched socket writes and close handling in both
 * directions. It takes any Duplex stream, so tests can run it over an in-memory pair.
 */
import type { Duplex } from 'node:stream';
import { type Broker, type CoreConnection, Pause } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import { AmqpChannel } from './channel.js';
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
import { type CloseReason, toCloseReason } from './map.js';
import { MECHANISMS, parseCredentials } from './sasl.js';

export interface AmqpOptions {
  readonly frameMax: number;
  readonly channelMax: number;
  /** Heartbeat interval we propose, seconds (0 = off). */
  readonly heartbeat: number;
  readonly maxMessageSize: number;
  readonly version: string;
  /** Bytes pending on a connection above which deliveries to it pause. */
  readonly writeHighWater: number;
  /** Milliseconds a client has from TCP accept to connection.open (RabbitMQ's handshake_timeout). */
  readonly handshakeTimeout: number;
}

export const DEFAULT_AMQP_OPTIONS: AmqpOptions = {
  frameMax: 131072,
  channelMax: 2047,
  heartbeat: 60,
  maxMessageSize: 128 * 1024 * 1024,
  version: '0.1.0',
  writeHighWater: 1024 * 1024,
  handshakeTimeout: 10_000,
};

type State = 'header' | 'start' | 'tune' | 'open' | 'running' | 'closing' | 'closed';

/** RabbitMQ's names for the connection states, used in its error texts. */
const RABBIT_STATE_NAMES: Record<State, string> = {
  header: 'pre_init',
  start: 'starting',
  tune: 'tuning',
  open: 'opening',
  running: 'running',
  closing: 'closing',
  closed: 'closed',
};

/** How long we wait for connection.close-ok before dropping the socket. */
const CLOSE_TIMEOUT_MS = 3000;

export class AmqpConnection {
  readonly out = new OutBuffer();
  state: State = 'header';
  frameMax = FRAME_MIN_SIZE;
  heartbeat = 0;
  consumerCancelNotify = false;
  /** The client announced the connection.blocked capability. */
  private blockedCapable = false;
  /** Channels whose publishes wait for a resource alarm to end (their frames are held). */
  private blockedChannels: AmqpChannel[] | undefined;
  /** Time of the last byte read / written (ms, from the listener's clock). */
  lastRead: number;
  lastWrite: number;

  private readonly parser: FrameParser;
  private readonly channels = new Map<number, AmqpChannel>();
  private core: CoreConnection | undefined;
  private user = '';
  private channelMax = 0;
  private headerBuf: Buffer | undefined;
  private flushScheduled = false;
  private congested = false;
  private pausedForWrite = false;
  /** Channels with confirms to write at the next flush (created on first use). */
  private confirmChannels: Set<AmqpChannel> | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private reported = false;
  private readonly acceptedAt: number;
  /** The method frame being handled, named in the close if it causes a connection error. */
  failedMethod: { readonly classId: number; readonly methodId: number } | undefined;

  constructor(
    private readonly socket: Duplex,
    private readonly broker: Broker,
    readonly options: AmqpOptions,
    readonly remoteAddress: string,
    private readonly onClosed: (c: AmqpConnection) => void,
    now: number,
  ) {
    this.lastRead = now;
    this.lastWrite = now;
    this.acceptedAt = now;
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
    this.lastRead = Date.now();
    if (this.state === 'closed') return;
    try {
      if (this.state === 'header') {
        chunk = this.readHeader(chunk);
        if (chunk.length === 0 || (this.state as State) !== 'start') return;
      }
      this.parser.push(chunk, this.onFrame);
    } catch (e) {
      // As RabbitMQ, a connection error caused by a method names it in the close's class-id
      // and method-id (0/0 for a content or malformed frame).
      const m = this.failedMethod;
      this.closeWith(toCloseReason(e), m?.classId ?? 0, m?.methodId ?? 0, true);
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
      this.state = 'closed';
      this.socket.end(PROTOCOL_HEADER);
      return Buffer.alloc(0);
    }
    this.state = 'start';
    this.send(0, {
      kind: 'connection.start',
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: {
        product: 'Switchyard',
        version: this.options.version,
        platform: `Node.js ${process.version}`,
        copyright: 'Switchyard authors',
        information: 'https://github.com/switchyard',
        capabilities: {
          publisher_confirms: true,
          exchange_exchange_bindings: true,
          'basic.nack': true,
          consumer_cancel_notify: true,
          'connection.blocked': true,
          authentication_failure_close: true,
          per_consumer_qos: true,
          direct_reply_to: true,
        },
      },
      mechanisms: MECHANISMS,
      locales: 'en_US',
    });
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
    switch (type) {
      case FrameType.METHOD: {
        const m = decodeMethod(payload);
        // Kept only while the method is handled: if it throws, onData's catch names it.
        this.failedMethod = m;
        if (channel === 0) this.connectionMethod(m);
        else if (m.kind === 'channel.open') this.openChannel(channel);
        else this.channelFrame(channel, () => this.channelMethod(channel, m), m);
        this.failedMethod = undefined;
        return;
      }
      case FrameType.HEADER:
        this.channelFrame(channel, (ch) => ch.handleHeader(payload));
        return;
      case FrameType.BODY:
        this.channelFrame(channel, (ch) => ch.handleBody(payload));
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

  private connectionMethod(m: AmqpMethod): void {
    switch (m.kind) {
      case 'connection.start-ok': {
        if (this.state !== 'start') break;
        this.consumerCancelNotify = capability(m.clientProperties, 'consumer_cancel_notify');
        this.blockedCapable = capability(m.clientProperties, 'connection.blocked');
        const creds = parseCredentials(m.mechanism, m.response);
        if (
          creds === undefined ||
          !this.broker.authenticate(creds.user, creds.password, this.remoteAddress)
        ) {
          if (!capability(m.clientProperties, 'authentication_failure_close')) {
            // A client that did not announce authentication_failure_close takes a dropped
            // socket as the refusal and may not expect connection.close here (RabbitMQ does
            // the same).
            this.state = 'closed';
            this.socket.destroy();
            return;
          }
          this.failedMethod = undefined; // RabbitMQ's refusal names no method (class-id 0)
          throw new SwitchyardError(
            'AUTHENTICATION_FAILED',
            `Login was refused using authentication mechanism ${m.mechanism}. For details see the broker logfile.`,
          );
        }
        this.user = creds.user;
        this.state = 'tune';
        this.send(0, {
          kind: 'connection.tune',
          channelMax: this.options.channelMax,
          frameMax: this.options.frameMax,
          heartbeat: this.options.heartbeat,
        });
        return;
      }
      case 'connection.tune-ok': {
        if (this.state !== 'tune') break;
        const fm = m.frameMax === 0 ? this.options.frameMax : m.frameMax;
        if (fm < FRAME_MIN_SIZE || fm > this.options.frameMax) {
          throw new SwitchyardError(
            'NOT_ALLOWED',
            `negotiated frame_max = ${m.frameMax} is outside the range ${FRAME_MIN_SIZE}..${this.options.frameMax}`,
          );
        }
        this.frameMax = fm;
        this.parser.setMaxFrameSize(fm);
        this.channelMax =
          m.channelMax === 0 ? this.options.channelMax : Math.min(m.channelMax, this.options.channelMax);
        this.heartbeat = m.heartbeat;
        this.state = 'open';
        return;
      }
      case 'connection.open': {
        if (this.state !== 'open') break;
        this.core = this.broker.connect({
          protocol: 'amqp',
          remoteAddress: this.remoteAddress,
          user: this.user,
          vhost: m.virtualHost,
        });
        this.state = 'running';
        this.send(0, { kind: 'connection.open-ok' });
        if (this.broker.publishersBlocked) this.blockedChanged(true, this.broker.blockedReason);
        return;
      }
      case 'connection.close':
        this.send(0, { kind: 'connection.close-ok' });
        this.flush();
        this.state = 'closed';
        this.releaseCore();
        this.socket.end();
        return;
      case 'connection.update-secret':
        if (this.state !== 'running') break;
        // No token-based authentication yet: the new secret is accepted as is.
        this.send(0, { kind: 'connection.update-secret-ok' });
        return;
      case 'connection.blocked':
      case 'connection.unblocked':
        return;
      default:
        break;
    }
    // RabbitMQ (rabbit_reader:handle_method0) answers any other method on channel 0 with
    // 504 CHANNEL_ERROR and names its own connection state.
    throw new SwitchyardError(
      'CHANNEL_ERROR',
      `unexpected method in connection state ${RABBIT_STATE_NAMES[this.state]}`,
    );
  }

  /** Routes a frame to its channel; turns a channel error into channel.close, a hard one into connection.close. */
  private channelFrame(id: number, run: (ch: AmqpChannel) => void, m?: AmqpMethod): void {
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
      ch.held.push(() => this.channelFrame(id, run, m));
      return;
    }
    if (m?.kind === 'basic.publish' && this.broker.publishersBlocked) {
      this.holdPublish(ch, () => this.channelFrame(id, run, m));
      return;
    }
    try {
      run(ch);
    } catch (e) {
      const r = toCloseReason(e);
      if (r.hard) throw e;
      this.closeChannel(ch, r, m);
    }
  }

  /** Runs frames that waited behind a held reply (see AmqpChannel.holdUntil). */
  replay(frames: readonly (() => void)[], ch: AmqpChannel): void {
    for (let i = 0; i < frames.length; i++) {
      if (ch.held !== undefined) {
        // Another reply is held: the rest waits again, still in order.
        for (let j = i; j < frames.length; j++) ch.held.push(frames[j]!);
        return;
      }
      try {
        frames[i]!();
      } catch (e) {
        this.closeWith(toCloseReason(e), 0, 0, true);
        return;
      }
    }
    this.wrote();
  }

  private openChannel(id: number): void {
    if (this.state !== 'running') {
      throw new SwitchyardError('COMMAND_INVALID', `channel.open before the connection is open`);
    }
    if (this.channels.has(id)) throw new SwitchyardError('CHANNEL_ERROR', `second 'channel.open' seen`);
    if (id > this.channelMax) {
      throw new SwitchyardError(
        'NOT_ALLOWED',
        `channel number ${id} exceeds the negotiated channel_max ${this.channelMax}`,
      );
    }
    this.channels.set(id, new AmqpChannel(this, id, this.core!));
    this.send(id, { kind: 'channel.open-ok' });
  }

  private channelMethod(id: number, m: AmqpMethod): void {
    switch (m.kind) {
      case 'channel.close': {
        const ch = this.channels.get(id)!;
        ch.release();
        this.channels.delete(id);
        this.confirmChannels?.delete(ch);
        this.send(id, { kind: 'channel.close-ok' });
        return;
      }
      case 'channel.close-ok':
        return;
      default:
        this.channels.get(id)!.handleMethod(m);
    }
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
  closeWith(r: CloseReason, classId: number, methodId: number, _hard: boolean): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const wasHandshaking = this.state === 'start' || this.state === 'tune' || this.state === 'header';
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
    if (wasHandshaking) {
      // A client that failed the handshake may not answer; RabbitMQ closes right after the close.
      this.closeTimer = setTimeout(() => this.socket.destroy(), 100);
    } else {
      this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS);
    }
    this.closeTimer.unref?.();
  }

  private finishClose(kind: string): void {
    if (kind === 'connection.close') this.send(0, { kind: 'connection.close-ok' });
    this.flush();
    this.state = 'closed';
    this.socket.end();
  }

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
  private holdPublish(ch: AmqpChannel, frame: () => void): void {
    ch.held = [frame];
    (this.blockedChannels ??= []).push(ch);
    this.socket.pause();
  }

  /** Broker shutdown or operator close: 320 CONNECTION_FORCED. */
  forceClose(text: string): void {
    this.closeWith({ replyCode: 320, replyText: `CONNECTION_FORCED - ${text}`, hard: true }, 0, 0, true);
  }

  /**
   * Called by the listener's clock: drops a client that has not opened the connection within the
   * handshake timeout, sends heartbeats and drops a peer that missed two.
   */
  tick(now: number): void {
    if (this.state === 'closed') return;
    const handshaking =
      this.state === 'header' || this.state === 'start' || this.state === 'tune' || this.state === 'open';
    if (handshaking && now - this.acceptedAt > this.options.handshakeTimeout) {
      // Without this a client that connects and sends nothing (or stops mid-handshake, before
      // heartbeats are negotiated) holds its socket forever. RabbitMQ drops it after its
      // handshake_timeout (10 s), without a close method.
      this.state = 'closed';
      this.releaseCore();
      this.socket.destroy();
      return;
    }
    // An idle connection gives back its output chunk: idle connections should cost a few KiB each.
    if (now - this.lastWrite > 1000 && this.out.length === 0) this.out.release();
    if (this.heartbeat === 0) return;
    const ms = this.heartbeat * 1000;
    if (now - this.lastRead > 2 * ms) {
      // Missed heartbeats: RabbitMQ drops the socket without a close method.
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
    if (!this.pausedForWrite && this.out.length > this.options.writeHighWater) this.pauseDeliveries();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
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
    this.lastWrite = Date.now();
    let ok = true;
    if (chunks.length === 1) ok = this.socket.write(chunks[0]!);
    else {
      this.socket.cork();
      for (const c of chunks) ok = this.socket.write(c);
      this.socket.uncork();
    }
    if (!ok) {
      this.congested = true;
      this.pauseDeliveries();
    } else if (this.pausedForWrite && !this.congested) {
      this.resumeDeliveries();
    }
  }

  private readonly onDrain = (): void => {
    this.congested = false;
    if (this.pausedForWrite && this.out.length <= this.options.writeHighWater) this.resumeDeliveries();
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
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.state = 'closed';
    this.releaseCore();
    if (!this.socket.destroyed) this.socket.destroy();
    if (!this.reported) {
      this.reported = true;
      this.onClosed(this);
    }
  };
}

function capability(props: Record<string, unknown>, name: string): boolean {
  const caps = props.capabilities;
  return typeof caps === 'object' && caps !== null && (caps as Record<string, unknown>)[name] === true;
}
