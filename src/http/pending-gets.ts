/**
 * Messages fetched with a manual get (`…/messages?ack=manual`) and not yet settled. Each is a lease:
 * its own core connection and session hold the deliveries unacknowledged until
 * `POST …/ack` settles them or the lease runs out, when closing the connection requeues what is
 * left (marked redelivered), as a closed AMQP channel does.
 *
 * A delivery id is `<lease>-<n>`: a random lease token (unguessable, unique per broker run) and
 * the session's delivery number. Ids are only valid for the user and vhost that fetched them and
 * the queue they came from.
 */
import { randomBytes } from 'node:crypto';
import type { CoreConnection, Session, SettleOutcome } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { Clock, Timer } from '../util/clock.js';

/** How long fetched messages stay reserved for the client that fetched them. */
export const LEASE_MS = 60_000;
/** Open leases per user and vhost: each holds a core connection. */
export const MAX_LEASES = 1000;

interface Lease {
  readonly token: string;
  /** user NUL vhost */
  readonly owner: string;
  readonly queue: string;
  readonly conn: CoreConnection;
  readonly session: Session;
  /** Delivery numbers not yet settled. */
  readonly open: Set<number>;
  readonly timer: Timer;
}

export class PendingGets {
  private readonly leases = new Map<string, Lease>();
  private readonly perOwner = new Map<string, number>();

  constructor(
    private readonly clock: Clock,
    private readonly leaseMs = LEASE_MS,
    private readonly maxLeases = MAX_LEASES,
  ) {}

  /** Throws RESOURCE_ERROR when the user has as many open leases in the vhost as allowed. */
  checkRoom(user: string, vhost: string): void {
    if ((this.perOwner.get(ownerOf(user, vhost)) ?? 0) >= this.maxLeases) {
      throw new SwitchyardError(
        'RESOURCE_ERROR',
        `${this.maxLeases} manual gets of user '${user}' in vhost '${vhost}' are unsettled: ack them or let their leases (${this.leaseMs / 1000} s) run out`,
      );
    }
  }

  /**
   * Takes over a connection whose session holds the deliveries `tags` of `queue`; returns the
   * lease token. The connection is closed when the last one is settled or the lease runs out.
   */
  add(
    user: string,
    vhost: string,
    queue: string,
    conn: CoreConnection,
    session: Session,
    tags: readonly number[],
  ): string {
    let token = randomBytes(6).toString('hex');
    while (this.leases.has(token)) token = randomBytes(6).toString('hex');
    const owner = ownerOf(user, vhost);
    const timer = this.clock.after(this.leaseMs, () => this.end(token));
    this.leases.set(token, { token, owner, queue, conn, session, open: new Set(tags), timer });
    this.perOwner.set(owner, (this.perOwner.get(owner) ?? 0) + 1);
    return token;
  }

  /**
   * Settles deliveries by id, all or none: an id that is unknown (settled already, lease run out,
   * fetched by another user, from another vhost or queue) fails the whole call with
   * PRECONDITION_FAILED before anything is settled. Returns how many were settled.
   */
  settle(user: string, vhost: string, queue: string, ids: readonly string[], outcome: SettleOutcome): number {
    const owner = ownerOf(user, vhost);
    const found: { lease: Lease; tag: number }[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) continue;
      seen.add(id);
      const dash = id.lastIndexOf('-');
      const lease = dash > 0 ? this.leases.get(id.slice(0, dash)) : undefined;
      const tagText = id.slice(dash + 1);
      const tag = /^\d{1,15}$/.test(tagText) ? Number(tagText) : -1;
      if (lease === undefined || lease.owner !== owner || lease.queue !== queue || !lease.open.has(tag)) {
        throw new SwitchyardError(
          'PRECONDITION_FAILED',
          `unknown delivery id '${id.length > 100 ? `${id.slice(0, 100)}…` : id}' for queue '${queue}': settled already, its lease (${this.leaseMs / 1000} s) ran out, or it was fetched from another queue, vhost or by another user`,
        );
      }
      found.push({ lease, tag });
    }
    for (const { lease, tag } of found) {
      lease.open.delete(tag);
      lease.session.settle(tag, false, outcome);
      if (lease.open.size === 0) this.end(lease.token);
    }
    return found.length;
  }

  /** Unsettled deliveries across every lease (for tests and metrics). */
  get unsettled(): number {
    let n = 0;
    for (const l of this.leases.values()) n += l.open.size;
    return n;
  }

  /** Ends every lease: what is unsettled goes back to its queue (shutdown). */
  close(): void {
    for (const token of [...this.leases.keys()]) this.end(token);
  }

  /**
   * Ends a lease before its time: what it holds goes back to its queue. For a GET whose answer
   * never reached its client, who therefore has no ids to settle with.
   */
  release(token: string): void {
    this.end(token);
  }

  private end(token: string): void {
    const lease = this.leases.get(token);
    if (lease === undefined) return;
    this.leases.delete(token);
    lease.timer.cancel();
    const left = (this.perOwner.get(lease.owner) ?? 1) - 1;
    if (left === 0) this.perOwner.delete(lease.owner);
    else this.perOwner.set(lease.owner, left);
    lease.conn.close();
  }
}

function ownerOf(user: string, vhost: string): string {
  return `${user}\0${vhost}`;
}
