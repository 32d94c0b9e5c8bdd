/**
 * basic.get: one message, or get-empty. When the queue's ready messages are paged out to disk
 * the reply waits (holding the channel's later frames) until they are read back.
 */
import { ClassId, type Method, writeContentFrames, writeGetOk, writeMethodFrame } from '../codec/index.js';
import { propsBytes, routingKeyOf } from '../map.js';
import type { ChannelContext } from './context.js';

export function basicGet(ctx: ChannelContext, m: Method<'basic.get'>): void {
  get(ctx, m.queue, m.noAck);
}

function get(ctx: ChannelContext, queue: string, noAck: boolean): void {
  const core = ctx.core;
  const r = core.get(ctx.session, queue, noAck);
  const out = ctx.out;
  if (r === undefined && core.hasPaged(queue)) {
    ctx.holdUntil(
      (done) => core.whenRefilled(queue, done),
      () => get(ctx, queue, noAck),
    );
    return;
  }
  if (r === undefined) {
    writeMethodFrame(out, ctx.id, { kind: 'basic.get-empty' });
    return;
  }
  const props = propsBytes(r.msg);
  writeGetOk(out, ctx.id, r.tag, r.redelivered, r.msg.exchange, routingKeyOf(r.msg), r.remaining);
  writeContentFrames(out, ctx.id, ClassId.BASIC, props, r.msg.body, ctx.frameMax);
}
