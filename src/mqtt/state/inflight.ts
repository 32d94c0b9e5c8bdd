/**
 * Outbound QoS 1/2 deliveries awaiting the client's PUBACK or PUBREC, by packet id, and the
 * packet ids they use [MQTT-2.2.1-4]. The map is made on first use (idle connections are many).
 */
import type { Message } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import type { MqttSession } from '../session.js';

export interface Outbound {
  /** Delivery tag in the core session. */
  readonly tag: number;
  readonly qos: number;
  /** The consumer took it without ack (noAck): nothing to settle. */
  readonly settled: boolean;
  /** Remembered so that a resend after a reconnect keeps the packet id. */
  readonly msg: Message;
}

export class Inflight {
  private byPid: Map<number, Outbound> | undefined;
  private nextPid = 1;

  get size(): number {
    return this.byPid === undefined ? 0 : this.byPid.size;
  }

  get(pid: number): Outbound | undefined {
    return this.byPid?.get(pid);
  }

  add(pid: number, o: Outbound): void {
    (this.byPid ??= new Map()).set(pid, o);
  }

  delete(pid: number): void {
    this.byPid?.delete(pid);
  }

  /**
   * A packet id in use by nothing else (an unacknowledged delivery, a released QoS 2 message);
   * a resend after a reconnect keeps the id the message went out with [MQTT-4.4.0-1].
   */
  allocate(session: MqttSession, msg: Message, redelivered: boolean): number {
    const used = this.byPid;
    const released = session.released;
    if (redelivered) {
      const old = session.pidOf?.get(msg);
      if (old !== undefined && used?.has(old) !== true && !released.has(old)) return old;
    }
    for (let i = 0; i < 65535; i++) {
      const pid = this.nextPid;
      this.nextPid = pid === 65535 ? 1 : pid + 1;
      if (used?.has(pid) !== true && !released.has(pid)) return pid;
    }
    throw new SwitchyardError('RECEIVE_MAXIMUM_EXCEEDED', 'no packet identifier free');
  }

  /**
   * The connection closes: the deliveries go back to their queue (with the core session), their
   * packet ids are remembered in the session for the resend.
   */
  handOver(session: MqttSession): void {
    const used = this.byPid;
    if (used === undefined || used.size === 0) return;
    const pidOf = (session.pidOf ??= new WeakMap());
    for (const [pid, o] of used) pidOf.set(o.msg, pid);
    this.byPid = undefined;
  }
}
