/**
 * AUTH (section 3.15). The broker supports no enhanced authentication, so no method was agreed
 * at CONNECT and an AUTH is a Protocol Error [MQTT-4.12.0-7] (0x8C is a CONNACK code, not a
 * DISCONNECT one).
 */
import { SwitchyardError } from '../../errors/index.js';

export function onAuth(): never {
  throw new SwitchyardError(
    'PROTOCOL_ERROR',
    'bad authentication method: enhanced authentication is not supported',
  );
}
