/**
 * `beit download`: fetch a checkpoint from the Hugging Face hub into the cache or a folder, so later
 * runs (and `--model owner/name`) work offline. A thin shell over `lib/node/hub.ts`.
 */
import { EXIT_USAGE, UserError, parseFlags, type Command } from '../command.js';
import { downloadModel, isRepoId, isRevision } from '../../node/hub.js';

/** The `download` command. */
export const downloadCommand: Command = {
  name: 'download',
  summary: 'download a checkpoint from the Hugging Face hub (converted to safetensors if needed)',
  usage: `
Usage: beit download <repo-id> [options]

Downloads config.json, preprocessor_config.json and the weights (model.safetensors, sharded
safetensors, or pytorch_model.bin converted to safetensors) of a hub repo. Prints the folder.
A complete copy that Python's huggingface_hub already downloaded (its cache: $HF_HUB_CACHE, $HF_HOME/hub or
~/.cache/huggingface/hub) is used where it is, read only, instead of downloading (not with --dir); its
pytorch_model.bin weights are converted into the cache.

Options:
  --revision <rev>  branch, tag or commit (default: main)
  --dir <folder>    put the checkpoint in this folder (default: the cache,
                    $BEIT_CACHE or \${XDG_CACHE_HOME:-~/.cache}/tfjs-beit/<owner>--<name>/<revision>)
  --force           with --dir: replace checkpoint files there that beit did not download (default: refuse)
  --quiet           no progress bars
  --json            print {repo, revision, dir, files, converted, fromCache, hfCache?} as JSON
  --verbose         print stack traces on errors
  -h, --help        show this help

Environment:
  HF_TOKEN                  token for private or gated repos (also HUGGING_FACE_HUB_TOKEN; default: the one
                            huggingface-cli login saved, $HF_TOKEN_PATH or $HF_HOME/token)
  HF_ENDPOINT               hub address (default https://huggingface.co)
  HF_HUB_OFFLINE=1          use only files on disk (also TRANSFORMERS_OFFLINE=1)
  HF_HUB_DOWNLOAD_TIMEOUT   seconds a silent server is waited for before the request is retried (default 10)
  HF_HUB_DISABLE_PROGRESS_BARS=1   no progress bars
  HTTPS_PROXY, HTTP_PROXY, NO_PROXY   proxy, as Python's requests reads them (never for loopback)
  HF_HUB_CACHE, HF_HOME     where huggingface_hub's cache is; BEIT_NO_HF_CACHE=1 never uses it
  BEIT_CACHE                this engine's cache folder
`,
  async run(argv: string[]): Promise<number> {
    const { values, positionals } = parseFlags(argv, {
      revision: { type: 'string' }, dir: { type: 'string' }, quiet: { type: 'boolean' }, json: { type: 'boolean' },
      force: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UserError('expected one <repo-id>. See --help.', EXIT_USAGE);
    if (!isRepoId(positionals[0]!)) throw new UserError(`"${positionals[0]}" is not a hub repo id (expected owner/name). See --help.`, EXIT_USAGE);
    if (values.revision !== undefined && !isRevision(values.revision as string)) {
      throw new UserError(`--revision "${values.revision}" is not a branch, tag or commit name. See --help.`, EXIT_USAGE);
    }
    const r = await downloadModel(positionals[0]!, {
      revision: values.revision as string | undefined, dir: values.dir as string | undefined, quiet: values.quiet === true,
      force: values.force === true,
    });
    process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : r.dir + '\n');
    return 0;
  },
};
