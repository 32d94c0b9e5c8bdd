/**
 * The definition calls: declare, delete, purge, bind, unbind, inspect. Each runs on the call's
 * own CoreConnection and answers after the definition write of a durable change is on disk (the
 * change's Written), as the AMQP front end does before its -ok methods.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import type { Broker, CoreConnection, Written } from '../../core/index.js';
import { withConnection } from '../call.js';
import type {
  BindRequest,
  DeclareExchangeRequest,
  DeclareQueueRequest,
  DeleteExchangeRequest,
  DeleteQueueRequest,
  InspectExchangeRequest,
  InspectExchangeResponseSchema,
  InspectQueueRequest,
  PurgeQueueRequest,
  UnbindRequest,
} from '../../gen/switchyard/v1/broker_pb.js';
import { argumentsFromStruct, argumentsToStruct, invalid } from '../map.js';

/** Runs a definition change and answers once its write is on disk. */
function change<T>(
  broker: Broker,
  ctx: HandlerContext,
  fn: (conn: CoreConnection) => { reply: T; written: Written },
): Promise<T> {
  return withConnection(broker, ctx, async (conn) => {
    const { reply, written } = fn(conn);
    await written;
    return reply;
  });
}

function named(name: string, what: string): string {
  if (name === '') throw invalid(`${what} name must not be empty`);
  return name;
}

export function declareExchange(broker: Broker, r: DeclareExchangeRequest, ctx: HandlerContext) {
  return change(broker, ctx, (conn) => {
    if (r.type === '') throw invalid('type must be one of direct, fanout, topic, headers');
    const { written } = conn.declareExchange(named(r.name, 'exchange'), {
      type: r.type,
      passive: false,
      durable: r.durable,
      autoDelete: r.autoDelete,
      internal: r.internal,
      args: argumentsFromStruct(r.arguments),
    });
    return { reply: {}, written };
  });
}

export function deleteExchange(broker: Broker, r: DeleteExchangeRequest, ctx: HandlerContext) {
  return change(broker, ctx, (conn) => ({
    reply: {},
    written: conn.deleteExchange(named(r.name, 'exchange'), r.ifUnused),
  }));
}

export function declareQueue(broker: Broker, r: DeclareQueueRequest, ctx: HandlerContext) {
  return change(broker, ctx, (conn) => {
    const q = conn.declareQueue(r.name, {
      passive: false,
      durable: r.durable,
      // An exclusive queue lives as long as its connection, here one call: never useful.
      exclusive: false,
      autoDelete: r.autoDelete,
      args: argumentsFromStruct(r.arguments),
    });
    return {
      reply: { name: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount },
      written: q.written,
    };
  });
}

export function deleteQueue(broker: Broker, r: DeleteQueueRequest, ctx: HandlerContext) {
  return change(broker, ctx, (conn) => {
    const { messageCount, written } = conn.deleteQueue(named(r.name, 'queue'), r.ifUnused, r.ifEmpty);
    return { reply: { messageCount }, written };
  });
}

export function purgeQueue(broker: Broker, r: PurgeQueueRequest, ctx: HandlerContext) {
  return withConnection(broker, ctx, (conn) => ({ messageCount: conn.purgeQueue(named(r.name, 'queue')) }));
}

export function bind(broker: Broker, r: BindRequest, ctx: HandlerContext) {
  return change(broker, ctx, (conn) => {
    const args = argumentsFromStruct(r.arguments);
    const d = r.destination;
    let written: Written;
    if (d.case === 'queue') written = conn.bindQueue(named(d.value, 'queue'), r.exchange, r.routingKey, args);
    else if (d.case === 'destinationExchange') {
      written = conn.bindExchange(named(d.value, 'destination exchange'), r.exchange, r.routingKey, args);
    } else throw invalid('set a destination: queue or destination_exchange');
    return { reply: {}, written };
  });
}

export function unbind(broker: Broker, r: UnbindRequest, ctx: HandlerContext) {
  return change(broker, ctx, (conn) => {
    const args = argumentsFromStruct(r.arguments);
    const d = r.destination;
    let written: Written;
    if (d.case === 'queue')
      written = conn.unbindQueue(named(d.value, 'queue'), r.exchange, r.routingKey, args);
    else if (d.case === 'destinationExchange') {
      written = conn.unbindExchange(named(d.value, 'destination exchange'), r.exchange, r.routingKey, args);
    } else throw invalid('set a destination: queue or destination_exchange');
    return { reply: {}, written };
  });
}

export function inspectQueue(broker: Broker, r: InspectQueueRequest, ctx: HandlerContext) {
  return withConnection(broker, ctx, (conn) => {
    const q = conn.declareQueue(named(r.name, 'queue'), {
      passive: true,
      durable: false,
      exclusive: false,
      autoDelete: false,
      args: {},
    });
    return { name: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount };
  });
}

export function inspectExchange(broker: Broker, r: InspectExchangeRequest, ctx: HandlerContext) {
  return withConnection(broker, ctx, (conn): MessageInitShape<typeof InspectExchangeResponseSchema> => {
    const { exchange: x } = conn.declareExchange(r.name, {
      type: '',
      passive: true,
      durable: false,
      autoDelete: false,
      internal: false,
      args: {},
    });
    return {
      name: x.name,
      type: x.type,
      durable: x.options.durable,
      autoDelete: x.options.autoDelete,
      internal: x.options.internal,
      arguments: argumentsToStruct(x.options.args),
    };
  });
}
