/**
 * The channel class on an open channel: the client's channel.close, and channel.flow (0-9-1
 * section 1.5.2). channel.open is handled with the connection class (connection-methods.ts): it
 * makes the channel these handlers work on.
 */
import { Pause } from '../../core/index.js';
import { type Method, writeMethodFrame } from '../codec/index.js';
import type { ChannelContext } from './context.js';

/** channel.close from the client: its unacked deliveries are requeued, its number is free again. */
export function channelClose(ctx: ChannelContext): void {
  ctx.end();
  ctx.send({ kind: 'channel.close-ok' });
}

/** channel.flow: active=false stops deliveries to the channel until active=true. */
export function channelFlow(ctx: ChannelContext, m: Method<'channel.flow'>): void {
  if (m.active) ctx.session.resume(Pause.FLOW);
  else ctx.session.pause(Pause.FLOW);
  writeMethodFrame(ctx.out, ctx.id, { kind: 'channel.flow-ok', active: m.active });
}
