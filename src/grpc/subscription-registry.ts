/**
 * Open Subscribe calls by subscription id, for Ack and Nack: the id is random (only its caller
 * can guess it) and a subscription is found only for the user and vhost that opened it.
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { Caller } from './call.js';

interface Registered {
  readonly sub: Subscription;
  readonly user: string;
  readonly vhost: string;
}

export class SubscriptionRegistry {
  private readonly byId = new Map<string, Registered>();

  add(sub: Subscription, caller: Caller): string {
    const id = randomBytes(16).toString('base64url');
    this.byId.set(id, { sub, user: caller.user, vhost: caller.vhost });
    return id;
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  /** The caller's subscription; NOT_FOUND when the id is unknown, ended, or someone else's. */
  get(id: string, caller: Caller): Subscription {
    const r = this.byId.get(id);
    if (r === undefined || r.user !== caller.user || r.vhost !== caller.vhost) {
      throw new SwitchyardError('NOT_FOUND', `no subscription '${id}' (ended, or not yours)`);
    }
    return r.sub;
  }
}
