/** ack and nack: settle deliveries of a manual-ack subscription (one, or up to an id with `multiple`). */
import type { SettleRequest } from '../codec/index.js';
import { subscriptionOf, type WsContext } from './context.js';

export function handleSettle(c: WsContext, r: SettleRequest): void {
  const sub = subscriptionOf(c, r.sub);
  if (r.op === 'ack') sub.core.ack(r.id, r.multiple);
  else sub.core.nack(r.id, r.requeue, r.multiple);
}
