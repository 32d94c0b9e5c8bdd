/**
 * Renders the rules table (rules.ts) and the questions (answers.ts) into docs/advise.md between
 * markers, so the documented rules are the rules the advisor applies. A test checks the file is
 * current; `node --import tsx src/cli/advise/docs.ts` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultText, QUESTIONS } from './answers.js';
import { answersSchema } from './answers.js';
import { CONSTRAINTS, CRITERIA, OPTION_INFO, OPTIONS } from './rules.js';
import { SCENARIOS } from './scenarios.js';
import { answerText, recommend } from './score.js';

export const DOC_PATH = 'docs/advise.md';
const START =
  '<!-- advise-rules:start (generated from src/cli/advise/rules.ts and answers.ts: do not edit by hand) -->';
const END = '<!-- advise-rules:end -->';

const cellText = (w: number | undefined): string =>
  w === undefined || w === 0 ? '' : w > 0 ? `+${w}` : String(w);
const escapePipes = (s: string): string => s.replaceAll('|', '\\|');

export function generatedSection(): string {
  const out: string[] = [START, '', '### Questions', ''];
  out.push('| flag | answers-file key | choices | default | meaning |', '| --- | --- | --- | --- | --- |');
  for (const q of QUESTIONS) {
    const boolean = q.choices.length === 2 && q.choices[0] === 'yes';
    const flag = boolean ? `\`${q.flag}\` / \`--no-${q.flag.slice(2)}\`` : `\`${q.flag}\``;
    const choices = boolean ? '`true`, `false`' : q.choices.map((c) => `\`${c}\``).join(', ');
    const def = boolean ? String(defaultText(q) === 'yes') : defaultText(q);
    out.push(
      `| ${flag} | \`${q.key}\` | ${choices} | ${def === '' ? '(none)' : `\`${def}\``} | ${escapePipes(q.text)} ${escapePipes(q.help)} |`,
    );
  }
  out.push('', '### Weights', '');
  out.push(`| criterion | answer | ${OPTIONS.map((o) => OPTION_INFO[o].short).join(' | ')} |`);
  out.push(`| --- | --- | ${OPTIONS.map(() => '---').join(' | ')} |`);
  for (const c of CRITERIA) {
    for (const [answer, cells] of Object.entries(c.cases)) {
      if (Object.keys(cells).length === 0) continue;
      out.push(
        `| ${c.title} | \`${answer}\` | ${OPTIONS.map((o) => cellText(cells[o]?.weight)).join(' | ')} |`,
      );
    }
  }
  out.push('', '### Reasons', '');
  for (const c of CRITERIA) {
    out.push(`**${c.title}** (\`${c.key}\`)`, '');
    for (const [answer, cells] of Object.entries(c.cases)) {
      const parts = OPTIONS.filter((o) => cells[o] !== undefined).map(
        (o) => `${OPTION_INFO[o].name} ${cellText(cells[o]!.weight) || '0'}: ${cells[o]!.reason}`,
      );
      if (parts.length === 0) continue;
      out.push(`- \`${answer}\`: ${parts.join(' ')}`);
    }
    out.push('');
  }
  out.push(
    '### Hard rules',
    '',
    'Applied after the sum, in this order; the first rule that pins an option puts it first.',
    '',
  );
  for (const k of CONSTRAINTS) out.push(`- \`${k.id}\`: ${k.doc}`);
  out.push(
    '',
    '### Standard scenarios',
    '',
    'Checked by the unit tests (src/cli/advise/score.test.ts); the other answers are the defaults.',
    '',
  );
  out.push('| scenario | answers | 1st | 2nd | 3rd |', '| --- | --- | --- | --- | --- |');
  for (const s of SCENARIOS) {
    const ranking = recommend(answersSchema.parse(s.answers)).ranking.slice(0, 3);
    const given = Object.entries(s.answers)
      .map(([k, v]) => `${k}: ${answerText(v)}`)
      .join(', ');
    out.push(
      `| ${s.name} | ${given} | ${ranking.map((r) => `${OPTION_INFO[r.option].short} (${r.score})`).join(' | ')} |`,
    );
  }
  out.push('', END);
  return out.join('\n');
}

/** The document with its generated section replaced by the current one. */
export function currentDoc(text: string): string {
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${DOC_PATH}: generated-section markers missing`);
  return text.slice(0, a) + generatedSection() + text.slice(b + END.length);
}

if (process.argv[1]?.endsWith('advise/docs.ts')) {
  const path = join(import.meta.dirname, '..', '..', '..', DOC_PATH);
  writeFileSync(path, currentDoc(readFileSync(path, 'utf8')));
  process.stdout.write(`wrote ${DOC_PATH}\n`);
}
