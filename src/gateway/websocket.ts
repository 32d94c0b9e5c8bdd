/**
 * Bidirectional streaming over a WebSocket: one JSON message per text frame each way. An empty
 * text frame from the client ends its side (half-close); closing the socket cancels the call.
 * The server closes with 1000 when the call ends OK, else with 4000 + the gRPC code and the
 * status message as the reason (cut to the 123 bytes a close frame allows).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DescMethod, DescMethodStreaming, Message } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { type WebSocket, WebSocketServer } from 'ws';
import { clientTimeoutMs, type HeaderRules } from './call-options.js';
import { decode, encode, parseJson } from './transcode.js';
import type { Upstream } from './upstream.js';

/** WebSocket close code of a final status. */
export function closeCode(code: Code | undefined): number {
  return code === undefined ? 1000 : 4000 + code;
}

export class BidiSockets {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly headers: HeaderRules,
    maxPayload: number,
    private readonly maxTimeoutMs: number,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload });
  }

  /** An upgrade handler for one method. */
  handler(
    upstream: Upstream,
    method: DescMethod,
  ): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
    return (req, socket, head) => {
      let timeoutMs: number;
      try {
        timeoutMs = clientTimeoutMs(req.headers, this.maxTimeoutMs) ?? upstream.config.timeoutMs;
      } catch {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const metadata = this.headers.metadata(req.headers);
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        run(ws, upstream, method as DescMethodStreaming, metadata, timeoutMs).catch(() => ws.terminate());
      });
    };
  }

  close(): void {
    for (const ws of this.wss.clients) ws.close(1001, 'the broker is shutting down');
    this.wss.close();
  }
}

async function run(
  ws: WebSocket,
  upstream: Upstream,
  method: DescMethodStreaming,
  metadata: Headers,
  timeoutMs: number,
): Promise<void> {
  const registry = upstream.registry!;
  const abort = new AbortController();
  const queue: Message[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  let inputError: ConnectError | undefined;
  const fail = (e: ConnectError): void => {
    inputError ??= e;
    abort.abort(e);
  };
  ws.on('message', (data, isBinary) => {
    if (ended) return;
    if (isBinary) return fail(new ConnectError('send JSON messages as text frames', Code.InvalidArgument));
    const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString(
      'utf8',
    );
    if (text === '') ended = true;
    else {
      try {
        queue.push(decode(method.input, parseJson(text, 'frame'), registry));
      } catch (e) {
        return fail(ConnectError.from(e));
      }
    }
    wake?.();
  });
  ws.on('close', () => {
    ended = true;
    abort.abort(new ConnectError('the WebSocket client went away', Code.Canceled));
    wake?.();
  });
  ws.on('error', () => {});
  const inputs = async function* (): AsyncGenerator<Message> {
    while (true) {
      while (queue.length > 0) yield queue.shift()!;
      if (ended || abort.signal.aborted) return;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  };
  let status: ConnectError | undefined;
  try {
    const r = await upstream.transport.stream(method, abort.signal, timeoutMs, metadata, inputs());
    for await (const m of r.message) {
      if (ws.readyState !== ws.OPEN) break;
      ws.send(JSON.stringify(encode(method.output, m, registry)));
    }
  } catch (e) {
    status = inputError ?? ConnectError.from(e);
  }
  if (status === undefined && inputError !== undefined) status = inputError;
  if (ws.readyState === ws.OPEN) ws.close(closeCode(status?.code), truncate(status?.rawMessage ?? 'OK', 123));
}

/** Cut to `max` UTF-8 bytes without splitting a character. */
function truncate(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}
