/** credit: `n` more deliveries for a subscription made with a credit limit. */
import { SwitchyardError } from '../../errors/index.js';
import type { CreditRequest } from '../codec/index.js';
import { subscriptionOf, type WsContext } from './context.js';

export function handleCredit(c: WsContext, r: CreditRequest): void {
  const sub = subscriptionOf(c, r.sub);
  if (sub.core.remainingCredit === undefined) {
    throw new SwitchyardError(
      'COMMAND_INVALID',
      `subscription '${r.sub}' has no credit limit: give "credit" when subscribing to use credit`,
    );
  }
  sub.core.addCredit(r.n);
}
