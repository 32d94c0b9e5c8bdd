#!/usr/bin/env node
// Architecture rules that eslint's per-file rules cannot see (DESIGN.md section 8):
// - src/ has no import cycles, type-only imports included (a type cycle is still a coupling);
// - no hand-written file in src/, test/, bench/, scripts/ or examples/ is over 600 lines.
// Exits 1 with one line per finding.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const MAX_LINES = 600;
const GENERATED = /(^|\/)gen\//;
const root = resolve(dirname(new URL(import.meta.url).pathname), '..');

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const findings = [];

for (const top of ['src', 'test', 'bench', 'scripts', 'examples']) {
  let files;
  try {
    files = walk(join(root, top), []);
  } catch {
    continue; // the folder does not exist
  }
  for (const f of files) {
    const rel = relative(root, f);
    if (GENERATED.test(rel)) continue;
    const lines = readFileSync(f, 'utf8').split('\n').length;
    if (lines > MAX_LINES) findings.push(`${rel}: ${lines} lines (at most ${MAX_LINES})`);
  }
}

// Import graph of src/ (relative imports only; `.js` in a specifier names the `.ts` source).
const srcFiles = walk(join(root, 'src'), []).filter(
  (f) => f.endsWith('.ts') && !GENERATED.test(relative(root, f)),
);
const known = new Set(srcFiles);
const edges = new Map();
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g;
for (const f of srcFiles) {
  const text = readFileSync(f, 'utf8');
  const to = new Set();
  for (const m of text.matchAll(IMPORT)) {
    const target = resolve(dirname(f), m[1].replace(/\.js$/, '.ts'));
    if (known.has(target)) to.add(target);
    else if (known.has(join(target, 'index.ts'))) to.add(join(target, 'index.ts'));
  }
  edges.set(f, to);
}

// Tarjan's strongly connected components: each component of more than one file is a cycle.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const cycles = [];
function connect(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!idx.has(w)) {
      connect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) cycles.push(comp);
  }
}
for (const f of srcFiles) if (!idx.has(f)) connect(f);
for (const c of cycles)
  findings.push(
    `import cycle: ${c
      .map((f) => relative(root, f))
      .sort()
      .join(' ↔ ')}`,
  );

if (findings.length > 0) {
  for (const f of findings) console.error(f);
  process.exit(1);
}
console.log(
  `architecture: ${srcFiles.length} modules in src/, no import cycles, no file over ${MAX_LINES} lines`,
);
