/**
 * The client requests of the native WebSocket protocol (docs/websocket-protocol.md) and their
 * validation. A request is validated completely before anything acts on it, so a bad frame
 * changes no state; unknown fields are refused, as unknown properties are, so a client learns of
 * its typo instead of silently losing an option.
 */
import { decodeBody, type Properties, propertiesFromJson } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';

/** A client's request id: echoed unchanged in the confirm or error it causes. */
export type RequestId = number | string;

export interface PublishRequest {
  readonly op: 'publish';
  readonly id: RequestId | undefined;
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Buffer;
  readonly properties: Properties;
  readonly mandatory: boolean;
}

export interface SubscribeRequest {
  readonly op: 'subscribe';
  readonly sub: string;
  readonly queue: string | undefined;
  readonly exchange: string | undefined;
  readonly key: string;
  readonly manualAck: boolean;
  readonly credit: number | undefined;
  readonly prefetch: number;
  readonly binary: boolean;
  readonly exclusive: boolean;
}

export interface SettleRequest {
  readonly op: 'ack' | 'nack';
  readonly sub: string;
  /** Delivery id; with `multiple`, 0 means every outstanding delivery. */
  readonly id: number;
  readonly multiple: boolean;
  /** nack only: back to the queue (true) or dropped. */
  readonly requeue: boolean;
}

export interface CreditRequest {
  readonly op: 'credit';
  readonly sub: string;
  readonly n: number;
}

export interface UnsubscribeRequest {
  readonly op: 'unsubscribe';
  readonly sub: string;
}

export interface PingRequest {
  readonly op: 'ping';
  readonly id: RequestId | undefined;
}

export type Request =
  | PublishRequest
  | SubscribeRequest
  | SettleRequest
  | CreditRequest
  | UnsubscribeRequest
  | PingRequest;

/** What an error frame echoes of the request that caused it, so the client can match them. */
export interface RequestContext {
  readonly request?: string;
  readonly id?: RequestId;
  readonly sub?: string;
}

/** A request that could not be accepted, with what could be read of it. */
export class RequestError extends SwitchyardError {
  constructor(
    cause: SwitchyardError,
    readonly context: RequestContext,
  ) {
    super(cause.code, cause.message);
  }
}

/** AMQP short strings (exchange, queue, routing key) are at most 255 bytes; every consumer protocol can carry them. */
const MAX_NAME_BYTES = 255;
const MAX_SUB_LENGTH = 256;
const MAX_ID_LENGTH = 256;
/** Delivery ids, credit and prefetch are counters; anything beyond 2^32 is a client bug. */
const MAX_COUNT = 0xffff_ffff;

const FIELDS: Readonly<Record<Request['op'], ReadonlySet<string>>> = {
  publish: new Set([
    'op',
    'id',
    'exchange',
    'routingKey',
    'body',
    'bodyEncoding',
    'properties',
    'mandatory',
    'traceparent',
    'tracestate',
  ]),
  subscribe: new Set([
    'op',
    'sub',
    'queue',
    'exchange',
    'key',
    'ack',
    'credit',
    'prefetch',
    'binary',
    'exclusive',
  ]),
  ack: new Set(['op', 'sub', 'id', 'multiple']),
  nack: new Set(['op', 'sub', 'id', 'multiple', 'requeue']),
  credit: new Set(['op', 'sub', 'n']),
  unsubscribe: new Set(['op', 'sub']),
  ping: new Set(['op', 'id']),
};

/** The header of a binary publish: the JSON publish minus `op` and the body fields. */
const BINARY_PUBLISH_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'exchange',
  'routingKey',
  'properties',
  'mandatory',
  'traceparent',
  'tracestate',
]);

/** Validates a parsed JSON text frame. Throws RequestError (always SYNTAX_ERROR). */
export function toRequest(v: unknown): Request {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new RequestError(syntax('a frame must be a JSON object'), {});
  }
  const o = v as Record<string, unknown>;
  const context = contextOf(o);
  try {
    const op = o.op;
    if (typeof op !== 'string') throw syntax('missing "op"');
    if (!Object.hasOwn(FIELDS, op)) throw syntax(`unknown op ${JSON.stringify(op).slice(0, 64)}`);
    checkFields(o, FIELDS[op as Request['op']]);
    switch (op as Request['op']) {
      case 'publish':
        return publishOf(o, decodeBody(o.body, o.bodyEncoding));
      case 'subscribe':
        return subscribeOf(o);
      case 'ack':
      case 'nack':
        return settleOf(o, op as 'ack' | 'nack');
      case 'credit':
        return { op: 'credit', sub: subOf(o), n: count(o.n, 'n', 1) };
      case 'unsubscribe':
        return { op: 'unsubscribe', sub: subOf(o) };
      case 'ping':
        return { op: 'ping', id: idOf(o) };
    }
  } catch (e) {
    throw new RequestError(asSyntaxError(e), context);
  }
}

/** Validates the JSON header of a binary publish, with its body. Throws RequestError. */
export function toBinaryPublish(v: unknown, body: Buffer): PublishRequest {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new RequestError(syntax('a binary frame header must be a JSON object'), { request: 'publish' });
  }
  const o = v as Record<string, unknown>;
  const context = { ...contextOf(o), request: 'publish' };
  try {
    checkFields(o, BINARY_PUBLISH_FIELDS);
    return publishOf(o, body);
  } catch (e) {
    throw new RequestError(asSyntaxError(e), context);
  }
}

