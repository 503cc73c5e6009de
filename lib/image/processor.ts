/**
 * `preprocessor_config.json` → one readonly, validated {@link ProcessorConfig}, and the preprocessing
 * it describes: resize (Pillow-exact, resample.ts) → center crop → rescale → normalize → CHW float32.
 * Semantics follow transformers 4.27 `BeitImageProcessor` / `ViTImageProcessor` (and their deprecated
 * `*FeatureExtractor` aliases, whose 2022 configs say `"size": 224`):
 * https://github.com/huggingface/transformers/blob/v4.27.1/src/transformers/models/beit/image_processing_beit.py
 * https://github.com/huggingface/transformers/blob/v4.27.1/src/transformers/image_transforms.py
 * - an int `size`/`crop_size` means (size, size) for both families (`get_size_dict`, default_to_square);
 *   a list means [height, width];
 * - `{"shortest_edge": s}` (not accepted by BEiT/ViT in transformers, supported here for convenience)
 *   resizes the short side to s and the long side to int(s · long / short), as
 *   `get_resize_output_image_size(default_to_square=False)` does;
 * - center crop offsets are floor((size − crop) / 2); a crop larger than the image zero-pads first;
 * - rescale is `(u8 · rescale_factor)` in float64 cast to float32, normalize is `(x − mean) / std`
 *   in float32 with mean/std cast to float32 (numpy semantics of `rescale` and `normalize`).
 */
import { Resample, RESAMPLE_NAMES, resize, type ResampleFilter } from './resample.js';
import type { RgbImage } from './errors.js';

/** Thrown for a preprocessor config that is not JSON or has an invalid field. */
export class ProcessorError extends Error {
  override name = 'ProcessorError';
}

/**
 * The processor classes whose semantics are implemented. `DeiT*` is what `facebook/deit-*` checkpoints
 * (`model_type: "vit"`) name. The `*Fast` classes (newer transformers) read the same fields with their own
 * class defaults; their resize runs with the Pillow-based counterpart's semantics (see {@link isFastProcessor}).
 */
export const SUPPORTED_PROCESSOR_TYPES = ['BeitImageProcessor', 'BeitFeatureExtractor', 'ViTImageProcessor', 'ViTFeatureExtractor',
  'DeiTImageProcessor', 'DeiTFeatureExtractor', 'BeitImageProcessorFast', 'ViTImageProcessorFast', 'DeiTImageProcessorFast'] as const;
/** One of {@link SUPPORTED_PROCESSOR_TYPES}. */
export type ProcessorType = (typeof SUPPORTED_PROCESSOR_TYPES)[number];

/** An explicit output size. */
export interface HeightWidth { readonly height: number; readonly width: number }
/** Resize target: exact size, or shortest edge with the aspect ratio kept. */
export type SizeSpec = HeightWidth | { readonly shortest_edge: number };

/** The validated preprocessor configuration. Field names follow the HF JSON. */
export interface ProcessorConfig {
  readonly image_processor_type: ProcessorType;
  readonly do_resize: boolean;
  readonly size: SizeSpec;
  readonly resample: ResampleFilter;
  /** Always false for ViT processors (they have no crop step). */
  readonly do_center_crop: boolean;
  readonly crop_size: HeightWidth;
  readonly do_rescale: boolean;
  readonly rescale_factor: number;
  readonly do_normalize: boolean;
  readonly image_mean: readonly [number, number, number];
  readonly image_std: readonly [number, number, number];
}

/** The result of {@link preprocess}. */
export interface ProcessedImage {
  /** The resized / cropped 8-bit image, HWC, before rescaling (what Pillow produced). */
  readonly u8: Uint8Array;
  readonly height: number;
  readonly width: number;
  /** Model input for one image, CHW float32 (`[3, height, width]`). */
  readonly pixelValues: Float32Array;
}

const IMAGENET_STANDARD = [0.5, 0.5, 0.5] as const;

/** Largest side a resize or crop may produce (larger sizes would only exhaust memory). */
export const MAX_OUTPUT_SIDE = 65535;
/** Largest pixel count a resize or crop may produce: Pillow's `MAX_IMAGE_PIXELS`, as for decoding. */
export const MAX_OUTPUT_PIXELS = 89_478_485;
/**
 * Class defaults, for fields the JSON leaves out. `crop`: whether the class has a center-crop step at
 * all (the Pillow-based ViT processor has none). `fast`: a `*Fast` class, where a JSON `null` means the
 * class default; in the Pillow-based classes `null` is stored as the value (`do_*` off, `resample`
 * BILINEAR in `image_transforms.resize`).
 */
