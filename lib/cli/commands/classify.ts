/**
 * `beit classify`: image files or folders -> top-k labels. Every file is decoded on its own, so one
 * bad file is reported (and makes the exit code 1) while the others are still classified. On the
 * single-threaded backends a folder is spread over worker threads (lib/node/classify-pool.ts).
 */
import { EXIT_USAGE, UserError, intFlag, parseFlags, requireFlag, type Command } from '../command.js';
import { announceBackend } from '../backend-note.js';
import { loadModel } from '../../node/load.js';
import { availableParallelism } from 'node:os';
import { selectBackend } from '../../backend/select.js';
import { resolveModel } from '../../node/hub.js';
import { classifyFiles, type FileResult } from '../../node/classify-files.js';
import { classifyInWorkers } from '../../node/classify-pool.js';
import { DECODE_WORKERS_HELP, decodeWorkersFlag, openBatchPool } from '../decode-workers.js';
import { createProgress } from '../progress.js';
import { imageArgs } from '../files.js';
import { imageSourceName } from '../../image/source.js';
import { SCORE_FUNCTIONS, type ScoreFunction } from '../../pipeline/predictions.js';

const usage = `
Usage: beit classify <images or folders...> [--list <file>] --model <dir | repo-id> [options]

Classifies PNG/JPEG/WebP/GIF/BMP/TIFF images with a checkpoint's classifier and preprocessing
(preprocessor_config.json), exactly like the Hugging Face pipeline. An image is a file, an http(s) URL
(downloaded, several at a time), a data:image/...;base64 URL or base64 bytes, as transformers' load_image
takes them; folders are searched recursively (symbolic links followed).

Options:
  --model <dir|id>      checkpoint folder, or a hub repo id downloaded on first use (required)
  --list <file>         more images, one per line (path, URL, data URL or base64; # comments); - for stdin
  --top-k <n>           classes per image                      (default 5)
  --function-to-apply <softmax|sigmoid|none>
                        how logits become scores (default as transformers' pipeline: sigmoid for a
                        multi_label_classification checkpoint or a single class, else softmax)
  --batch-size <n>      images per forward                     (default 8)
  --backend <name>      native | tensorflow | wasm | cpu        (default: $BEIT_BACKEND or the fastest available)
  --workers <n>         worker threads, each with its own engine (default: 1 on native; on wasm/cpu one per core,
                        at most 8, when there are more images than one batch; never more than the cores)
${DECODE_WORKERS_HELP}.
                        With --workers above 1, each worker reads its own images instead
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
      model: { type: 'string' }, list: { type: 'string' }, 'top-k': { type: 'string' }, 'function-to-apply': { type: 'string' }, 'batch-size': { type: 'string' }, workers: { type: 'string' },
      'decode-workers': { type: 'string' },
      backend: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' },
    });
    const modelArg = requireFlag(values, 'model', '<dir | repo-id>');
    const topK = intFlag(values['top-k'] as string | undefined, 'top-k', 5);
    const batchSize = intFlag(values['batch-size'] as string | undefined, 'batch-size', 8);
    const fnArg = values['function-to-apply'] as string | undefined;
    if (fnArg !== undefined && !(SCORE_FUNCTIONS as readonly string[]).includes(fnArg)) {
      throw new UserError(`--function-to-apply must be one of ${SCORE_FUNCTIONS.join(', ')}, got "${fnArg}".`, EXIT_USAGE);
    }
    const functionToApply = fnArg as ScoreFunction | undefined;
    const files = imageArgs(positionals, values.list as string | undefined);
    const requested = values.backend as string | undefined;
    const decodeWorkers = decodeWorkersFlag(values['decode-workers'] as string | undefined, files.length, batchSize);
    const bar = createProgress({ label: 'classify', total: files.length, unit: 'count', quiet: Boolean(values.quiet) || files.length <= 3 });
    const done = (n: number) => bar.update(n);
    // Human output is printed batch by batch, in input order, as results come in (a long job shows its
    // results as it goes, and an interrupted one keeps them); --json prints one array at the end.
    const onResults = values.json ? undefined : inOrder<FileResult>(files.length, (from, batch) => bar.interrupt(() => printHuman(files, from, batch)));
    let results: FileResult[];
    try {
      const dir = await resolveModel(modelArg, { quiet: Boolean(values.quiet) });
      const backend = await selectBackend(requested);
      const single = backend !== 'wasm' && backend !== 'cpu'; // native / tensorflow are multi-threaded already
      const cores = availableParallelism();
      let workers = intFlag(values.workers as string | undefined, 'workers', single ? 1 : Math.min(cores, 8));
      if (workers > cores) {
        // Each worker holds a whole model; more of them than cores only costs memory.
        process.stderr.write(`note: --workers ${workers} is more than the ${cores} cores here; using ${cores}\n`);
        workers = cores;
      }
      if (workers > 1 && files.length > batchSize) {
        announceBackend(`${backend} (${workers} worker threads)`, requested);
        if (backend === 'native') {
          process.stderr.write('note: the native backend already uses every core and runs one kernel at a time; ' +
            'extra --workers only add model copies\n');
        }
        results = await classifyInWorkers(files, { dir, backend, workers, topK, batchSize, functionToApply, onDone: done, onResults,
          onWarning: (m) => process.stderr.write(`note: ${m}\n`) });
      } else {
        const note = (m: string) => process.stderr.write(`note: ${m}\n`);
        const model = await loadModel(dir, { backend, onWarning: note });
        announceBackend(model.backend, requested);
        const { pool, close } = openBatchPool(decodeWorkers, model.processor, note);
        try {
          results = await classifyFiles(model, files, { topK, batchSize, functionToApply, onResults, ...(pool ? { pool } : {}) }, done);
        } finally {
          await close();
          model.dispose();
        }
      }
    } finally {
      bar.finish();
    }
    if (values.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    return results.some((r) => r.error) ? 1 : 0;
  },
};

/** Prints results `from`… of `files`, names padded to the longest of all (errors on stderr). */
function printHuman(files: readonly string[], from: number, batch: readonly FileResult[]): void {
  const w = nameWidth(files);
  batch.forEach((r, i) => {
    const name = imageSourceName(files[from + i]!);
    if (r.error) process.stderr.write(`${r.error.startsWith(name) || r.error.startsWith(r.file) ? '' : `${name}: `}error: ${r.error}\n`);
    else process.stdout.write(`${name.padEnd(w)}  ${r.predictions!.map((p) => `${p.label} ${p.score.toFixed(2)}`).join(' | ')}\n`);
  });
}

const widths = new WeakMap<readonly string[], number>();
function nameWidth(files: readonly string[]): number {
  let w = widths.get(files);
  if (w === undefined) widths.set(files, w = files.reduce((m, f) => Math.max(m, imageSourceName(f).length), 0));
  return w;
}

/**
 * Wraps `emit` so that batches reported in any order (worker threads finish out of order) are emitted
 * in input order, each as soon as every earlier one has been.
 */
export function inOrder<T>(total: number, emit: (from: number, batch: readonly T[]) => void): (from: number, batch: readonly T[]) => void {
  const waiting = new Map<number, readonly T[]>();
  let next = 0;
  return (from, batch) => {
    waiting.set(from, batch);
    for (let b = waiting.get(next); b !== undefined && next < total; b = waiting.get(next)) {
      waiting.delete(next);
      emit(next, b);
      next += b.length;
    }
  };
}
