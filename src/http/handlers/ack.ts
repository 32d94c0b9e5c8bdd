/**
 * POST /api/v1/vhosts/{vhost}/queues/{queue}/ack with `{"ids": [...], "requeue"?: bool,
 * "reject"?: bool}`: settles messages a manual GET fetched. Default: acknowledge; `requeue`:
 * back to the queue (redelivered); `reject` without `requeue`: dropped.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SettleOutcome } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { readBody } from '../../util/read-body.js';
import { BODY_ERRORS, parseJsonObject } from '../codec/body.js';
import type { HttpContext } from '../context.js';
import { replyJson } from '../errors.js';
import type { Route } from '../routes.js';

/** Ids one call may settle. */
export const MAX_ACK_IDS = 10_000;

export async function ack(
  ctx: HttpContext,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  user: string,
): Promise<void> {
  if (!ctx.broker.vhosts.has(route.vhost))
    throw new SwitchyardError('NOT_FOUND', `no vhost '${route.vhost}'`);
  const { ids, outcome } = parseAck(await readBody(req, ctx.settings.maxBodySize, BODY_ERRORS));
  const settled = ctx.leases.settle(user, route.vhost, route.name, ids, outcome);
  replyJson(res, 200, { settled });
}

export function parseAck(raw: Buffer): { ids: string[]; outcome: SettleOutcome } {
  const o = parseJsonObject(raw);
  for (const k of Object.keys(o)) {
    if (k !== 'ids' && k !== 'requeue' && k !== 'reject') throw bad(`unknown field '${k.slice(0, 100)}'`);
  }
  const ids = o.ids;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string')) {
    throw bad('ids must be a non-empty array of delivery id strings');
  }
  if (ids.length > MAX_ACK_IDS) throw bad(`at most ${MAX_ACK_IDS} ids per call, not ${ids.length}`);
  for (const k of ['requeue', 'reject'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw bad(`${k} must be a boolean`);
  }
  const outcome: SettleOutcome = o.requeue === true ? 'requeue' : o.reject === true ? 'discard' : 'ack';
  return { ids: ids as string[], outcome };
}

function bad(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}
