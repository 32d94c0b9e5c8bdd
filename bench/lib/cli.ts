/**
 * Command lines of the bench/ scripts: strict flags (a typo is exit code 2 with a hint, not a
 * half-run benchmark), counts written the way people write them (2,000,000, 2M, 100k), and the
 * command as typed, for the docs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseSize } from '../../src/cli/bench/options.js';

export type Flags = NonNullable<ParseArgsConfig['options']>;
export type FlagValues = Record<string, string | boolean | undefined>;

/** Prints `name: msg` and the hint, exits 2 (bad usage). */
export function usageError(name: string, msg: string, hint = '--help'): never {
  process.stderr.write(`${name}: ${msg}\n(see ${hint})\n`);
  process.exit(2);
}

/**
 * Parses `args` (--no-X negates a boolean): `strings` take a value, `booleans` do not, `short` gives
 * one-letter names. Prints `help` and exits 0 on -h/--help.
 */
export function parseFlags(o: {
  name: string;
  help: string;
  strings: readonly string[];
  booleans: readonly string[];
  short?: Readonly<Record<string, string>>;
  args?: string[];
  hint?: string;
}): FlagValues {
  const options: Flags = { help: { type: 'boolean', short: 'h' } };
  for (const name of o.strings)
    options[name] = { type: 'string', ...(o.short?.[name] === undefined ? {} : { short: o.short[name] }) };
  for (const name of o.booleans) options[name] = { type: 'boolean' };
  let values: FlagValues;
  try {
    values = parseArgs({ args: o.args ?? process.argv.slice(2), allowNegative: true, strict: true, options })
      .values as FlagValues;
  } catch (e) {
    return usageError(o.name, (e as Error).message, o.hint);
  }
  if (values.help === true) {
    process.stdout.write(o.help);
    process.exit(0);
  }
  return values;
}

/** Readers of flag values that exit 2 with a message naming the flag. */
export function flagReaders(name: string, values: FlagValues) {
  const fail = (msg: string): never => usageError(name, msg);
  const text = (flag: string): string | undefined => {
    const v = values[flag];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    fail,
    text,
    bool: (flag: string, dflt: boolean): boolean => {
      const v = values[flag];
      return typeof v === 'boolean' ? v : dflt;
    },
    /** A positive number, fractions allowed. */
    number(flag: string, dflt: number): number {
      const v = text(flag);
      if (v === undefined) return dflt;
      const n = Number(v);
      return Number.isFinite(n) && n > 0 ? n : fail(`--${flag} wants a positive number, got '${v}'`);
    },
    /** A positive whole count: 2000000, 2_000_000, 2,000,000, 2M, 100k. */
    count(flag: string, dflt: number): number {
      const v = text(flag);
      return v === undefined ? dflt : (parseCount(v) ?? fail(`--${flag} wants a positive count, got '${v}'`));
    },
    /** A comma list mapped through `each`; `dflt` when absent. */
    list<T>(flag: string, dflt: string, each: (word: string) => T): T[] {
      const words = (text(flag) ?? dflt).split(',').filter((w) => w.trim() !== '');
      if (words.length === 0) fail(`--${flag} is empty`);
      try {
        return words.map(each);
      } catch (e) {
        return fail(`--${flag}: ${(e as Error).message}`);
      }
    },
    /** Byte sizes: 16, 1k, 64KiB. */
    sizes(flag: string, dflt: string): number[] {
      return this.list(flag, dflt, parseSize);
    },
    /** A URL, checked now. */
    url(flag: string, dflt: string | null): string | null {
      const v = text(flag) ?? dflt;
      if (v === null) return null;
      try {
        new URL(v);
      } catch {
        fail(`--${flag}: not a URL: '${v}'`);
      }
      return v;
    },
  };
}

/** 2000000, 2_000_000, 2,000,000, 2M, 100k -> the number; null when not a positive count. */
export function parseCount(text: string): number | null {
  const m = /^([\d_,.]+)([kKmM]?)$/.exec(text.trim());
  if (!m) return null;
  const scale = m[2] === '' ? 1 : m[2]!.toLowerCase() === 'k' ? 1e3 : 1e6;
  const n = Math.round(Number(m[1]!.replace(/[_,]/g, '')) * scale);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** Shell-quotes one word for a command line shown to people. */
export const shellQuote = (s: string): string =>
  /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;

/** The command as typed, for the results and the docs: `prefix arg arg ...`. */
export function commandLine(prefix: string, argv = process.argv.slice(2), separator = ' '): string {
  return argv.length > 0 ? `${prefix}${separator}${argv.map(shellQuote).join(' ')}` : prefix;
}
