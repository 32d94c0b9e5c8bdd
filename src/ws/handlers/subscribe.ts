/**
 * subscribe: a named subscription to a queue, or to an exchange through a server-named queue
 * bound with `key`; `subscribed` is sent before its first delivery.
 */
import { Subscription, type SubscriptionOptions } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import type { SubscribeRequest } from '../codec/index.js';
import { subscribedJson } from '../map.js';
import { WsSubscription } from '../subscription.js';
import type { WsContext } from './context.js';

export function handleSubscribe(c: WsContext, r: SubscribeRequest): void {
  if (c.subs.has(r.sub)) {
    throw new SwitchyardError('COMMAND_INVALID', `subscription '${r.sub}' already exists on this connection`);
  }
  const sub = new WsSubscription(c, r.sub, r.binary);
  sub.core = new Subscription(c.core, optionsOf(r), sub);
  c.subs.set(r.sub, sub);
  // The client hears of the subscription before its first delivery, which start() may send.
  c.sendText(subscribedJson(sub.subJson, sub.core.queue));
  if (c.outputFull) sub.core.pause();
  sub.core.start();
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
