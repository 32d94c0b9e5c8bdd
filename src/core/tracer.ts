/**
 * What the core tells a tracer (DESIGN.md section 3, trace context). The core stays free of any
 * tracing library: src/observe/tracing.ts implements this with OpenTelemetry when an exporter is
 * configured, and without one the core checks a single undefined field per message.
 */
import type { Message } from './message.js';

export interface CoreTracer {
  /** A message was published to `exchange` and routed to `routed` queues. */
  published(msg: Message, exchange: string, routed: number, protocol: string): void;
  /** A message was handed to a consumer of `queue`. */
  delivered(msg: Message, queue: string, protocol: string): void;
}
