/**
 * What an SSE stream of a durable queue had written but not yet settled when it closed: the
 * events a reconnecting client (Last-Event-ID) may or may not have received. Those messages went
 * back to the queue; the client's Last-Event-ID says how far it read, so the ones up to it are
 * acknowledged without being sent again and the rest are sent again.
 *
 * The match is by the exact write sequence, not by comparing ids: the events of one stream are
 * not in id order when requeued messages are mixed in, and a message with a smaller id may have
 * gone to another consumer. When no record matches (it expired, the broker restarted, the id is
 * unknown) every requeued event is sent again: at least once, never lost.
 */
import type { Message } from '../../core/index.js';
import type { Clock } from '../../util/clock.js';

/** A message as it is recognised when it comes back: its store id, or itself when not stored. */
export type MessageKey = number | Message;

export interface WrittenEvent {
  /** The SSE event id. */
  readonly id: string;
  /** The subscription's delivery id. */
  readonly tag: number;
  readonly key: MessageKey;
}

/** How long a closed stream's record waits for its client to come back. */
export const RESUME_TTL_MS = 60_000;
/** Records kept per user, vhost and queue (the newest). */
const MAX_RECORDS = 8;

interface ResumeRecord {
  readonly events: readonly WrittenEvent[];
  readonly at: number;
}

export class ResumeRecords {
  private readonly byOwner = new Map<string, ResumeRecord[]>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = RESUME_TTL_MS,
  ) {}

  /** Keeps the unsettled events (in write order) of a stream that closed. */
  record(owner: string, events: readonly WrittenEvent[]): void {
    if (events.length === 0) return;
    let list = this.byOwner.get(owner);
    if (list === undefined) this.byOwner.set(owner, (list = []));
    list.push({ events, at: this.clock.now() });
    if (list.length > MAX_RECORDS) list.shift();
  }

  /**
   * The messages a client that read up to event `lastId` has already received, from the newest
   * record that holds that id; the record is used up. Undefined when none holds it.
   */
  take(owner: string, lastId: string): Set<MessageKey> | undefined {
    const list = this.byOwner.get(owner);
    if (list === undefined) return undefined;
    const now = this.clock.now();
    for (let r = list.length - 1; r >= 0; r--) {
      const rec = list[r]!;
      if (now - rec.at > this.ttlMs) continue;
      const at = rec.events.findIndex((e) => e.id === lastId);
      if (at < 0) continue;
      list.splice(r, 1);
      if (list.length === 0) this.byOwner.delete(owner);
      return new Set(rec.events.slice(0, at + 1).map((e) => e.key));
    }
    return undefined;
  }

  /** Drops expired records. */
  sweep(): void {
    const now = this.clock.now();
    for (const [owner, list] of this.byOwner) {
      const keep = list.filter((r) => now - r.at <= this.ttlMs);
      if (keep.length === 0) this.byOwner.delete(owner);
      else if (keep.length !== list.length) this.byOwner.set(owner, keep);
    }
  }

  get size(): number {
    return this.byOwner.size;
  }
}