function publishOf(o: Record<string, unknown>, body: Buffer): PublishRequest {
  const properties = propertiesFromJson(o.properties);
  const traceparent = optString(o.traceparent, 'traceparent');
  const tracestate = optString(o.tracestate, 'tracestate');
  // The container carries trace context as headers (as AMQP and MQTT 5 do); an explicit
  // top-level field wins over a header of the same name.
  if (traceparent !== undefined || tracestate !== undefined) {
    const headers = { ...properties.headers };
    if (traceparent !== undefined) headers.traceparent = traceparent;
    if (tracestate !== undefined) headers.tracestate = tracestate;
    properties.headers = headers;
  }
  return {
    op: 'publish',
    id: idOf(o),
    exchange: name(o.exchange, 'exchange') ?? '',
    routingKey: name(o.routingKey, 'routingKey') ?? '',
    body,
    properties,
    mandatory: optBoolean(o.mandatory, 'mandatory') ?? false,
  };
}

function subscribeOf(o: Record<string, unknown>): SubscribeRequest {
  const queue = name(o.queue, 'queue');
  const exchange = name(o.exchange, 'exchange');
  if ((queue === undefined) === (exchange === undefined)) {
    throw syntax('subscribe needs either "queue" or "exchange" (with "key")');
  }
  const key = name(o.key, 'key');
  if (key !== undefined && queue !== undefined) throw syntax('"key" goes with "exchange", not "queue"');
  const ack = o.ack ?? 'auto';
  if (ack !== 'auto' && ack !== 'manual') throw syntax('"ack" must be "auto" or "manual"');
  return {
    op: 'subscribe',
    sub: subOf(o),
    queue,
    exchange,
    key: key ?? '',
    manualAck: ack === 'manual',
    credit: o.credit === undefined ? undefined : count(o.credit, 'credit', 0),
    prefetch: o.prefetch === undefined ? 0 : count(o.prefetch, 'prefetch', 0),
    binary: optBoolean(o.binary, 'binary') ?? false,
    exclusive: optBoolean(o.exclusive, 'exclusive') ?? false,
  };
}

function settleOf(o: Record<string, unknown>, op: 'ack' | 'nack'): SettleRequest {
  const multiple = optBoolean(o.multiple, 'multiple') ?? false;
  return {
    op,
    sub: subOf(o),
    id: count(o.id, 'id', multiple ? 0 : 1),
    multiple,
    requeue: optBoolean(o.requeue, 'requeue') ?? true,
  };
}

function checkFields(o: Record<string, unknown>, allowed: ReadonlySet<string>): void {
  for (const k in o) {
    if (!allowed.has(k)) throw syntax(`unknown field ${JSON.stringify(k).slice(0, 64)}`);
  }
}

/** The fields an error can echo, read leniently: a request too broken to validate still has them. */
function contextOf(o: Record<string, unknown>): RequestContext {
  const c: { request?: string; id?: RequestId; sub?: string } = {};
  if (typeof o.op === 'string' && Object.hasOwn(FIELDS, o.op)) c.request = o.op;
  if (isId(o.id)) c.id = o.id;
  if (typeof o.sub === 'string' && o.sub.length <= MAX_SUB_LENGTH) c.sub = o.sub;
  return c;
}

function isId(v: unknown): v is RequestId {
  return (
    (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= MAX_ID_LENGTH)
  );
}

function idOf(o: Record<string, unknown>): RequestId | undefined {
  if (o.id === undefined) return undefined;
  if (!isId(o.id)) throw syntax(`"id" must be a number or a string of at most ${MAX_ID_LENGTH} characters`);
  return o.id;
}

function subOf(o: Record<string, unknown>): string {
  const s = o.sub;
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_SUB_LENGTH) {
    throw syntax(`"sub" must be a string of 1 to ${MAX_SUB_LENGTH} characters`);
  }
  return s;
}

function name(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw syntax(`"${field}" must be a string`);
  // UTF-8 takes 1 to 3 bytes per UTF-16 unit: count bytes only when the length cannot tell.
  if (v.length > MAX_NAME_BYTES || (v.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(v) > MAX_NAME_BYTES)) {
    throw new SwitchyardError('NAME_TOO_LONG', `"${field}" is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return v;
}

function count(v: unknown, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_COUNT) {
    throw syntax(`"${field}" must be an integer from ${min} to ${MAX_COUNT}`);
  }
  return v;
}

function optString(v: unknown, field: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw syntax(`"${field}" must be a string`);
  return v;
}

function optBoolean(v: unknown, field: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw syntax(`"${field}" must be true or false`);
  return v;
}

function syntax(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}

/**
 * Anything a validator threw, as the client's error. Property decoding can throw plain errors on
 * malformed tagged values (a `$bigint` that is not a number): those are the client's syntax too.
 */
function asSyntaxError(e: unknown): SwitchyardError {
  if (e instanceof SwitchyardError) return e;
  return syntax(e instanceof Error ? e.message : String(e));
}
