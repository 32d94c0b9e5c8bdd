/**
 * Subscribe (server streaming). The first message on the stream names the subscription (a random
 * id, which Ack and Nack take: handlers/settle.ts) and the queue; deliveries follow. The stream's
 * Subscription pauses when the HTTP/2 stream does not drain (the Outbox is full) and resumes when
 * it does.
 */
import { create } from '@bufbuild/protobuf';
import { ConnectError, type HandlerContext } from '@connectrpc/connect';
import {
  type Broker,
  type CoreConnection,
  type Delivery as CoreDelivery,
  Subscription,
  type SubscriptionOptions,
} from '../../core/index.js';
import type { SwitchyardError } from '../../errors/index.js';
import { type Caller, callerOf, connect } from '../call.js';
import {
  type SubscribeRequest,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from '../../gen/switchyard/v1/broker_pb.js';
import { deliveryToGrpc, sourceOptions, toConnectError } from '../map.js';
import { Outbox } from '../outbox.js';
import type { SubscriptionRegistry } from '../subscription-registry.js';

/** Deliveries (count, body bytes) a Subscribe stream buffers beyond the HTTP/2 stream's before it pauses. */
const STREAM_BUFFER = 256;
const STREAM_BUFFER_BYTES = 1 << 20;

/**
 * The Subscription a SubscribeRequest asks for, registered for Ack/Nack. Not started: the caller
 * sends `started` first, then calls start().
 */
export function openSubscription(
  conn: CoreConnection,
  registry: SubscriptionRegistry,
  caller: Caller,
  req: SubscribeRequest,
  handlers: { deliver(subscriptionId: string, d: CoreDelivery): void; cancelled(err: SwitchyardError): void },
): { sub: Subscription; id: string } {
  const opts: SubscriptionOptions = {
    ...sourceOptions(req.source, req.bindingKey),
    manualAck: !req.autoAck,
    ...(req.autoAck ? {} : { prefetch: req.prefetch }),
  };
  let id = '';
  const sub = new Subscription(conn, opts, {
    deliver: (d) => handlers.deliver(id, d),
    cancelled: (err) => handlers.cancelled(err),
  });
  id = registry.add(sub, caller);
  return { sub, id };
}

/** The first message of a Subscribe stream. */
export function startedResponse(subscriptionId: string, queue: string): SubscribeResponse {
  return create(SubscribeResponseSchema, { event: { case: 'started', value: { subscriptionId, queue } } });
}

export async function* subscribe(
  broker: Broker,
  registry: SubscriptionRegistry,
  req: SubscribeRequest,
  ctx: HandlerContext,
  maxOutboundBytes = STREAM_BUFFER_BYTES,
): AsyncGenerator<SubscribeResponse> {
  let conn: CoreConnection | undefined;
  let sub: Subscription | undefined;
  let id: string | undefined;
  // Full (a count, or limits.maxOutboundBytes of bodies): deliveries pause, and auto-ack ones
  // without credit are dropped meanwhile (issue 15) rather than piling up here.
  const out = new Outbox<SubscribeResponse>(STREAM_BUFFER, maxOutboundBytes, {
    full: () => {
      sub?.pause();
      sub?.overflow(true);
    },
    drained: () => {
      sub?.overflow(false);
      sub?.resume();
    },
  });
  // The deadline, shutdown or the client: the call ends with that status (DEADLINE_EXCEEDED...).
  const onAbort = () => out.abort(ConnectError.from(ctx.signal.reason));
  try {
    const caller = callerOf(ctx);
    conn = connect(broker, ctx);
    const opened = openSubscription(conn, registry, caller, req, {
      deliver: (subscriptionId, d) => out.push(deliveryResponse(subscriptionId, d), d.message.body.length),
      cancelled: (err) => out.fail(toConnectError(err)),
    });
    sub = opened.sub;
    id = opened.id;
    out.push(startedResponse(id, sub.queue));
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (ctx.signal.aborted) onAbort();
    sub.start();
    yield* out;
  } catch (e) {
    throw toConnectError(e);
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    if (id !== undefined) registry.delete(id);
    sub?.close();
    conn?.close();
  }
}

function deliveryResponse(subscription: string, d: CoreDelivery): SubscribeResponse {
  const r = create(SubscribeResponseSchema);
  r.event = { case: 'delivery', value: deliveryToGrpc(subscription, d) };
  return r;
}
