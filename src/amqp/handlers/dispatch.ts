/**
 * The one place where a method frame meets its handler: the connection class on channel 0 (each
 * handler only in the connection state that expects its method), every other class on an open
 * channel. Content header and body frames go to basic-publish.ts directly.
 */
import { SwitchyardError } from '../../errors/index.js';
import type { AmqpMethod } from '../codec/index.js';
import { basicAck, basicNack, basicRecover, basicReject } from './basic-ack.js';
import { basicCancel, basicConsume } from './basic-consume.js';
import { basicGet } from './basic-get.js';
import { basicPublish, contentExpected } from './basic-publish.js';
import { basicQos } from './basic-qos.js';
import { channelClose, channelFlow } from './channel-methods.js';
import { confirmSelect } from './confirm.js';
import { open, startOk, tuneOk, updateSecret } from './connection-methods.js';
import type { ChannelContext, ConnectionContext, ConnectionState } from './context.js';
import { exchangeBind, exchangeDeclare, exchangeDelete, exchangeUnbind } from './exchange.js';
import { queueBind, queueDeclare, queueDelete, queuePurge, queueUnbind } from './queue.js';
import { txCommit, txRollback, txSelect } from './tx.js';

/** RabbitMQ's names for the connection states, used in its error texts. */
const RABBIT_STATE_NAMES: Record<ConnectionState, string> = {
  header: 'pre_init',
  start: 'starting',
  login: 'securing',
  tune: 'tuning',
  open: 'opening',
  running: 'running',
  closing: 'closing',
  closed: 'closed',
};

/** A method on channel 0. Throws SwitchyardError for the connection to close with. */
export function dispatchConnectionMethod(ctx: ConnectionContext, m: AmqpMethod): void {
  const state = ctx.state;
  switch (m.kind) {
    case 'connection.start-ok':
      if (state === 'start') return startOk(ctx, m);
      break;
    case 'connection.tune-ok':
      if (state === 'tune') return tuneOk(ctx, m);
      break;
    case 'connection.open':
      if (state === 'open') return open(ctx, m);
      break;
    case 'connection.close':
      return ctx.closeRequested();
    case 'connection.update-secret':
      if (state === 'running') return updateSecret(ctx);
      break;
    case 'connection.blocked':
    case 'connection.unblocked':
      // Server-to-client methods: a client sending them is ignored, as RabbitMQ does.
      return;
    default:
      break;
  }
  // RabbitMQ (rabbit_reader:handle_method0) answers any other method on channel 0 with
  // 504 CHANNEL_ERROR and names its own connection state.
  throw new SwitchyardError(
    'CHANNEL_ERROR',
    `unexpected method in connection state ${RABBIT_STATE_NAMES[state]}`,
  );
}

/**
 * A method on an open channel. Throws SwitchyardError: a soft one closes the channel, a hard one
 * the connection.
 */
export function dispatchChannelMethod(ctx: ChannelContext, m: AmqpMethod): void {
  switch (m.kind) {
    case 'channel.close':
      return channelClose(ctx);
    case 'channel.close-ok':
      return;
    default:
      break;
  }
  if (ctx.publishing !== undefined) throw contentExpected(ctx);
  switch (m.kind) {
    case 'basic.publish':
      return basicPublish(ctx, m);
    case 'basic.ack':
      return basicAck(ctx, m);
    case 'basic.nack':
      return basicNack(ctx, m);
    case 'basic.reject':
      return basicReject(ctx, m);
    case 'basic.recover':
    case 'basic.recover-async':
      return basicRecover(ctx, m);
    case 'basic.qos':
      return basicQos(ctx, m);
    case 'basic.consume':
      return basicConsume(ctx, m);
    case 'basic.cancel':
      return basicCancel(ctx, m);
    case 'basic.get':
      return basicGet(ctx, m);
    case 'exchange.declare':
      return exchangeDeclare(ctx, m);
    case 'exchange.delete':
      return exchangeDelete(ctx, m);
    case 'exchange.bind':
      return exchangeBind(ctx, m);
    case 'exchange.unbind':
      return exchangeUnbind(ctx, m);
    case 'queue.declare':
      return queueDeclare(ctx, m);
    case 'queue.bind':
      return queueBind(ctx, m);
    case 'queue.unbind':
      return queueUnbind(ctx, m);
    case 'queue.purge':
      return queuePurge(ctx, m);
    case 'queue.delete':
      return queueDelete(ctx, m);
    case 'confirm.select':
      return confirmSelect(ctx, m);
    case 'tx.select':
      return txSelect(ctx);
    case 'tx.commit':
      return txCommit(ctx);
    case 'tx.rollback':
      return txRollback(ctx);
    case 'channel.flow':
      return channelFlow(ctx, m);
    case 'channel.flow-ok':
    case 'basic.cancel-ok': // the client's answer to our basic.cancel
      return;
    default:
      throw new SwitchyardError('COMMAND_INVALID', `unexpected method ${m.kind} on channel ${ctx.id}`);
  }
}
