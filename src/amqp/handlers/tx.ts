/**
 * The tx class (0-9-1 section 1.9): publishes and settles wait in the transaction until
 * tx.commit applies them as one store record (all or nothing), or tx.rollback drops them.
 */
import { SwitchyardError } from '../../errors/index.js';
import { writeMethodFrame } from '../codec/index.js';
import { routePublish } from './basic-publish.js';
import type { ChannelContext, Transaction } from './context.js';

function emptyTransaction(): Transaction {
  return { publishes: [], settles: [] };
}

export function txSelect(ctx: ChannelContext): void {
  if (ctx.confirming)
    throw new SwitchyardError('PRECONDITION_FAILED', 'cannot switch from confirm to tx mode');
  ctx.tx ??= emptyTransaction();
  writeMethodFrame(ctx.out, ctx.id, { kind: 'tx.select-ok' });
}

export function txCommit(ctx: ChannelContext): void {
  const tx = ctx.tx;
  if (tx === undefined) throw new SwitchyardError('PRECONDITION_FAILED', 'channel is not transactional');
  ctx.tx = emptyTransaction();
  // The transaction's publishes and acks reach the store as one record: all or nothing.
  const session = ctx.session;
  const epoch = ctx.core.atomically(() => {
    for (const p of tx.publishes) routePublish(ctx, p.exchange, p.msg, p.mandatory);
    for (const s of tx.settles) session.settle(s.tag, s.multiple, s.outcome);
  });
  if (epoch !== 0) {
    // commit-ok only once the transaction's record is on disk.
    ctx.holdUntil(
      (done) => ctx.core.whenDurable(epoch, (err) => (err === undefined ? done() : ctx.storeFailed(err))),
      () => writeMethodFrame(ctx.out, ctx.id, { kind: 'tx.commit-ok' }),
    );
    return;
  }
  writeMethodFrame(ctx.out, ctx.id, { kind: 'tx.commit-ok' });
}

export function txRollback(ctx: ChannelContext): void {
  if (ctx.tx === undefined) throw new SwitchyardError('PRECONDITION_FAILED', 'channel is not transactional');
  ctx.tx = emptyTransaction();
  writeMethodFrame(ctx.out, ctx.id, { kind: 'tx.rollback-ok' });
}
