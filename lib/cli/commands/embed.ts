/** `beit embed`: images -> pooled embeddings `[N, hidden]` in a safetensors file (atomic write). */
import { EXIT_USAGE, UserError, intFlag, parseFlags, requireFlag, type Command } from '../command.js';
import { loadModelForCli } from '../backend-note.js';
import { embedPixels } from '../../pipeline/pipeline.js';
import { readInBatches } from '../../node/classify-files.js';
import { DECODE_WORKERS_HELP, decodeWorkersFlag, openBatchPool } from '../decode-workers.js';
import { writeSafetensorsFile } from '../../node/safetensors-file.js';
import { createProgress } from '../progress.js';
import { checkOutputFile, imageArgs } from '../files.js';
import { imageSourceName, imageStringKind } from '../../image/source.js';

const usage = `
Usage: beit embed <images or folders...> [--list <file>] --model <dir | repo-id> --out <embeddings.safetensors> [options]

An image is a file, an http(s) URL, a data:image/...;base64 URL or base64 bytes; folders are searched
recursively (symbolic links followed).

Writes the pooled embedding of every image (the model's pooler output: mean-pooled + LayerNorm for
Data2Vec-Vision/BEiT with use_mean_pooling, the CLS token after the final LayerNorm for BEiT CLS pooling, a ViT's
dense pooler when it has one; a model without a pooler gives the mean of its patch tokens) as "embeddings" F32
[N, hidden] (ViT pooler: [N, pooler_output_size]), in
input order; the metadata "files" holds the JSON list of the images (paths as given or found in the folders,
URLs without their query).

Options:
  --model <dir|id>      checkpoint folder or hub repo id (required)
  --out <file>          output .safetensors (required; written atomically)
  --force               replace --out if it exists (default: refuse)
  --list <file>         more images, one per line (path, URL, data URL or base64; # comments); - for stdin
  --batch-size <n>      images per forward (default 8)
  --backend <name>      native | tensorflow | wasm | cpu
${DECODE_WORKERS_HELP}
  --json                print {"out", "count", "hidden", "files"} on stdout
  --quiet               no progress bar
  --verbose             stack traces on errors
  -h, --help            this help

Any unreadable image is an error (exit 1) and nothing is written.
`;

export const embedCommand: Command = {
  name: 'embed',
  summary: 'pooled embeddings of images into a safetensors file',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      model: { type: 'string' }, list: { type: 'string' }, out: { type: 'string' }, 'batch-size': { type: 'string' },
      'decode-workers': { type: 'string' }, backend: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' }, force: { type: 'boolean' },
    });
    const modelArg = requireFlag(values, 'model', '<dir | repo-id>');
    const out = requireFlag(values, 'out', '<file.safetensors>');
    const batchSize = intFlag(values['batch-size'] as string | undefined, 'batch-size', 8);
    const files = imageArgs(positionals, values.list as string | undefined);
    checkOutputFile(out, files, values.force === true);
    const decodeWorkers = decodeWorkersFlag(values['decode-workers'] as string | undefined, files.length, batchSize);
    const model = await loadModelForCli(modelArg, values.backend as string | undefined, values.quiet === true);
    const { pool, close } = openBatchPool(decodeWorkers, model.processor, (m) => process.stderr.write(`note: ${m}\n`));
    try {
      const D = model.embeddingSize;
      const data = new Float32Array(files.length * D);
      const bar = createProgress({ label: 'embed', total: files.length, unit: 'count', quiet: Boolean(values.quiet) || files.length <= 3 });
      try {
        // Batch by batch, so memory holds a batch or two of pixels however many images there are; the
        // images of a batch are read (downloaded) concurrently, or by the pool while the previous batch runs.
        for await (const { start, read } of readInBatches(model, files, batchSize, pool)) {
          const failed = read.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) throw failed.reason;
          const pixels = read.map((r) => (r as PromiseFulfilledResult<Float32Array>).value);
          const emb = await embedPixels(model, pixels, { batchSize });
          emb.forEach((e, i) => data.set(e.embedding, (start + i) * D));
          bar.update(start + read.length);
        }
      } finally {
        bar.finish();
      }
      // Paths as given (folder members with their folder), so two x.jpg of different folders stay apart.
      const names = files.map((f) => (imageStringKind(f) === 'path' ? f : imageSourceName(f)));
      writeSafetensorsFile(out, { embeddings: { dtype: 'F32', shape: [files.length, D], data } },
        { files: JSON.stringify(names), format: 'pt' });
      if (values.json) process.stdout.write(JSON.stringify({ out, count: files.length, hidden: D, files }) + '\n');
      else process.stderr.write(`wrote ${files.length} embeddings [${files.length}, ${D}] to ${out}\n`);
      return 0;
    } finally {
      await close();
      model.dispose();
    }
  },
};
