/**
 * Mutation fuzzing (DESIGN.md section 7: every parser is fuzzed). Valid frames of every kind are
 * damaged (bytes flipped or overwritten, truncated, extended, shifted) and fed to the parser and the
 * decoders; anything thrown must be a SwitchyardError, so a hostile peer can only ever close its
 * own connection. A seeded PRNG keeps the run deterministic.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HeaderTable, Properties } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { FrameType } from './constants.js';
import { decodeContentHeader, writeContentFrames } from './content.js';
import { decodeFieldArray, decodeFieldTable, decodeTable } from './field-table.js';
import { FrameParser } from './frame-parser.js';
import { type AmqpMethod, METHOD_SPECS, type MethodKind } from './method-specs.js';
import { decodeMethod, writeMethodFrame } from './methods.js';
import { OutBuffer } from './out-buffer.js';
import { decodeProperties, encodeProperties } from './properties.js';

const ITERATIONS = 100_000;

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(0x5eed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
const str = (max: number) => 'abcé.#*-_/'.repeat(30).slice(int(7), int(max) + 7);

/** A uint32 size, then the bytes. */
function sized(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(body.length);
  return Buffer.concat([size, body]);
}
/** One table entry: a one-letter name, the tag, the value bytes. */
function entry(tag: string, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'hex') : value;
  return Buffer.concat([Buffer.from([1]), Buffer.from(tag + tag, 'latin1'), v]);
}

/** Raw table bytes with every tag RabbitMQ reads, including those our encoder never writes. */
const ALL_TAGS_TABLE = sized(
  Buffer.concat([
    entry('t', '01'),
    entry('b', 'ff'),
    entry('B', 'ff'),
    entry('s', 'fffe'),
    entry('u', 'fffe'),
    entry('I', 'fffffffe'),
    entry('i', 'fffffffe'),
    entry('l', 'fffffffffffffffe'),
    entry('L', '7fffffffffffffff'),
    entry('f', '3fc00000'),
    entry('d', '400921fb54442d18'),
    entry('D', '0200003039'),
    entry('S', '000000026869'),
    entry('x', '0000000101'),
    entry('T', '000000005f5e1000'),
    entry('V', ''),
    entry('A', sized(Buffer.from('49000000075674 01'.replace(/ /g, ''), 'hex'))),
    entry('F', sized(entry('V', ''))),
  ]),
);

function randomTable(depth = 0): HeaderTable {
  const t: HeaderTable = {};
  for (let i = int(4); i > 0; i--) {
    const r = int(depth < 2 ? 9 : 7);
    const k = str(8);
    if (r === 0) t[k] = str(20);
    else if (r === 1) t[k] = int(1000) - 500;
    else if (r === 2) t[k] = 2 ** 40 + int(1000);
    else if (r === 3) t[k] = rand();
    else if (r === 4) t[k] = rand() < 0.5;
    else if (r === 5) t[k] = null;
    else if (r === 6) t[k] = new Date(int(2e9) * 1000);
    else if (r === 7) t[k] = randomTable(depth + 1);
    else t[k] = [str(5), int(9), randomTable(depth + 1)];
  }
  return t;
}

function randomMethod(kind: MethodKind): AmqpMethod {
  const spec = METHOD_SPECS[kind];
  const m: Record<string, unknown> = { kind };
  for (const [name, k] of Object.entries(spec.fields)) {
    if (k === 'bit') m[name] = rand() < 0.5;
    else if (k === 'octet') m[name] = int(256);
    else if (k === 'short') m[name] = int(65536);
    else if (k === 'long') m[name] = int(2 ** 32);
    else if (k === 'longlong') m[name] = int(2 ** 53);
    else if (k === 'shortstr' || k === 'longstr') m[name] = str(30);
    else if (k === 'bytes') m[name] = Buffer.from(str(30));
    else if (k === 'table') m[name] = randomTable();
  }
  return m as unknown as AmqpMethod;
}

function randomProperties(): Properties {
  const p: Properties = {};
  if (rand() < 0.7) p.contentType = str(20);
  if (rand() < 0.3) p.contentEncoding = str(10);
  if (rand() < 0.5) p.headers = randomTable();
  if (rand() < 0.6) p.deliveryMode = 1 + int(2);
  if (rand() < 0.3) p.priority = int(10);
  if (rand() < 0.4) p.correlationId = str(30);
  if (rand() < 0.3) p.replyTo = str(30);
  if (rand() < 0.3) p.expiration = String(int(100000));
  if (rand() < 0.5) p.messageId = str(30);
  if (rand() < 0.3) p.timestamp = int(2e9);
  if (rand() < 0.2) p.type = str(10);
  if (rand() < 0.2) p.userId = str(10);
  if (rand() < 0.2) p.appId = str(10);
  return p;
}

