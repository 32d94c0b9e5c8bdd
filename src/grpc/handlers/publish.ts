/**
 * Publish (unary): answered once the broker confirmed the message (routed, and on disk when
 * persistent into a durable queue). A request/response call: while a resource alarm blocks
 * publishers it is refused with RESOURCE_EXHAUSTED.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { type Broker, publishConfirmed } from '../../core/index.js';
import { traceOf, unlessAborted, withConnection } from '../call.js';
import type { PublishRequest, PublishResponseSchema } from '../../gen/switchyard/v1/broker_pb.js';
import { publishInput } from '../map.js';

export function publish(
  broker: Broker,
  req: PublishRequest,
  ctx: HandlerContext,
): Promise<MessageInitShape<typeof PublishResponseSchema>> {
  return withConnection(broker, ctx, async (conn) => {
    const input = publishInput(req, traceOf(ctx));
    const out = await unlessAborted(publishConfirmed(conn, input), ctx.signal);
    return { routedQueues: out.routed };
  });
}
