/**
 * Replies (CONNACK, SUBACK, UNSUBACK, PUBACK, PUBREC, PUBREL, PUBCOMP) leave in the order their
 * requests came, each once what it depends on is durable (a store epoch, a record write): a FIFO
 * of replies, as the AMQP channel does for confirms. [MQTT-4.6.0-2] [MQTT-4.6.0-3] ask the same
 * order of the client's acknowledgements; a server keeping it too is what clients expect.
 */
import type { Broker } from '../../core/index.js';
import { Deque } from '../../util/deque.js';

interface Reply {
  /** Things still to become durable before this reply may go. */
  waits: number;
  send(): void;
}

/** The connection the replies belong to. */
export interface ReplyOwner {
  readonly closed: boolean;
  /** A reply threw: the connection ends (replies run from promise callbacks). */
  fail(e: unknown): void;
  /** A write a reply waited for failed: nothing more may be acknowledged. */
  storeFailed(e: unknown): void;
}

export class Replies {
  /** Created on first use: idle connections hold none (replies are rare once set up). */
  private queue: Deque<Reply> | undefined;

  constructor(
    private readonly owner: ReplyOwner,
    private readonly store: Broker['store'],
  ) {}

  /** Nothing is queued: a reply with nothing to wait for may go at once. */
  get idle(): boolean {
    return this.queue === undefined || this.queue.length === 0;
  }

  /**
   * Queues a reply behind the earlier ones; it goes once `waits` have resolved and the store has
   * flushed `epoch` (0 = nothing to flush).
   */
  reply(send: () => void, waits: readonly Promise<void>[] = [], epoch = 0): void {
    const r: Reply = { waits: 0, send };
    (this.queue ??= new Deque<Reply>(4)).push(r);
    const store = this.store;
    if (epoch !== 0 && store !== undefined) {
      r.waits++;
      store.whenDurable(epoch, (err) => {
        if (err !== undefined) return this.owner.storeFailed(err);
        r.waits--;
        this.flush();
      });
    }
    for (const w of waits) {
      r.waits++;
      w.then(
        () => {
          r.waits--;
          this.flush();
        },
        (e: unknown) => this.owner.storeFailed(e),
      );
    }
    if (r.waits === 0) this.flush();
  }

  private flush(): void {
    const q = this.queue;
    if (q === undefined) return;
    while (q.length > 0 && q.peek()!.waits === 0) {
      const r = q.shift()!;
      if (this.owner.closed) continue;
      try {
        r.send();
      } catch (e) {
        // Replies run from promise callbacks: an error here must end this connection, not
        // become an unhandled rejection that ends the process.
        this.owner.fail(e);
        return;
      }
    }
    if (q.length === 0 && this.queue === q) this.queue = undefined;
  }
}
