/**
 * basic.consume and basic.cancel (0-9-1 section 1.8.3). The channel is its consumers' delivery
 * sink; consume-ok goes out before the first delivery.
 */
import { randomBytes } from 'node:crypto';
import { type ConsumeOptions, Pause } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { type Method, writeMethodFrame } from '../codec/index.js';
import type { ChannelContext } from './context.js';

export function basicConsume(ctx: ChannelContext, m: Method<'basic.consume'>): void {
  const tag = m.consumerTag;
  const consumerTag = tag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : tag;
  const session = ctx.session;
  if (session.consumers.has(consumerTag)) {
    throw new SwitchyardError('NOT_ALLOWED', `attempt to reuse consumer tag '${consumerTag}'`);
  }
  const opts: ConsumeOptions = {
    tag: consumerTag,
    noAck: m.noAck,
    exclusive: m.exclusive,
    args: m.arguments,
  };
  // consume-ok must reach the client before the first delivery.
  session.pause(Pause.SETUP);
  try {
    ctx.core.consume(session, m.queue, opts, ctx.sink);
    if (!m.noWait) writeMethodFrame(ctx.out, ctx.id, { kind: 'basic.consume-ok', consumerTag });
  } finally {
    session.resume(Pause.SETUP);
  }
}

export function basicCancel(ctx: ChannelContext, m: Method<'basic.cancel'>): void {
  ctx.session.removeConsumer(m.consumerTag);
  if (!m.noWait) writeMethodFrame(ctx.out, ctx.id, { kind: 'basic.cancel-ok', consumerTag: m.consumerTag });
}
