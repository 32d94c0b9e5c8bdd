/** PINGREQ (section 3.12): answered with PINGRESP [MQTT-3.12.4-1]. */
import type { MqttContext } from '../context.js';

export function onPingreq(c: MqttContext): void {
  c.writer.pingresp();
}
