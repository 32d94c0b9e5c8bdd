/**
 * Error mapping between the broker's errors and AMQP's close methods.
 */
import { isSwitchyardError, SwitchyardError } from '../errors/index.js';

export interface CloseReason {
  readonly replyCode: number;
  readonly replyText: string;
  /** Close the whole connection (hard error) rather than one channel. */
  readonly hard: boolean;
}

/** Turns anything thrown while handling a method into the close to send. Bugs become 541 hard errors. */
export function toCloseReason(e: unknown): CloseReason {
  if (isSwitchyardError(e))
    return { replyCode: e.spec.amqp, replyText: truncate(e.amqpText), hard: e.spec.amqpHard };
  const msg = e instanceof Error ? e.message : String(e);
  return { replyCode: 541, replyText: truncate(`INTERNAL_ERROR - ${msg}`), hard: true };
}

/** A reply-text is a short string: at most 255 bytes on the wire. */
function truncate(s: string): string {
  if (Buffer.byteLength(s) <= 255) return s;
  let out = s.slice(0, 255);
  while (Buffer.byteLength(out) > 255) out = out.slice(0, -1);
  return out;
}

export function amqpError(
  code: ConstructorParameters<typeof SwitchyardError>[0],
  message: string,
): SwitchyardError {
  return new SwitchyardError(code, message);
}
