/**
 * basic.publish and its content (0-9-1 section 4.2.6): the method frame, one content header
 * frame, then body frames up to the announced size. The last frame completes the publish: it is
 * routed (or kept for tx.commit), a mandatory one without a route comes back as basic.return, and
 * in confirm mode its confirm follows once the store has it.
 *
 * This is the publish hot path: no closure, promise or object per message beyond the pending
 * publish and the Message itself; the body stays a view of the socket chunk when it is large.
 */
import { type Exchange, Message, REPLY_TO } from '../../core/index.js';
import { ERRORS, SwitchyardError } from '../../errors/index.js';
import {
  AMQP_PROPERTIES_CODEC as AMQP_CODEC,
  BasicFlag,
  ClassId,
  encodeProperties,
  type Method,
  writeContentFrames,
  writeReturn,
} from '../codec/index.js';
import { peekDeliveryMode, propsBytes, routingKeyOf } from '../map.js';
import type { ChannelContext, MethodId, PendingPublish } from './context.js';

const CLASS_BASIC = ClassId.BASIC;
/** Only this property makes a publish decode its properties (reply-to rewrite; the core checks user_id). */
const FLAGS_CHECKED = BasicFlag.REPLY_TO;
/** Bodies smaller than this are copied out of the socket chunk so a queued message does not pin it. */
const COPY_BODY_BELOW = 16 * 1024;
const BASIC_PUBLISH: MethodId = { classId: CLASS_BASIC, methodId: 40 };
const NO_ROUTE = ERRORS.NO_ROUTE.amqp;

export function basicPublish(ctx: ChannelContext, m: Method<'basic.publish'>): void {
  if (m.immediate) throw new SwitchyardError('NOT_IMPLEMENTED', 'immediate=true');
  const x = ctx.core.admitPublish(m.exchange, m.routingKey, 'accept');
  ctx.publishing = {
    exchange: x,
    routingKey: m.routingKey,
    mandatory: m.mandatory,
    props: undefined,
    bodySize: 0,
    received: 0,
    parts: [],
  };
}

/**
 * A method frame arrived where the content of a publish was expected. RabbitMQ's
 * connection.close names the basic.publish whose content was expected.
 */
export function contentExpected(ctx: ChannelContext): SwitchyardError {
  ctx.blame(BASIC_PUBLISH);
  return new SwitchyardError(
    'UNEXPECTED_FRAME',
    `expected content header for class 60, got non content header frame instead`,
  );
}

/** A content header frame: the properties and body size of the pending publish. */
export function contentHeader(ctx: ChannelContext, payload: Buffer): void {
  const p = ctx.publishing;
  if (p === undefined || p.props !== undefined) {
    throw new SwitchyardError('UNEXPECTED_FRAME', `expected method frame, got non method frame instead`);
  }
  if (payload.length < 14) throw new SwitchyardError('FRAME_ERROR', 'content header frame too short');
  const classId = payload.readUInt16BE(0);
  if (classId !== CLASS_BASIC) {
    throw new SwitchyardError('FRAME_ERROR', `content header for class ${classId}, expected ${CLASS_BASIC}`);
  }
  const size = Number(payload.readBigUInt64BE(4));
  const max = ctx.maxMessageSize;
  if (size > max) {
    ctx.publishing = undefined;
    throw new SwitchyardError(
      'CONTENT_TOO_LARGE',
      `message size ${size} is larger than configured max size ${max}`,
    );
  }
  p.props = Buffer.from(payload.subarray(12));
  p.bodySize = size;
  if (size === 0) completePublish(ctx, p, Buffer.alloc(0));
}

/** A content body frame of the pending publish. */
export function contentBody(ctx: ChannelContext, payload: Buffer): void {
  const p = ctx.publishing;
  if (p === undefined || p.props === undefined) {
    throw new SwitchyardError('UNEXPECTED_FRAME', `expected method frame, got non method frame instead`);
  }
  p.received += payload.length;
  if (p.received > p.bodySize) {
    throw new SwitchyardError(
      'FRAME_ERROR',
      `body larger than the ${p.bodySize} bytes announced in its header`,
    );
  }
  if (p.received === p.bodySize && p.parts.length === 0) {
    completePublish(ctx, p, payload.length < COPY_BODY_BELOW ? Buffer.from(payload) : payload);
    return;
  }
  p.parts.push(payload);
  if (p.received === p.bodySize) completePublish(ctx, p, Buffer.concat(p.parts, p.bodySize));
}

function completePublish(ctx: ChannelContext, p: PendingPublish, body: Buffer): void {
  ctx.publishing = undefined;
  let props = p.props!;
  const flags = props.length >= 2 ? props.readUInt16BE(0) : 0;
  let msg = new Message(p.exchange.name, p.routingKey, body, undefined, props, AMQP_CODEC);
  if ((flags & FLAGS_CHECKED) !== 0) {
    const decoded = msg.properties;
    if (decoded.replyTo === REPLY_TO) {
      // Direct reply-to: the pseudo queue name becomes this channel's reply address.
      const addr = ctx.core.replyToAddress(ctx.session);
      if (addr === undefined)
        throw new SwitchyardError('PRECONDITION_FAILED', 'fast reply consumer does not exist');
      props = encodeProperties({ ...decoded, replyTo: addr });
      msg = new Message(p.exchange.name, p.routingKey, body, undefined, props, AMQP_CODEC);
    }
  }
  if (ctx.tx !== undefined) {
    ctx.tx.publishes.push({ exchange: p.exchange, msg, mandatory: p.mandatory });
    return;
  }
  const mode = peekDeliveryMode(props);
  if (mode !== undefined) msg.persistentHint = mode === 2;
  const epoch = routePublish(ctx, p.exchange, msg, p.mandatory);
  if (ctx.confirming) ctx.confirmPublished(epoch);
}

/**
 * Routes a message; a mandatory one that reached no queue comes back as basic.return 312
 * NO_ROUTE with its content. Returns the store epoch to wait for before confirming.
 */
export function routePublish(ctx: ChannelContext, x: Exchange, msg: Message, mandatory: boolean): number {
  const { queues, epoch } = ctx.core.publish(x, msg);
  if (queues.length === 0 && mandatory) {
    const out = ctx.out;
    const props = propsBytes(msg);
    writeReturn(out, ctx.id, NO_ROUTE, 'NO_ROUTE', msg.exchange, routingKeyOf(msg));
    writeContentFrames(out, ctx.id, CLASS_BASIC, props, msg.body, ctx.frameMax);
    ctx.wrote();
  }
  return epoch;
}
