/**
 * confirm.select (RabbitMQ's publisher confirms): from now on every publish on the channel is
 * confirmed with basic.ack once every queue it reached has it (on disk when it must be). A channel
 * is in confirm mode or in tx mode, never both.
 */
import { SwitchyardError } from '../../errors/index.js';
import { type Method, writeMethodFrame } from '../codec/index.js';
import type { ChannelContext } from './context.js';

export function confirmSelect(ctx: ChannelContext, m: Method<'confirm.select'>): void {
  if (ctx.tx !== undefined)
    throw new SwitchyardError('PRECONDITION_FAILED', 'cannot switch from tx to confirm mode');
  ctx.selectConfirms();
  if (!m.noWait) writeMethodFrame(ctx.out, ctx.id, { kind: 'confirm.select-ok' });
}
