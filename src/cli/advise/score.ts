/**
 * Scoring: the weighted sum of the rules table, adjusted by measured figures when a bench file is
 * given, then the hard constraints (pins and caveats). Every weight keeps its reason.
 */
import type { Answers } from './answers.js';
import type { Measured } from './bench-file.js';
import {
  CONSTRAINTS,
  CRITERIA,
  type Cell,
  type Criterion,
  OPTION_INFO,
  OPTIONS,
  type OptionId,
} from './rules.js';

export interface CriterionOutcome {
  readonly key: Criterion['key'];
  readonly title: string;
  /** The answer as a user typed it. */
  readonly answer: string;
  readonly cells: Readonly<Record<OptionId, Cell>>;
  /** False when every option got the same weight: the answer changed nothing. */
  readonly moved: boolean;
}

export interface Ranked {
  readonly option: OptionId;
  readonly name: string;
  readonly score: number;
  readonly served: boolean;
  /** The constraint that put it first, if one did. */
  readonly pinnedBy?: string;
  readonly caveats: readonly string[];
}

export interface Recommendation {
  readonly ranking: readonly Ranked[];
  readonly criteria: readonly CriterionOutcome[];
  /** Constraints that applied, by id. */
  readonly constraints: readonly string[];
  /** Sentences quoting the measured figures that changed weights. */
  readonly measured: readonly string[];
  /** The first option Switchyard serves: the one the config and snippet are for. */
  readonly switchyardChoice: OptionId;
}

export function answerText(v: Answers[keyof Answers]): string {
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(',');
  return v;
}

