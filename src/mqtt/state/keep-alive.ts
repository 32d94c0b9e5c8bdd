/**
 * The two clocks of a connection: the CONNECT must come within connectTimeout, and then a
 * packet at least every 1.5 x Keep Alive [MQTT-3.1.2-22]. Times come from the broker's clock.
 */
export class KeepAlive {
  private lastReceived: number;
  private readonly openedAt: number;
  /** Keep Alive in force (s); 0 = none. */
  seconds = 0;

  constructor(now: number) {
    this.openedAt = now;
    this.lastReceived = now;
  }

  /** Bytes came from the client. */
  received(now: number): void {
    this.lastReceived = now;
  }

  /** No CONNECT within `timeoutMs` of the connection opening. */
  connectOverdue(now: number, timeoutMs: number): boolean {
    return now - this.openedAt > timeoutMs;
  }

  /** Nothing received for more than one and a half times the Keep Alive. */
  expired(now: number): boolean {
    return this.seconds > 0 && now - this.lastReceived > this.seconds * 1500;
  }
}
