/**
 * Helpers of the core's consumer tests (consumers.test.ts, reply-to.test.ts): a recording sink and
 * short forms of declare, publish and consume. Test-only: the build leaves test-*.ts out.
 */
import assert from 'node:assert/strict';
import { type ErrorCode, SwitchyardError } from '../errors/index.js';
import {
  Broker,
  type CoreConnection,
  type DeclareQueueArgs,
  type DeliverySink,
  Message,
  type Queue,
  type Session,
} from './index.js';

export interface Delivery {
  consumer: string;
  tag: number;
  body: string;
  redelivered: boolean;
  queue: string;
}

/** A test sink: records deliveries and cancellations; an optional hook runs inside deliver. */
export class Sink implements DeliverySink {
  readonly got: Delivery[] = [];
  readonly cancelledTags: string[] = [];
  onDeliver: ((d: Delivery) => void) | undefined;
  deliver(consumerTag: string, deliveryTag: number, redelivered: boolean, msg: Message, queue: Queue): void {
    const d = {
      consumer: consumerTag,
      tag: deliveryTag,
      body: msg.body.toString(),
      redelivered,
      queue: queue.name,
    };
    this.got.push(d);
    this.onDeliver?.(d);
  }
  cancelled(consumerTag: string): void {
    this.cancelledTags.push(consumerTag);
  }
  bodies(): string[] {
    return this.got.map((d) => d.body);
  }
  take(): Delivery[] {
    return this.got.splice(0);
  }
}

export function open(broker = new Broker()): CoreConnection {
  return broker.connect({ protocol: 'test', remoteAddress: '127.0.0.1', user: 'guest', vhost: '/' });
}

export function qargs(o: Partial<DeclareQueueArgs> = {}): DeclareQueueArgs {
  return { durable: false, exclusive: false, autoDelete: false, passive: false, args: {}, ...o };
}

export function send(c: CoreConnection, queue: string, ...bodies: (string | number)[]): void {
  const x = c.admitPublish('', '', 'accept');
  for (const b of bodies) c.publish(x, new Message('', queue, Buffer.from(String(b)), {}));
}

export function consume(
  c: CoreConnection,
  s: Session,
  queue: string,
  tag: string,
  sink: DeliverySink,
  o: { noAck?: boolean; exclusive?: boolean } = {},
) {
  return c.consume(
    s,
    queue,
    { tag, noAck: o.noAck ?? false, exclusive: o.exclusive ?? false, args: {} },
    sink,
  );
}

export function throwsCode(fn: () => unknown, code: ErrorCode, text?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SwitchyardError, `expected a SwitchyardError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (text !== undefined) assert.match(e.message, text);
    return true;
  });
}

export const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

export function setup(...queueNames: string[]) {
  const c = open();
  for (const q of queueNames) c.declareQueue(q, qargs());
  return { c, s: c.openSession(), sink: new Sink() };
}
