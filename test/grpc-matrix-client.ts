/**
 * The gRPC side of the cross-protocol matrix, with connect-node's native gRPC transport (h2c):
 * a unary Publish (trace context in call metadata), and a Subscribe stream as a consumer.
 */
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Broker, MessageSchema } from '../src/gen/switchyard/v1/broker_pb.js';

export interface MatrixSeen {
  body: Buffer;
  contentType?: string | undefined;
  correlationId?: string | undefined;
  replyTo?: string | undefined;
  expirationMs?: number | undefined;
  header?: string | undefined;
  traceparent?: string | undefined;
}

export interface MatrixPublish {
  exchange: string;
  routingKey: string;
  body: Buffer;
  contentType: string;
  correlationId: string;
  replyTo: string;
  expiration: string;
  headers: Record<string, string>;
  /** Sent as call metadata, not as a message field. */
  traceparentMetadata: string;
}

const orUndefined = (s: string) => (s === '' ? undefined : s);

export function grpcMatrixClient(port: number) {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
  const client = createClient(Broker, transport);
  return {
    async publish(p: MatrixPublish): Promise<void> {
      await client.publish(
        {
          exchange: p.exchange,
          routingKey: p.routingKey,
          message: create(MessageSchema, {
            body: p.body,
            contentType: p.contentType,
            correlationId: p.correlationId,
            replyTo: p.replyTo,
            expiration: p.expiration,
            headers: p.headers,
          }),
        },
        { headers: { traceparent: p.traceparentMetadata } },
      );
    },

    /** A Subscribe stream on amq.topic with `bindingKey`; resolves once the broker started it. */
    async consumer(bindingKey: string) {
      const abort = new AbortController();
      const got = new Map<string, MatrixSeen>();
      const waiting = new Map<string, (s: MatrixSeen) => void>();
      const stream = client.subscribe(
        { source: { case: 'exchange', value: 'amq.topic' }, bindingKey, autoAck: true },
        { signal: abort.signal },
      );
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || first.value.event.case !== 'started') throw new Error('Subscribe did not start');
      void (async () => {
        try {
          for (let r = await it.next(); !r.done; r = await it.next()) {
            if (r.value.event.case !== 'delivery') continue;
            const m = r.value.event.value.message!;
            const seen: MatrixSeen = {
              body: Buffer.from(m.body),
              contentType: orUndefined(m.contentType),
              correlationId: orUndefined(m.correlationId),
              replyTo: orUndefined(m.replyTo),
              expirationMs: m.expiration === '' ? undefined : Number(m.expiration),
              header: m.headers['x-h'],
              traceparent: orUndefined(m.traceparent),
            };
            const w = waiting.get(m.routingKey);
            if (w !== undefined) {
              waiting.delete(m.routingKey);
              w(seen);
            } else got.set(m.routingKey, seen);
          }
        } catch (e) {
          if (!abort.signal.aborted) throw e; // an abort is how close() ends the stream
        }
      })();
      return {
        next(routingKey: string): Promise<MatrixSeen> {
          const s = got.get(routingKey);
          if (s !== undefined) return Promise.resolve(s);
          return new Promise<MatrixSeen>((resolve) => waiting.set(routingKey, resolve));
        },
        close: async () => abort.abort(),
      };
    },
  };
}
