/**
 * What a CONNECT asks for, checked before anything changes: who the client is, its client id,
 * session expiry, keep-alive, limits and will. A refused CONNECT must not disturb a live
 * connection or leave a session behind, so every refusal is decided here, up front.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { isLoopback, type Message } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';
import type { ConnackProperties, ConnectPacket, Will as WillPart } from './codec/index.js';
import { messageFromPublish } from './map.js';
import type { MqttSettings } from './settings.js';
import { topicNameError } from './topic.js';

/** The longest client identifier accepted (it names queues, which AMQP limits to 255 bytes). */
const MAX_CLIENT_ID_BYTES = 200;

export interface Will {
  readonly msg: Message;
  readonly topic: string;
  readonly retain: boolean;
  /** Will Delay Interval (s). */
  readonly delay: number;
}

export interface ConnectPlan {
  readonly version: 4 | 5;
  /** The broker user the connection acts as ('anonymous' without a user name). */
  readonly user: string;
  readonly clientId: string;
  /** Set when the broker chose the client id (v5 Assigned Client Identifier). */
  readonly assigned: string | undefined;
  /** Session Expiry Interval (s), capped by the broker. */
  readonly expiry: number;
  readonly expiryCapped: boolean;
  /** Keep-alive in force (s, 0 = none) and, when the broker changed it, what to tell a v5 client. */
  readonly keepAlive: number;
  readonly serverKeepAlive: number | undefined;
  /** The client's own limits (v5; a 3.1.1 client gets the broker's maxInflight window). */
  readonly receiveMaximum: number;
  readonly maxPacketSize: number;
  readonly topicAliasMaximum: number;
  readonly will: Will | undefined;
}

/** The plan, or why the CONNECT is refused (its MQTT code is the error's, in the catalogue). */
export type ConnectDecision = { readonly plan: ConnectPlan } | { readonly refuse: SwitchyardError };

export type Authenticate = (user: string, password: string, remoteAddress: string) => Promise<boolean>;

/** Who a CONNECT is from ('anonymous' without a user name), or why it is refused. */
export type Identity = { readonly user: string } | { readonly refuse: SwitchyardError };

/**
 * The user a CONNECT acts as. Asynchronous: a password check runs off the event loop, and a wrong
 * one is answered only after the failure delay. Checked before anything else, so a refused client
 * learns nothing about sessions.
 */
export async function identifyClient(
  p: ConnectPacket,
  settings: MqttSettings,
  remoteAddress: string,
  authenticate: Authenticate,
  /** With mqtt.certLogin, the verified TLS certificate's CN: the user when no user name is given. */
  certUser?: string,
): Promise<Identity> {
  const v5 = p.protocolVersion === 5;
  // [MQTT-4.12.0-1]: enhanced authentication is not supported.
  if (p.properties?.authenticationMethod !== undefined) {
    return refuse('BAD_AUTHENTICATION_METHOD', 'bad authentication method');
  }
  const name = p.username;
  const noName = name === undefined || (name === '' && p.password === undefined);
  if (noName && certUser !== undefined) {
    // RabbitMQ's ssl_cert_login: the certificate names the user, who must exist.
    if (settings.userExists?.(certUser, remoteAddress) !== true) {
      return refuse('AUTHENTICATION_FAILED', `certificate user '${certUser}' refused: not a broker user`);
    }
    return { user: certUser };
  }
  if (name === undefined || noName) {
    const a = settings.anonymous;
    if (a === 'never' || (a === 'loopback' && !isLoopback(remoteAddress))) {
      // 3.1.1 return code 5 (not authorized); v5 0x86 (bad user name or password).
      return refuse(v5 ? 'AUTHENTICATION_FAILED' : 'ACCESS_REFUSED', 'anonymous connections are not allowed');
    }
    return { user: 'anonymous' };
  }
  if (!(await authenticate(name, p.password?.toString('utf8') ?? '', remoteAddress))) {
    return refuse('AUTHENTICATION_FAILED', `user '${name}' refused: bad user name or password`);
  }
  return { user: name };
}

