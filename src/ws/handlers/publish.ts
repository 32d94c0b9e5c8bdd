/**
 * publish (JSON or binary form): routed through the core; with an `id`, answered by a confirm once
 * every queue took the message (and it is on disk when it must be), or by an error.
 */
import { type PublishCallback, publishWithConfirm } from '../../core/index.js';
import type { PublishRequest, RequestId } from '../codec/index.js';
import type { WsConnection } from '../connection.js';
import { confirmJson } from '../map.js';

export function handlePublish(c: WsConnection, r: PublishRequest): void {
  publishWithConfirm(c.core, r, 'refuse', r.id === undefined ? c.reportPublishError : confirmer(c, r.id));
}

function confirmer(c: WsConnection, id: RequestId): PublishCallback {
  return (err, outcome) => {
    if (err === undefined) c.sendText(confirmJson(id, outcome.routed));
    else c.sendError(err, { request: 'publish', id });
  };
}
