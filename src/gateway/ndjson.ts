/**
 * Newline-delimited JSON request bodies (client streaming): one JSON value per line, blank
 * lines skipped, each line at most `maxLine` bytes (checked before buffering more), so a client
 * cannot make the gateway hold more than one line.
 */
import { Code } from '@connectrpc/connect';
import { GatewayHttpError } from './status.js';
import { parseJson } from './transcode.js';
import type { JsonValue } from '@bufbuild/protobuf';

/** Splits chunks into lines; keeps only the unfinished tail. */
export class LineSplitter {
  private tail: Buffer[] = [];
  private tailSize = 0;

  constructor(private readonly maxLine: number) {}

  /** The complete lines in `chunk` (without their '\n'). Throws a 413 error past maxLine. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.check(this.tailSize + piece.length);
      lines.push(this.tail.length === 0 ? piece : Buffer.concat([...this.tail, piece]));
      this.tail = [];
      this.tailSize = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.check(this.tailSize + rest.length);
      this.tail.push(rest);
      this.tailSize += rest.length;
    }
    return lines;
  }

  /** The last line, when the body does not end with '\n'. */
  end(): Buffer | undefined {
    if (this.tailSize === 0) return undefined;
    const last = Buffer.concat(this.tail);
    this.tail = [];
    this.tailSize = 0;
    return last;
  }

  private check(size: number): void {
    if (size > this.maxLine) {
      throw new GatewayHttpError(
        `a request line is larger than ${this.maxLine} bytes`,
        Code.ResourceExhausted,
        413,
      );
    }
  }
}

/** The JSON values of an NDJSON stream; errors name the line. */
export async function* ndjsonValues(body: AsyncIterable<Buffer>, maxLine: number): AsyncGenerator<JsonValue> {
  const split = new LineSplitter(maxLine);
  let n = 0;
  const value = (line: Buffer): JsonValue | undefined => {
    n++;
    const text = line.toString('utf8').trim();
    if (text === '') return undefined;
    return parseJson(text, `request line ${n}`);
  };
  for await (const chunk of body) {
    for (const line of split.push(chunk)) {
      const v = value(line);
      if (v !== undefined) yield v;
    }
  }
  const last = split.end();
  if (last !== undefined) {
    const v = value(last);
    if (v !== undefined) yield v;
  }
}
