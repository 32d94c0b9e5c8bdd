/**
 * The checklist's answers: one zod schema, the questions asked for them (with their choices and
 * defaults), and the YAML answers file. Flags and prompts produce the same object.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const TEAM_PROTOCOLS = ['grpc', 'amqp', 'mqtt', 'websocket', 'http', 'kafka', 'cloud'] as const;

export const answersSchema = z.strictObject({
  latency: z.enum(['low', 'medium', 'high']).default('medium'),
  throughput: z.enum(['low', 'medium', 'high']).default('medium'),
  messageSize: z.enum(['small', 'medium', 'large']).default('small'),
  persistence: z.enum(['none', 'durable', 'replay']).default('none'),
  routing: z.enum(['simple', 'topic', 'complex']).default('simple'),
  bidirectional: z.boolean().default(false),
  rpc: z.boolean().default(false),
  iot: z.boolean().default(false),
  browser: z.boolean().default(false),
  ordering: z.boolean().default(false),
  fanout: z.boolean().default(false),
  guarantee: z.enum(['at-most-once', 'at-least-once', 'exactly-once']).default('at-least-once'),
  team: z.array(z.enum(TEAM_PROTOCOLS)).default([]),
  managed: z.boolean().default(false),
});

export type Answers = z.infer<typeof answersSchema>;
export type AnswerKey = keyof Answers;

export const DEFAULT_ANSWERS: Answers = answersSchema.parse({});

export interface Question {
  readonly key: AnswerKey;
  readonly flag: string;
  readonly text: string;
  /** Allowed answers; booleans are 'yes'/'no'; `team` takes a comma list of these. */
  readonly choices: readonly string[];
  /** What each choice means, shown in --help and docs/advise.md. */
  readonly help: string;
}

const yesNo = ['yes', 'no'] as const;

/** The checklist, in the order it is asked. */
export const QUESTIONS: readonly Question[] = [
  {
    key: 'latency',
    flag: '--latency',
    text: 'Latency target?',
    choices: answersSchema.shape.latency.unwrap().options,
    help: 'low: latency-sensitive, p99 within a few milliseconds; medium: tens of milliseconds; high: seconds are fine',
  },
  {
    key: 'throughput',
    flag: '--throughput',
    text: 'Throughput?',
    choices: answersSchema.shape.throughput.unwrap().options,
    help: 'low: under 100 msg/s; medium: up to about 10,000 msg/s; high: more',
  },
  {
    key: 'messageSize',
    flag: '--message-size',
    text: 'Typical message size?',
    choices: answersSchema.shape.messageSize.unwrap().options,
    help: 'small: up to 1 KiB; medium: up to 64 KiB; large: more',
  },
  {
    key: 'persistence',
    flag: '--persistence',
    text: 'Must messages survive a restart, or be replayed?',
    choices: answersSchema.shape.persistence.unwrap().options,
    help: 'none: transient; durable: kept until consumed, across restarts; replay: kept after consumption, re-readable from an offset',
  },
  {
    key: 'routing',
    flag: '--routing',
    text: 'Routing complexity?',
    choices: answersSchema.shape.routing.unwrap().options,
    help: 'simple: point to point; topic: subscribers pick by topic or key pattern; complex: headers, several exchanges, dead-lettering',
  },
  {
    key: 'bidirectional',
    flag: '--bidirectional',
    text: 'Bidirectional real-time (both sides push at any time)?',
    choices: yesNo,
    help: 'yes: chat, collaboration, live control',
  },
  {
    key: 'rpc',
    flag: '--rpc',
    text: 'Service-to-service request/response (RPC)?',
    choices: yesNo,
    help: 'yes: microservices calling each other',
  },
  {
    key: 'iot',
    flag: '--iot',
    text: 'Constrained devices (microcontrollers, flaky or metered links)?',
    choices: yesNo,
    help: 'yes: sensors, embedded devices',
  },
  {
    key: 'browser',
    flag: '--browser',
    text: 'Browser clients?',
    choices: yesNo,
    help: 'yes: web pages connect directly',
  },
  {
    key: 'ordering',
    flag: '--ordering',
    text: 'Must messages be processed in order?',
    choices: yesNo,
    help: 'yes: per queue, topic or key',
  },
  {
    key: 'fanout',
    flag: '--fanout',
    text: 'Fan-out (one message to many subscribers)?',
    choices: yesNo,
    help: 'yes: notifications, dashboards, broadcast',
  },
  {
    key: 'guarantee',
    flag: '--guarantee',
    text: 'Delivery guarantee?',
    choices: answersSchema.shape.guarantee.unwrap().options,
    help: 'at-most-once: losing a message is fine; at-least-once: never lose, duplicates possible; exactly-once: neither',
  },
  {
    key: 'team',
    flag: '--team',
    text: 'Protocols the team has run in production (comma list, empty for none)?',
    choices: TEAM_PROTOCOLS,
    help: `any of ${TEAM_PROTOCOLS.join(', ')} (http = REST/SSE, cloud = cloud messaging services)`,
  },
  {
    key: 'managed',
    flag: '--managed',
    text: 'Prefer a managed cloud service to running a broker?',
    choices: yesNo,
    help: 'yes: nobody should operate a broker',
  },
];

/** The default of a question as it is shown and typed. */
export function defaultText(q: Question): string {
  const v = DEFAULT_ANSWERS[q.key];
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.join(',');
  return v;
}

/** A typed answer (prompt or flag) in the shape the schema takes: 'yes' → true, 'a,b' → ['a','b']. */
export function coerceAnswer(q: Question, text: string): unknown {
  const t = text.trim().toLowerCase();
  if (q.key === 'team') {
    return t === '' || t === 'none'
      ? []
      : t
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  }
  if (q.choices === yesNo) {
    if (['yes', 'y', 'true'].includes(t)) return true;
    if (['no', 'n', 'false'].includes(t)) return false;
    return t;
  }
  return t;
}

/** A message naming the field, what was given and what is allowed. */
export function describeIssues(error: z.ZodError, where: string): string {
  return error.issues
    .map((i) => {
      const path = i.path.join('.');
      const q = QUESTIONS.find((x) => x.key === i.path[0]);
      const allowed = q ? ` (allowed: ${q.choices.join(', ')})` : '';
      return `${where}${path === '' ? '' : `: ${path}`}: ${i.message}${allowed}`;
    })
    .join('\n');
}

export class AnswersError extends Error {}

/** Reads a YAML answers file (keys as in the schema: latency, messageSize, ...). */
export function readAnswersFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AnswersError(`cannot read answers file ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text) as unknown;
  } catch (e) {
    throw new AnswersError(`${file}: not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new AnswersError(`${file}: the top level must be a map of answers`);
  }
  // Validated here so an error names the file; merged with flags by the caller.
  const r = answersSchema.partial().safeParse(doc);
  if (!r.success) throw new AnswersError(describeIssues(r.error, file));
  return doc as Record<string, unknown>;
}

/** Defaults ← file ← flags, validated as a whole. */
export function resolveAnswers(
  fromFile: Record<string, unknown>,
  fromFlags: Record<string, unknown>,
): Answers {
  const r = answersSchema.safeParse({ ...fromFile, ...fromFlags });
  if (!r.success) throw new AnswersError(describeIssues(r.error, 'answers'));
  return r.data;
}
