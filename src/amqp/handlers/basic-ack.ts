/**
 * Settling deliveries: basic.ack, basic.nack (RabbitMQ's extension), basic.reject, and
 * basic.recover / recover-async (0-9-1 section 1.8.3). Inside a transaction the settles wait for
 * tx.commit.
 */
import type { SettleOutcome } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { type Method, writeMethodFrame } from '../codec/index.js';
import type { ChannelContext } from './context.js';

export function basicAck(ctx: ChannelContext, m: Method<'basic.ack'>): void {
  settle(ctx, m.deliveryTag, m.multiple, 'ack');
}

export function basicNack(ctx: ChannelContext, m: Method<'basic.nack'>): void {
  settle(ctx, m.deliveryTag, m.multiple, m.requeue ? 'requeue' : 'discard');
}

export function basicReject(ctx: ChannelContext, m: Method<'basic.reject'>): void {
  settle(ctx, m.deliveryTag, false, m.requeue ? 'requeue' : 'discard');
}

/** basic.recover and recover-async: every unacked delivery of the channel is requeued. */
export function basicRecover(ctx: ChannelContext, m: Method<'basic.recover' | 'basic.recover-async'>): void {
  if (!m.requeue) throw new SwitchyardError('NOT_IMPLEMENTED', 'requeue=false');
  ctx.session.recover();
  if (m.kind === 'basic.recover') writeMethodFrame(ctx.out, ctx.id, { kind: 'basic.recover-ok' });
}

function settle(ctx: ChannelContext, tag: number, multiple: boolean, outcome: SettleOutcome): void {
  const tx = ctx.tx;
  if (tx !== undefined) {
    tx.settles.push({ tag, multiple, outcome });
    return;
  }
  ctx.session.settle(tag, multiple, outcome);
}
