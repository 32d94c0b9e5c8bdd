/**
 * The one dispatch of a connected client's packets, one handler per packet kind. The CONNECT
 * that opens a connection goes to onConnect (from the connection, which is not connected yet).
 */
import { SwitchyardError } from '../../errors/index.js';
import { type ClientPacket, PacketType } from '../codec/index.js';
import type { MqttContext } from '../context.js';
import { onAuth } from './auth.js';
import { onDisconnect } from './disconnect.js';
import { onPingreq } from './ping.js';
import { onPuback } from './puback.js';
import { onPubcomp } from './pubcomp.js';
import { onPublish } from './publish.js';
import { onPubrec } from './pubrec.js';
import { onPubrel } from './pubrel.js';
import { onSubscribe } from './subscribe.js';
import { onUnsubscribe } from './unsubscribe.js';

export { onConnect } from './connect.js';

export function dispatch(c: MqttContext, p: ClientPacket): void {
  switch (p.type) {
    case PacketType.PUBLISH:
      return onPublish(c, p);
    case PacketType.PUBACK:
      return onPuback(c, p);
    case PacketType.PUBREC:
      return onPubrec(c, p);
    case PacketType.PUBREL:
      return onPubrel(c, p);
    case PacketType.PUBCOMP:
      return onPubcomp(c, p);
    case PacketType.SUBSCRIBE:
      return onSubscribe(c, p);
    case PacketType.UNSUBSCRIBE:
      return onUnsubscribe(c, p);
    case PacketType.PINGREQ:
      return onPingreq(c);
    case PacketType.DISCONNECT:
      return onDisconnect(c, p);
    case PacketType.AUTH:
      return onAuth();
    case PacketType.CONNECT:
      // [MQTT-3.1.0-2]
      throw new SwitchyardError('PROTOCOL_ERROR', 'second CONNECT on a connection');
  }
}
