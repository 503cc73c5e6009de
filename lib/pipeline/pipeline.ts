/**
 * Images in, labels and embeddings out: decode (any {@link ImageInput}, or whatever the entry point's
 * reader accepts, e.g. file paths in Node) -> preprocess (Pillow-exact) -> batched forward -> top-k /
 * pooled embeddings. Results keep input order. Decoding of the next image overlaps nothing yet;
 * the forward dominates (see the README's timings).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '../image/errors.js';
import { toRgbImage, type ImageInput } from '../image/input.js';
import { preprocess, type ProcessedImage, type ProcessorConfig } from '../image/processor.js';
import { imageSourceName, imageStringKind } from '../image/source.js';
import { WeightsError } from '../checkpoint/weights.js';
import { disposeOutput, InputError, settleBackends, type BeitModel, type ForwardOutput } from '../model/model.js';
import { patchMean } from '../model/heads.js';
import { SCORE_FUNCTIONS, topK, type Prediction, type ScoreFunction } from './predictions.js';

/** Turns one input into an 8-bit RGB image. Entry points extend it (file paths, Blobs, ...). */
export type ImageReader<I> = (input: I) => Promise<RgbImage>;

/** The default reader: encoded bytes, raw pixels or a tensor. */
export const readImageInput: ImageReader<ImageInput> = (input) => toRgbImage(input);

/** Options of {@link classifyImages}. */
export interface ClassifyOptions {
  /** Number of classes per image (default 5). */
  readonly topK?: number;
  /**
   * How logits become scores, as transformers' `function_to_apply`: default `sigmoid` for a
   * `multi_label_classification` checkpoint or a single class, else `softmax`; `none` gives logits.
   */
  readonly functionToApply?: ScoreFunction;
  /** Images per forward (default 8). */
  readonly batchSize?: number;
  /** Called after each batch with the number of images done. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Options of {@link embedImages}. */
export interface EmbedOptions {
  readonly batchSize?: number;
  /** Also return each layer's attention probabilities `[heads, tokens, tokens]` per image. */
  readonly outputAttentions?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

/** One image's embedding. */
export interface Embedding {
  /** The pooled output `[hidden]` (mean of patch tokens for models without a pooler). */
  readonly embedding: Float32Array;
  /** Per layer `[heads, tokens, tokens]` row-major, when requested. */
  readonly attentions?: Float32Array[];
}

/** Checks a processed image fits the model and returns its pixels. */
export function checkProcessed(model: BeitModel, p: Pick<ProcessedImage, 'height' | 'width' | 'pixelValues'>, name: string): Float32Array {
  const [h, w] = model.config.image_size;
  if (model.config.num_channels !== 3) {
    // load_image gives RGB; transformers' patch embedding refuses the channel mismatch the same way.
    throw new InputError(`${name}: images are RGB (3 channels) but the model's config.json says num_channels `
      + `${model.config.num_channels}; pass pixel values of that many channels to forward() instead.`);
  }
  if (p.height !== h || p.width !== w) {
    throw new InputError(`${name}: the preprocessor produces ${p.height}x${p.width} pixels but the model expects ${h}x${w}; ` +
      'check preprocessor_config.json (size / crop_size) against config.json image_size.');
  }
  return p.pixelValues;
}

/**
 * Refuses NaN / ±Infinity outputs: pixels are finite, so they come from the checkpoint (non-finite
 * weights, or values that overflow float32). Ranked labels or embeddings made of them are nonsense;
 * Hugging Face transformers returns the NaNs silently.
 */
export function checkFinite(values: Float32Array, what: string, start: number, images: number): void {
  const per = values.length / images;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      const image = start + Math.floor(i / per);
      throw new WeightsError(`the forward pass gave non-finite ${what} (${values[i]}) for image ${image}: the checkpoint's `
        + 'weights hold NaN or infinite values, or values so large that float32 overflows.');
    }
  }
}

/**
 * Runs batches of CHW pixel arrays through the model; `each` receives a batch's logits (`need`
 * `logits`) or embeddings. Without attentions it runs the logits forward (`forwardPooled`), which
 * skips work in the last layer, unless an embedding must fall back to the patch-token mean of
 * `last_hidden_state` (models without a pooler).
 */