interface ClassDefaults {
  readonly size: HeightWidth; readonly resample: ResampleFilter; readonly do_center_crop: boolean;
  readonly crop: boolean; readonly fast: boolean;
}
const BEIT_SLOW: ClassDefaults = { size: { height: 256, width: 256 }, resample: Resample.BICUBIC, do_center_crop: true, crop: true, fast: false };
const VIT_SLOW: ClassDefaults = { size: { height: 224, width: 224 }, resample: Resample.BILINEAR, do_center_crop: false, crop: false, fast: false };
const DEFAULTS: Record<ProcessorType, ClassDefaults> = {
  BeitImageProcessor: BEIT_SLOW, BeitFeatureExtractor: BEIT_SLOW, DeiTImageProcessor: BEIT_SLOW, DeiTFeatureExtractor: BEIT_SLOW,
  ViTImageProcessor: VIT_SLOW, ViTFeatureExtractor: VIT_SLOW,
  BeitImageProcessorFast: { size: { height: 224, width: 224 }, resample: Resample.BICUBIC, do_center_crop: false, crop: true, fast: true },
  DeiTImageProcessorFast: { ...BEIT_SLOW, fast: true },
  ViTImageProcessorFast: { ...VIT_SLOW, crop: true, fast: true },
};

type Json = Record<string, unknown>;

/**
 * Parses and validates a preprocessor config (JSON text or an already parsed object).
 * Unknown keys are ignored, as transformers ignores them. Missing keys take the class defaults.
 * @param source name of the file, for error messages
 * @param family the model's family (`config.json` model type), for a config that names no processor
 *   class: transformers' AutoImageProcessor then takes the model type's (BeitImageProcessor for BEiT and
 *   Data2Vec-Vision, ViTImageProcessor for ViT)
 * @throws ProcessorError naming the field and the valid options
 */
