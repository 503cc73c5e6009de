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
 * `--help`, `--verbose` and `--backend` are added to every command.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, allowPositionals = true):
  { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] } {
  try {
    return parseArgs({
      args: argv,
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

/** Parses a positive integer flag value or throws a UserError naming the flag. */
export function intFlag(value: string | undefined, flag: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${flag} must be an integer >= ${min}, got "${value}".`, EXIT_USAGE);
  return n;
}

/** Returns a required string flag or throws the usage error naming it. */
export function requireFlag(values: Record<string, unknown>, flag: string, what: string): string {
  const v = values[flag];
  if (typeof v !== 'string' || v === '') throw new UserError(`--${flag} ${what} is required. See --help.`, EXIT_USAGE);
  return v;
}
