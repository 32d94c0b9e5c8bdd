/**
 * PublishStream (client streaming): publishes in order, without waiting for each confirm before
 * the next publish (the store group-commits them). The first failure stops the reading; the call
 * then ends with that failure's status once every earlier message is confirmed, so "N confirmed"
 * is exact. A streaming call: while a resource alarm blocks publishers it stops reading its
 * client (PublishGate) instead of refusing.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { ConnectError, type HandlerContext } from '@connectrpc/connect';
import { type Broker, type CoreConnection, type PublishInput, publishWithConfirm } from '../../core/index.js';
import type { SwitchyardError } from '../../errors/index.js';
import type { PublishRequest, PublishStreamResponseSchema } from '../../gen/switchyard/v1/broker_pb.js';
import { connect, traceOf, unlessAborted } from '../call.js';
import { publishInput, type TraceMetadata, toConnectError } from '../map.js';
import type { PublishGate } from '../publish-gate.js';

/** Trailer of a failed PublishStream: how many messages were confirmed before the failure. */
export const CONFIRMED_KEY = 'switchyard-confirmed';

/** Unconfirmed publishes a PublishStream may have before it stops reading (waits for the store). */
const MAX_UNCONFIRMED = 4096;

export async function publishStream(
  broker: Broker,
  gate: PublishGate,
  requests: AsyncIterable<PublishRequest>,
  ctx: HandlerContext,
): Promise<MessageInitShape<typeof PublishStreamResponseSchema>> {
  let conn: CoreConnection | undefined;
  try {
    conn = connect(broker, ctx);
    const tally = new Tally();
    const trace = traceOf(ctx);
    for await (const r of requests) {
      // While a resource alarm blocks publishers, a message already on its way waits here, before
      // the broker acts on it, and nothing more is read: HTTP/2 flow control holds the client.
      const open = gate.whenOpen();
      if (open !== undefined) await unlessAborted(open, ctx.signal);
      tally.publish(conn, r, trace);
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

  publish(conn: CoreConnection, r: PublishRequest, trace: TraceMetadata): void {
    const index = this.published++;
    let input: PublishInput;
    try {
      input = publishInput(r, trace);
    } catch (e) {
      this.fail(index, e as Error);
      return;
    }
    this.unconfirmed++;
    // 'accept': during an alarm the stream stops reading instead (see publishStream).
    publishWithConfirm(conn, input, 'accept', (err) => {
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
