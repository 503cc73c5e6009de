/**
 * `beit attention`: the demo's attention overlay from the command line. One forward with
 * attentions, the chosen layer's CLS-to-patch attention (mean over heads) upsampled over the image
 * and written as a PNG (lib/node/png-write.ts). A thin shell over lib/pipeline/attention*.ts.
 */
import { checkOutputFile } from '../files.js';
import { EXIT_USAGE, UserError, parseFlags, requireFlag, type Command } from '../command.js';
import { loadModelForCli } from '../backend-note.js';
import { readImageString } from '../../node/image-file.js';
import { imageSourceName } from '../../image/source.js';
import { writeFileAtomic } from '../../node/safetensors-file.js';
import { preprocess } from '../../image/processor.js';
import { attentionForPixels, resolveLayer } from '../../pipeline/attention.js';
import { modelRegion, overlayAttention } from '../../pipeline/attention-overlay.js';
import { topK } from '../../pipeline/predictions.js';
import { checkProcessed } from '../../pipeline/pipeline.js';
import { encodePngRgba } from '../../node/png-write.js';

const usage = `
Usage: beit attention <image> --model <dir | repo-id> --out <overlay.png> [options]

<image>: a file, an http(s) URL, a data:image/...;base64 URL or base64 bytes.

Runs the model once on the image and writes a PNG of the image (its original size) with the
attention of the CLS token to every patch in one layer, averaged over heads, upsampled and drawn
with a jet colormap (blue = low, red = high; min-max normalised per map). Parts of the image the
processor crops away are dimmed. Mean-pooled models (Data2Vec-Vision, BEiT) still have this map.

Options:
  --model <dir|id>      checkpoint folder or hub repo id (required)
  --out <file.png>      output PNG (required; written atomically)
  --force               replace --out if it exists (default: refuse)
  --layer <L>           0-based layer; negative counts from the end (default -1 = last)
  --alpha <a>           colormap weight over the image, 0..1 (default 0.5)
  --backend <name>      native | tensorflow | wasm | cpu
  --json                print {"out","layer","layers","width","height","top"} on stdout
  --verbose             stack traces on errors
  -h, --help            this help
`;

/** A decimal number flag (no hex, exponents or spaces), checked by `check`. */
function parseNumber(v: string | undefined, flag: string, check: (n: number) => boolean, want: string): number | undefined {
  if (v === undefined) return undefined;
  const n = /^-?(\d+\.?\d*|\.\d+)$/.test(v) ? Number(v) : Number.NaN;
  if (!check(n)) throw new UserError(`--${flag} must be ${want}, got "${v}".`, EXIT_USAGE);
  return n;
}

/** The `attention` command. */
export const attentionCommand: Command = {
  name: 'attention',
  summary: 'overlay one layer\'s CLS-to-patch attention on an image; write a PNG',
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, {
      model: { type: 'string' }, out: { type: 'string' }, layer: { type: 'string' }, alpha: { type: 'string' },
      backend: { type: 'string' }, json: { type: 'boolean' }, force: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UserError('expected exactly one <image>. See --help.', EXIT_USAGE);
    const modelArg = requireFlag(values, 'model', '<dir | repo-id>');
    const out = requireFlag(values, 'out', '<overlay.png>');
    const layerArg = parseNumber(values.layer as string | undefined, 'layer', Number.isInteger, 'an integer');
    const alpha = parseNumber(values.alpha as string | undefined, 'alpha', (n) => n >= 0 && n <= 1, 'a number in 0..1') ?? 0.5;
    const file = positionals[0]!;
    checkOutputFile(out, [file], values.force === true);
    const model = await loadModelForCli(modelArg, values.backend as string | undefined);
    try {
      let layer: number;
      try {
        layer = resolveLayer(model, layerArg);
      } catch (e) {
        throw new UserError(`--${(e as Error).message}`, EXIT_USAGE);
      }
      const image = await readImageString(file, { onWarning: (m) => process.stderr.write(`note: ${m}\n`) });
      const pixels = checkProcessed(model, preprocess(image, model.processor), imageSourceName(file));
      const { logits, maps } = await attentionForPixels(model, pixels);
      const rgba = overlayAttention(image, maps[layer]!, { alpha, region: modelRegion(model.processor, image.width, image.height) });
      writeFileAtomic(out, encodePngRgba(rgba.data, rgba.width, rgba.height));
      const top = logits ? topK(logits, 1, model.id2label, model.scoreFunction)[0] : undefined;
      if (values.json) {
        process.stdout.write(JSON.stringify({ out, layer, layers: maps.length, width: rgba.width, height: rgba.height, top: top ?? null }) + '\n');
      } else {
        process.stderr.write(`wrote ${out} (${rgba.width}x${rgba.height}, layer ${layer} of 0..${maps.length - 1}`
          + `${top ? `; top-1: ${top.label} ${top.score.toFixed(2)}` : ''})\n`);
      }
      return 0;
    } finally {
      model.dispose();
    }
  },
};
