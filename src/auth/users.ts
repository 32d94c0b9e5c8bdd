/**
 * The broker's users: who may log in, from where, and how their passwords are checked.
 *
 * - Passwords are checked by src/auth/passwords.ts (scrypt on the thread pool, RabbitMQ hashes,
 *   constant-time comparisons). A successful check is remembered as a keyed digest of the
 *   password, so a client that reconnects does not pay scrypt again.
 * - A failed login is answered only after `failureDelayMs` (1 s), and failures from one source
 *   address are answered one after the other, at most one per delay: a password guesser gets one
 *   try per second per address, and nobody else waits for it (timers, not a blocked loop).
 * - Users in `loopbackUsers` (RabbitMQ's loopback_users, `guest` by default) may log in from
 *   this machine only.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../util/clock.js';
import { type Credential, parseHash, type RabbitHashing, verifyPassword } from './passwords.js';

export interface UserDef {
  readonly name: string;
  readonly credential: Credential;
  /** RabbitMQ's user tags (administrator, management, monitoring, ...). */
  readonly tags: readonly string[];
}

export interface UserTableOptions {
  readonly loopbackUsers: readonly string[];
  readonly clock: Clock;
  /** How long a failed login waits before it is answered (ms). */
  readonly failureDelayMs?: number;
}

export function isLoopback(addr: string): boolean {
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.') || addr === 'localhost';
}

export class UserTable {
  private readonly users = new Map<string, UserDef>();
  private readonly loopbackOnly: ReadonlySet<string>;
  /** Keyed digests of passwords that checked out, by user (a random key per process). */
  private readonly verified = new Map<string, Buffer>();
  private readonly pepper = randomBytes(32);
  /** Per source address: when its next failure may be answered. */
  private readonly nextFailure = new Map<string, number>();
  private readonly delay: number;
  /** Failed logins since start. */
  failures = 0;

  constructor(
    users: readonly UserDef[],
    private readonly opts: UserTableOptions,
  ) {
    for (const u of users) this.users.set(u.name, u);
    this.loopbackOnly = new Set(opts.loopbackUsers);
    this.delay = opts.failureDelayMs ?? 1000;
  }

  has(name: string): boolean {
    return this.users.has(name);
  }

  tags(name: string): readonly string[] {
    return this.users.get(name)?.tags ?? [];
  }

  /** Whether `name` may connect from `remoteAddress` at all (loopback-only users). */
  allowedFrom(name: string, remoteAddress: string): boolean {
    return !this.loopbackOnly.has(name) || isLoopback(remoteAddress);
  }

  /** Checks a user name and password from `remoteAddress`; a refusal resolves after the delay. */
  async authenticate(name: string, password: string, remoteAddress: string): Promise<boolean> {
    const ok = (await this.check(name, password)) && this.allowedFrom(name, remoteAddress);
    if (!ok) await this.failed(remoteAddress);
    return ok;
  }

  private async check(name: string, password: string): Promise<boolean> {
    const u = this.users.get(name);
    if (u === undefined) return false;
    const digest = createHmac('sha256', this.pepper).update(name).update('\0').update(password).digest();
    const known = this.verified.get(name);
    if (known !== undefined && timingSafeEqual(known, digest)) return true;
    if (!(await verifyPassword(u.credential, password))) return false;
    // The table may have been replaced meanwhile; remembering for a gone user is harmless.
    this.verified.set(name, digest);
    return true;
  }

  private failed(remoteAddress: string): Promise<void> {
    this.failures++;
    const now = this.opts.clock.now();
    const at = Math.max(now, this.nextFailure.get(remoteAddress) ?? 0) + this.delay;
    this.nextFailure.set(remoteAddress, at);
    if (this.nextFailure.size > 10_000) this.forgetOld(now);
    if (at <= now) return Promise.resolve();
    return new Promise((resolve) => this.opts.clock.after(at - now, resolve));
  }

  /** Drops addresses whose last failure is answered already. */
  private forgetOld(now: number): void {
    for (const [addr, at] of this.nextFailure) if (at <= now) this.nextFailure.delete(addr);
  }
}

/** A user as the configuration gives it: a password, or an object with a password or a hash. */
export type UserSpec =
  | string
  | {
      readonly password?: string | undefined;
      readonly passwordHash?: string | undefined;
      readonly hashingAlgorithm?: RabbitHashing | undefined;
      readonly tags?: readonly string[] | undefined;
    };

/** The users of a configuration; throws an Error naming the user (never the hash) for a bad entry. */
export function userDefs(spec: Readonly<Record<string, UserSpec>>): UserDef[] {
  return Object.entries(spec).map(([name, u]) => {
    if (typeof u === 'string') return { name, credential: { kind: 'plain', password: u }, tags: [] };
    if ((u.password === undefined) === (u.passwordHash === undefined))
      throw new Error(`user '${name}': give exactly one of password and passwordHash`);
    let credential: Credential;
    if (u.password !== undefined) credential = { kind: 'plain', password: u.password };
    else {
      try {
        credential = parseHash(u.passwordHash!, u.hashingAlgorithm);
      } catch (e) {
        throw new Error(`user '${name}': ${(e as Error).message}`);
      }
    }
    return { name, credential, tags: u.tags ?? [] };
  });
}
