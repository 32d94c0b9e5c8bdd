/**
 * Subscribe (server streaming) and the unary Ack/Nack that settle its deliveries. The first
 * message on the stream names the subscription (a random id, so only its caller can guess it)
 * and the queue; deliveries follow. Ack/Nack find the subscription by id and must come from the
 * same user in the same vhost. The stream's Subscription pauses when the HTTP/2 stream does not
 * drain (the Outbox is full) and resumes when it does.
 */
import { randomBytes } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ConnectError, type HandlerContext } from '@connectrpc/connect';
import {
  type Broker,
  type CoreConnection,
  type Delivery as CoreDelivery,
  Subscription,
  type SubscriptionOptions,
} from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { type Caller, callerOf, connect } from '../call.js';
import {
  type AckRequest,
  type AckResponseSchema,
  DeliverySchema,
  type NackRequest,
  type NackResponseSchema,
  type SubscribeRequest,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from '../../gen/switchyard/v1/broker_pb.js';
import { invalid, messageToGrpc, toConnectError } from '../map.js';
import { Outbox } from '../outbox.js';

/** Deliveries (count, body bytes) a Subscribe stream buffers beyond the HTTP/2 stream's before it pauses. */
const STREAM_BUFFER = 256;
const STREAM_BUFFER_BYTES = 1 << 20;

interface Registered {
  readonly sub: Subscription;
  readonly user: string;
  readonly vhost: string;
}

/** Open Subscribe streams by subscription id, for Ack and Nack. */
export class SubscriptionRegistry {
  private readonly byId = new Map<string, Registered>();

  add(sub: Subscription, caller: Caller): string {
    const id = randomBytes(16).toString('base64url');
    this.byId.set(id, { sub, user: caller.user, vhost: caller.vhost });
    return id;
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  /** The caller's subscription; NOT_FOUND when the id is unknown, ended, or someone else's. */
  get(id: string, caller: Caller): Subscription {
    const r = this.byId.get(id);
    if (r === undefined || r.user !== caller.user || r.vhost !== caller.vhost) {
      throw new SwitchyardError('NOT_FOUND', `no subscription '${id}' (ended, or not yours)`);
    }
    return r.sub;
  }
}

/** Subscription options for a queue-or-exchange source; INVALID_ARGUMENT when there is none. */
export function sourceOptions(
  source: SubscribeRequest['source'],
  bindingKey: string,
): Pick<SubscriptionOptions, 'queue' | 'exchange' | 'bindingKey'> {
  switch (source.case) {
    case 'queue':
      if (source.value === '') throw invalid('queue must not be empty');
      return { queue: source.value };
    case 'exchange':
      return { exchange: source.value, bindingKey };
    default:
      throw invalid('subscribe to a queue or to an exchange: set one of queue, exchange');
  }
}

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
): AsyncGenerator<SubscribeResponse> {
  let conn: CoreConnection | undefined;
  let sub: Subscription | undefined;
  let id: string | undefined;
  const out = new Outbox<SubscribeResponse>(STREAM_BUFFER, STREAM_BUFFER_BYTES, {
    full: () => sub?.pause(),
    drained: () => sub?.resume(),
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
  const delivery = create(DeliverySchema);
  delivery.subscription = subscription;
  delivery.deliveryId = BigInt(d.id);
  delivery.redelivered = d.redelivered;
  delivery.queue = d.queue;
  delivery.message = messageToGrpc(d.message);
  const r = create(SubscribeResponseSchema);
  r.event = { case: 'delivery', value: delivery };
  return r;
}

export function ack(
  registry: SubscriptionRegistry,
  req: AckRequest,
  ctx: HandlerContext,
): MessageInitShape<typeof AckResponseSchema> {
  try {
    registry.get(req.subscriptionId, callerOf(ctx)).ack(deliveryTag(req.deliveryId), req.multiple);
    return {};
  } catch (e) {
    throw toConnectError(e);
  }
}

export function nack(
  registry: SubscriptionRegistry,
  req: NackRequest,
  ctx: HandlerContext,
): MessageInitShape<typeof NackResponseSchema> {
  try {
    registry
      .get(req.subscriptionId, callerOf(ctx))
      .nack(deliveryTag(req.deliveryId), req.requeue, req.multiple);
    return {};
  } catch (e) {
    throw toConnectError(e);
  }
}

/** A delivery id from the wire as the core's tag (ids beyond 2^53 are never ours: unknown). */
export function deliveryTag(id: bigint): number {
  return id > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(id);
}
