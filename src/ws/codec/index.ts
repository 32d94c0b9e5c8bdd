/**
 * Frames in, requests out: the one place a received WebSocket message is parsed (once) and
 * validated. Both functions are pure, so the fuzz tests drive them without sockets.
 */
import { SwitchyardError } from '../../errors/index.js';
import { BinaryKind, decodeBinaryFrame } from './binary-frame.js';
import { type PublishRequest, type Request, RequestError, toBinaryPublish, toRequest } from './requests.js';

export * from './binary-frame.js';
export * from './requests.js';

/** Parses and validates a text frame (already checked to be UTF-8 by ws). Throws RequestError. */
export function parseTextFrame(text: string): Request {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RequestError(new SwitchyardError('SYNTAX_ERROR', `not JSON: ${(e as Error).message}`), {});
  }
  return toRequest(v);
}

/** Parses and validates a binary frame; only publishes travel from client to server in this form. */
export function parseBinaryFrame(frame: Buffer): PublishRequest {
  let f: ReturnType<typeof decodeBinaryFrame>;
  try {
    f = decodeBinaryFrame(frame);
  } catch (e) {
    throw new RequestError(e as SwitchyardError, { request: 'publish' });
  }
  if (f.kind !== BinaryKind.PUBLISH) {
    throw new RequestError(
      new SwitchyardError(
        'SYNTAX_ERROR',
        `binary frame kind 0x${f.kind.toString(16).padStart(2, '0')}: a client sends only publishes (0x01)`,
      ),
      {},
    );
  }
  return toBinaryPublish(f.header, f.body);
}
