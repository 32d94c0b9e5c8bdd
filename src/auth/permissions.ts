/**
 * RabbitMQ's access control model (https://www.rabbitmq.com/docs/access-control), which every
 * protocol here is held to: per user and vhost three regular expressions (configure, write, read)
 * over resource names, and per user, vhost and topic exchange two (write, read) over routing keys.
 *
 * As RabbitMQ: an expression matches anywhere in the name unless anchored (re:run); '' matches
 * nothing (it is the same as '^$'); the default exchange '' is checked as 'amq.default'; a user
 * with no entry for a vhost may not open it; topic permissions apply only where one is defined for
 * that exchange (no entry: every routing key is allowed), and their `{username}`, `{vhost}` and
 * `{client_id}` variables are replaced before the expression is compiled. Unlike RabbitMQ, the
 * values are escaped first: a client id of `.*` must not widen its own permission.
 */

export type Permission = 'configure' | 'write' | 'read';

export interface PermissionEntry {
  readonly user: string;
  readonly vhost: string;
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

export interface TopicPermissionEntry {
  readonly user: string;
  readonly vhost: string;
  readonly exchange: string;
  readonly write: string;
  readonly read: string;
}

/** The values of the variables a topic permission may use. */
export interface TopicVariables {
  readonly username: string;
  readonly vhost: string;
  /** The MQTT client id, or '' for protocols that have none. */
  readonly client_id: string;
}

const NOTHING = /(?!)/;

/** Compiles a RabbitMQ permission expression; '' matches nothing. Throws on a bad expression. */
export function compilePermission(expr: string): RegExp {
  return expr === '' ? NOTHING : new RegExp(expr);
}

interface Compiled {
  readonly configure: RegExp;
  readonly write: RegExp;
  readonly read: RegExp;
}

const key = (user: string, vhost: string) => `${user}\u0000${vhost}`;

export class PermissionTable {
  private readonly byUserVhost = new Map<string, Compiled>();
  private readonly topics = new Map<string, TopicPermissionEntry>();
  /** Topic expressions compiled per set of variable values (few users and clients repeat). */
  private readonly topicCache = new Map<string, RegExp>();

  constructor(entries: readonly PermissionEntry[], topicEntries: readonly TopicPermissionEntry[] = []) {
    for (const e of entries) {
      this.byUserVhost.set(key(e.user, e.vhost), {
        configure: compilePermission(e.configure),
        write: compilePermission(e.write),
        read: compilePermission(e.read),
      });
    }
    for (const t of topicEntries) this.topics.set(`${key(t.user, t.vhost)}\u0000${t.exchange}`, t);
  }

  /** Whether no topic permission is defined at all (then every routing key is allowed). */
  get noTopicPermissions(): boolean {
    return this.topics.size === 0;
  }

  /** Whether the user has any permissions on the vhost (else it may not open it). */
  canOpen(user: string, vhost: string): boolean {
    return this.byUserVhost.has(key(user, vhost));
  }

  /** Whether the user may do `p` on the queue or exchange `name` in the vhost. */
  allows(user: string, vhost: string, p: Permission, name: string): boolean {
    const c = this.byUserVhost.get(key(user, vhost));
    if (c === undefined) return false;
    return c[p].test(name === '' ? 'amq.default' : name);
  }

  /** Whether the user may publish (`write`) or consume (`read`) routing key `routingKey` on a topic exchange. */
  allowsTopic(
    user: string,
    vhost: string,
    exchange: string,
    p: 'write' | 'read',
    routingKey: string,
    vars: TopicVariables,
  ): boolean {
    const t = this.topics.get(`${key(user, vhost)}\u0000${exchange}`);
    if (t === undefined) return true;
    const expr = t[p];
    if (expr === '') return false;
    const expanded = expr
      .replaceAll('{username}', escapeRegExp(vars.username))
      .replaceAll('{vhost}', escapeRegExp(vars.vhost))
      .replaceAll('{client_id}', escapeRegExp(vars.client_id));
    let re = this.topicCache.get(expanded);
    if (re === undefined) {
      // Bounded: a client id per MQTT client could otherwise grow it without end.
      if (this.topicCache.size >= 10_000) this.topicCache.clear();
      re = new RegExp(expanded);
      this.topicCache.set(expanded, re);
    }
    return re.test(routingKey);
  }

  /** Whether any topic permission is defined for this user, vhost and exchange. */
  hasTopicPermissions(user: string, vhost: string, exchange: string): boolean {
    return this.topics.has(`${key(user, vhost)}\u0000${exchange}`);
  }
}

/** `s` as a regular expression that matches exactly it. */
function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}
