/**
 * Broker spans with OpenTelemetry (DESIGN.md section 3): for each message a `publish` span
 * (producer side, with a `route` child that says how many queues took it) and a `deliver` span
 * per consumer, each a child of the W3C `traceparent` the message arrived with, whatever its
 * protocol. Spans leave the process only through an OTLP exporter, and only when one is
 * configured; the message's own traceparent header is passed on unchanged, so consumers see
 * the publisher's context as the publisher sent it.
 */
import {
  type Context,
  context,
  SpanKind,
  type SpanContext,
  TraceFlags,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { CoreTracer, Message } from '../core/index.js';

export interface TracingSettings {
  /** OTLP/HTTP (protobuf) traces endpoint, e.g. http://collector:4318/v1/traces; '' = off. */
  readonly otlpEndpoint: string;
  readonly serviceName: string;
}

export interface BrokerTracing extends CoreTracer {
  /** Sends what is buffered and stops the exporter. */
  shutdown(): Promise<void>;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** The span context a W3C traceparent value names, if it is well-formed and not all zeros. */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null || m[1] === 'ff') return undefined;
  const traceId = m[2]!;
  const spanId = m[3]!;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(m[4]!, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** Starts tracing when an endpoint is configured; undefined otherwise (the core then does nothing). */
export function startTracing(settings: TracingSettings): BrokerTracing | undefined {
  if (settings.otlpEndpoint === '') return undefined;
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: settings.otlpEndpoint }),
        scheduledDelayMillis: 1000,
        maxQueueSize: 8192,
      }),
    ],
  });
  return new OtelBrokerTracer(provider.getTracer('switchyard'), () => provider.shutdown());
}

class OtelBrokerTracer implements BrokerTracing {
  constructor(
    private readonly tracer: Tracer,
    readonly shutdown: () => Promise<void>,
  ) {}

  published(msg: Message, exchange: string, routed: number, protocol: string): void {
    const parent = parentOf(msg);
    const span = this.tracer.startSpan(
      `publish ${exchange === '' ? '(default)' : exchange}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'switchyard',
          'messaging.operation.type': 'publish',
          'messaging.destination.name': exchange,
          'messaging.rabbitmq.destination.routing_key': msg.routingKey,
          'messaging.message.body.size': msg.body.length,
          'network.protocol.name': protocol,
        },
      },
      parent,
    );
    const route = this.tracer.startSpan(
      'route',
      { kind: SpanKind.INTERNAL, attributes: { 'switchyard.routed_queues': routed } },
      trace.setSpan(parent, span),
    );
    route.end();
    span.end();
  }

  delivered(msg: Message, queue: string, protocol: string): void {
    const span = this.tracer.startSpan(
      `deliver ${queue}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'switchyard',
          'messaging.operation.type': 'deliver',
          'messaging.destination.name': queue,
          'network.protocol.name': protocol,
        },
      },
      parentOf(msg),
    );
    span.end();
  }
}

function parentOf(msg: Message): Context {
  const sc = parseTraceparent(msg.properties.headers?.traceparent);
  return sc === undefined ? context.active() : trace.setSpanContext(context.active(), sc);
}
