/**
 * DISCONNECT (section 3.14) from the client: a normal end drops the will [MQTT-3.14.4-3], 0x04
 * keeps it; a v5 client may change its session expiry, except from 0 (section 3.14.2.2.2).
 */
import { SwitchyardError } from '../../errors/index.js';
import { type DisconnectPacket, Reason } from '../codec/index.js';
import type { MqttContext } from '../context.js';

export function onDisconnect(c: MqttContext, p: DisconnectPacket): void {
  const session = c.session;
  const newExpiry = p.properties?.sessionExpiryInterval;
  if (newExpiry !== undefined) {
    if (session.expiryInterval === 0 && newExpiry !== 0) {
      throw new SwitchyardError('PROTOCOL_ERROR', 'session expiry set on DISCONNECT after 0 on CONNECT');
    }
    session.expiryInterval = Math.min(newExpiry, c.services.settings.maxSessionExpiry);
  }
  if (p.reasonCode !== Reason.DISCONNECT_WITH_WILL) c.dropWill();
  c.close();
}
