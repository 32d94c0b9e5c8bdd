/**
 * The packets as the broker sees them: what it decodes from clients (CONNECT, PUBLISH, the
 * acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH) and the properties of
 * what it sends. Field names follow MQTT 5's property names (and mqtt-packet's, so the two can
 * be compared in tests).
 */
import type { AckType, PacketType } from './constants.js';

export type QoS = 0 | 1 | 2;

/**
 * User Properties by name, in the order they came; a name that came more than once has every
 * value, in order. No prototype: a name can be anything, `__proto__` included.
 */
export type UserProperties = Record<string, string | string[]>;

/** Every MQTT 5 property (section 2.2.2.2); a packet carries the ones its type allows. */
export interface Properties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** One in a SUBSCRIBE; a PUBLISH to a client carries every matching subscription's. */
  subscriptionIdentifier?: number | number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: boolean;
  willDelayInterval?: number;
  requestResponseInformation?: boolean;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: boolean;
  userProperties?: UserProperties;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

export type ConnectProperties = Pick<
  Properties,
  | 'sessionExpiryInterval'
  | 'receiveMaximum'
  | 'maximumPacketSize'
  | 'topicAliasMaximum'
  | 'requestResponseInformation'
  | 'requestProblemInformation'
  | 'userProperties'
  | 'authenticationMethod'
  | 'authenticationData'
>;

export type WillProperties = Pick<
  Properties,
  | 'willDelayInterval'
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'contentType'
  | 'responseTopic'
  | 'correlationData'
  | 'userProperties'
>;

export type PublishProperties = Pick<
  Properties,
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'topicAlias'
  | 'responseTopic'
  | 'correlationData'
  | 'userProperties'
  | 'subscriptionIdentifier'
  | 'contentType'
>;

export type ConnackProperties = Pick<
  Properties,
  | 'sessionExpiryInterval'
  | 'receiveMaximum'
  | 'maximumQoS'
  | 'retainAvailable'
  | 'maximumPacketSize'
  | 'assignedClientIdentifier'
  | 'topicAliasMaximum'
  | 'reasonString'
  | 'userProperties'
  | 'wildcardSubscriptionAvailable'
  | 'subscriptionIdentifiersAvailable'
  | 'sharedSubscriptionAvailable'
  | 'serverKeepAlive'
  | 'responseInformation'
  | 'serverReference'
  | 'authenticationMethod'
  | 'authenticationData'
>;

/** PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK: a reason and user properties. */
export type AckProperties = Pick<Properties, 'reasonString' | 'userProperties'>;

export type SubscribeProperties = Pick<Properties, 'subscriptionIdentifier' | 'userProperties'>;

export type UnsubscribeProperties = Pick<Properties, 'userProperties'>;

export type DisconnectProperties = Pick<
  Properties,
  'sessionExpiryInterval' | 'reasonString' | 'userProperties' | 'serverReference'
>;

export type AuthProperties = Pick<
  Properties,
  'authenticationMethod' | 'authenticationData' | 'reasonString' | 'userProperties'
>;

export interface Will {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: WillProperties | undefined;
}

export interface ConnectPacket {
  readonly type: typeof PacketType.CONNECT;
  /** 'MQTT' (3.1.1, 5) or 'MQIsdp' (3.1). */
  readonly protocolName: string;
  /** 3 (3.1), 4 (3.1.1) or 5. */
  readonly protocolVersion: 3 | 4 | 5;
  /** The bridge bit (0x80) of the protocol level, as Mosquitto's bridges set it. */
  readonly bridge: boolean;
  /** Clean Session (3.1.1), Clean Start (5). */
  readonly clean: boolean;
  readonly keepAlive: number;
  readonly clientId: string;
  readonly will: Will | undefined;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly properties: ConnectProperties | undefined;
}

export interface PublishPacket {
  readonly type: typeof PacketType.PUBLISH;
  readonly qos: QoS;
  readonly dup: boolean;
  readonly retain: boolean;
  readonly topic: string;
  /** 0 at QoS 0 (the packet has none). */
  readonly packetId: number;
  readonly payload: Buffer;
  readonly properties: PublishProperties | undefined;
}

/** PUBACK, PUBREC, PUBREL or PUBCOMP. */
export interface AckPacket {
  readonly type: AckType;
  readonly packetId: number;
  /** 0 when the packet leaves it out (always, in 3.1.1). */
  readonly reasonCode: number;
  readonly properties: AckProperties | undefined;
}

export interface SubscriptionRequest {
  readonly topicFilter: string;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  /** 0 = send retained messages, 1 = only for a new subscription, 2 = never. */
  readonly retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  readonly type: typeof PacketType.SUBSCRIBE;
  readonly packetId: number;
  readonly subscriptions: readonly SubscriptionRequest[];
  readonly properties: SubscribeProperties | undefined;
}

export interface UnsubscribePacket {
  readonly type: typeof PacketType.UNSUBSCRIBE;
  readonly packetId: number;
  readonly topicFilters: readonly string[];
  readonly properties: UnsubscribeProperties | undefined;
}

export interface PingreqPacket {
  readonly type: typeof PacketType.PINGREQ;
}

export interface DisconnectPacket {
  readonly type: typeof PacketType.DISCONNECT;
  /** 0 when the packet leaves it out (always, in 3.1.1). */
  readonly reasonCode: number;
  readonly properties: DisconnectProperties | undefined;
}

export interface AuthPacket {
  readonly type: typeof PacketType.AUTH;
  readonly reasonCode: number;
  readonly properties: AuthProperties | undefined;
}

/** A packet a client sends. */
export type ClientPacket =
  | ConnectPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | UnsubscribePacket
  | PingreqPacket
  | DisconnectPacket
  | AuthPacket;
