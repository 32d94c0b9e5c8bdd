/**
 * Collects an MQTT.js client's messages for interop tests; until(n) waits (bounded) for n.
 */
import type { MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  properties: Record<string, unknown> | undefined;
}

/** Collects a client's messages; next(n) waits for n more. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];
  constructor(c: MqttClient) {
    c.on('message', (topic, payload, packet) => {
      this.messages.push({
        topic,
        payload,
        qos: packet.qos,
        retain: packet.retain,
        properties: packet.properties as Record<string, unknown> | undefined,
      });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.n) w.resolve();
        return this.messages.length < w.n;
      });
    });
  }
  /** Waits until at least `n` messages have arrived in total. */
  until(n: number, ms = 5000): Promise<Received[]> {
    if (this.messages.length >= n) return Promise.resolve(this.messages);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out with ${this.messages.length} of ${n} messages`)),
        ms,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve(this.messages);
        },
      });
    });
  }
}
