/**
 * basic.qos: prefetch_count per consumer (global=false) or shared by the channel's consumers
 * (global=true), as RabbitMQ reads the flag. prefetch_size is not implemented (RabbitMQ neither).
 */
import { SwitchyardError } from '../../errors/index.js';
import { type Method, writeMethodFrame } from '../codec/index.js';
import type { ChannelContext } from './context.js';

export function basicQos(ctx: ChannelContext, m: Method<'basic.qos'>): void {
  if (m.prefetchSize !== 0)
    throw new SwitchyardError('NOT_IMPLEMENTED', `prefetch_size!=0 (${m.prefetchSize})`);
  const session = ctx.session;
  if (m.global) session.prefetch = m.prefetchCount;
  else session.consumerPrefetch = m.prefetchCount;
  writeMethodFrame(ctx.out, ctx.id, { kind: 'basic.qos-ok' });
  // A larger window may let waiting deliveries go now.
  session.kick();
}
