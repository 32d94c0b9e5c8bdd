/**
 * Core → wire: the frames the server sends, built as strings directly (one JSON pass per
 * delivery, not an object tree stringified again). Field names and order follow
 * docs/websocket-protocol.md; message fields use the shared JSON form of core/message-json.
 */
import {
  type Delivery,
  encodeBody,
  encodeJsonProperties,
  type Properties,
  traceHeaderText,
} from '../core/index.js';
import type { SwitchyardError } from '../errors/index.js';
import type { RequestContext, RequestId } from './codec/index.js';

const EMPTY_PROPERTIES = '{}';

/** A delivery as a JSON text frame. `subJson` is the subscription name, already JSON-quoted. */
export function deliveryJson(subJson: string, d: Delivery): string {
  const m = d.message;
  const p = m.properties;
  const { body, bodyEncoding } = encodeBody(m.body);
  return (
    `{"op":"deliver","sub":${subJson},"id":${d.id},"redelivered":${d.redelivered},` +
    `"queue":${JSON.stringify(d.queue)},"exchange":${JSON.stringify(m.exchange)},` +
    `"routingKey":${JSON.stringify(m.routingKey)},"body":${JSON.stringify(body)},` +
    `"bodyEncoding":"${bodyEncoding}","properties":${propertiesJson(p)}${traceFields(p)}}`
  );
}

/** The JSON header of a delivery in the binary form: the JSON frame's fields minus op and body. */
export function deliveryHeaderJson(subJson: string, d: Delivery): string {
  const m = d.message;
  const p = m.properties;
  return (
    `{"sub":${subJson},"id":${d.id},"redelivered":${d.redelivered},` +
    `"queue":${JSON.stringify(d.queue)},"exchange":${JSON.stringify(m.exchange)},` +
    `"routingKey":${JSON.stringify(m.routingKey)},"properties":${propertiesJson(p)}${traceFields(p)}}`
  );
}

export function confirmJson(id: RequestId, routed: number): string {
  return `{"op":"confirm","id":${JSON.stringify(id)},"routed":${routed}}`;
}

export function errorJson(err: SwitchyardError, ctx: RequestContext): string {
  return JSON.stringify({
    op: 'error',
    request: ctx.request,
    id: ctx.id,
    sub: ctx.sub,
    code: err.code,
    status: err.spec.http,
    message: err.message,
  });
}

export function subscribedJson(subJson: string, queue: string): string {
  return `{"op":"subscribed","sub":${subJson},"queue":${JSON.stringify(queue)}}`;
}

export function unsubscribedJson(subJson: string): string {
  return `{"op":"unsubscribed","sub":${subJson}}`;
}

export function cancelledJson(subJson: string, reason: string): string {
  return `{"op":"cancelled","sub":${subJson},"reason":${JSON.stringify(reason)}}`;
}

export function pongJson(id: RequestId | undefined): string {
  return id === undefined ? '{"op":"pong"}' : `{"op":"pong","id":${JSON.stringify(id)}}`;
}

function propertiesJson(p: Properties): string {
  for (const _ in p) return encodeJsonProperties(p).toString('utf8');
  return EMPTY_PROPERTIES;
}

/**
 * The trace context at the top level, where a WebSocket consumer looks for it; the headers keep
 * it too, so a consumer that forwards properties passes it on.
 */
function traceFields(p: Properties): string {
  const h = p.headers;
  if (h === undefined) return '';
  const parent = traceHeaderText(h.traceparent);
  const state = traceHeaderText(h.tracestate);
  let out = '';
  if (parent !== undefined) out += `,"traceparent":${JSON.stringify(parent)}`;
  if (state !== undefined) out += `,"tracestate":${JSON.stringify(state)}`;
  return out;
}
