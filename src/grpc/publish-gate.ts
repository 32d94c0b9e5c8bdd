/**
 * Resource alarms for the streaming calls that publish (PublishStream, Session), as RabbitMQ
 * blocks a publishing connection: their publishes are accepted at admission (what was read goes
 * through), and the call stops reading its client while publishers are blocked, so HTTP/2 flow
 * control holds the client back; it reads again when the alarm clears. Unary Publish refuses
 * instead (RESOURCE_EXHAUSTED), as a request/response call must answer.
 */
import type { Broker } from '../core/index.js';

export class PublishGate {
  private waiters: (() => void)[] = [];
  private readonly listeners = new Set<(blocked: boolean) => void>();
  private readonly unwatch: () => void;

  constructor(private readonly broker: Broker) {
    this.unwatch = broker.onBlockedChange((blocked) => {
      for (const l of this.listeners) l(blocked);
      if (!blocked) this.release();
    });
  }

  /** Whether publishers are blocked now. */
  get shut(): boolean {
    return this.broker.publishersBlocked;
  }

  /** Resolves when publishers may go on; undefined when they may now. */
  whenOpen(): Promise<void> | undefined {
    if (!this.broker.publishersBlocked) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Calls `fn` at each change of the blocked state; returns the unregister function. */
  watch(fn: (blocked: boolean) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Stops listening (shutdown); whoever waits goes on, to find its call ended. */
  close(): void {
    this.unwatch();
    this.listeners.clear();
    this.release();
  }

  private release(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
