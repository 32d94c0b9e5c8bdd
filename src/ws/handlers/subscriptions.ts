/**
 * subscribe, unsubscribe, credit, ack and nack: a subscription's life on one connection.
 */
import { Subscription, type SubscriptionOptions } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import type { CreditRequest, SettleRequest, SubscribeRequest, UnsubscribeRequest } from '../codec/index.js';
import type { WsConnection } from '../connection.js';
import { subscribedJson, unsubscribedJson } from '../map.js';
import { WsSubscription } from '../subscription.js';

export function handleSubscribe(c: WsConnection, r: SubscribeRequest): void {
  if (c.subs.has(r.sub)) {
    throw new SwitchyardError('COMMAND_INVALID', `subscription '${r.sub}' already exists on this connection`);
  }
  const sub = new WsSubscription(c, r.sub, r.binary);
  sub.core = new Subscription(c.core, optionsOf(r), sub);
  c.subs.set(r.sub, sub);
  // The client hears of the subscription before its first delivery, which start() may send.
  c.sendText(subscribedJson(sub.subJson, sub.core.queue));
  if (c.blocked) sub.core.pause();
  sub.core.start();
}

export function handleUnsubscribe(c: WsConnection, r: UnsubscribeRequest): void {
  const sub = subscription(c, r.sub);
  c.subs.delete(r.sub);
  sub.core.close();
  c.sendText(unsubscribedJson(sub.subJson));
}

export function handleCredit(c: WsConnection, r: CreditRequest): void {
  const sub = subscription(c, r.sub);
  if (sub.core.remainingCredit === undefined) {
    throw new SwitchyardError(
      'COMMAND_INVALID',
      `subscription '${r.sub}' has no credit limit: give "credit" when subscribing to use credit`,
    );
  }
  sub.core.addCredit(r.n);
}

export function handleSettle(c: WsConnection, r: SettleRequest): void {
  const sub = subscription(c, r.sub);
  if (r.op === 'ack') sub.core.ack(r.id, r.multiple);
  else sub.core.nack(r.id, r.requeue, r.multiple);
}

function subscription(c: WsConnection, name: string): WsSubscription {
  const sub = c.subs.get(name);
  if (sub === undefined)
    throw new SwitchyardError('SYNTAX_ERROR', `no subscription '${name}' on this connection`);
  return sub;
}

function optionsOf(r: SubscribeRequest): SubscriptionOptions {
  const flow = {
    manualAck: r.manualAck,
    prefetch: r.prefetch,
    exclusive: r.exclusive,
    ...(r.credit === undefined ? {} : { credit: r.credit }),
  };
  return r.queue !== undefined
    ? { queue: r.queue, ...flow }
    : { exchange: r.exchange!, bindingKey: r.key, ...flow };
}
