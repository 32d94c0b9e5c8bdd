/**
 * CONNECT (MQTT 5 section 3.1, 3.1.1 section 3.1): the one packet whose layout depends on its own
 * fields (the protocol level says whether there are properties; the flags, which fields follow).
 */
import { SwitchyardError } from '../../errors/index.js';
import { PacketType } from './constants.js';
import { type Input, malformed, protocolError } from './input.js';
import type { ConnectPacket, QoS, Will } from './packets.js';
import { decodeProperties, Section } from './properties.js';

const USER_NAME = 0x80;
const PASSWORD = 0x40;
const WILL_RETAIN = 0x20;
const WILL = 0x04;
const CLEAN = 0x02;
const RESERVED = 0x01;

export function decodeConnect(input: Input): ConnectPacket {
  const protocolName = input.string('protocol name');
  // [MQTT-3.1.2-1]: a server that does not know the name may close the connection (it does).
  if (protocolName !== 'MQTT' && protocolName !== 'MQIsdp') {
    throw malformed(`unknown protocol name '${protocolName}'`);
  }
  let level = input.byte('protocol level');
  // Mosquitto's bridges add 0x80 to the level.
  const bridge = level >= 0x80;
  if (bridge) level -= 0x80;
  if (level !== 3 && level !== 4 && level !== 5) {
    // [MQTT-3.1.2-2] (3.1.1): answered with CONNACK return code 1, then closed.
    throw new SwitchyardError('UNSUPPORTED_PROTOCOL_VERSION', `unsupported protocol version ${level}`);
  }
  const v5 = level === 5;
  const flags = input.byte('connect flags');
  if ((flags & RESERVED) !== 0) throw malformed('the reserved CONNECT flag is set'); // [MQTT-3.1.2-3]
  const willQos = (flags >> 3) & 3;
  if ((flags & WILL) === 0) {
    // [MQTT-3.1.2-11] [MQTT-3.1.2-13]: no will, so no will QoS and no will retain.
    if (willQos !== 0 || (flags & WILL_RETAIN) !== 0) throw malformed('will QoS or retain without a will');
  } else if (willQos === 3) throw malformed('will QoS 3'); // [MQTT-3.1.2-12]
  // 3.1.1 [MQTT-3.1.2-22]: a password needs a user name (MQTT 5 allows one alone).
  if (!v5 && (flags & PASSWORD) !== 0 && (flags & USER_NAME) === 0) {
    throw malformed('a password without a user name');
  }
  const keepAlive = input.u16('keep alive');
  const properties = v5 ? decodeProperties(input, Section.CONNECT) : undefined;
  // Section 3.1.2.11.10: Authentication Data needs an Authentication Method.
  if (properties?.authenticationData !== undefined && properties.authenticationMethod === undefined) {
    throw protocolError('authentication data without an authentication method');
  }
  // [MQTT-3.1.3-1]: client identifier, will properties, will topic, will payload, user name, password.
  const clientId = input.string('client identifier'); // [MQTT-3.1.3-3] [MQTT-3.1.3-4]
  let will: Will | undefined;
  if ((flags & WILL) !== 0) {
    // [MQTT-3.1.2-9]
    const willProperties = v5 ? decodeProperties(input, Section.WILL) : undefined;
    const topic = input.string('will topic'); // [MQTT-3.1.3-11]
    const payload = input.binary('will payload');
    will = {
      topic,
      payload,
      qos: willQos as QoS,
      retain: (flags & WILL_RETAIN) !== 0,
      properties: willProperties,
    };
  }
  // [MQTT-3.1.2-16] to [MQTT-3.1.2-19]: the fields are there exactly when their flags say so.
  const username = (flags & USER_NAME) !== 0 ? input.string('user name') : undefined; // [MQTT-3.1.3-12]
  const password = (flags & PASSWORD) !== 0 ? input.binary('password') : undefined;
  if (input.left !== 0) throw malformed(`${input.left} bytes after the end of the CONNECT`);
  return {
    type: PacketType.CONNECT,
    protocolName,
    protocolVersion: level,
    bridge,
    clean: (flags & CLEAN) !== 0,
    keepAlive,
    clientId,
    will,
    username,
    password,
    properties,
  };
}
