/**
 * Publish (unary) and PublishStream (client streaming): each message is answered only once the
 * broker confirmed it (routed, and on disk when persistent into a durable queue).
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { ConnectError, type HandlerContext } from '@connectrpc/connect';
import {
  type Broker,
  type CoreConnection,
  type PublishInput,
  publishConfirmed,
  publishWithConfirm,
} from '../../core/index.js';
import type { SwitchyardError } from '../../errors/index.js';
import { callerOf, connect, traceOf, unlessAborted, withConnection } from '../call.js';
import type {
  PublishRequest,
  PublishResponseSchema,
  PublishStreamResponseSchema,
} from '../../gen/switchyard/v1/broker_pb.js';
import { bodyOf, propertiesFromGrpc, type TraceMetadata, toConnectError } from '../map.js';

/** Trailer of a failed PublishStream: how many messages were confirmed before the failure. */
export const CONFIRMED_KEY = 'switchyard-confirmed';

/** Unconfirmed publishes a PublishStream may have before it stops reading (waits for the store). */
const MAX_UNCONFIRMED = 4096;

/** The core's publish input for a request (throws INVALID_ARGUMENT for a bad field). */
export function publishInput(
  r: { exchange: string; routingKey: string; message?: PublishRequest['message']; mandatory: boolean },
  user: string,
  trace: TraceMetadata,
): PublishInput {
  return {
    exchange: r.exchange,
    routingKey: r.routingKey,
    body: bodyOf(r.message),
    properties: propertiesFromGrpc(r.message, user, trace),
    mandatory: r.mandatory,
  };
}

export function publish(
  broker: Broker,
  req: PublishRequest,
  ctx: HandlerContext,
): Promise<MessageInitShape<typeof PublishResponseSchema>> {
  return withConnection(broker, ctx, async (conn) => {
    const input = publishInput(req, conn.identity.user, traceOf(ctx));
    const out = await unlessAborted(publishConfirmed(conn, input), ctx.signal);
    return { routedQueues: out.routed };
  });
}

/**
 * Publishes in order, without waiting for each confirm before the next publish (the store
 * group-commits them). The first failure stops the reading; the call then ends with that
 * failure's status once every earlier message is confirmed, so "N confirmed" is exact.
 */
export async function publishStream(
  broker: Broker,
  requests: AsyncIterable<PublishRequest>,
  ctx: HandlerContext,
): Promise<MessageInitShape<typeof PublishStreamResponseSchema>> {
  let conn: CoreConnection | undefined;
  try {
    conn = connect(broker, ctx);
    const tally = new Tally();
    const user = callerOf(ctx).user;
    const trace = traceOf(ctx);
    for await (const r of requests) {
      tally.publish(conn, r, user, trace);
      if (tally.failed) break;
      const room = tally.whenBelow(MAX_UNCONFIRMED);
      if (room !== undefined) await unlessAborted(room, ctx.signal);
    }
    await unlessAborted(tally.whenBelow(1) ?? Promise.resolve(), ctx.signal);
    const failure = tally.failure;
    if (failure !== undefined) {
      const e = toConnectError(failure.error);
      const n = String(failure.index);
      e.metadata.set(CONFIRMED_KEY, n);
      throw new ConnectError(`${e.rawMessage} (${n} confirmed before it)`, e.code, e.metadata, undefined, e);
    }
    return { confirmed: BigInt(tally.confirmed) };
  } catch (e) {
    throw toConnectError(e);
  } finally {
    conn?.close();
  }
}

/** Counts a stream's publishes and confirms, and keeps its first failure (by position). */
class Tally {
  published = 0;
  confirmed = 0;
  failure: { index: number; error: SwitchyardError | Error } | undefined;
  private unconfirmed = 0;
  private waiter: { below: number; resolve: () => void } | undefined;

  get failed(): boolean {
    return this.failure !== undefined;
  }

  publish(conn: CoreConnection, r: PublishRequest, user: string, trace: TraceMetadata): void {
    const index = this.published++;
    let input: PublishInput;
    try {
      input = publishInput(r, user, trace);
    } catch (e) {
      this.fail(index, e as Error);
      return;
    }
    this.unconfirmed++;
    publishWithConfirm(conn, input, 'refuse', (err) => {
      this.unconfirmed--;
      if (err === undefined) this.confirmed++;
      else this.fail(index, err);
      const w = this.waiter;
      if (w !== undefined && this.unconfirmed < w.below) {
        this.waiter = undefined;
        w.resolve();
      }
    });
  }

  /** Resolves when fewer than `below` publishes are unconfirmed; undefined when that is so now. */
  whenBelow(below: number): Promise<void> | undefined {
    if (this.unconfirmed < below) return undefined;
    return new Promise((resolve) => {
      this.waiter = { below, resolve };
    });
  }

  private fail(index: number, error: Error): void {
    if (this.failure === undefined || index < this.failure.index) this.failure = { index, error };
  }
}
