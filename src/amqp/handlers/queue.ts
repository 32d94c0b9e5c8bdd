/**
 * The queue class: declare, bind, unbind, purge, delete. Replies that follow a definition change
 * wait until it is on disk, so a client that got declare-ok finds its durable queue after a crash.
 */
import { type Method, writeMethodFrame } from '../codec/index.js';
import type { ChannelContext } from './context.js';

export function queueDeclare(ctx: ChannelContext, m: Method<'queue.declare'>): void {
  const q = ctx.core.declareQueue(m.queue, {
    passive: m.passive,
    durable: m.durable,
    exclusive: m.exclusive,
    autoDelete: m.autoDelete,
    args: m.arguments,
  });
  ctx.replyAfterWrites(
    q.written,
    m.noWait
      ? undefined
      : {
          kind: 'queue.declare-ok',
          queue: q.name,
          messageCount: q.messageCount,
          consumerCount: q.consumerCount,
        },
  );
}

export function queueBind(ctx: ChannelContext, m: Method<'queue.bind'>): void {
  ctx.replyAfterWrites(
    ctx.core.bindQueue(m.queue, m.exchange, m.routingKey, m.arguments),
    m.noWait ? undefined : { kind: 'queue.bind-ok' },
  );
}

/** queue.unbind has no no-wait bit: it is always answered. */
export function queueUnbind(ctx: ChannelContext, m: Method<'queue.unbind'>): void {
  ctx.replyAfterWrites(ctx.core.unbindQueue(m.queue, m.exchange, m.routingKey, m.arguments), {
    kind: 'queue.unbind-ok',
  });
}

export function queuePurge(ctx: ChannelContext, m: Method<'queue.purge'>): void {
  const n = ctx.core.purgeQueue(m.queue);
  if (!m.noWait) writeMethodFrame(ctx.out, ctx.id, { kind: 'queue.purge-ok', messageCount: n });
}

export function queueDelete(ctx: ChannelContext, m: Method<'queue.delete'>): void {
  const { messageCount, written } = ctx.core.deleteQueue(m.queue, m.ifUnused, m.ifEmpty);
  ctx.replyAfterWrites(written, m.noWait ? undefined : { kind: 'queue.delete-ok', messageCount });
}
