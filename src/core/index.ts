/**
 * The core's public interface: the only module a front end may import (DESIGN.md section 8).
 * It knows no wire protocol.
 */
export { Broker, type BrokerOptions, isLoopback } from './broker.js';
export {
  type ConnectionHost,
  CoreConnection,
  type DeclareExchangeArgs,
  type DeclareQueueArgs,
  type QueueInfo,
  type Routed,
  type WhenBlocked,
  type Written,
} from './connection.js';
export type {
  BrokerStatusReport,
  FrontEnd,
  FrontEndStats,
  HttpRoutes,
  Listening,
  ListenTls,
  RequestHandler,
  UpgradeHandler,
} from './front-end.js';
export type { Authorizer, ConnectionInfo, Identity, Permission } from './identity.js';
export { EXCHANGE_TYPES, type Exchange, type ExchangeType } from './exchange.js';
export { Message } from './message.js';
export {
  Decimal,
  type HeaderTable,
  type HeaderValue,
  type Properties,
  type PropertiesCodec,
  headerJson,
  headerText,
  type JsonValue,
} from '../model/index.js';
export { decodeJsonProperties, encodeJsonProperties } from './properties-json.js';
export {
  AMQP_LIMITS,
  type CarryLimits,
  carriable,
  checkProperties,
  cutToBytes,
  fits,
  fitsBytes,
  type HeaderSize,
  MQTT_LIMITS,
} from './carry.js';
export type { Queue } from './queue.js';
export { MemoryRecordStore } from '../store/memory/records.js';
export type { RecordStore } from '../store/types.js';
export {
  type ConsumeOptions,
  type Consumer,
  type DeliverySink,
  type DropCount,
  Pause,
  type Session,
  type SettleOutcome,
} from './session.js';
export { messageFromRecord } from './stored.js';
export { REPLY_TO } from './vhost.js';
export {
  type AnonymousPolicy,
  asSwitchyardError,
  type Credentials,
  type Delivery,
  identify,
  messageOf,
  type PublishCallback,
  type PublishInput,
  type PublishOutcome,
  publishConfirmed,
  publishWithConfirm,
  Subscription,
  type SubscriptionHandlers,
  type SubscriptionOptions,
} from './client.js';
export {
  type BodyEncoding,
  decodeBody,
  encodeBody,
  type JsonMessage,
  messageToJson,
  propertiesFromJson,
  propertiesToJson,
  traceHeaderText,
} from './message-json.js';
export type { CoreTracer } from './tracer.js';
