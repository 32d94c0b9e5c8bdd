/**
 * What the method handlers see of a connection (channel 0: the connection class) and of a
 * channel (every other method): two narrow interfaces that AmqpConnection and AmqpChannel
 * implement. Handlers import these, never the classes, so the classes and the handlers do not
 * import each other (as src/http/context.ts does for the HTTP handlers).
 */
import type {
  Broker,
  CoreConnection,
  DeliverySink,
  Exchange,
  Message,
  Session,
  SettleOutcome,
  Written,
} from '../../core/index.js';
import type { AmqpMethodInit, OutBuffer } from '../codec/index.js';
import type { AmqpSettings } from '../settings.js';

/**
 * Where a connection is in its life (0-9-1 section 2.2.4): waiting for the protocol header, for
 * start-ok, for the password check ('login'), for tune-ok, open; running; closing (we sent
 * connection.close); closed.
 */
export type ConnectionState =
  | 'header'
  | 'start'
  | 'login'
  | 'tune'
  | 'open'
  | 'running'
  | 'closing'
  | 'closed';

/** A method as connection.close and channel.close name it (class-id, method-id). */
export interface MethodId {
  readonly classId: number;
  readonly methodId: number;
}

/** The capabilities a client announced in start-ok's client-properties that change what we send. */
export interface ClientCapabilities {
  /** basic.cancel is sent when a consumed queue goes away. */
  readonly consumerCancelNotify: boolean;
  /** connection.blocked / unblocked are sent on resource alarms. */
  readonly connectionBlocked: boolean;
}

/** The connection as the channel-0 handlers (start-ok, tune-ok, open, close, …) and channel.open see it. */
export interface ConnectionContext {
  readonly state: ConnectionState;
  readonly settings: AmqpSettings;
  readonly broker: Broker;
  readonly remoteAddress: string;
  /** The subject CN of the client's verified TLS certificate (SASL EXTERNAL's user), if any. */
  readonly certUser: string | undefined;
  /** The user start-ok logged in as ('' before). */
  readonly user: string;
  /** channel_max as negotiated in tune-ok. */
  readonly channelMax: number;
  /**
   * The method a connection error names in its connection.close (class-id, method-id); the frame
   * dispatch sets it to the method being handled, undefined names none (0, 0).
   */
  failedMethod: MethodId | undefined;
  /** Appends a method frame and schedules the flush. */
  send(channel: number, m: AmqpMethodInit): void;
  /** start-ok arrived: the credentials are being checked (off the event loop); frames wait. */
  loggingIn(): void;
  /** The check is done and its answer sent: the frames that waited are handled. */
  loginFinished(): void;
  /** Closes the connection for an error raised outside a frame's handling (as a bad frame does). */
  fail(e: unknown): void;
  /** start-ok accepted the credentials: the connection is tuning. */
  loggedIn(user: string, caps: ClientCapabilities): void;
  /** tune-ok agreed the limits: the connection waits for connection.open. */
  tuned(frameMax: number, channelMax: number, heartbeat: number): void;
  /** connection.open succeeded: the connection runs as `core`. */
  opened(core: CoreConnection): void;
  /** The client's connection.close: answers close-ok, releases everything, ends the socket. */
  closeRequested(): void;
  /** Drops the socket without a close method (RabbitMQ's answer to some handshake failures). */
  drop(): void;
  /** A resource alarm started or ended (the connection tells the client and holds publishes). */
  blockedChanged(blocked: boolean, reason: string): void;
  hasChannel(id: number): boolean;
  /** Creates channel `id` (already checked by the caller). */
  openChannel(id: number): void;
}

/** A basic.publish whose content header and body frames are still arriving. */
export interface PendingPublish {
  readonly exchange: Exchange;
  readonly routingKey: string;
  readonly mandatory: boolean;
  /** The property bytes of the content header; undefined until the header arrived. */
  props: Buffer | undefined;
  bodySize: number;
  received: number;
  /** Body frames so far, when the body spans more than one. */
  parts: Buffer[];
}

/** A publish inside a transaction, routed at tx.commit. */
export interface TxPublish {
  readonly exchange: Exchange;
  readonly msg: Message;
  readonly mandatory: boolean;
}

/** An ack, nack or reject inside a transaction, applied at tx.commit. */
export interface TxSettle {
  readonly tag: number;
  readonly multiple: boolean;
  readonly outcome: SettleOutcome;
}

/** What a transaction holds until tx.commit (or drops at tx.rollback). */
export interface Transaction {
  readonly publishes: TxPublish[];
  readonly settles: TxSettle[];
}

/** The channel as the handlers of every method on channels 1 and above see it. */
export interface ChannelContext {
  readonly id: number;
  readonly core: CoreConnection;
  readonly session: Session;
  /** Where the channel's consumers deliver (the channel itself). */
  readonly sink: DeliverySink;
  /**
   * The connection's output buffer. A handler appends its reply here; the connection flushes it
   * at the end of the turn (after a held reply, wrote() schedules that flush).
   */
  readonly out: OutBuffer;
  /** frame_max as negotiated: content bodies are cut into frames of this size. */
  readonly frameMax: number;
  readonly maxMessageSize: number;
  /** The publish whose content is expected; while set, only content frames may come. */
  publishing: PendingPublish | undefined;
  /** The open transaction after tx.select; undefined outside tx mode. */
  tx: Transaction | undefined;
  /** Whether confirm.select put the channel in confirm mode. */
  readonly confirming: boolean;
  selectConfirms(): void;
  /** A publish in confirm mode was routed: confirm it once `epoch` is on disk (0: at once). */
  confirmPublished(epoch: number): void;
  /** Names `m` in the connection.close if the error being thrown closes the connection. */
  blame(m: MethodId): void;
  /** Something was appended to `out` outside the frame handling: schedule the flush. */
  wrote(): void;
  /** Appends a method on this channel and schedules the flush. */
  send(m: AmqpMethodInit): void;
  /**
   * Sends `reply` once the definition changes `writes` stand for are on disk (at once when
   * undefined); later frames on the channel wait behind it.
   */
  replyAfterWrites(writes: Written, reply: AmqpMethodInit | undefined): void;
  /** Runs `reply` once `wait` calls back, holding the channel's later frames until then. */
  holdUntil(wait: (done: () => void) => void, reply: () => void): void;
  /** The store could not make something durable: the connection closes with 541. */
  storeFailed(err: Error): void;
  /** Releases the channel's core state and frees its number (the client's channel.close). */
  end(): void;
}
