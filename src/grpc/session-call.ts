/**
 * The Session call's state (bidirectional: publishes, subscriptions, acks, nacks and credit in;
 * confirms, deliveries and errors out), with no transport in it, shared by the connect path
 * (handlers/session.ts) and the native one (native/session.ts). Each request is handled
 * synchronously, in one switch, and its answers are pushed to an output whose fullness pauses the
 * session's subscriptions. A failed request is answered with an error naming it; the session goes
 * on. When the client half-closes, the call ends once every publish is answered.
 */
import { create } from '@bufbuild/protobuf';
import {
  asSwitchyardError,
  type CoreConnection,
  type Delivery as CoreDelivery,
  type PublishOutcome,
  publishWithConfirm,
  Subscription,
} from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import {
  type SessionRequest,
  type SessionRequest_Publish,
  type SessionRequest_Subscribe,
  type SessionResponse,
  SessionResponse_CancelledSchema,
  SessionResponse_ConfirmSchema,
  SessionResponse_ErrorSchema,
  SessionResponse_SubscribedSchema,
  SessionResponseSchema,
} from '../gen/switchyard/v1/broker_pb.js';
import {
  deliveryTag,
  invalid,
  deliveryToGrpc,
  publishInput,
  sourceOptions,
  type TraceMetadata,
} from './map.js';

/**
 * Where a SessionCall's responses go. Deliveries and confirms have methods of their own so that
 * the native path can encode them straight from the core's objects.
 */
export interface SessionOutput {
  delivery(subscription: string, d: CoreDelivery): void;
  confirm(publishId: bigint, routedQueues: number): void;
  /** Any other response: subscribed, error, cancelled. */
  push(r: SessionResponse): void;
}

/** A SessionOutput that builds protobuf-es messages (the connect path). */
export class MessageOutput implements SessionOutput {
  constructor(private readonly out: { push(r: SessionResponse, bytes?: number): void }) {}

  delivery(subscription: string, d: CoreDelivery): void {
    this.out.push(deliveryResponse(subscription, d), d.message.body.length);
  }

  confirm(publishId: bigint, routedQueues: number): void {
    this.out.push(confirmResponse(publishId, routedQueues));
  }

  push(r: SessionResponse): void {
    this.out.push(r);
  }
}

export class SessionCall {
  private readonly subs = new Map<string, Subscription>();
  private unconfirmed = 0;
  private paused = false;
  /** Over limits.maxOutboundBytes: auto-ack subscriptions without credit drop (issue 15). */
  private over = false;
  /** Whether the client has published: only then does a resource alarm stop its reading. */
  private isPublisher = false;
  private closed = false;
  private onSettled: (() => void) | undefined;

  constructor(
    private readonly conn: CoreConnection,
    private readonly trace: TraceMetadata,
    private readonly out: SessionOutput,
  ) {}

  /** Handles one request; its answers (now or later) go to the output. */
  handle(req: SessionRequest): void {
    const r = req.request;
    switch (r.case) {
      case 'publish':
        this.publish(r.value);
        return;
      case 'subscribe':
        this.subscribe(r.value);
        return;
      case 'ack': {
        // Acks are as frequent as deliveries: no closure per request here.
        const a = r.value;
        const sub = this.find(a.subscription);
        if (sub === undefined) return;
        try {
          sub.ack(deliveryTag(a.deliveryId), a.multiple);
        } catch (e) {
          this.out.push(errorResponse(a.subscription, asSwitchyardError(e)));
        }
        return;
      }
      case 'nack': {
        const n = r.value;
        const sub = this.find(n.subscription);
        if (sub === undefined) return;
        try {
          sub.nack(deliveryTag(n.deliveryId), n.requeue, n.multiple);
        } catch (e) {
          this.out.push(errorResponse(n.subscription, asSwitchyardError(e)));
        }
        return;
      }
      case 'credit':
        this.find(r.value.subscription)?.addCredit(r.value.n);
        return;
      case 'unsubscribe':
        this.unsubscribe(r.value.subscription);
        return;
      default:
        this.out.push(
          errorResponse(
            undefined,
            invalid('empty request: set one of publish, subscribe, ack, nack, credit, unsubscribe'),
          ),
        );
    }
  }

  /** Whether the client has published on this session (a resource alarm then stops its reading). */
  get publisher(): boolean {
    return this.isPublisher;
  }

  /** Stops every subscription's deliveries (the output is full). */
  pause(): void {
    this.paused = true;
    for (const s of this.subs.values()) s.pause();
  }

  resume(): void {
    this.paused = false;
    for (const s of this.subs.values()) s.resume();
  }

