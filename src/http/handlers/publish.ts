/**
 * POST /api/v1/vhosts/{vhost}/exchanges/{exchange}/publish: one message, answered after the
 * broker confirmed it (every queue took it, and it is on disk when a durable queue took it
 * persistent) with `{"routed": n}`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { publishConfirmed } from '../../core/index.js';
import { checkDeclaredLength, readBody } from '../../util/read-body.js';
import { BODY_ERRORS } from '../codec/body.js';
import { connect, type HttpContext } from '../context.js';
import { replyJson } from '../errors.js';
import { envelopePublish, isEnvelope, rawPublish } from '../map.js';
import type { Route } from '../routes.js';

export async function publish(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  user: string,
): Promise<void> {
  const limit = ctx.settings.maxBodySize;
  checkDeclaredLength(req, limit, BODY_ERRORS);
  const conn = connect(ctx, req, user, route.vhost);
  try {
    // Refuse before reading a body that could not be published anyway (the routing key may be
    // in the body: publishConfirmed admits the publish again with it).
    conn.admitPublish(route.name, undefined, 'refuse');
    const body = await readBody(req, limit, BODY_ERRORS);
    const p = isEnvelope(req.headers['content-type'])
      ? envelopePublish(req.headers, route.query, body)
      : rawPublish(req.headers, route.query, body);
    const { routed } = await publishConfirmed(conn, {
      exchange: route.name,
      routingKey: p.routingKey,
      body: p.body,
      properties: p.properties,
      mandatory: p.mandatory,
    });
    replyJson(res, 200, { routed });
  } finally {
    conn.close();
  }
}
