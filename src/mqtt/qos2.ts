/**
 * QoS 2, both ways. For a persistent session the packet-id state lives in a durable marker queue
 * (`mqtt-qos2.<client id>`), written in the same log record as the message or the settle it
 * belongs to, so a crash never leaves one without the other (docs/mqtt.md). Clean sessions keep
 * it in memory only.
 */
import type { IPubrelPacket } from 'mqtt-packet';
import { Message, Pause } from '../core/index.js';
import type { MqttConnection } from './connection.js';
import { Reason } from './reason.js';
import { type MqttSession, qos2QueueName } from './session.js';
import { collectWrite } from './subscribe.js';

const PUBREL = 6;
const PUBCOMP = 7;

export function onPubrel(c: MqttConnection, p: IPubrelPacket): void {
  const pid = p.messageId ?? 0;
  const session = c.session!;
  const tag = session.awaitingRelease.get(pid);
  if (tag === undefined) {
    c.reply(() => c.ack(PUBCOMP, pid, Reason.PACKET_IDENTIFIER_NOT_FOUND));
    return;
  }
  session.awaitingRelease.delete(pid);
  c.inboundInFlight = Math.max(0, c.inboundInFlight - 1);
  let epoch = 0;
  if (tag !== 0) {
    const cs = c.coreSession!;
    epoch = c.core!.atomically(() => cs.settle(tag, false, 'ack'));
  }
  c.reply(() => c.writer.ack(PUBCOMP, pid, 0), [], epoch);
}

/** The QoS 2 marker queue of this (durable) session, created on first use. */
export function ensureQos2Queue(c: MqttConnection, waits: Promise<void>[]): string {
  const session = c.session!;
  const name = qos2QueueName(session.clientId);
  if (!session.hasQos2Queue) {
    const { written } = c.core!.declareQueue(name, {
      durable: true,
      exclusive: false,
      autoDelete: false,
      args: {},
      passive: false,
    });
    collectWrite(waits, written);
    session.hasQos2Queue = true;
    waits.push(c.fe.saveSession(session));
  }
  return name;
}

/** After a reconnect: takes the session's QoS 2 markers back (packet ids awaiting PUBREL / PUBCOMP). */
export function reloadQos2Markers(c: MqttConnection, session: MqttSession): Promise<void> {
  const core = c.core!;
  const cs = c.openCoreSession();
  const name = qos2QueueName(session.clientId);
  session.awaitingRelease.clear();
  session.released.clear();
  return new Promise<void>((resolve) => {
    const take = () => {
      if (!core.vhost.queues.has(name)) return resolve();
      for (;;) {
        const got = core.get(cs, name, false);
        if (got === undefined) break;
        const text = got.msg.body.toString('latin1');
        const pid = Number(text.slice(2));
        if (text.startsWith('i:')) session.awaiting().set(pid, got.tag);
        else session.releasedIds().set(pid, got.tag);
      }
      if (core.hasPaged(name)) core.whenRefilled(name, take);
      else resolve();
    };
    take();
  });
}

export function onPubrec(c: MqttConnection, pid: number, reason: number): void {
  const o = c.outbound.get(pid);
  const session = c.session!;
  if (o === undefined || o.qos !== 2) {
    // Still answer, so the client can free the id (MQTT 5: 0x92).
    c.ack(PUBREL, pid, session.released.has(pid) ? 0 : Reason.PACKET_IDENTIFIER_NOT_FOUND);
    return;
  }
  c.outbound.delete(pid);
  const cs = c.coreSession!;
  if (reason >= 0x80) {
    // The client refused the message: it is settled, no PUBREL follows.
    if (!o.settled) cs.settle(o.tag, false, 'ack');
    return;
  }
  if (!session.durable) {
    if (!o.settled) cs.settle(o.tag, false, 'ack');
    session.releasedIds().set(pid, 0);
    c.reply(() => c.writer.ack(PUBREL, pid, 0));
    limitReleased(c);
    return;
  }
  // The delivery is settled and its PUBREL state recorded in one write, so after a crash the
  // broker either resends the message or the PUBREL, never neither.
  const waits: Promise<void>[] = [];
  const q2 = ensureQos2Queue(c, waits);
  const core = c.core!;
  const epoch = core.atomically(() => {
    if (!o.settled) cs.settle(o.tag, false, 'ack');
    core.publishToQueue(q2, marker('o', pid));
  });
  const got = core.get(cs, q2, false);
  session.releasedIds().set(pid, got?.tag ?? 0);
  c.reply(() => c.writer.ack(PUBREL, pid, 0), waits, epoch);
  limitReleased(c);
}

export function onPubcomp(c: MqttConnection, pid: number): void {
  const session = c.session!;
  const tag = session.released.get(pid);
  if (tag === undefined) return;
  session.released.delete(pid);
  if (tag !== 0) c.coreSession!.settle(tag, false, 'ack');
  limitReleased(c);
}

/** The client's Receive Maximum counts QoS 2 messages until PUBCOMP: pause while it is reached. */
export function limitReleased(c: MqttConnection): void {
  const cs = c.coreSession;
  if (cs === undefined) return;
  if (c.session!.released.size + c.outbound.size >= c.clientReceiveMaximum) cs.pause(Pause.FLOW);
  else cs.resume(Pause.FLOW);
}

/** After CONNACK on a resumed session: PUBREL again for every released packet id. */
export function resendReleases(c: MqttConnection): void {
  for (const pid of c.session!.released.keys()) c.writer.ack(PUBREL, pid, 0);
}

/** A QoS 2 packet-id marker: 'i' = inbound awaiting PUBREL, 'o' = outbound awaiting PUBCOMP. */
export function marker(kind: 'i' | 'o', pid: number): Message {
  const m = new Message('', '', Buffer.from(`${kind}:${pid}`, 'latin1'), MARKER_PROPERTIES);
  m.persistentHint = true;
  return m;
}

const MARKER_PROPERTIES = Object.freeze({ deliveryMode: 2 });
