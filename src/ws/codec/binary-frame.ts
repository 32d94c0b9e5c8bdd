/**
 * The compact binary form of publish and deliver (docs/websocket-protocol.md, "Binary frames"),
 * so bodies travel as raw bytes instead of base64:
 *
 *   offset 0      1 byte   kind (BinaryKind)
 *   offset 1      4 bytes  header length H, unsigned big-endian
 *   offset 5      H bytes  header: a UTF-8 JSON object, the JSON form's fields minus op and body
 *   offset 5 + H  the rest body, raw bytes (may be empty)
 */
import { isUtf8 } from 'node:buffer';
import { SwitchyardError } from '../../errors/index.js';

export const BinaryKind = {
  /** Client → server: a publish. */
  PUBLISH: 0x01,
  /** Server → client: a delivery. */
  DELIVER: 0x02,
} as const;

export const BINARY_PREFIX_SIZE = 5;

export interface BinaryFrame {
  readonly kind: number;
  /** The parsed header (not yet validated against the kind). */
  readonly header: unknown;
  /** A view into the frame: never copied. */
  readonly body: Buffer;
}

/** Splits a binary frame. Throws SYNTAX_ERROR for anything that is not one. */
export function decodeBinaryFrame(frame: Buffer): BinaryFrame {
  if (frame.length < BINARY_PREFIX_SIZE) {
    throw syntax(`a binary frame has at least ${BINARY_PREFIX_SIZE} bytes, this one ${frame.length}`);
  }
  const kind = frame[0]!;
  const headerLength = frame.readUInt32BE(1);
  const bodyStart = BINARY_PREFIX_SIZE + headerLength;
  if (bodyStart > frame.length) {
    throw syntax(
      `binary frame header length ${headerLength} exceeds the ${frame.length - BINARY_PREFIX_SIZE} bytes after the prefix`,
    );
  }
  const headerBytes = frame.subarray(BINARY_PREFIX_SIZE, bodyStart);
  if (!isUtf8(headerBytes)) throw syntax('binary frame header is not valid UTF-8');
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (e) {
    throw syntax(`binary frame header is not JSON: ${(e as Error).message}`);
  }
  return { kind, header, body: frame.subarray(bodyStart) };
}

/** The kind byte, header length and header of a binary frame; the body follows it on the wire. */
export function encodeBinaryPrefix(kind: number, headerJson: string, bodyLength = 0): Buffer {
  const headerLength = Buffer.byteLength(headerJson);
  const out = Buffer.allocUnsafe(BINARY_PREFIX_SIZE + headerLength + bodyLength);
  out[0] = kind;
  out.writeUInt32BE(headerLength, 1);
  out.write(headerJson, BINARY_PREFIX_SIZE, 'utf8');
  return out;
}

/** A whole binary frame in one buffer (the body copied after the header). */
export function encodeBinaryFrame(kind: number, headerJson: string, body: Buffer): Buffer {
  const out = encodeBinaryPrefix(kind, headerJson, body.length);
  body.copy(out, out.length - body.length);
  return out;
}

function syntax(message: string): SwitchyardError {
  return new SwitchyardError('SYNTAX_ERROR', message);
}
