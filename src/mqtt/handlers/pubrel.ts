/**
 * PUBREL (section 3.6): the client releases an inbound QoS 2 message; the broker forgets its
 * packet id and answers PUBCOMP [MQTT-4.3.3-11], after a durable session's marker is settled.
 */
import { type AckPacket, PacketType, Reason } from '../codec/index.js';
import type { MqttContext } from '../context.js';

export function onPubrel(c: MqttContext, p: AckPacket): void {
  const pid = p.packetId;
  const session = c.session;
  const tag = session.awaitingRelease.get(pid);
  if (tag === undefined) {
    c.replies.reply(() => c.ack(PacketType.PUBCOMP, pid, Reason.PACKET_IDENTIFIER_NOT_FOUND));
    return;
  }
  session.releasedInbound(pid);
  c.inboundInFlight = Math.max(0, c.inboundInFlight - 1);
  let epoch = 0;
  if (tag !== 0) {
    const cs = c.consumers.coreSession!;
    epoch = c.core.atomically(() => cs.settle(tag, false, 'ack'));
  }
  c.replies.reply(() => c.writer.ack(PacketType.PUBCOMP, pid, 0), [], epoch);
}
