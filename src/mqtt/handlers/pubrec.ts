/**
 * PUBREC (section 3.5): the client received a QoS 2 delivery; the broker answers PUBREL
 * [MQTT-4.3.3-4] once the release is recorded (durable sessions: in the marker queue, in the
 * same write as the delivery's settle).
 */
import { type AckPacket, PacketType, Reason } from '../codec/index.js';
import type { MqttContext } from '../context.js';
import { ensureQos2Queue, limitReleased, marker } from '../qos2-markers.js';

export function onPubrec(c: MqttContext, p: AckPacket): void {
  const pid = p.packetId;
  const o = c.inflight.get(pid);
  const session = c.session;
  if (o === undefined || o.qos !== 2) {
    // Still answer, so the client can free the id (MQTT 5: 0x92).
    c.ack(PacketType.PUBREL, pid, session.released.has(pid) ? 0 : Reason.PACKET_IDENTIFIER_NOT_FOUND);
    return;
  }
  c.inflight.delete(pid);
  const cs = c.consumers.coreSession!;
  if (p.reasonCode >= 0x80) {
    // The client refused the message: it is settled, no PUBREL follows [MQTT-4.4.0-2].
    if (!o.settled) cs.settle(o.tag, false, 'ack');
    return;
  }
  if (!session.durable) {
    if (!o.settled) cs.settle(o.tag, false, 'ack');
    session.markReleased(pid, 0);
    c.replies.reply(() => c.writer.ack(PacketType.PUBREL, pid, 0));
    limitReleased(c);
    return;
  }
  // The delivery is settled and its PUBREL state recorded in one write, so after a crash the
  // broker either resends the message or the PUBREL, never neither.
  const waits: Promise<void>[] = [];
  const q2 = ensureQos2Queue(c, waits);
  const core = c.core;
  const epoch = core.atomically(() => {
    if (!o.settled) cs.settle(o.tag, false, 'ack');
    core.publishToQueue(q2, marker('o', pid));
  });
  const got = core.get(cs, q2, false);
  session.markReleased(pid, got?.tag ?? 0);
  c.replies.reply(() => c.writer.ack(PacketType.PUBREL, pid, 0), waits, epoch);
  limitReleased(c);
}