export function parseProcessorConfig(raw: string | unknown, source = 'preprocessor_config.json', family?: 'beit' | 'vit'): ProcessorConfig {
  let obj: unknown = raw;
  if (typeof raw === 'string') {
    try {
      obj = JSON.parse(raw);
    } catch (e) {
      throw new ProcessorError(`${source}: not valid JSON (${(e as Error).message}).`);
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ProcessorError(`${source}: expected a JSON object.`);
  const j = obj as Json;
  const err = (field: string, why: string): ProcessorError => new ProcessorError(`${source}: "${field}" ${why}`);

  const typeField = j.image_processor_type !== undefined ? 'image_processor_type' : 'feature_extractor_type';
  const type = j[typeField] ?? (family === undefined ? undefined : family === 'beit' ? 'BeitImageProcessor' : 'ViTImageProcessor');
  if (!SUPPORTED_PROCESSOR_TYPES.includes(type as ProcessorType)) {
    throw err(typeField, `${type === undefined ? 'is missing' : `is ${JSON.stringify(type)}`}; `
      + `it must be one of ${SUPPORTED_PROCESSOR_TYPES.join(', ')}.`);
  }
  const d = DEFAULTS[type as ProcessorType];
  // A JSON null: the class default in the *Fast classes; stored as the value (falsy) in the others.
  const value = (field: string, fallback: unknown, ifNull: unknown): unknown =>
    j[field] === undefined ? fallback : j[field] === null ? (d.fast ? fallback : ifNull) : j[field];

  const bool = (field: string, fallback: boolean): boolean => {
    const v = value(field, fallback, false);
    if (typeof v !== 'boolean') throw err(field, `must be true or false, got ${JSON.stringify(v)}.`);
    return v;
  };
  const posInt = (field: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw err(field, `must be a positive integer, got ${JSON.stringify(v)}.`);
    if (v > MAX_OUTPUT_SIDE) throw err(field, `must be at most ${MAX_OUTPUT_SIDE} pixels, got ${v}.`);
    return v;
  };
  const pixels = (field: string, height: number, width: number): HeightWidth => {
    if (height * width > MAX_OUTPUT_PIXELS) {
      throw err(field, `asks for ${height}x${width} = ${height * width} pixels, more than the limit of ${MAX_OUTPUT_PIXELS}.`);
    }
    return { height, width };
  };
  const hw = (field: string, v: unknown, allowShortest: boolean): SizeSpec => {
    if (typeof v === 'number') return pixels(field, posInt(field, v), posInt(field, v));
    if (Array.isArray(v) && v.length === 2) return pixels(field, posInt(field, v[0]), posInt(field, v[1]));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const o = v as Json;
      const keys = Object.keys(o).sort().join(',');
      if (keys === 'height,width') return pixels(field, posInt(`${field}.height`, o.height), posInt(`${field}.width`, o.width));
      if (allowShortest && keys === 'shortest_edge') return { shortest_edge: posInt(`${field}.shortest_edge`, o.shortest_edge) };
    }
    throw err(field, `must be an integer, [height, width], {"height", "width"}${allowShortest ? ' or {"shortest_edge"}' : ''}; `
      + `got ${JSON.stringify(v)}.`);
  };
  const triple = (field: string, fallback: readonly number[], nonzero: boolean): readonly [number, number, number] => {
    let v = j[field] ?? fallback;
    if (typeof v === 'number') v = [v, v, v];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!nonzero || x !== 0))) {
      throw err(field, `must be a number or a list of 3 finite numbers${nonzero ? ' (non-zero)' : ''}, got ${JSON.stringify(j[field])}.`);
    }
    return [v[0], v[1], v[2]];
  };

  const resample = value('resample', d.resample, Resample.BILINEAR);
  if (typeof resample !== 'number' || !Number.isInteger(resample) || resample < 0 || resample > 5) {
    throw err('resample', `must be one of ${RESAMPLE_NAMES.map((n, i) => `${i} (${n})`).join(', ')}; got ${JSON.stringify(resample)}.`);
  }
  const do_rescale = bool('do_rescale', true);
  const rescale_factor = j.rescale_factor ?? 1 / 255;
  if (j.rescale_factor === null && !d.fast && do_rescale) {
    throw err('rescale_factor', 'is null while "do_rescale" is true (transformers fails on it: there is no factor to rescale by).');
  }
  if (typeof rescale_factor !== 'number' || !Number.isFinite(rescale_factor) || rescale_factor <= 0) {
    throw err('rescale_factor', `must be a positive number, got ${JSON.stringify(rescale_factor)}.`);
  }
  const crop = hw('crop_size', j.crop_size ?? 224, false) as HeightWidth;
  const do_normalize = bool('do_normalize', true);
  const cfg: ProcessorConfig = Object.freeze({
    image_processor_type: type as ProcessorType,
    do_resize: bool('do_resize', true),
    size: Object.freeze(hw('size', j.size ?? d.size, true)),
    resample: resample as ResampleFilter,
    do_center_crop: d.crop ? bool('do_center_crop', d.do_center_crop) : false,
    crop_size: Object.freeze(crop),
    do_rescale,
    rescale_factor,
    do_normalize,
    image_mean: Object.freeze(triple('image_mean', IMAGENET_STANDARD, false)),
    image_std: Object.freeze(triple('image_std', IMAGENET_STANDARD, do_normalize)), // unused (may be 0) without normalizing
  });
  // Numbers finite in JSON can still overflow the float32 arithmetic (rescale_factor 1e300, image_mean
  // 1e300, image_std 1e-300): every pixel would become Infinity or NaN. Check the 256 values per channel.
  for (let c = 0; c < 3; c++) {
    const lut = channelLut(cfg, c);
    const v = lut.findIndex((x) => !Number.isFinite(x));
    if (v < 0) continue;
    if (cfg.do_rescale && !Number.isFinite(Math.fround(v * cfg.rescale_factor))) {
      throw err('rescale_factor', `${rescale_factor} overflows float32: pixel value ${v} rescales to ${lut[v]}.`);
    }
    if (!Number.isFinite(Math.fround(cfg.image_mean[c]))) throw err('image_mean', `${JSON.stringify(cfg.image_mean)} overflows float32.`);
    throw err('image_std', `${JSON.stringify(cfg.image_std)} with "image_mean" ${JSON.stringify(cfg.image_mean)} overflows float32: `
      + `pixel value ${v} of channel ${c} normalizes to ${lut[v]}.`);
  }
  return cfg;
}

/**
 * Whether the config names a torchvision-based `*ImageProcessorFast`. Its resize is not Pillow's, so
 * its pixels can differ from the Pillow-based processor by a few levels; this engine follows the
 * Pillow-based one (what transformers runs with `use_fast=False`), and loaders say so.
 */
export function isFastProcessor(cfg: ProcessorConfig): boolean {
  return cfg.image_processor_type.endsWith('Fast');
}

/**
 * The processor to use when a checkpoint has no preprocessor_config.json: resize straight to the
 * model's `image_size` (no crop), mean/std 0.5, bicubic for BEiT/Data2Vec-Vision and bilinear for
 * ViT (their processors' defaults). Callers should tell the user this default is in effect.
 * @param imageSize the model config's `image_size`: an int or [height, width]
 */
