/**
 * The interactive checklist: one question per line, its choices and default shown, Enter takes
 * the default, a wrong answer is asked again. Streams are injected so tests drive it without a TTY.
 */
import { createInterface } from 'node:readline/promises';
import { answersSchema, type Answers, coerceAnswer, defaultText, QUESTIONS } from './answers.js';

/** A question asked this many times without a valid answer takes its default. */
const MAX_ATTEMPTS = 3;

export async function promptAnswers(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<Answers> {
  const rl = createInterface({ input, output, terminal: false });
  // Created before the first question: lines that arrive early are buffered, not lost.
  const lines = rl[Symbol.asyncIterator]();
  const raw: Record<string, unknown> = {};
  try {
    for (const q of QUESTIONS) {
      const def = defaultText(q);
      const shape = answersSchema.shape[q.key];
      for (let attempt = 1; ; attempt++) {
        output.write(`${q.text} [${q.choices.join('/')}] (${def === '' ? 'none' : def}): `);
        const next = await lines.next();
        // End of input: every remaining question takes its default.
        if (next.done === true) {
          output.write('\n');
          return answersSchema.parse(raw);
        }
        const text = next.value.trim();
        if (text === '') break;
        const parsed = shape.safeParse(coerceAnswer(q, text));
        if (parsed.success) {
          raw[q.key] = parsed.data;
          break;
        }
        if (attempt >= MAX_ATTEMPTS) {
          output.write(`  taking the default, ${def === '' ? 'none' : def}\n`);
          break;
        }
        output.write(
          `  please answer one of: ${q.choices.join(', ')}${q.key === 'team' ? ' (comma list)' : ''}\n`,
        );
      }
    }
    return answersSchema.parse(raw);
  } finally {
    rl.close();
  }
}
