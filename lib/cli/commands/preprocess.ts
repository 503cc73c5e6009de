/**
 * `beit preprocess`: image file + preprocessor_config.json -> safetensors with the model input
 * (`pixel_values`, F32 [1, 3, H, W]) and optionally the resized 8-bit image (`u8`, U8 [H, W, 3]).
 * A thin shell over lib/image (decode, Pillow-exact resize, normalisation); useful to diff this
 * pipeline against transformers' processors.
 */
import { checkOutputFile } from '../files.js';
import { EXIT_USAGE, UserError, intFlag, parseFlags, type Command } from '../command.js';
import { DEFAULT_MAX_PIXELS, PILLOW_MAX_IMAGE_PIXELS } from '../../image/decode.js';
import { preprocess } from '../../image/processor.js';
import { readImageString } from '../../node/image-file.js';
import { imageSourceName } from '../../image/source.js';
import { readProcessorConfigFile } from '../../node/processor-file.js';
import { writeSafetensorsFile } from '../../node/safetensors-file.js';
import type { StWriteTensor } from '../../io/safetensors.js';

/** The `preprocess` command. */
export const preprocessCommand: Command = {
  name: 'preprocess',
  summary: 'decode + resize + normalise one image as a processor config says; write pixel_values',
  usage: `
Usage: beit preprocess <image> --processor <preprocessor_config.json> --out <file.safetensors> [options]

Decodes a PNG, JPEG (CMYK too), WebP, GIF (first frame), BMP or TIFF (first page; format sniffed from the bytes; EXIF orientation applied; alpha dropped)
(<image>: a file, an http(s) URL, a data:image/...;base64 URL or base64 bytes, as transformers' load_image takes),
resizes it bit-exactly like Pillow, crops, rescales and normalises it as the processor config
(BeitImageProcessor, ViTImageProcessor, DeiTImageProcessor, their *FeatureExtractor and *ImageProcessorFast
forms; a config naming none is an error here, as no model says which) says, and writes
pixel_values (F32 [1, 3, H, W]) to a safetensors file.

Options:
  --processor <file>    preprocessor_config.json to apply (required)
  --out <file>          output .safetensors file, written atomically (required)
  --force               replace --out if it exists (default: refuse)
  --u8                  also write u8 (U8 [H, W, 3]): the resized/cropped image before rescaling
  --json                print {"image", "decoded": {"height","width"}, "processor", "out",
                        "tensors": [{"name","dtype","shape"}]} on stdout instead of a text line
  --max-pixels <n>      refuse larger images (decompression-bomb guard); default ${DEFAULT_MAX_PIXELS}, where
                        Pillow refuses (above ${PILLOW_MAX_IMAGE_PIXELS} it decodes with a warning, as Pillow)
  --verbose             print stack traces on errors
  -h, --help            show this help
`,
  async run(argv: string[]): Promise<number> {
    const { values, positionals } = parseFlags(argv, {
      processor: { type: 'string' }, out: { type: 'string' }, u8: { type: 'boolean' }, json: { type: 'boolean' },
      'max-pixels': { type: 'string' }, force: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UserError('expected exactly one <image>. See --help.', EXIT_USAGE);
    const processor = values.processor as string | undefined;
    const out = values.out as string | undefined;
    if (!processor) throw new UserError('--processor <preprocessor_config.json> is required. See --help.', EXIT_USAGE);
    if (!out) throw new UserError('--out <file.safetensors> is required. See --help.', EXIT_USAGE);
    const maxPixels = intFlag(values['max-pixels'] as string | undefined, 'max-pixels', DEFAULT_MAX_PIXELS);
    const file = positionals[0]!;
    checkOutputFile(out, [file, processor], values.force === true);

    const cfg = readProcessorConfigFile(processor);
    const image = await readImageString(file, { maxPixels, onWarning: (m) => process.stderr.write(`note: ${m}\n`) });
    const r = preprocess(image, cfg);
    const tensors: Record<string, StWriteTensor> = {
      pixel_values: { dtype: 'F32', shape: [1, 3, r.height, r.width], data: r.pixelValues },
    };
    if (values.u8 === true) tensors.u8 = { dtype: 'U8', shape: [r.height, r.width, 3], data: r.u8 };
    writeSafetensorsFile(out, tensors, { source: imageSourceName(file), processor: cfg.image_processor_type });

    const summary = {
      image: file, decoded: { height: image.height, width: image.width }, processor: cfg.image_processor_type,
      out, tensors: Object.entries(tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    };
    if (values.json === true) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    else process.stdout.write(`${imageSourceName(file)} (${image.width}x${image.height}) -> ${out}: pixel_values [1, 3, ${r.height}, ${r.width}]`
      + `${values.u8 === true ? `, u8 [${r.height}, ${r.width}, 3]` : ''}\n`);
    return 0;
  },
};
