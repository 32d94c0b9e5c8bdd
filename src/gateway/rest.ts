/**
 * REST calls of every pattern: unary (JSON in, JSON out), server streaming (JSON in, NDJSON or
 * SSE out, by Accept), client streaming (NDJSON in, JSON out) and bidirectional streaming over
 * plain HTTP (NDJSON in, NDJSON or SSE out; the WebSocket route is the full-duplex form).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DescMethodStreaming, DescMethodUnary, JsonValue, Message } from '@bufbuild/protobuf';
import { ConnectError } from '@connectrpc/connect';
import { readBody } from '../util/read-body.js';
import { BODY_ERRORS } from './body.js';
import { clientGone, clientTimeoutMs, type HeaderRules } from './call-options.js';
import { ndjsonValues } from './ndjson.js';
import type { RouteMatch } from './routes.js';
import { errorBody, replyError } from './status.js';
import { badRequest, parseJson, requestMessage, responseJson } from './transcode.js';
import type { Upstream } from './upstream.js';

export interface RestContext {
  readonly upstream: Upstream;
  readonly headers: HeaderRules;
  readonly maxBodySize: number;
  /** gateway.maxTimeoutMs: the longest deadline a client may ask for. */
  readonly maxTimeoutMs: number;
}

export async function serveRest(
  ctx: RestContext,
  match: RouteMatch,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const registry = ctx.upstream.registry!;
  const { route } = match;
  const method = route.method;
  const abort = clientGone(res);
  let inputError: unknown;
  try {
    const timeoutMs = clientTimeoutMs(req.headers, ctx.maxTimeoutMs) ?? ctx.upstream.config.timeoutMs;
    const metadata = ctx.headers.metadata(req.headers);
    const transport = ctx.upstream.transport;
    if (method.methodKind === 'unary' || method.methodKind === 'server_streaming') {
      const body = route.body === undefined ? undefined : await jsonBody(req, ctx.maxBodySize);
      const input = requestMessage(route, match.vars, url.searchParams, body, registry);
      if (method.methodKind === 'unary') {
        const r = await transport.unary(method as DescMethodUnary, abort.signal, timeoutMs, metadata, input);
        ctx.headers.setOn(res, r.header, r.trailer);
        const json = JSON.stringify(responseJson(route, method.output, r.message, registry));
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
        res.end(json);
        return;
      }
      const r = await transport.stream(
        method as DescMethodStreaming,
        abort.signal,
        timeoutMs,
        metadata,
        once(input),
      );
      ctx.headers.setOn(res, r.header);
      await writeStream(
        req,
        res,
        r.message,
        (m) => responseJson(route, method.output, m, registry),
        registry,
      );
      return;
    }
    // Client and bidi streams: each request line is a message, with the path and query fields set.
    const lines = ndjsonValues(req, ctx.maxBodySize);
    const inputs = async function* (): AsyncGenerator<Message> {
      try {
        let n = 0;
        for await (const json of lines) {
          n++;
          try {
            yield requestMessage(route, match.vars, url.searchParams, json, registry);
          } catch (e) {
            throw badRequest(`request line ${n}: ${ConnectError.from(e).rawMessage}`);
          }
        }
      } catch (e) {
        inputError = e;
        abort.abort(e);
        throw e;
      }
    };
    const r = await transport.stream(
      method as DescMethodStreaming,
      abort.signal,
      timeoutMs,
      metadata,
      inputs(),
    );
    if (method.methodKind === 'client_streaming') {
      let last: Message | undefined;
      for await (const m of r.message) last = m;
      if (inputError !== undefined) throw inputError;
      ctx.headers.setOn(res, r.header, r.trailer);
      const json = JSON.stringify(
        last === undefined ? {} : responseJson(route, method.output, last, registry),
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
      return;
    }
    ctx.headers.setOn(res, r.header);
    await writeStream(req, res, r.message, (m) => responseJson(route, method.output, m, registry), registry);
  } catch (e) {
    replyError(res, inputError ?? e, registry, ctx.headers.returnedHeaders(ConnectError.from(e).metadata));
  }
}

async function jsonBody(req: IncomingMessage, limit: number): Promise<JsonValue | undefined> {
  const buf = await readBody(req, limit, BODY_ERRORS);
  const text = buf.toString('utf8');
  if (text.trim() === '') return undefined;
  return parseJson(text);
}

async function* once<T>(v: T): AsyncGenerator<T> {
  yield v;
}

/** NDJSON by default, SSE when the client accepts only event streams or asks for them first. */
function wantsSse(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/event-stream') && !accept.includes('application/x-ndjson');
}

/**
 * Writes the response messages as they come. NDJSON: one JSON value per line; an error after
 * the first line is a last line `{"error": {code, message, details}}`. SSE: each message is a
 * `data:` event; the stream always ends with an `event: status` whose data is the final status
 * (code 0 = OK), so an EventSource can tell the end from a dropped connection.
 */
async function writeStream(
  req: IncomingMessage,
  res: ServerResponse,
  messages: AsyncIterable<Message>,
  toJson: (m: Message) => JsonValue,
  registry: Parameters<typeof errorBody>[1],
): Promise<void> {
  const sse = wantsSse(req);
  const it = messages[Symbol.asyncIterator]();
  // The status line waits for the first message, so a call that fails before sending anything
  // (not found, bad argument, deadline) is an HTTP error with its own status.
  let next = await it.next();
  res.writeHead(200, {
    'content-type': sse ? 'text/event-stream' : 'application/x-ndjson',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  let status: JsonValue = { code: 0, message: '', details: [] };
  try {
    for (; next.done !== true; next = await it.next()) {
      if (res.destroyed) {
        await it.return?.();
        return;
      }
      const json = JSON.stringify(toJson(next.value));
      if (!res.write(sse ? `data: ${json}\n\n` : `${json}\n`)) await drained(res);
    }
  } catch (e) {
    if (res.destroyed) return;
    status = errorBody(ConnectError.from(e), registry) as unknown as JsonValue;
    if (!sse) res.write(`${JSON.stringify({ error: status })}\n`);
  }
  if (sse) res.write(`event: status\ndata: ${JSON.stringify(status)}\n\n`);
  res.end();
}

function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
