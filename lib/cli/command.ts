/**
 * The shape every CLI command shares. Commands live one per file in `commands/`, parse their own
 * flags with `node:util` `parseArgs`, and return an exit code; only `main.ts` exits the process.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A CLI command: `beit <name> ...`. */
export interface Command {
  readonly name: string;
  /** One line for `beit --help`. */
  readonly summary: string;
  /** Full usage text for `beit <name> --help`, listing every flag with its default. */
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** An error caused by the user's input: printed as one paragraph without a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Exit code for usage errors (unknown flag, missing argument). */
export const EXIT_USAGE = 2;

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses flags strictly; unknown flags and missing values become a UserError with exit code 2.
 * `--help` and `--verbose` are added to every command.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = true):
  { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  // "--layer -1": parseArgs takes "-1" for a flag; a negative number after a flag that takes a value is its value.
  const args = argv.flatMap((a, i) => {
    const prev = argv[i - 1];
    if (/^-\d+(\.\d+)?$/.test(a) && prev !== undefined && /^--[^=]+$/.test(prev) && options[prev.slice(2)]?.type === 'string') return [];
    const next = argv[i + 1];
    if (next !== undefined && /^--[^=]+$/.test(a) && options[a.slice(2)]?.type === 'string' && /^-\d+(\.\d+)?$/.test(next)) return [`${a}=${next}`];
    return [a];
  });
  try {
    return parseArgs({
      args,
      options: {
        help: { type: 'boolean', short: 'h' },
        verbose: { type: 'boolean' },
        ...options,
      },
      allowPositionals,
      strict: true,
    });
  } catch (e) {
    throw new UserError(`${(e as Error).message}. See --help.`, EXIT_USAGE);
  }
}

/** Parses an integer flag value (decimal digits only) of at least `min`, or throws a UserError naming the flag. */
export function intFlag(value: string | undefined, flag: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UserError(`--${flag} must be an integer ${max < Number.MAX_SAFE_INTEGER ? `in ${min}..${max}` : `>= ${min}`}, got "${value}".`, EXIT_USAGE);
  }
  return n;
}

/** Returns a required string flag or throws the usage error naming it. */
export function requireFlag(values: Record<string, unknown>, flag: string, what: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v === '') throw new UserError(`--${flag} ${what} is required. See --help.`, EXIT_USAGE);
  return v;
}