/** The seed corpus: whole frames (header, payload, frame-end) of every kind. */
function corpus(): Buffer[] {
  const out = new OutBuffer();
  const frames: Buffer[] = [];
  const collect = () => {
    const all = Buffer.concat(out.take());
    const p = new FrameParser(0);
    let at = 0;
    p.push(all, (_t, _c, payload) => {
      frames.push(all.subarray(at, at + payload.length + 8));
      at += payload.length + 8;
    });
  };
  for (const kind of Object.keys(METHOD_SPECS) as MethodKind[]) {
    for (let i = 0; i < 4; i++) writeMethodFrame(out, int(3), randomMethod(kind));
  }
  for (let i = 0; i < 40; i++) {
    writeContentFrames(out, 1, 60, encodeProperties(randomProperties()), Buffer.from(str(60)), 4096);
  }
  collect();
  // exchange.declare carrying the all-tags table as its arguments.
  const declare = Buffer.concat([Buffer.from('0028000a0000017805746f70696300', 'hex'), ALL_TAGS_TABLE]);
  const head = Buffer.from([1, 0, 1, 0, 0, 0, 0]);
  head.writeUInt32BE(declare.length, 3);
  frames.push(Buffer.concat([head, declare, Buffer.from([0xce])]));
  return frames;
}

function mutate(src: Buffer): Buffer {
  const b = Buffer.from(src);
  switch (int(6)) {
    case 0: // flip bits in 1-4 bytes
      for (let i = 1 + int(4); i > 0; i--) b[int(b.length)]! ^= 1 << int(8);
      return b;
    case 1: // overwrite 1-4 bytes with interesting values
      for (let i = 1 + int(4); i > 0; i--) b[int(b.length)] = pick([0, 1, 0x7f, 0x80, 0xce, 0xff, int(256)]);
      return b;
    case 2: // truncate
      return b.subarray(0, int(b.length));
    case 3: // extend with random bytes
      return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + int(16) }, () => int(256)))]);
    case 4: {
      // delete or duplicate a byte in the middle (shifts every later field)
      const at = int(b.length);
      return rand() < 0.5
        ? Buffer.concat([b.subarray(0, at), b.subarray(at + 1)])
        : Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1), b.subarray(at)]);
    }
    default: // overwrite a length-like 32-bit word
      if (b.length >= 4)
        b.writeUInt32BE(pick([0, 1, 0x7fffffff, 0xffffffff, int(2 ** 32)]), int(b.length - 3));
      return b;
  }
}

function onlySwitchyardErrors(fn: () => void, what: () => string): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (!(e instanceof SwitchyardError)) assert.fail(`${what()}: threw ${String(e)}`);
    return false;
  }
}

function decodeFrame(type: number, payload: Buffer): void {
  if (type === FrameType.METHOD) decodeMethod(payload);
  else if (type === FrameType.HEADER) decodeProperties(decodeContentHeader(payload).properties);
}

test(`fuzz: ${ITERATIONS} mutated frames through the parser and decoders throw only SwitchyardError`, (t) => {
  const seeds = corpus();
  assert.ok(seeds.length > 300);
  // Every seed is valid before mutation.
  decodeFieldTable(ALL_TAGS_TABLE);
  for (const s of seeds) new FrameParser(0).push(s, (type, _c, payload) => decodeFrame(type, payload));
  let decoded = 0;
  let refused = 0;
  const started = Date.now();
  for (let i = 0; i < ITERATIONS; i++) {
    const seed = pick(seeds);
    const bad = mutate(seed);
    const what = () => `iteration ${i}, ${bad.toString('hex')}`;
    // 1. The whole damaged frame, in one chunk or two, through the parser and the decoders.
    const parser = new FrameParser(131072);
    const cut = int(bad.length + 1);
    const ok = onlySwitchyardErrors(() => {
      const onFrame = (type: number, _c: number, payload: Buffer) => decodeFrame(type, payload);
      parser.push(bad.subarray(0, cut), onFrame);
      parser.push(bad.subarray(cut), onFrame);
    }, what);
    if (ok) decoded++;
    else refused++;
    // 2. The damaged payload straight into its decoder (reaches decoders past the frame checks).
    const payload = bad.subarray(7, Math.max(7, bad.length - 1));
    onlySwitchyardErrors(() => decodeFrame(seed[0]!, payload), what);
    // 3. Tables and arrays on their own, from the all-tags table.
    if (i % 4 === 0) {
      const tbl = mutate(ALL_TAGS_TABLE);
      onlySwitchyardErrors(() => decodeFieldTable(tbl), what);
      onlySwitchyardErrors(() => decodeTable(tbl, int(tbl.length + 1)), what);
      onlySwitchyardErrors(() => decodeFieldArray(tbl), what);
    }
  }
  t.diagnostic(`${decoded} decoded, ${refused} refused, ${Date.now() - started} ms`);
  assert.ok(refused > ITERATIONS / 10, 'the mutations must actually break frames');
});
