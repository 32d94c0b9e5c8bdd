/**
 * `switchyard advise`: the protocol-choice checklist as a recommendation (docs/advise.md).
 * Answers come from flags, a YAML file or prompts on a terminal; `--bench` swaps generic figures
 * for ones measured by `switchyard bench` on this machine.
 */
import { Command, CommanderError, Option } from 'commander';
import {
  type Answers,
  AnswersError,
  coerceAnswer,
  QUESTIONS,
  readAnswersFile,
  resolveAnswers,
} from './answers.js';
import { BenchFileError, measuredFigures, readBenchFile } from './bench-file.js';
import { promptAnswers } from './prompt.js';
import { type AnswersSource, buildAdvice, renderMarkdown, renderText } from './report.js';
import { recommend, sizeForAnswers } from './score.js';

const FORMATS = ['text', 'json', 'markdown'] as const;

function program(): Command {
  const cmd = new Command('switchyard advise')
    .description(
      'Recommend a protocol (gRPC, AMQP, MQTT, WebSocket, HTTP/SSE, a log, a managed broker) from the protocol-choice checklist, with reasons, pitfalls, a Switchyard config and a client snippet. See docs/advise.md.',
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  for (const q of QUESTIONS) {
    if (q.choices.length === 2 && q.choices[0] === 'yes') {
      cmd.addOption(new Option(q.flag, `${q.text} ${q.help}`));
      cmd.addOption(new Option(`--no-${q.flag.slice(2)}`, `answer no (overrides --answers)`).hideHelp());
    } else if (q.key === 'team') {
      cmd.addOption(new Option(`${q.flag} <list>`, `${q.text} ${q.help}`));
    } else {
      cmd.addOption(new Option(`${q.flag} <value>`, `${q.text} ${q.help}`).choices(q.choices));
    }
  }
  return cmd
    .option(
      '--answers <file>',
      'YAML file of answers (keys: latency, throughput, messageSize, ...); flags override it',
    )
    .option(
      '--bench <file>',
      'JSON lines of `switchyard bench --json`: use the figures measured on this machine',
    )
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('text'))
    .option('--no-interactive', 'never prompt, even on a terminal')
    .addHelpText(
      'after',
      '\nEach yes/no flag has a --no-<flag> form, to override an answers file.\nWithout answers: prompts on a terminal, otherwise the defaults (said so on stderr).\nExit codes: 0 advice given, 2 invalid flags, answers or bench file.',
    );
}

interface Opts {
  answers?: string;
  bench?: string;
  format: (typeof FORMATS)[number];
  interactive: boolean;
  [key: string]: unknown;
}

function answersFromFlags(opts: Opts): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const q of QUESTIONS) {
    const v = opts[q.key];
    if (v === undefined) continue;
    out[q.key] = typeof v === 'string' ? coerceAnswer(q, v) : v;
  }
  return out;
}

export async function run(argv: string[]): Promise<void> {
  let opts: Opts;
  try {
    opts = program().parse(argv, { from: 'user' }).opts<Opts>();
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // Commander has already printed the message (or the help).
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 2;
    return;
  }
  try {
    const notes: string[] = [];
    const flags = answersFromFlags(opts);
    const file = opts.answers === undefined ? {} : readAnswersFile(opts.answers);
    let answers: Answers;
    let source: AnswersSource;
    const given = opts.answers !== undefined || Object.keys(flags).length > 0;
    if (given) {
      answers = resolveAnswers(file, flags);
      source = opts.answers === undefined ? 'flags' : 'file';
    } else if (opts.interactive && process.stdin.isTTY === true && process.stderr.isTTY === true) {
      // Prompts go to stderr so that stdout stays the advice alone, ready to redirect.
      process.stderr.write('The protocol-choice checklist: Enter takes the default in parentheses.\n');
      answers = await promptAnswers(process.stdin, process.stderr);
      source = 'prompt';
    } else {
      answers = resolveAnswers({}, {});
      source = 'defaults';
      notes.push(
        'no answers given (flags, --answers FILE or a terminal to ask on): using the defaults. See --help.',
      );
    }
    let measured: ReturnType<typeof measuredFigures> | undefined;
    if (opts.bench !== undefined) {
      const bench = readBenchFile(opts.bench);
      measured = measuredFigures(bench, sizeForAnswers(answers), answers.persistence !== 'none');
      notes.push(
        `figures measured by switchyard bench on ${bench.meta.started} against ${bench.meta.target}${bench.meta.machine?.cpu_model === undefined ? '' : ` (${bench.meta.machine.cpus ?? '?'} x ${bench.meta.machine.cpu_model})`}, from ${opts.bench}.`,
      );
      if (bench.anomalies !== undefined && bench.anomalies.length > 0) {
        notes.push(`the bench run reported anomalies: ${bench.anomalies.join('; ')}`);
      }
    }
    const advice = buildAdvice(answers, source, recommend(answers, measured), notes);
    if (source === 'defaults') process.stderr.write(`switchyard advise: ${notes[0]}\n`);
    if (opts.format === 'json') process.stdout.write(`${JSON.stringify(advice, null, 2)}\n`);
    else process.stdout.write(opts.format === 'markdown' ? renderMarkdown(advice) : renderText(advice));
  } catch (e) {
    if (e instanceof AnswersError || e instanceof BenchFileError) {
      process.stderr.write(`switchyard advise: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}
