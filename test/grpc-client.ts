/**
 * Helpers shared by the gRPC suites: bounded waits, response readers, a pushable request stream,
 * status assertions, and a Session over native gRPC.
 */
import assert from 'node:assert/strict';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { type Client, Code, ConnectError } from '@connectrpc/connect';
import {
  type Broker,
  type SessionRequest,
  SessionRequestSchema,
  type SessionResponse,
} from '../src/gen/switchyard/v1/broker_pb.js';
import { poll, WAIT_MS } from './support/wait.js';
import { uniq } from './helpers.js';

/** The fields of a delivery the tests read. */
export interface DeliveryValue {
  deliveryId: bigint;
  redelivered: boolean;
  message: { body: Uint8Array };
}

/** A W3C traceparent for the trace-context tests. */
export const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

/** Resolves with `p`, or fails the test after `ms` (so a hang is a clear failure). */
export function within<T>(p: Promise<T>, ms = WAIT_MS, what = 'a response'): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]);
}

/** A response stream read one message at a time, each within a bounded wait. */
export function reader<T>(stream: AsyncIterable<T>) {
  const it = stream[Symbol.asyncIterator]();
  return {
    async next(): Promise<T> {
      const r = await within(it.next());
      assert.equal(r.done, false, 'stream ended early');
      return r.value as T;
    },
    /** Reads until the stream ends; returns the error it ended with (undefined = OK). */
    async end(): Promise<ConnectError | undefined> {
      try {
        for (;;) if ((await within(it.next())).done === true) return undefined;
      } catch (e) {
        return ConnectError.from(e);
      }
    },
  };
}

/** Requests a test pushes into a client stream. */
export class Pushable<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  push(v: T): void {
    this.items.push(v);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

export async function rejects(p: Promise<unknown>, code: Code, message?: RegExp): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    const err = ConnectError.from(e);
    assert.equal(err.code, code, `${Code[err.code]}: ${err.rawMessage}`);
    if (message !== undefined) assert.match(err.rawMessage, message);
    return err;
  }
  assert.fail(`expected ${Code[code]}`);
}

export async function queue(c: Client<typeof Broker>, prefix = 'q'): Promise<string> {
  const name = uniq(`grpc-${prefix}`);
  await c.declareQueue({ name });
  return name;
}

export function text(m: { body: Uint8Array } | undefined): string {
  return Buffer.from(m!.body).toString();
}

/** Polls `cond` (an outside observer has no event to await). */
export const waitFor = (cond: () => Promise<boolean>, what = 'the condition') => poll(cond, what);

/** A Session over native gRPC, with helpers to wait for a response of a kind. */
export function openSession(native: Client<typeof Broker>, signal?: AbortSignal) {
  const requests = new Pushable<SessionRequest>();
  const stream = native.session(requests, signal === undefined ? {} : { signal });
  const it = stream[Symbol.asyncIterator]();
  const seen: SessionResponse[] = [];
  const send = (r: NonNullable<MessageInitShape<typeof SessionRequestSchema>['request']>) =>
    requests.push(create(SessionRequestSchema, { request: r }));
  return {
    requests,
    send,
    seen,
    /** The next response. */
    async next(): Promise<SessionResponse> {
      const r = await within(it.next());
      assert.equal(r.done, false, 'session ended early');
      seen.push(r.value);
      return r.value;
    },
    async end(): Promise<ConnectError | undefined> {
      try {
        for (;;) if ((await within(it.next())).done === true) return undefined;
      } catch (e) {
        return ConnectError.from(e);
      }
    },
  };
}
