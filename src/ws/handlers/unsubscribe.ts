/** unsubscribe: the subscription ends; its unsettled deliveries go back to their queue. */
import type { UnsubscribeRequest } from '../codec/index.js';
import { unsubscribedJson } from '../map.js';
import { subscriptionOf, type WsContext } from './context.js';

export function handleUnsubscribe(c: WsContext, r: UnsubscribeRequest): void {
  const sub = subscriptionOf(c, r.sub);
  c.subs.delete(r.sub);
  sub.core.close();
  c.sendText(unsubscribedJson(sub.subJson));
}
