/**
 * docs/benchmarks.md is written by several scripts. bench/amqp-vs-rabbitmq.ts owns the file's
 * intro, its latest AMQP results and "History"; each other writer owns one section between
 * markers, <!-- NAME:start --> ... <!-- NAME:end -->, which the AMQP runner keeps verbatim when it
 * rewrites the file, and which its owner replaces in place:
 *   durability  bench/backlog.ts and bench/confirm-fsync.ts (a list of runs, newest first)
 *   mqtt        bench/mqtt-vs-mosquitto.ts
 *   sse         bench/sse-connections.ts
 *   protocols, gateway, tls, structure  tables of `switchyard bench` runs, kept by hand
 *   slow-consumer  bench/slow-consumer.ts
 * Raw runs are not kept in git: the sections are tables with their date, command and peer figures.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { DOCS_FILE } from './paths.js';

/** Owned sections, in the order the AMQP runner puts them (after its latest results). */
const OWNED_SECTIONS = [
  'durability',
  'mqtt',
  'protocols',
  'sse',
  'gateway',
  'slow-consumer',
  'structure',
  'tls',
] as const;
export type OwnedSection = (typeof OWNED_SECTIONS)[number];

const startMark = (name: string) => `<!-- ${name}:start -->`;
const endMark = (name: string) => `<!-- ${name}:end -->`;

function readDoc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/** [start, end) of a section, markers included, or null. */
function findSection(doc: string, name: string): [number, number] | null {
  const s = doc.indexOf(startMark(name));
  if (s < 0) return null;
  const e = doc.indexOf(endMark(name), s);
  return e < 0 ? null : [s, e + endMark(name).length];
}

/** The text between a section's markers (trimmed), or null when the file has none. */
export function readSection(name: OwnedSection, file = DOCS_FILE): string | null {
  const doc = readDoc(file);
  const at = findSection(doc, name);
  return at === null ? null : doc.slice(at[0] + startMark(name).length, at[1] - endMark(name).length).trim();
}

/** The owned sections taken out of `doc`: the rest, and each section's text with its markers. */
export function takeOwnedSections(doc: string): { rest: string; sections: string[] } {
  let rest = doc;
  const sections: string[] = [];
  for (const name of OWNED_SECTIONS) {
    const at = findSection(rest, name);
    if (at === null) continue;
    sections.push(rest.slice(at[0], at[1]));
    rest = rest.slice(0, at[0]) + rest.slice(at[1]);
  }
  return { rest, sections };
}

/** Writes section `name`: in place of the old one, else before "## History", else at the end. */
export function putSection(name: OwnedSection, body: string, file = DOCS_FILE): void {
  const doc = readDoc(file);
  const text = `${startMark(name)}\n${body.trim()}\n\n${endMark(name)}`;
  const at = findSection(doc, name);
  let out: string;
  if (at !== null) out = doc.slice(0, at[0]) + text + doc.slice(at[1]);
  else {
    const h = doc.indexOf('\n## History');
    out = h >= 0 ? `${doc.slice(0, h + 1)}${text}\n\n${doc.slice(h + 1)}` : `${doc.trimEnd()}\n\n${text}\n`;
  }
  writeFileSync(file, out);
}

// ---------------------------------------------------------------- the AMQP runner's part

const RUN_START = /<!-- bench-run:start (\S+) -->/;
const RUN_END = '<!-- bench-run:end -->';

/**
 * Rewrites the file as `intro`, the new run block, the owned sections as they are, and "History":
 * the earlier run blocks, newest first.
 */
export function putLatestRun(intro: string, id: string, section: string, file = DOCS_FILE): void {
  const { rest, sections } = takeOwnedSections(readDoc(file));
  const blocks: string[] = [];
  let cur: string[] | null = null;
  for (const l of rest.split('\n')) {
    if (RUN_START.test(l)) cur = [l];
    else if (cur !== null && l.trim() === RUN_END) {
      cur.push(l);
      blocks.push(cur.join('\n'));
      cur = null;
    } else cur?.push(l);
  }
  const block = `<!-- bench-run:start ${id} -->\n${section.trim()}\n${RUN_END}`;
  const doc = [
    intro.trimEnd(),
    '',
    block,
    '',
    ...sections.flatMap((s) => [s, '']),
    '## History',
    '',
    blocks.length > 0 ? blocks.join('\n\n') : 'No earlier runs.',
    '',
  ].join('\n');
  writeFileSync(file, doc);
}

// ---------------------------------------------------------------- the "Durability" section

const DURABILITY_RUN = /<!-- durability-run:start (\S+) (\S+) -->\n([\s\S]*?)\n<!-- durability-run:end -->/g;

