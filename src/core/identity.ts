/** Who a connection acts as, and what the core may be asked to allow them. */

export interface Identity {
  readonly user: string;
  readonly vhost: string;
}

export type Permission = 'configure' | 'write' | 'read';

/** Decides whether `identity` may do `permission` on a resource; the default allows everything. */
export type Authorizer = (
  identity: Identity,
  permission: Permission,
  kind: 'queue' | 'exchange',
  name: string,
) => boolean;

export interface ConnectionInfo {
  /** Protocol name, for management listings ("amqp", "mqtt", ...). */
  readonly protocol: string;
  readonly remoteAddress: string;
  readonly user: string;
  readonly vhost: string;
  /** A name the client gave, if any. */
  readonly clientName?: string;
  /**
   * The broker's own connection (a front end's sessions, wills and retained messages): not
   * subject to permissions; what it does on a client's behalf the front end checks as that client.
   */
  readonly internal?: boolean;
}
