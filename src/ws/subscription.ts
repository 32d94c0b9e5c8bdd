/**
 * A client's named subscription: the core Subscription plus how its deliveries are framed. It
 * knows its connection only through SubscriptionOwner, so the two do not import each other.
 */
import type { Delivery, Subscription, SubscriptionHandlers } from '../core/index.js';
import type { SwitchyardError } from '../errors/index.js';
import { cancelledJson } from './map.js';

/** What a subscription needs of its connection. */
export interface SubscriptionOwner {
  /** The connection's subscriptions by the client's name for them. */
  readonly subs: Map<string, WsSubscription>;
  /** Sends a delivery in the form the subscription asked for. */
  deliver(sub: WsSubscription, d: Delivery): void;
  sendText(text: string): void;
}

export class WsSubscription implements SubscriptionHandlers {
  /** The name as a JSON string, quoted once rather than in every delivery. */
  readonly subJson: string;
  /** Set right after construction (the core subscription needs these handlers first). */
  core!: Subscription;

  constructor(
    private readonly conn: SubscriptionOwner,
    readonly name: string,
    /** Deliveries in the binary form. */
    readonly binary: boolean,
  ) {
    this.subJson = JSON.stringify(name);
  }

  deliver(d: Delivery): void {
    this.conn.deliver(this, d);
  }

  cancelled(reason: SwitchyardError): void {
    if (this.conn.subs.get(this.name) !== this) return;
    this.conn.subs.delete(this.name);
    this.conn.sendText(cancelledJson(this.subJson, reason.message));
  }
}
