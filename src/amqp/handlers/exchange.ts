/**
 * The exchange class: declare, delete, and exchange-to-exchange bind / unbind (RabbitMQ's
 * extension). The -ok reply waits until the definition change is on disk.
 */
import type { Method } from '../codec/index.js';
import type { ChannelContext } from './context.js';

export function exchangeDeclare(ctx: ChannelContext, m: Method<'exchange.declare'>): void {
  const { written } = ctx.core.declareExchange(m.exchange, {
    type: m.type,
    passive: m.passive,
    durable: m.durable,
    autoDelete: m.autoDelete,
    internal: m.internal,
    args: m.arguments,
  });
  ctx.replyAfterWrites(written, m.noWait ? undefined : { kind: 'exchange.declare-ok' });
}

export function exchangeDelete(ctx: ChannelContext, m: Method<'exchange.delete'>): void {
  ctx.replyAfterWrites(
    ctx.core.deleteExchange(m.exchange, m.ifUnused),
    m.noWait ? undefined : { kind: 'exchange.delete-ok' },
  );
}

export function exchangeBind(ctx: ChannelContext, m: Method<'exchange.bind'>): void {
  ctx.replyAfterWrites(
    ctx.core.bindExchange(m.destination, m.source, m.routingKey, m.arguments),
    m.noWait ? undefined : { kind: 'exchange.bind-ok' },
  );
}

export function exchangeUnbind(ctx: ChannelContext, m: Method<'exchange.unbind'>): void {
  ctx.replyAfterWrites(
    ctx.core.unbindExchange(m.destination, m.source, m.routingKey, m.arguments),
    m.noWait ? undefined : { kind: 'exchange.unbind-ok' },
  );
}