export type DurabilityKind = 'backlog' | 'recovery' | 'confirm-fsync';

/** Kinds of run, in the order their latest runs are shown. */
const KINDS: readonly [DurabilityKind, string][] = [
  ['backlog', '### Latest backlog run'],
  ['recovery', '### Latest recovery run'],
  ['confirm-fsync', '### Latest confirm-after-fsync check'],
];

const DURABILITY_INTRO = `## Durability

<!-- Written by bench/backlog.ts and bench/confirm-fsync.ts; bench/amqp-vs-rabbitmq.ts keeps this
section as it is. The newest run of each kind is shown first; earlier runs follow. -->

Persistent messages (deliveryMode 2) in durable queues go to Switchyard's segment log (group commit,
\`fdatasync\` before the confirm); a durable queue keeps a bounded window of ready messages in memory
(\`PAGE_WINDOW\` / \`PAGE_BYTES\` in src/core/queue.ts; each run below gives the values it ran with)
and pages the rest out (read back by id). The 10 s harness runs above never build a large backlog,
so these scripts measure that path:

- **Backlog** (\`npm run bench:backlog\`): one Switchyard on a fresh data dir; 4 publisher connections,
  each with a ConfirmChannel and at most 512 unconfirmed, publish 2,000,000 persistent 1 KiB messages
  to one durable queue with no consumer. Every second: confirms so far, the rate over that second,
  the broker's RSS (\`/proc/PID/status\` VmRSS; the peak is VmHWM), its CPU, the other jobs' CPU, the
  data dir's size. Then SIGTERM, a restart on the same data dir (the recovery time the broker
  prints, time to "ready", RSS), and a consumer drains the first 100,000 messages and checks each
  publisher's sequence numbers (in order, no gaps).
- **Recovery** (\`npm run bench:backlog -- --recovery-only\`): 1,000,000 persistent 1 KiB messages
  written the same way, then restarts with the segment files in the page cache (warm) and evicted
  from it (cold).
- **Confirm after fsync** (\`npm run bench:confirm-fsync\`): the broker runs under \`strace -f\`, which
  records every segment write, \`fdatasync\`/\`fsync\` and socket write with its bytes; the script
  decodes each basic.ack (publisher confirm) the broker writes and checks that the message it
  confirms was in a segment write that had completed before an \`fdatasync\` of that segment file
  began, and that this \`fdatasync\` had returned before the confirm was written.

Targets: a backlog of 2,000,000 persistent 1 KiB messages keeps the broker under 1 GiB RSS, and the
publish rate over the last 10% of the messages is at least 2/3 of the rate over the first 10%;
recovery of 1,000,000 messages takes at most 5 s; every confirm is sent after the fsync of its
message. Runs dated 2026-11 were made by bench/backlog.mjs and bench/confirm-fsync.mjs, which these
scripts replaced with the same workloads; their commands are shown in today's form.

\`\`\`sh
npm run bench:backlog                          # backlog: 2,000,000 x 1 KiB (stops at --max-seconds 600), restart, drain 100,000
npm run bench:backlog -- --recovery-only       # recovery of 1,000,000 x 1 KiB: 3 warm + 3 cold restarts
npm run bench:backlog -- --quick               # smoke run (100,000 messages), docs untouched
npm run bench:confirm-fsync                    # confirm-after-fsync check under strace
npm run bench:backlog -- --help; npm run bench:confirm-fsync -- --help
\`\`\``;

/** Adds a run block of `kind` (markdown; `id` an ISO date, for the order) to the Durability section. */
export function addDurabilityRun(kind: DurabilityKind, id: string, section: string, file = DOCS_FILE): void {
  const runs: { kind: string; id: string; text: string }[] = [];
  for (const m of (readSection('durability', file) ?? '').matchAll(DURABILITY_RUN))
    runs.push({ kind: m[1]!, id: m[2]!, text: m[3]! });
  runs.push({ kind, id, text: section.trim() });
  runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const block = (r: (typeof runs)[number]) =>
    `<!-- durability-run:start ${r.kind} ${r.id} -->\n${r.text}\n<!-- durability-run:end -->`;
  const latest = new Set<(typeof runs)[number]>();
  const parts = [DURABILITY_INTRO, ''];
  for (const [k, title] of KINDS) {
    const r = runs.find((x) => x.kind === k);
    if (r === undefined) continue;
    latest.add(r);
    parts.push(title, '', block(r), '');
  }
  const earlier = runs.filter((r) => !latest.has(r));
  if (earlier.length > 0)
    parts.push('### Earlier durability runs', '', ...earlier.flatMap((r) => [block(r), '']));
  putSection('durability', parts.join('\n'), file);
}
