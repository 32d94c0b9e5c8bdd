/**
 * The bounded buffer between the core's synchronous callbacks (deliveries, confirms) and a
 * response stream that connect pulls one message at a time, after the previous one was written
 * and the HTTP/2 stream drained. When it holds `highWater` messages or `highWaterBytes` bytes of
 * message bodies it tells its owner to stop producing (pause the subscriptions, stop reading
 * requests); when the writer has taken it down to half of both, it tells it to go on. So a client that does not read holds a bounded amount of memory
 * and never slows down anyone else (DESIGN.md section 5).
 */
import { Deque } from '../util/deque.js';

export interface FlowControl {
  /** The buffer reached its high-water mark: stop producing. */
  full(): void;
  /** The buffer went down to its low-water mark: produce again. */
  drained(): void;
}

const DONE: IteratorResult<never> = { done: true, value: undefined };

export class Outbox<T> implements AsyncIterableIterator<T> {
  private readonly items = new Deque<T>(64);
  /** Body bytes of each item, beside it. */
  private readonly sizes = new Deque<number>(64);
  private bytes = 0;
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((e: unknown) => void) | undefined;
  private failure: unknown;
  private ended = false;
  private isFull = false;
  private readonly lowWater: number;
  private readonly lowWaterBytes: number;
  private drainWaiters: (() => void)[] = [];

  constructor(
    private readonly highWater: number,
    private readonly highWaterBytes: number,
    private readonly flow: FlowControl,
  ) {
    this.lowWater = highWater >> 1;
    this.lowWaterBytes = highWaterBytes / 2;
  }

  /** Messages waiting to be written. */
  get length(): number {
    return this.items.length;
  }

  /** Whether the buffer is over its high-water mark (until it drains to the low-water mark). */
  get full(): boolean {
    return this.isFull;
  }

  /** Whether end() or fail() was called. */
  get closed(): boolean {
    return this.ended;
  }

  /** Queues a message of `bytes` body bytes (dropped once the outbox is closed: the call is over). */
  push(v: T, bytes = 0): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      this.failWaiting = undefined;
      w({ done: false, value: v });
      return;
    }
    this.items.push(v);
    this.sizes.push(bytes);
    this.bytes += bytes;
    if (!this.isFull && (this.items.length >= this.highWater || this.bytes >= this.highWaterBytes)) {
      this.isFull = true;
      this.flow.full();
    }
  }

  /** Ends the stream once what is queued has been written. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
  }

  /** Ends the stream with an error status, after what is queued. */
  fail(e: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = e;
    this.wake();
  }

  /** Ends the stream now, dropping what is queued (the client is gone). */
  abort(e?: unknown): void {
    this.items.clear();
    this.sizes.clear();
    this.bytes = 0;
    if (e !== undefined && !this.ended) this.failure = e;
    this.ended = true;
    this.wake();
  }

  /** Resolves once the buffer is not full (immediately when it is not). */
  whenNotFull(): Promise<void> | undefined {
    if (!this.isFull || this.ended) return undefined;
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const v = this.items.shift() as T;
      this.bytes -= this.sizes.shift()!;
      if (this.isFull && this.items.length <= this.lowWater && this.bytes <= this.lowWaterBytes)
        this.onDrained();
      return Promise.resolve({ done: false, value: v });
    }
    if (this.ended) return this.finish();
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  /** The consumer stopped reading (connect calls this when the call ends). */
  return(): Promise<IteratorResult<T>> {
    this.abort();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): Promise<IteratorResult<T>> {
    const e = this.failure;
    if (e === undefined) return Promise.resolve(DONE);
    this.failure = undefined;
    return Promise.reject(e);
  }

  private onDrained(): void {
    this.isFull = false;
    this.flow.drained();
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
  }

  private wake(): void {
    // Whoever waits for room must not wait forever; the owner is closing, so no drained() call.
    this.isFull = false;
    const ws = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of ws) w();
    const ok = this.waiting;
    const bad = this.failWaiting;
    if (ok === undefined || bad === undefined) return;
    this.waiting = undefined;
    this.failWaiting = undefined;
    const e = this.failure;
    if (e === undefined) ok(DONE);
    else {
      this.failure = undefined;
      bad(e);
    }
  }
}
