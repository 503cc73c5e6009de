/**
 * `beit` command-line entry: dispatches to one command per file in `commands/`. This is the only
 * module that sets the process exit code. Errors print as one paragraph; `--verbose` adds the stack.
 */
import { UserError, EXIT_USAGE, type Command } from './command.js';
import { commands } from './commands/index.js';

function topUsage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: beit <command> [options]',
    '',
    'BEiT / Data2Vec-Vision / ViT inference over TensorFlow.js, from Hugging Face checkpoints.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `beit <command> --help` for the options of a command.',
    'Environment: BEIT_BACKEND (native|tensorflow|wasm|cpu), BEIT_THREADS, BEIT_CACHE, HF_TOKEN, HF_ENDPOINT.',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  // A closed reader (`beit classify ... --json | head -1`) ends the run quietly, as for any Unix filter.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const [name, ...rest] = argv;
  if (name === 'help' && rest.length) return main([rest[0]!, '--help']);
  if (name === undefined) {
    process.stderr.write(topUsage() + '\n');
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage() + '\n');
    return 0;
  }
  if (name === '--version' || name === '-v') {
    const { version } = await import('../version.js');
    process.stdout.write(version + '\n');
    return 0;
  }
  const cmd: Command | undefined = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`beit: unknown command "${name}". Commands: ${commands.map((c) => c.name).join(', ')}.\n`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage.trim() + '\n');
    return 0;
  }
  const verbose = rest.includes('--verbose');
  try {
    return await cmd.run(rest);
  } catch (e) {
    const err = e as Error;
    const code = e instanceof UserError ? e.exitCode : (e as { unknownName?: boolean }).unknownName === true ? EXIT_USAGE : 1;
    process.stderr.write(`beit ${name}: ${err.message}\n`);
    if (verbose && err.stack) process.stderr.write(err.stack + '\n');
    else if (!(e instanceof UserError) && !isKnownError(err)) process.stderr.write('(run with --verbose for details)\n');
    return code;
  }
}

/** Errors whose message is already complete for a user (bad files, configs, backends). */
function isKnownError(e: Error): boolean {
  return ['SafetensorsError', 'ConfigError', 'WeightsError', 'BackendError', 'ImageError', 'ProcessorError',
    'PickleError', 'HubError', 'InputError'].includes(e.name);
}