async function inBatches(model: BeitModel, pixels: Float32Array[], batchSize: number, need: 'logits' | 'embedding',
  outputAttentions: boolean, each: (start: number, out: { values: Float32Array; attentions?: Float32Array[] }) => void,
  onProgress?: (done: number, total: number) => void, offset = 0): Promise<void> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`batchSize must be a positive integer, got ${batchSize}.`);
  const [h, w] = model.config.image_size;
  const c = model.config.num_channels;
  const per = c * h * w;
  const pooledOnly = !outputAttentions && (need === 'logits' || model.hasPooledOutput);
  for (let start = 0; start < pixels.length; start += batchSize) {
    const chunk = pixels.slice(start, start + batchSize);
    const data = new Float32Array(chunk.length * per);
    chunk.forEach((p, i) => data.set(p, i * per));
    const input = { data, shape: [chunk.length, c, h, w] as [number, number, number, number] };
    await settleBackends(); // another model's backend may be starting (loads on several backends at once)
    const out: Partial<ForwardOutput> = pooledOnly ? model.forwardPooled(input) : model.forward(input, { outputAttentions });
    try {
      const valuesT = need === 'logits' ? out.logits! : out.pooledOutput ?? tf.tidy(() => patchMean(out.lastHiddenState!));
      const values = (await valuesT.data()) as Float32Array;
      if (valuesT !== out.logits && valuesT !== out.pooledOutput) valuesT.dispose();
      const attentions = outputAttentions ? await Promise.all(out.attentions!.map(async (a) => (await a.data()) as Float32Array)) : undefined;
      checkFinite(values, need === 'logits' ? 'logits' : 'pooled output', offset + start, chunk.length);
      each(start, { values, attentions });
    } finally {
      disposeOutput(out);
    }
    onProgress?.(Math.min(start + batchSize, pixels.length), pixels.length);
  }
}

/**
 * Ranked predictions for preprocessed pixel arrays (`[C, H, W]` each). `offset`: the index of the first
 * array among the caller's images, for messages.
 */
export async function classifyPixels(model: BeitModel, pixels: Float32Array[], options: ClassifyOptions = {}, offset = 0): Promise<Prediction[][]> {
  if (!model.hasHead) throw new InputError('this checkpoint has no classification head (a *Model checkpoint): use embed() (CLI: beit embed).');
  const k = options.topK ?? 5;
  if (!Number.isInteger(k) || k < 1) throw new InputError(`topK must be a positive integer, got ${k}.`);
  const fn = options.functionToApply ?? model.scoreFunction;
  if (!SCORE_FUNCTIONS.includes(fn)) throw new InputError(`functionToApply must be one of ${SCORE_FUNCTIONS.join(', ')}, got ${JSON.stringify(fn)}.`);
  const results: Prediction[][] = new Array(pixels.length);
  const L = model.numLabels;
  await inBatches(model, pixels, options.batchSize ?? 8, 'logits', false, (start, out) => {
    for (let i = 0; start + i < pixels.length && i * L < out.values.length; i++) {
      results[start + i] = topK(out.values.subarray(i * L, (i + 1) * L), k, model.id2label, fn);
    }
  }, options.onProgress, offset);
  return results;
}

/** Pooled embeddings (and optionally attentions) for preprocessed pixel arrays (`offset` as in classifyPixels). */
export async function embedPixels(model: BeitModel, pixels: Float32Array[], options: EmbedOptions = {}, offset = 0): Promise<Embedding[]> {
  const results: Embedding[] = new Array(pixels.length);
  const D = model.embeddingSize;
  const H = model.config.num_attention_heads, T = model.numTokens;
  await inBatches(model, pixels, options.batchSize ?? 8, 'embedding', options.outputAttentions ?? false, (start, out) => {
    const n = out.values.length / D;
    for (let i = 0; i < n; i++) {
      results[start + i] = {
        embedding: out.values.slice(i * D, (i + 1) * D),
        ...(out.attentions ? { attentions: out.attentions.map((a) => a.slice(i * H * T * T, (i + 1) * H * T * T)) } : {}),
      };
    }
  }, options.onProgress, offset);
  return results;
}

/**
 * Reads and runs `inputs` one batch at a time: a batch is read and preprocessed ({@link preprocessAll}),
 * handed to `run` with its offset in `inputs`, and its pixels dropped before the next batch is read,
 * so memory holds one batch of pixels however many inputs there are.
 */
