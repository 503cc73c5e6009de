/**
 * The model users get from `loadModel`: the forward of {@link BeitModel} plus its image processor,
 * so that `classify` and `embed` go from images to labels / embeddings exactly like the HF pipeline.
 * `I` is what the entry point can read: {@link ImageInput} everywhere, plus file paths in Node
 * and Blobs / image elements in browsers.
 */
import type { ModelConfig } from '../checkpoint/config.js';
import type { ModelWeights } from '../checkpoint/weights.js';
import { preprocess, type ProcessedImage, type ProcessorConfig } from '../image/processor.js';
import { BeitModel, InputError } from '../model/model.js';
import { imageSourceName } from '../image/source.js';
import {
  checkProcessed, classifyPixels, embedPixels, inReadBatches,
  type ClassifyOptions, type EmbedOptions, type Embedding, type ImageReader, type PixelPrefetcher,
} from './pipeline.js';
import type { Prediction } from './predictions.js';

/** A loaded model with its preprocessing. */
export class ImageModel<I> extends BeitModel {
  /** The validated `preprocessor_config.json` (or the defaults derived from `image_size`). */
  readonly processor: ProcessorConfig;
  /** The tfjs backend the model's tensors live on. */
  readonly backend: string;
  private readonly reader: ImageReader<I>;
  private prefetch: PixelPrefetcher<I> | undefined;
  private closePrefetch: (() => void) | undefined;

  /** Prefer `loadModel`. */
  constructor(config: ModelConfig, weights: ModelWeights, processor: ProcessorConfig, reader: ImageReader<I>, backend: string) {
    super(config, weights);
    this.processor = processor;
    this.reader = reader;
    this.backend = backend;
  }

  /**
   * Lets `classify` and `embed` read inputs through `prefetch` (Node: worker threads), the next batch
   * while the current one runs; `close` runs on dispose(). Set by `loadModel`'s `decodeWorkers`.
   */
  setPrefetcher(prefetch: PixelPrefetcher<I> | undefined, close?: () => void): void {
    this.closePrefetch?.();
    this.prefetch = prefetch;
    this.closePrefetch = close;
  }

  /** Frees the weights (and stops the decode workers, if any). */
  override dispose(): void {
    this.closePrefetch?.();
    this.closePrefetch = undefined;
    this.prefetch = undefined;
    super.dispose();
  }

  /** Decodes and preprocesses one image exactly like the HF image processor (u8 image + CHW pixels). */
  async preprocess(image: I): Promise<ProcessedImage> {
    const p = preprocess(await this.reader(image), this.processor);
    checkProcessed(this, p, typeof image === 'string' ? imageSourceName(image) : 'image');
    return p;
  }

  /**
   * Top-k labels per image, sorted by score (softmax probabilities over all classes).
   * @example const [preds] = await model.classify(['cat.jpg'], { topK: 3 });
   */
  async classify(images: readonly I[], options: ClassifyOptions = {}): Promise<Prediction[][]> {
    checkList(images);
    const progress = options.onProgress;
    if (!images.length) return classifyPixels(this, [], options); // checks the options and the head all the same
    return inReadBatches(this, this.processor, this.reader, images, options.batchSize ?? 8, (pixels, offset) =>
      classifyPixels(this, pixels, { ...options, onProgress: progress && ((d) => progress(offset + d, images.length)) }, offset), this.prefetch);
  }

  /** The pooled embedding of each image (optionally with every layer's attention maps). */
  async embed(images: readonly I[], options: EmbedOptions = {}): Promise<Embedding[]> {
    checkList(images);
    const progress = options.onProgress;
    return inReadBatches(this, this.processor, this.reader, images, options.batchSize ?? 8, (pixels, offset) =>
      embedPixels(this, pixels, { ...options, onProgress: progress && ((d) => progress(offset + d, images.length)) }, offset), this.prefetch);
  }
}

/** A single image where a list was expected (a string would be read one character at a time). */
function checkList(images: unknown): void {
  if (!Array.isArray(images)) {
    throw new InputError(`images must be an array (one entry per image), got ${typeof images === 'string' ? 'a string: wrap it in [ ]' : typeof images}.`);
  }
}
