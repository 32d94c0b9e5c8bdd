/**
 * A REST request body, up to http.maxBodySize: refused from Content-Length before anything is
 * read, and counted while a chunked body streams in. (src/http has its own; front ends share
 * nothing.)
 */
import type { IncomingMessage } from 'node:http';
import { Code } from '@connectrpc/connect';
import { GatewayHttpError } from './status.js';

function tooLarge(limit: number): GatewayHttpError {
  return new GatewayHttpError(`the request body is larger than ${limit} bytes`, Code.ResourceExhausted, 413);
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(c);
  }
  return Buffer.concat(chunks, size);
}
