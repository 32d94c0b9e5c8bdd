/**
 * The standard scenarios as answers, with what they must be recommended. The unit tests
 * check them and docs/advise.md lists them with the ranking they get.
 */
import type { Answers } from './answers.js';
import type { OptionId } from './rules.js';

export interface Scenario {
  readonly name: string;
  readonly answers: Partial<Answers>;
  /** Any of these first. */
  readonly expect: readonly OptionId[];
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'latency-sensitive microservices', answers: { latency: 'low', rpc: true }, expect: ['grpc'] },
  {
    name: 'order processing with guaranteed delivery',
    answers: { persistence: 'durable', guarantee: 'at-least-once', routing: 'topic', ordering: true },
    expect: ['amqp'],
  },
  {
    name: 'chat in the browser',
    answers: { browser: true, bidirectional: true, fanout: true, latency: 'low' },
    expect: ['websocket', 'sse'],
  },
  {
    name: 'live dashboard',
    answers: { browser: true, fanout: true, guarantee: 'at-most-once' },
    expect: ['websocket', 'sse'],
  },
  { name: 'constrained IoT devices', answers: { iot: true, persistence: 'durable' }, expect: ['mqtt'] },
  { name: 'persistence with replay', answers: { persistence: 'replay' }, expect: ['stream'] },
  {
    name: 'managed service preferred',
    answers: { managed: true, persistence: 'durable' },
    expect: ['managed'],
  },
];
