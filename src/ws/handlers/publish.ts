/**
 * publish (JSON or binary form): routed through the core; with an `id`, answered by a confirm once
 * every queue took the message (and it is on disk when it must be), or by an error. A streaming
 * protocol: during a resource alarm the publish is accepted and the connection stops being read
 * until the alarm clears (WsContext.published), as RabbitMQ blocks a publishing connection.
 */
import { type PublishCallback, publishWithConfirm } from '../../core/index.js';
import type { PublishRequest, RequestId } from '../codec/index.js';
import { confirmJson } from '../map.js';
import type { WsContext } from './context.js';

export function handlePublish(c: WsContext, r: PublishRequest): void {
  publishWithConfirm(c.core, r, 'accept', r.id === undefined ? c.reportPublishError : confirmer(c, r.id));
  c.published();
}

function confirmer(c: WsContext, id: RequestId): PublishCallback {
  return (err, outcome) => {
    if (err === undefined) c.sendText(confirmJson(id, outcome.routed));
    else c.sendError(err, { request: 'publish', id });
  };
}
