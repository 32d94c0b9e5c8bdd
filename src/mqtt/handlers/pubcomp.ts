/** PUBCOMP (section 3.7): the end of an outbound QoS 2 flow; its packet id is free again. */
import type { AckPacket } from '../codec/index.js';
import type { MqttContext } from '../context.js';
import { limitReleased } from '../qos2-markers.js';

export function onPubcomp(c: MqttContext, p: AckPacket): void {
  const session = c.session;
  const tag = session.released.get(p.packetId);
  if (tag === undefined) return;
  session.completed(p.packetId);
  if (tag !== 0) c.consumers.coreSession!.settle(tag, false, 'ack');
  limitReleased(c);
}
