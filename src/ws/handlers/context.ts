/**
 * What a request handler may use of its connection (WsConnection implements it): the core
 * connection, the subscriptions, and the ways to answer. Handlers depend on this narrow interface,
 * not on the connection, so the connection can import them without a cycle.
 */
import type { CoreConnection, PublishCallback } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import type { RequestContext } from '../codec/index.js';
import type { SubscriptionOwner, WsSubscription } from '../subscription.js';

export interface WsContext extends SubscriptionOwner {
  readonly core: CoreConnection;
  /** The outgoing buffer is full and deliveries are paused: a new subscription starts paused. */
  readonly outputFull: boolean;
  /** Reports the errors of publishes without an id (no confirm is wanted, errors still are). */
  readonly reportPublishError: PublishCallback;
  sendError(err: SwitchyardError, ctx: RequestContext): void;
  /** A publish was accepted: while a resource alarm blocks publishers, the client is not read. */
  published(): void;
}

/** The connection's subscription of that name; SYNTAX_ERROR when it has none. */
export function subscriptionOf(c: WsContext, name: string): WsSubscription {
  const sub = c.subs.get(name);
  if (sub === undefined)
    throw new SwitchyardError('SYNTAX_ERROR', `no subscription '${name}' on this connection`);
  return sub;
}