/** What the CONNECT of `user` (identifyClient's answer) asks for, or why it is refused. */
export function planConnect(
  p: ConnectPacket,
  settings: MqttSettings,
  user: string,
  /** The broker clock's time, for the will's expiry. */
  now: number,
): ConnectDecision {
  const v5 = p.protocolVersion === 5;
  const props = p.properties ?? {};
  let clientId = p.clientId;
  let assigned: string | undefined;
  if (clientId === '') {
    // [MQTT-3.1.3-8] (3.1.1 [MQTT-3.1.3-8] too: return code 2).
    if (!p.clean)
      return refuse('CLIENT_ID_INVALID', 'an empty client identifier needs clean session / clean start');
    // [MQTT-3.1.3-6] [MQTT-3.1.3-7]: the broker assigns one.
    clientId = `sy-${randomBytes(12).toString('base64url')}`;
    assigned = clientId;
  }
  if (Buffer.byteLength(clientId) > MAX_CLIENT_ID_BYTES || clientId.includes('\u0000')) {
    return refuse('CLIENT_ID_INVALID', 'client identifier not valid');
  }

  const will = p.will === undefined ? undefined : planWill(p.will, settings.exchange, now);
  if (will !== undefined && 'refuse' in will) return will;

  // Session Expiry: v5 says it; a 3.1.1 persistent session (clean = 0) lasts as long as the
  // broker allows.
  const asked = v5 ? (props.sessionExpiryInterval ?? 0) : p.clean ? 0 : 0xffffffff;
  const expiry = Math.min(asked, settings.maxSessionExpiry);

  const clientKeepAlive = p.keepAlive;
  const maxKa = settings.maxKeepAlive;
  const serverKeepAlive =
    v5 && maxKa > 0 && (clientKeepAlive === 0 || clientKeepAlive > maxKa) ? maxKa : undefined;

  return {
    plan: {
      version: v5 ? 5 : 4,
      user,
      clientId,
      assigned,
      expiry,
      expiryCapped: expiry !== asked,
      keepAlive: serverKeepAlive ?? clientKeepAlive,
      serverKeepAlive,
      receiveMaximum: v5 ? (props.receiveMaximum ?? 65535) : settings.maxInflight,
      maxPacketSize: v5 ? (props.maximumPacketSize ?? 0) : 0,
      topicAliasMaximum: v5 ? (props.topicAliasMaximum ?? 0) : 0,
      will,
    },
  };
}

function refuse(
  code: ConstructorParameters<typeof SwitchyardError>[0],
  message: string,
): { readonly refuse: SwitchyardError } {
  return { refuse: new SwitchyardError(code, message) };
}

function planWill(w: WillPart, exchange: string, now: number): Will | { readonly refuse: SwitchyardError } {
  const topicError = topicNameError(w.topic);
  if (topicError !== undefined)
    return { refuse: new SwitchyardError('TOPIC_NAME_INVALID', `will ${topicError}`) };
  const wp = w.properties;
  if (wp?.payloadFormatIndicator === true && !isUtf8(w.payload)) {
    return {
      refuse: new SwitchyardError(
        'PAYLOAD_FORMAT_INVALID',
        'will payload is not UTF-8 as its format indicator says',
      ),
    };
  }
  let properties: WillPart['properties'];
  if (wp !== undefined) {
    const { willDelayInterval: _delay, ...messageProperties } = wp;
    properties = messageProperties;
  }
  return {
    msg: messageFromPublish(
      exchange,
      w.topic,
      { qos: w.qos, retain: w.retain, payload: w.payload, properties },
      now,
    ),
    topic: w.topic,
    retain: w.retain,
    delay: wp?.willDelayInterval ?? 0,
  };
}

/** The v5 CONNACK properties for an accepted CONNECT. */
export function connackProperties(
  plan: ConnectPlan,
  settings: MqttSettings,
  requestResponseInformation: boolean,
): ConnackProperties {
  // The order is the wire order: maximum packet size, topic alias maximum, then what applies.
  const out: ConnackProperties = {
    maximumPacketSize: settings.maxPacketSize,
    topicAliasMaximum: settings.topicAliasMaximum,
  };
  if (plan.assigned !== undefined) out.assignedClientIdentifier = plan.assigned;
  if (plan.expiryCapped) out.sessionExpiryInterval = plan.expiry;
  if (settings.receiveMaximum < 65535) out.receiveMaximum = settings.receiveMaximum;
  if (plan.serverKeepAlive !== undefined) out.serverKeepAlive = plan.serverKeepAlive;
  // [MQTT-3.1.2-28]: Response Information only when asked for.
  if (requestResponseInformation) out.responseInformation = `reply/${plan.clientId}/`;
  return out;
}
