/**
 * Ack and Nack (unary): settle deliveries of a Subscribe call, found by its subscription id; only
 * the user that subscribed, in the same vhost, may settle them.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import type {
  AckRequest,
  AckResponseSchema,
  NackRequest,
  NackResponseSchema,
} from '../../gen/switchyard/v1/broker_pb.js';
import { callerOf } from '../call.js';
import { deliveryTag, toConnectError } from '../map.js';
import type { SubscriptionRegistry } from '../subscription-registry.js';

export function ack(
  registry: SubscriptionRegistry,
  req: AckRequest,
  ctx: HandlerContext,
): MessageInitShape<typeof AckResponseSchema> {
  try {
    registry.get(req.subscriptionId, callerOf(ctx)).ack(deliveryTag(req.deliveryId), req.multiple);
    return {};
  } catch (e) {
    throw toConnectError(e);
  }
}

export function nack(
  registry: SubscriptionRegistry,
  req: NackRequest,
  ctx: HandlerContext,
): MessageInitShape<typeof NackResponseSchema> {
  try {
    registry
      .get(req.subscriptionId, callerOf(ctx))
      .nack(deliveryTag(req.deliveryId), req.requeue, req.multiple);
    return {};
  } catch (e) {
    throw toConnectError(e);
  }
}
