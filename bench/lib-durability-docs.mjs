// Not a script. The "Durability" section of docs/benchmarks.md, shared by bench/backlog.mjs and
// bench/confirm-fsync.mjs. bench/run.mjs keeps the section (between the markers) as it is when it
// rewrites the file. Each run is a block; the newest block of each kind is shown as the latest,
// older ones follow under "Earlier durability runs", newest first.
import { readFileSync, writeFileSync } from 'node:fs';

const DUR_START = '<!-- durability:start -->';
const DUR_END = '<!-- durability:end -->';
const RUN_RE = /<!-- durability-run:start (\S+) (\S+) -->\n([\s\S]*?)\n<!-- durability-run:end -->/g;

/** Kinds of run, in the order their latest runs are shown. */
const KINDS = [
  ['backlog', '### Latest backlog run'],
  ['recovery', '### Latest recovery run'],
  ['confirm-fsync', '### Latest confirm-after-fsync check'],
];

function intro() {
  return `## Durability

<!-- Written by bench/backlog.mjs and bench/confirm-fsync.mjs; bench/run.mjs keeps this section as it
is. The newest run of each kind is shown first; earlier runs follow. -->

Persistent messages (deliveryMode 2) in durable queues go to Switchyard's segment log (group commit,
\`fdatasync\` before the confirm); a durable queue keeps a bounded window of ready messages in memory
(\`PAGE_WINDOW\` / \`PAGE_BYTES\` in src/core/queue.ts; each run below gives the values it ran with)
and pages the rest out (read back by id). The 10 s harness runs above never build a large backlog,
so these scripts measure that path:

- **Backlog** (\`bench/backlog.mjs\`): one Switchyard on a fresh data dir; 4 publisher connections,
  each with a ConfirmChannel and at most 512 unconfirmed, publish 2,000,000 persistent 1 KiB messages
  to one durable queue with no consumer. Every second: confirms so far, the rate over that second,
  the broker's RSS (\`/proc/PID/status\` VmRSS; the peak is VmHWM), its CPU, the other jobs' CPU, the
  data dir's size. Then SIGTERM, a restart on the same data dir (the recovery time the broker
  prints, time to "ready", RSS), and a consumer drains the first 100,000 messages and checks each
  publisher's sequence numbers (in order, no gaps).
- **Recovery** (\`bench/backlog.mjs --recovery-only\`): 1,000,000 persistent 1 KiB messages written
  the same way, then restarts with the segment files in the page cache (warm) and evicted from it
  (cold).
- **Confirm after fsync** (\`bench/confirm-fsync.mjs\`): the broker runs under \`strace -f\`, which
  records every segment write, \`fdatasync\`/\`fsync\` and socket write with its bytes; the script
  decodes each basic.ack (publisher confirm) the broker writes and checks that the message it
  confirms was in a segment write that had completed before an \`fdatasync\` of that segment file
  began, and that this \`fdatasync\` had returned before the confirm was written.

Targets: a backlog of 2,000,000 persistent 1 KiB messages keeps the broker under 1 GiB RSS, and the
publish rate over the last 10% of the messages is at least 2/3 of the rate over the first 10%;
recovery of 1,000,000 messages takes at most 5 s; every confirm is sent after the fsync of its
message.

\`\`\`sh
node bench/backlog.mjs                      # backlog: 2,000,000 x 1 KiB (stops at --max-seconds 600), restart, drain 100,000
node bench/backlog.mjs --recovery-only      # recovery of 1,000,000 x 1 KiB: 3 warm + 3 cold restarts
node bench/backlog.mjs --quick              # smoke run (100,000 messages), docs untouched
node bench/confirm-fsync.mjs                # confirm-after-fsync check under strace
node bench/backlog.mjs --help; node bench/confirm-fsync.mjs --help
\`\`\``;
}

/** Adds a run block (markdown `section`) of `kind` with sortable `id` (an ISO date) to the file. */
export function updateDurabilityDocs(docsFile, kind, id, section) {
  let doc = '';
  try {
    doc = readFileSync(docsFile, 'utf8');
  } catch {}
  let runs = [];
  const ds = doc.indexOf(DUR_START);
  const de = doc.indexOf(DUR_END, ds);
  if (ds >= 0 && de > ds) {
    const old = doc.slice(ds, de);
    for (const m of old.matchAll(RUN_RE)) runs.push({ kind: m[1], id: m[2], text: m[3] });
    doc = `${doc.slice(0, ds)}\u0000${doc.slice(de + DUR_END.length)}`;
  } else {
    // first time: before "## History", else at the end
    const h = doc.indexOf('\n## History');
    doc = h >= 0 ? `${doc.slice(0, h + 1)}\u0000\n\n${doc.slice(h + 1)}` : `${doc.trimEnd()}\n\n\u0000\n`;
  }
  runs.push({ kind, id, text: section.trim() });
  runs = runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const block = (r) =>
    `<!-- durability-run:start ${r.kind} ${r.id} -->\n${r.text}\n<!-- durability-run:end -->`;
  const latest = [];
  const parts = [DUR_START, intro(), ''];
  for (const [k, title] of KINDS) {
    const r = runs.find((x) => x.kind === k);
    if (!r) continue;
    latest.push(r);
    parts.push(title, '', block(r), '');
  }
  const earlier = runs.filter((r) => !latest.includes(r));
  if (earlier.length) {
    parts.push('### Earlier durability runs', '');
    for (const r of earlier) parts.push(block(r), '');
  }
  parts.push(DUR_END);
  const text = parts.join('\n');
  writeFileSync(
    docsFile,
    doc.replace('\u0000', () => text),
  );
}
