/**
 * `beit convert`: PyTorch checkpoint -> safetensors, without Python. A thin shell over
 * `lib/node/convert.ts`; the pickle is interpreted by a restricted unpickler that runs no code.
 */
import { EXIT_USAGE, UserError, parseFlags, type Command } from '../command.js';
import { convertCheckpoint, type FloatDtype } from '../../node/convert.js';
import { ZipError } from '../../io/zip.js';

const DTYPES: readonly FloatDtype[] = ['float32', 'float16', 'bfloat16'];

/** The `convert` command. */
export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert a PyTorch checkpoint (pytorch_model.bin, sharded or not) to safetensors',
  usage: `
Usage: beit convert <pytorch_model.bin | folder> <out.safetensors | folder> [options]

Converts a PyTorch zip checkpoint to safetensors without running any code from its pickle.
A folder input may hold pytorch_model.bin or pytorch_model.bin.index.json + shards (written as
model-0000i-of-0000N.safetensors + model.safetensors.index.json). An output not ending in
.safetensors is a folder; config.json and preprocessor_config.json are copied into it.
Files already at the output are never replaced without --force; a failed run leaves no new file behind.

Options:
  --dtype <float32|float16|bfloat16>  convert float tensors (round to nearest even); default: keep
  --force                             replace output files that already exist (default: refuse)
  --json                              print {"files", "tensors", "bytes"} on stdout
  --quiet                             no progress bar
  --verbose                           print stack traces on errors
  -h, --help                          show this help
`,
  async run(argv: string[]): Promise<number> {
    const { values, positionals } = parseFlags(argv, {
      dtype: { type: 'string' }, quiet: { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'boolean' },
    });
    if (positionals.length !== 2) throw new UserError('expected <input> and <output>. See --help.', EXIT_USAGE);
    const dtype = values.dtype as string | undefined;
    if (dtype !== undefined && !DTYPES.includes(dtype as FloatDtype)) {
      throw new UserError(`--dtype must be one of ${DTYPES.join(', ')}, got "${dtype}".`, EXIT_USAGE);
    }
    const quiet = values.quiet === true;
    try {
      const r = convertCheckpoint(positionals[0]!, positionals[1]!, { dtype: dtype as FloatDtype | undefined, quiet, force: values.force === true });
      if (values.json) process.stdout.write(JSON.stringify({ files: r.files, tensors: r.tensors, bytes: r.bytes }) + '\n');
      else if (!quiet) process.stderr.write(`converted ${r.tensors} tensors (${r.bytes} bytes) -> ${r.files.join(', ')}\n`);
      return 0;
    } catch (e) {
      if (e instanceof ZipError) throw new UserError(e.message);
      throw e;
    }
  },
};
