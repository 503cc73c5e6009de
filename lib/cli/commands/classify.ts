/**
 * `beit classify`: image files or folders -> top-k labels. Every file is decoded on its own, so one
 * bad file is reported (and makes the exit code 1) while the others are still classified.
 */
import { EXIT_USAGE, UserError, intFlag, parseFlags, type Command } from '../command.js';
import { announceBackend } from '../backend-note.js';
import { loadModel } from '../../node/load.js';
import { classifyPixels } from '../../pipeline/pipeline.js';
import type { Prediction } from '../../pipeline/predictions.js';
import { createProgress } from '../progress.js';
import { expandImageArgs } from '../files.js';

const usage = `
Usage: beit classify <files or folders...> --model <dir | repo-id> [options]

Classifies PNG/JPEG images (folders are searched recursively) with a checkpoint's classifier and
preprocessing (preprocessor_config.json), exactly like the Hugging Face pipeline.

Options:
  --model <dir|id>      checkpoint folder, or a hub repo id downloaded on first use (required)
  --top-k <n>           classes per image                      (default 5)
  --batch-size <n>      images per forward                     (default 8)
  --backend <name>      native | tensorflow | wasm | cpu        (default: $BEIT_BACKEND or the fastest available)
  --json                print [{"file", "predictions": [{"label","score","index"}]}] (failed files carry "error")
  --quiet               no progress bar
  --verbose             stack traces on errors
  -h, --help            this help

Exit code: 0 if every file was classified, 1 if any failed, 2 for usage errors.
`;

export const classifyCommand: Command = {
  name: 'classify',
  summary: 'top-k labels for image files or folders',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      model: { type: 'string' }, 'top-k': { type: 'string' }, 'batch-size': { type: 'string' },
      backend: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' },
    });
    if (!values.model) throw new UserError('--model <dir | repo-id> is required. See --help.', EXIT_USAGE);
    if (!positionals.length) throw new UserError('no images given. See --help.', EXIT_USAGE);
    const topK = intFlag(values['top-k'] as string | undefined, 'top-k', 5);
    const batchSize = intFlag(values['batch-size'] as string | undefined, 'batch-size', 8);
    const files = expandImageArgs(positionals);
    const model = await loadModel(values.model as string, {
      backend: values.backend as string | undefined, onWarning: (m) => process.stderr.write(`note: ${m}\n`),
    });
    announceBackend(model.backend, values.backend as string | undefined);
    const results: { file: string; predictions?: Prediction[]; error?: string }[] = files.map((file) => ({ file }));
    const bar = createProgress({ label: 'classify', total: files.length, unit: 'count', quiet: Boolean(values.quiet) || files.length <= 3 });
    try {
      // Decode a batch, run it, repeat: memory stays bounded by one batch for large folders.
      for (let start = 0; start < files.length; start += batchSize) {
        const batch = results.slice(start, start + batchSize);
        const ok: { r: (typeof results)[number]; px: Float32Array }[] = [];
        for (const r of batch) {
          try {
            ok.push({ r, px: (await model.preprocess(r.file)).pixelValues });
          } catch (e) {
            r.error = (e as Error).message;
          }
        }
        if (ok.length) {
          const preds = await classifyPixels(model, ok.map((o) => o.px), { topK, batchSize });
          ok.forEach((o, i) => { o.r.predictions = preds[i]; });
        }
        bar.update(Math.min(start + batchSize, files.length));
      }
    } finally {
      bar.finish();
      model.dispose();
    }
    if (values.json) {
      process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    } else {
      const w = Math.max(...results.map((r) => r.file.length));
      for (const r of results) {
        if (r.error) process.stderr.write(`${r.file}: error: ${r.error}\n`);
        else process.stdout.write(`${r.file.padEnd(w)}  ${r.predictions!.map((p) => `${p.label} ${p.score.toFixed(2)}`).join(' | ')}\n`);
      }
    }
    return results.some((r) => r.error) ? 1 : 0;
  },
};
