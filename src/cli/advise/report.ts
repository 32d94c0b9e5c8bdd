/**
 * The advice as data (the JSON output) and its text and Markdown renderings.
 */
import type { Answers } from './answers.js';
import { OPTION_INFO, OPTIONS, type OptionId } from './rules.js';
import type { Ranked, Recommendation } from './score.js';
import { clientSnippet, configYaml, type ServedOption, type Snippet } from './snippets.js';

export type AnswersSource = 'flags' | 'file' | 'prompt' | 'defaults';

export interface CriterionReason {
  readonly criterion: string;
  readonly title: string;
  readonly answer: string;
  /** The winner's weight and reason on this criterion. */
  readonly weight: number;
  readonly reason: string;
  readonly weights: Readonly<Record<OptionId, number>>;
}

export interface Advice {
  readonly answers: Answers;
  readonly answersSource: AnswersSource;
  readonly recommendation: OptionId;
  readonly ranking: readonly Ranked[];
  /** Criteria that weighed any of the top three, from the winner's view. */
  readonly reasons: readonly CriterionReason[];
  readonly constraints: readonly string[];
  readonly tradeoffs: readonly string[];
  /** For a winner Switchyard does not serve: where to get it. */
  readonly elsewhere?: string;
  readonly measured: readonly string[];
  readonly switchyard: {
    readonly option: OptionId;
    readonly config: string;
    readonly snippet: Snippet;
  };
  readonly notes: readonly string[];
}

export function buildAdvice(
  answers: Answers,
  source: AnswersSource,
  rec: Recommendation,
  notes: readonly string[],
): Advice {
  const winner = rec.ranking[0]!;
  // The criteria that weighed the winner or separated the top three; the rest decided nothing shown.
  const top3 = rec.ranking.slice(0, 3).map((r) => r.option);
  const reasons = rec.criteria
    .filter((c) => top3.some((o) => c.cells[o].weight !== 0))
    .map((c) => {
      const own = c.cells[winner.option];
      // A criterion that moved others but not the winner: say whom it moved, and why.
      const strongest = top3.reduce((a, b) =>
        Math.abs(c.cells[b].weight) > Math.abs(c.cells[a].weight) ? b : a,
      );
      const reason =
        own.weight !== 0
          ? own.reason
          : `no weight for ${winner.name}; ${OPTION_INFO[strongest].name} ${signed(c.cells[strongest].weight)}: ${c.cells[strongest].reason}`;
      return {
        criterion: c.key,
        title: c.title,
        answer: c.answer,
        weight: own.weight,
        reason,
        weights: Object.fromEntries(OPTIONS.map((o) => [o, c.cells[o].weight])) as Record<OptionId, number>,
      };
    });
  const choice = rec.switchyardChoice as ServedOption;
  const info = OPTION_INFO[winner.option];
  const extraNotes = [...notes];
  if (!winner.served) {
    extraNotes.push(
      `${info.name} ranks first and Switchyard does not provide it; the config and snippet below are for ${OPTION_INFO[choice].name}, the best option Switchyard serves${winner.option === 'managed' ? ' (for local development or self-hosting)' : ' (beside the log, for the other clients)'}.`,
    );
  }
  const advice = {
    answers,
    answersSource: source,
    recommendation: winner.option,
    ranking: rec.ranking,
    reasons,
    constraints: rec.constraints,
    tradeoffs: [...winner.caveats, ...info.pitfalls],
    measured: rec.measured,
    switchyard: {
      option: choice,
      config: configYaml(choice, answers),
      snippet: clientSnippet(choice, answers),
    },
    notes: extraNotes,
  };
  return info.elsewhere === undefined ? advice : { ...advice, elsewhere: info.elsewhere };
}

const signed = (w: number): string => (w > 0 ? `+${w}` : String(w));

export function renderText(a: Advice): string {
  const out: string[] = [];
  for (const n of a.notes) out.push(`note: ${n}`);
  if (a.notes.length > 0) out.push('');
  const top = a.ranking[0]!;
  out.push(
    `Recommendation: ${top.name}${top.pinnedBy === undefined ? '' : ` (ranked first by rule ${top.pinnedBy})`}`,
  );
  if (a.elsewhere !== undefined) out.push(`  Where to get it: ${a.elsewhere}`);
  out.push('', 'Ranking (top 3):');
  a.ranking.slice(0, 3).forEach((r, i) => {
    out.push(
      `  ${i + 1}. ${r.name.padEnd(32)} score ${String(r.score).padStart(5)}${r.pinnedBy ? `  (pinned: ${r.pinnedBy})` : ''}`,
    );
  });
  out.push(
    '',
    `Why, criterion by criterion (${top.name}'s weight; answers that weighed none of the top three are left out):`,
  );
  for (const r of a.reasons) {
    out.push(`  ${r.title} = ${r.answer}: ${signed(r.weight)}  ${r.reason}`);
  }
  if (a.measured.length > 0) {
    out.push('', 'Measured on this machine (from --bench):');
    for (const m of a.measured) out.push(`  ${m}`);
  }
  out.push('', `Trade-offs and pitfalls of ${top.name}:`);
  for (const t of a.tradeoffs) out.push(`  - ${t}`);
  out.push(
    '',
    `Switchyard config for ${OPTION_INFO[a.switchyard.option].name} (switchyard.yaml):`,
    '',
    indent(a.switchyard.config),
    `Client (${a.switchyard.snippet.client}):`,
    '',
    indent(a.switchyard.snippet.code),
  );
  return `${out.join('\n')}\n`;
}

function indent(block: string): string {
  return block
    .split('\n')
    .map((l) => (l === '' ? '' : `    ${l}`))
    .join('\n');
}

export function renderMarkdown(a: Advice): string {
  const top = a.ranking[0]!;
  const out: string[] = ['# Protocol advice', ''];
  for (const n of a.notes) out.push(`> ${n}`, '');
  out.push(
    `**Recommendation: ${top.name}**${top.pinnedBy === undefined ? '' : ` (ranked first by rule \`${top.pinnedBy}\`)`}`,
    '',
  );
  if (a.elsewhere !== undefined) out.push(`Where to get it: ${a.elsewhere}`, '');
  out.push('| rank | option | score |', '| --- | --- | --- |');
  a.ranking.slice(0, 3).forEach((r, i) => {
    out.push(`| ${i + 1} | ${r.name} | ${r.score}${r.pinnedBy ? ` (pinned: ${r.pinnedBy})` : ''} |`);
  });
  out.push(
    '',
    '## Why',
    '',
    `| criterion | answer | weight for ${top.name} | reason |`,
    '| --- | --- | --- | --- |',
  );
  for (const r of a.reasons) out.push(`| ${r.title} | ${r.answer} | ${signed(r.weight)} | ${r.reason} |`);
  if (a.measured.length > 0) {
    out.push('', '## Measured on this machine', '');
    for (const m of a.measured) out.push(`- ${m}`);
  }
  out.push('', '## Trade-offs and pitfalls', '');
  for (const t of a.tradeoffs) out.push(`- ${t}`);
  out.push(
    '',
    `## Switchyard config for ${OPTION_INFO[a.switchyard.option].name}`,
    '',
    '```yaml',
    a.switchyard.config.trimEnd(),
    '```',
    '',
    `## Client (${a.switchyard.snippet.client})`,
    '',
    `\`\`\`${a.switchyard.snippet.language}`,
    a.switchyard.snippet.code.trimEnd(),
    '```',
    '',
  );
  return out.join('\n');
}