export function defaultProcessorConfig(imageSize: number | readonly number[], family: 'beit' | 'vit' = 'beit'): ProcessorConfig {
  const size = typeof imageSize === 'number' ? [imageSize, imageSize] : imageSize;
  return parseProcessorConfig({
    image_processor_type: family === 'beit' ? 'BeitImageProcessor' : 'ViTImageProcessor',
    size: { height: size[0], width: size[1] },
    do_center_crop: false,
  }, `default processor for image_size ${JSON.stringify(imageSize)}`);
}

/** Output (height, width) of the resize step for an input of the given size. */
export function resizeOutputSize(size: SizeSpec, height: number, width: number): HeightWidth {
  if ('height' in size) return size;
  const s = size.shortest_edge;
  // transformers: short, long = (w, h) if w <= h else (h, w); new_long = int(s * long / short)
  if (width <= height) return { width: s, height: Math.trunc((s * height) / width) };
  return { height: s, width: Math.trunc((s * width) / height) };
}

/**
 * transformers' `center_crop` on an HWC uint8 image: offsets floor((size − crop) / 2); when the crop
 * is larger than the image along an axis, the image is first centred on a zero canvas.
 */
export function centerCrop(img: RgbImage, crop: HeightWidth): RgbImage {
  const { width: W, height: H, data } = img;
  const C = data.length / (W * H);
  if (crop.height === H && crop.width === W) return img;
  const top = Math.floor((H - crop.height) / 2);
  const left = Math.floor((W - crop.width) / 2);
  const out = new Uint8Array(crop.height * crop.width * C); // zeros where the crop leaves the image
  for (let y = 0; y < crop.height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= H) continue;
    for (let x = 0; x < crop.width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= W) continue;
      const s = (sy * W + sx) * C;
      const o = (y * crop.width + x) * C;
      for (let c = 0; c < C; c++) out[o + c] = data[s + c];
    }
  }
  return { width: crop.width, height: crop.height, data: out };
}

/** Rescales and normalises HWC uint8 to CHW float32 with numpy float32 semantics. */
export function normalize(u8: Uint8Array, height: number, width: number, cfg: ProcessorConfig): Float32Array {
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const lut = channelLut(cfg, c);
    for (let i = 0; i < plane; i++) out[c * plane + i] = lut[u8[i * 3 + c]];
  }
  return out;
}

/** Rescaled and normalised float32 value of each 8-bit value of channel `c`: every pixel maps to one of 256. */
function channelLut(cfg: ProcessorConfig, c: number): Float32Array {
  const f = Math.fround;
  const lut = new Float32Array(256);
  const mean = f(cfg.image_mean[c]);
  const std = f(cfg.image_std[c]);
  for (let v = 0; v < 256; v++) {
    const x = cfg.do_rescale ? f(v * cfg.rescale_factor) : v;
    lut[v] = cfg.do_normalize ? f(f(x - mean) / std) : x;
  }
  return lut;
}

/** Runs the whole preprocessing of one RGB image: resize → center crop → rescale → normalize. */
export function preprocess(image: RgbImage, cfg: ProcessorConfig): ProcessedImage {
  let img = image;
  if (!Number.isSafeInteger(img.width) || !Number.isSafeInteger(img.height) || img.width < 1 || img.height < 1) {
    throw new ProcessorError(`preprocess: image width and height must be positive integers, got ${img.width}x${img.height}.`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new ProcessorError(`preprocess: expected an RGB image of ${img.width}x${img.height}x3 bytes, got ${img.data.length}.`);
  }
  if (cfg.do_resize) {
    const { height, width } = resizeOutputSize(cfg.size, img.height, img.width);
    if (height > MAX_OUTPUT_SIDE || width > MAX_OUTPUT_SIDE || height * width > MAX_OUTPUT_PIXELS) {
      throw new ProcessorError(`preprocess: resizing a ${img.height}x${img.width} image to ${JSON.stringify(cfg.size)} gives `
        + `${height}x${width} pixels, more than the limit (${MAX_OUTPUT_SIDE} per side, ${MAX_OUTPUT_PIXELS} in all).`);
    }
    img = resize(img, width, height, cfg.resample);
  }
  if (cfg.do_center_crop) img = centerCrop(img, cfg.crop_size);
  return { u8: img.data, height: img.height, width: img.width, pixelValues: normalize(img.data, img.height, img.width, cfg) };
}