function cellsFor(criterion: Criterion, answers: Answers): Record<OptionId, Cell> {
  const value = answers[criterion.key];
  // `team` names several protocols: their cases add up.
  const keys = Array.isArray(value) ? value : [answerText(value)];
  const out = {} as Record<OptionId, Cell>;
  for (const o of OPTIONS) {
    let weight = 0;
    const reasons: string[] = [];
    for (const k of keys) {
      const cell = criterion.cases[k]?.[o];
      if (cell === undefined) continue;
      weight += cell.weight;
      reasons.push(cell.reason);
    }
    out[o] = { weight, reason: reasons.length === 0 ? 'no effect.' : reasons.join(' ') };
  }
  return out;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Message sizes the answers stand for, to pick the nearest measured size. */
const SIZE_BYTES = { small: 1024, medium: 16_384, large: 262_144 } as const;

/** Which measured protocol stands for an option, for streaming/pub-sub and for request/response. */
function benchProtocolFor(option: OptionId, answers: Answers, rpc: boolean): readonly string[] {
  if (rpc) return option === 'grpc' ? ['rpc-grpc'] : option === 'sse' ? ['rpc-rest'] : [];
  switch (option) {
    case 'grpc':
      return ['grpc-session', 'grpc-unary'];
    case 'amqp':
      return ['amqp'];
    case 'mqtt': {
      const qos = { 'at-most-once': 0, 'at-least-once': 1, 'exactly-once': 2 }[answers.guarantee];
      return [`mqtt-qos${qos}`, 'mqtt-qos1', 'mqtt-qos0', 'mqtt-qos2'];
    }
    case 'websocket':
      return ['ws'];
    case 'sse':
      return ['http-sse'];
    default:
      return [];
  }
}

/** What `medium` asks for: measured figures beyond it earn nothing more. */
const MEDIUM_LATENCY_P99_US = 10_000;
const MEDIUM_THROUGHPUT = 10_000;

const RPC_NAMES: Partial<Record<OptionId, string>> = { grpc: 'gRPC', sse: 'REST/JSON via the gateway' };

/**
 * Scales each option's positive weight on a criterion by how it measured against the best
 * (best/own for latency, own/best for throughput): a protocol 3x slower keeps a third.
 * Returns the sentence quoting the figures, or undefined when too little was measured.
 */
function applyMeasured(
  cells: Record<OptionId, Cell>,
  answers: Answers,
  measured: ReadonlyMap<string, Measured>,
  kind: 'latency' | 'throughput' | 'rpc',
): string | undefined {
  const figures: { option: OptionId; value: number; m: Measured }[] = [];
  for (const o of OPTIONS) {
    for (const p of benchProtocolFor(o, answers, kind === 'rpc')) {
      const m = measured.get(p);
      const value = kind === 'throughput' ? m?.msgs_per_s : m?.p99_us;
      if (m !== undefined && value !== undefined && value > 0) {
        figures.push({ option: o, value, m });
        break;
      }
    }
  }
  if (figures.length < 2) return undefined;
  const lowerIsBetter = kind !== 'throughput';
  figures.sort((a, b) => (lowerIsBetter ? a.value - b.value : b.value - a.value));
  const best = figures[0]!;
  const name = (o: OptionId) => (kind === 'rpc' ? RPC_NAMES[o]! : OPTION_INFO[o].name);
  // A moderate target is met or missed, not a race: only falling short of it costs weight.
  const target =
    kind === 'latency' && answers.latency === 'medium'
      ? MEDIUM_LATENCY_P99_US
      : kind === 'throughput' && answers.throughput === 'medium'
        ? MEDIUM_THROUGHPUT
        : undefined;
  for (const f of figures) {
    const against = target ?? best.value;
    const factor = Math.min(1, lowerIsBetter ? against / f.value : f.value / against);
    const cell = cells[f.option];
    const unit = kind === 'throughput' ? `${fmt(f.value)} msg/s` : `p99 ${fmt(f.value)} µs`;
    const relative =
      target !== undefined
        ? factor >= 1
          ? `meets the ${lowerIsBetter ? `${fmt(target)} µs p99` : `${fmt(target)} msg/s`} target`
          : `misses the ${lowerIsBetter ? `${fmt(target)} µs p99` : `${fmt(target)} msg/s`} target`
        : f === best
          ? 'the best measured'
          : `${(lowerIsBetter ? f.value / best.value : best.value / f.value).toFixed(1)}x ${lowerIsBetter ? 'slower' : 'less'} than ${name(best.option)}`;
    const weight = cell.weight > 0 ? round1(cell.weight * factor) : cell.weight;
    cells[f.option] = {
      weight,
      reason: `${cell.reason} Measured on this machine (${f.m.protocol}): ${unit}, ${relative}.`,
    };
  }
  const list = figures.map((f) =>
    kind === 'throughput'
      ? `${name(f.option)} ${fmt(f.value)} msg/s`
      : `${name(f.option)} p99 ${fmt(f.value)} µs${f.m.p50_us === undefined ? '' : ` (p50 ${fmt(f.m.p50_us)})`}`,
  );
  const what = { latency: 'Latency', throughput: 'Throughput', rpc: 'Request/response latency' }[kind];
  return `${what} on this machine: ${list.join(' vs ')}.`;
}

export function sizeForAnswers(answers: Answers): number {
  return SIZE_BYTES[answers.messageSize];
}

/** Ranks every option for the answers; `measured` (from a bench file) replaces generic figures. */
export function recommend(answers: Answers, measured?: ReadonlyMap<string, Measured>): Recommendation {
  const quotes: string[] = [];
  const outcomes: CriterionOutcome[] = CRITERIA.map((criterion) => {
    const cells = cellsFor(criterion, answers);
    if (measured !== undefined) {
      const kind =
        criterion.key === 'latency' && answers.latency !== 'high'
          ? 'latency'
          : criterion.key === 'throughput' && answers.throughput !== 'low'
            ? 'throughput'
            : criterion.key === 'rpc' && answers.rpc
              ? 'rpc'
              : undefined;
      const quote = kind === undefined ? undefined : applyMeasured(cells, answers, measured, kind);
      if (quote !== undefined) quotes.push(quote);
    }
    const weights = OPTIONS.map((o) => cells[o].weight);
    return {
      key: criterion.key,
      title: criterion.title,
      answer: answerText(answers[criterion.key]),
      cells,
      moved: weights.some((w) => w !== weights[0]),
    };
  });

  const totals = new Map<OptionId, number>(
    OPTIONS.map((o) => [o, round1(outcomes.reduce((s, c) => s + c.cells[o].weight, 0))]),
  );
  const byScore = [...OPTIONS].sort(
    (a, b) => totals.get(b)! - totals.get(a)! || OPTIONS.indexOf(a) - OPTIONS.indexOf(b),
  );

  const applied = CONSTRAINTS.filter((k) => k.when(answers));
  const pins: { option: OptionId; by: string }[] = [];
  for (const k of applied) {
    if (k.pin !== undefined && !pins.some((p) => p.option === k.pin)) pins.push({ option: k.pin, by: k.id });
  }
  const order = [...pins.map((p) => p.option), ...byScore.filter((o) => !pins.some((p) => p.option === o))];
  const ranking: Ranked[] = order.map((o) => {
    const pin = pins.find((p) => p.option === o);
    const r = {
      option: o,
      name: OPTION_INFO[o].name,
      score: totals.get(o)!,
      served: OPTION_INFO[o].served,
      caveats: applied.filter((k) => k.caveat?.option === o).map((k) => k.caveat!.text),
    };
    return pin === undefined ? r : { ...r, pinnedBy: pin.by };
  });
  return {
    ranking,
    criteria: outcomes,
    constraints: applied.map((k) => k.id),
    measured: quotes,
    switchyardChoice: ranking.find((r) => r.served)!.option,
  };
}
