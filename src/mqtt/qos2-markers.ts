/**
 * QoS 2 packet-id state of a persistent session, in a durable marker queue
 * (`mqtt-qos2.<client id>`), written in the same log record as the message or the settle it
 * belongs to, so a crash never leaves one without the other (docs/mqtt.md). Clean sessions keep
 * the state in memory only (MqttSession.awaitingRelease / released).
 */
import { Message, Pause } from '../core/index.js';
import { PacketType } from './codec/index.js';
import type { MqttContext } from './context.js';
import { qos2QueueName } from './session.js';

/** The QoS 2 marker queue of this (durable) session, created on first use. */
export function ensureQos2Queue(c: MqttContext, waits: Promise<void>[]): string {
  const session = c.session;
  const name = qos2QueueName(session.clientId);
  if (!session.hasQos2Queue) {
    const { written } = c.core.declareQueue(name, {
      durable: true,
      exclusive: false,
      autoDelete: false,
      args: {},
      passive: false,
    });
    if (written !== undefined) waits.push(written);
    session.hasQos2Queue = true;
    waits.push(c.services.sessions.save(session));
  }
  return name;
}

/** After a reconnect: takes the session's QoS 2 markers back (packet ids awaiting PUBREL / PUBCOMP). */
export function reloadQos2Markers(c: MqttContext): Promise<void> {
  const core = c.core;
  const session = c.session;
  const cs = c.consumers.open();
  const name = qos2QueueName(session.clientId);
  session.clearQos2State();
  return new Promise<void>((resolve) => {
    const take = () => {
      if (!core.vhost.queues.has(name)) return resolve();
      for (;;) {
        const got = core.get(cs, name, false);
        if (got === undefined) break;
        const text = got.msg.body.toString('latin1');
        const pid = Number(text.slice(2));
        if (text.startsWith('i:')) session.awaitRelease(pid, got.tag);
        else session.markReleased(pid, got.tag);
      }
      if (core.hasPaged(name)) core.whenRefilled(name, take);
      else resolve();
    };
    take();
  });
}

/** The client's Receive Maximum counts QoS 2 messages until PUBCOMP: pause while it is reached. */
export function limitReleased(c: MqttContext): void {
  const cs = c.consumers.coreSession;
  if (cs === undefined) return;
  if (c.session.released.size + c.inflight.size >= c.limits.receiveMaximum) cs.pause(Pause.FLOW);
  else cs.resume(Pause.FLOW);
}

/** After CONNACK on a resumed session: PUBREL again for every released packet id [MQTT-4.4.0-1]. */
export function resendReleases(c: MqttContext): void {
  for (const pid of c.session.released.keys()) c.writer.ack(PacketType.PUBREL, pid, 0);
}

/** A QoS 2 packet-id marker: 'i' = inbound awaiting PUBREL, 'o' = outbound awaiting PUBCOMP. */
export function marker(kind: 'i' | 'o', pid: number): Message {
  const m = new Message('', '', Buffer.from(`${kind}:${pid}`, 'latin1'), MARKER_PROPERTIES);
  m.persistentHint = true;
  return m;
}

const MARKER_PROPERTIES = Object.freeze({ deliveryMode: 2 });