  /**
   * The output holds more than limits.maxOutboundBytes (true) or is back under it: auto-ack
   * subscriptions without credit have their deliveries dropped meanwhile (issue 15).
   */
  overflow(over: boolean): void {
    this.over = over;
    for (const s of this.subs.values()) s.overflow(over);
  }

  /** Resolves once every publish so far is confirmed or refused; undefined when they are now. */
  whenSettled(): Promise<void> | undefined {
    if (this.unconfirmed === 0) return undefined;
    return new Promise((resolve) => {
      this.onSettled = resolve;
    });
  }

  /** Ends every subscription (unsettled deliveries go back to their queues). */
  close(): void {
    this.closed = true;
    for (const s of this.subs.values()) s.close();
    this.subs.clear();
  }

  private publish(p: SessionRequest_Publish): void {
    const id = p.publishId;
    let input: ReturnType<typeof publishInput>;
    try {
      input = publishInput(p, this.trace);
    } catch (e) {
      this.out.push(errorResponse(id, asSwitchyardError(e)));
      return;
    }
    this.unconfirmed++;
    this.isPublisher = true;
    // 'accept': during a resource alarm the session stops reading its client instead (its owner
    // checks `publisher` and the PublishGate after each request or chunk).
    publishWithConfirm(this.conn, input, 'accept', (err, outcome) => this.confirmed(id, err, outcome));
  }

  private confirmed(id: bigint, err: SwitchyardError | undefined, outcome: PublishOutcome): void {
    if (err === undefined) this.out.confirm(id, outcome.routed);
    else this.out.push(errorResponse(id, err));
    if (--this.unconfirmed === 0 && this.onSettled !== undefined) {
      const f = this.onSettled;
      this.onSettled = undefined;
      f();
    }
  }

  private subscribe(s: SessionRequest_Subscribe): void {
    const name = s.subscription;
    try {
      if (name === '') throw invalid('subscription must name the subscription');
      if (this.subs.has(name)) throw invalid(`subscription '${name}' already exists in this session`);
      const sub = new Subscription(
        this.conn,
        { ...sourceOptions(s.source, s.bindingKey), manualAck: !s.autoAck, credit: s.credit },
        {
          deliver: (d) => this.out.delivery(name, d),
          cancelled: (err) => {
            if (this.subs.get(name) !== sub) return;
            this.subs.delete(name);
            this.out.push(cancelledResponse(name, err.spec.grpc, err.message));
          },
        },
      );
      this.subs.set(name, sub);
      const ok = create(SessionResponse_SubscribedSchema, { subscription: name, queue: sub.queue });
      this.out.push(create(SessionResponseSchema, { response: { case: 'subscribed', value: ok } }));
      if (this.paused) sub.pause();
      if (this.over) sub.overflow(true);
      sub.start();
    } catch (e) {
      this.out.push(errorResponse(name, asSwitchyardError(e)));
    }
  }

  private unsubscribe(name: string): void {
    const sub = this.find(name);
    if (sub === undefined) return;
    this.subs.delete(name);
    sub.close();
    this.out.push(cancelledResponse(name, 0, 'unsubscribed'));
  }

  /** The session's subscription of that name; undefined (and an error answered) when there is none. */
  private find(name: string): Subscription | undefined {
    const s = this.closed ? undefined : this.subs.get(name);
    if (s === undefined) {
      this.out.push(
        errorResponse(name, new SwitchyardError('NOT_FOUND', `no subscription '${name}' in this session`)),
      );
    }
    return s;
  }
}

function confirmResponse(publishId: bigint, routedQueues: number): SessionResponse {
  const c = create(SessionResponse_ConfirmSchema);
  c.publishId = publishId;
  c.routedQueues = routedQueues;
  const r = create(SessionResponseSchema);
  r.response = { case: 'confirm', value: c };
  return r;
}

function deliveryResponse(subscription: string, d: CoreDelivery): SessionResponse {
  const r = create(SessionResponseSchema);
  r.response = { case: 'delivery', value: deliveryToGrpc(subscription, d) };
  return r;
}

function cancelledResponse(subscription: string, code: number, reason: string): SessionResponse {
  const c = create(SessionResponse_CancelledSchema, { subscription, code, reason });
  return create(SessionResponseSchema, { response: { case: 'cancelled', value: c } });
}

/** An error answer about a publish (its id) or a subscription (its name). */
export function errorResponse(about: bigint | string | undefined, e: SwitchyardError): SessionResponse {
  const err = create(SessionResponse_ErrorSchema, { code: e.spec.grpc, reason: e.code, message: e.message });
  if (typeof about === 'bigint') err.about = { case: 'publishId', value: about };
  else if (about !== undefined) err.about = { case: 'subscription', value: about };
  return create(SessionResponseSchema, { response: { case: 'error', value: err } });
}
