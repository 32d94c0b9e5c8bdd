/** PUBACK (section 3.4): the client took a QoS 1 delivery [MQTT-4.3.2-3]. */
import type { AckPacket } from '../codec/index.js';
import type { MqttContext } from '../context.js';

export function onPuback(c: MqttContext, p: AckPacket): void {
  const o = c.inflight.get(p.packetId);
  if (o === undefined || o.qos !== 1) return; // unknown ids are ignored, as Mosquitto does
  c.inflight.delete(p.packetId);
  // A failure reason settles it too: it is not sent again [MQTT-4.4.0-2].
  if (!o.settled) c.consumers.coreSession!.settle(o.tag, false, 'ack');
  c.services.pool.acked(o.msg.body);
}