export async function inReadBatches<I, R>(model: BeitModel, processor: ProcessorConfig, reader: ImageReader<I>,
  inputs: readonly I[], batchSize: number, run: (pixels: Float32Array[], offset: number) => Promise<R[]>,
  prefetch?: PixelPrefetcher<I>): Promise<R[]> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError(`batchSize must be a positive integer, got ${batchSize}.`);
  const out: R[] = [];
  if (prefetch) {
    // Every input of the next batch is started before the current batch runs; a batch's first error
    // (in input order) is thrown once the whole batch has settled. Inputs the prefetcher declines are
    // read here, at most readConcurrency() at a time, as preprocessAll reads them.
    const start = (from: number) => {
      const batch = inputs.slice(from, from + batchSize);
      const limit = limiter(readConcurrency(batch));
      return batch.map((input, i) => settle(prefetch(input) ?? limit(() => readPixels(model, processor, reader, input, from + i))));
    };
    let ahead = start(0);
    for (let offset = 0; offset < inputs.length; offset += batchSize) {
      const read = await Promise.all(ahead);
      const failed = read.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      ahead = offset + batchSize < inputs.length ? start(offset + batchSize) : [];
      out.push(...await run(read.map((r) => (r as PromiseFulfilledResult<Float32Array>).value), offset));
    }
    return out;
  }
  for (let offset = 0; offset < inputs.length; offset += batchSize) {
    const pixels = await preprocessAll(model, processor, reader, inputs.slice(offset, offset + batchSize), offset);
    out.push(...await run(pixels, offset));
  }
  return out;
}

/**
 * Reads one input straight to checked model pixels elsewhere (Node: on a worker thread), or returns
 * undefined for an input it does not take, which is then read as usual.
 */
export type PixelPrefetcher<I> = (input: I) => Promise<Float32Array> | undefined;

/** Runs the tasks given to the returned function at most `n` at a time, in the order given. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return (task) => new Promise((resolve, reject) => {
    const go = () => {
      running++;
      let p: Promise<unknown>;
      try { p = task(); } catch (e) { p = Promise.reject(e); } // a task that throws before its promise
      p.then(resolve as (v: unknown) => void, reject).finally(() => { running--; waiting.shift()?.(); });
    };
    if (running < n) go(); else waiting.push(go);
  });
}

/** `p`'s outcome as Promise.allSettled reports it (never rejects, so a batch read ahead cannot go unhandled). */
export function settle<T>(p: Promise<T>): Promise<PromiseSettledResult<T>> {
  return p.then((value) => ({ status: 'fulfilled', value }), (reason: unknown) => ({ status: 'rejected', reason }));
}

/** Reads, preprocesses and checks one input (`index`: its position, for inputs without a name). */
async function readPixels<I>(model: BeitModel, processor: ProcessorConfig, reader: ImageReader<I>, input: I, index: number): Promise<Float32Array> {
  const img = await reader(input);
  return checkProcessed(model, preprocess(img, processor), typeof input === 'string' ? imageSourceName(input) : `image ${index}`);
}

/** Images read at once by {@link preprocessAll} when some are http(s) URLs: downloads overlap. */
export const READ_CONCURRENCY = 8;
/**
 * Images read at once when none is a URL. Decoders yield between strips (TIFF), so images read
 * together are decoded interleaved, each holding its full-size pixels (26 MB for a 300-dpi A4 page as
 * RGB): two keep reading a file overlapped with decoding another without 8 pages in memory at once.
 */
export const LOCAL_READ_CONCURRENCY = 2;

/** How many of `inputs` to read at once: {@link READ_CONCURRENCY} if any is an http(s) URL, else {@link LOCAL_READ_CONCURRENCY}. */
export function readConcurrency(inputs: readonly unknown[]): number {
  return inputs.some((i) => typeof i === 'string' && imageStringKind(i) === 'url') ? READ_CONCURRENCY : LOCAL_READ_CONCURRENCY;
}

/**
 * `fn` over `items` with at most `limit` calls in flight, every item run; the outcomes in input order
 * (as `Promise.allSettled`). For reading a batch of images that may be URLs without opening a
 * connection per image of a large batch.
 */
export function settleLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const run = limiter(limit);
  return Promise.all(items.map((item) => settle(run(() => fn(item)))));
}

/**
 * Decodes and preprocesses every input, in input order (errors name the input). Up to
 * {@link readConcurrency} inputs are read at once, so a list of URLs downloads in parallel; after
 * the first error no further input is started.
 */
export async function preprocessAll<I>(model: BeitModel, processor: ProcessorConfig, reader: ImageReader<I>, inputs: readonly I[],
  offset = 0): Promise<Float32Array[]> {
  const out = new Array<Float32Array>(inputs.length);
  let next = 0, failed = false;
  const lane = async () => {
    while (!failed && next < inputs.length) {
      const i = next++;
      try {
        out[i] = await readPixels(model, processor, reader, inputs[i]!, offset + i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(readConcurrency(inputs), inputs.length) }, lane));
  return out;
}

export type { Prediction, ImageInput };
