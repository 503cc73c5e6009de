/**
 * `loadModel` for Node: a checkpoint folder or a hub repo id -> a model on the chosen backend,
 * with its image processor and a reader that also accepts file paths.
 */
import { settleBackends } from '../model/model.js';
import fs from 'node:fs';
import path from 'node:path';
import { selectBackend, type BackendName } from '../backend/select.js';
import { buildImageModel, type BuildOptions } from '../checkpoint/build.js';
import type { ImageInput } from '../image/input.js';
import type { DecodeOptions } from '../image/decode.js';
import { toRgbImage } from '../image/input.js';
import type { ImageModel } from '../pipeline/image-model.js';
import { readCheckpointDir } from './checkpoint-dir.js';
import { resolveModel, type HubOptions } from './hub.js';
import { readImageString } from './image-file.js';
import { imageSourceName, imageStringKind, type FetchImageOptions } from '../image/source.js';
import { checkProcessed } from '../pipeline/pipeline.js';
import { PreprocessPool } from './preprocess-pool.js';
import { initImageDecodersForNode } from './image-codecs.js';
import { readProcessorText } from './processor-file.js';
import './backends.js';
import { takeNativeFallbackNotice, takeThreadsNotice } from './native-backend.js';

/**
 * What a Node model's `classify` / `embed` accept: any {@link ImageInput}, or a string as `transformers`'
 * `load_image` takes it: a file path, an http(s) URL, a `data:image/...;base64,` URL or base64 image bytes.
 */
export type NodeImageInput = string | ImageInput;

/** Options of {@link loadModel}. */
export interface LoadOptions extends BuildOptions {
  /** tfjs backend: `native`, `tensorflow`, `wasm` or `cpu`. Default: env `BEIT_BACKEND`, else the fastest available. */
  readonly backend?: BackendName | string;
  /** Hub download options when `dirOrRepoId` is a repo id (revision, cache folder, token, ...). */
  readonly hub?: HubOptions;
  /** Image decoding options (e.g. `maxPixels`). */
  readonly decode?: Omit<DecodeOptions, 'name'>;
  /** Downloading images given as http(s) URLs: `fetch`, idle `timeoutMs` (30 s), `maxBytes` (256 MiB). */
  readonly imageFetch?: FetchImageOptions;
  /**
   * Worker threads that read, decode and resize the image strings (paths, URLs, data URLs) given to
   * `classify` and `embed`, the next batch while the current one runs (default 0: read on the calling
   * thread). Worth it for large photos on `native`, whose decoding otherwise leaves a core idle: 48
   * 12-megapixel JPEGs took 15 s with 2 workers instead of 19 s. Started on first use, stopped by
   * `dispose()`. URLs are read on the calling thread when `imageFetch` is given (a fetch function
   * cannot cross threads).
   */
  readonly decodeWorkers?: number;
}

/** A model loaded in Node. */
export type NodeModel = ImageModel<NodeImageInput>;

/**
 * Loads a Hugging Face checkpoint: a folder (`config.json`, optional `preprocessor_config.json`,
 * `model.safetensors` or sharded safetensors) or a hub repo id, downloaded on first use.
 * @example
 * const model = await loadModel('facebook/data2vec-vision-base-ft1k');
 * const [top] = await model.classify(['cat.jpg'], { topK: 3 });
 * model.dispose();
 */
export async function loadModel(dirOrRepoId: string, options: LoadOptions = {}): Promise<NodeModel> {
  const workers = options.decodeWorkers ?? 0;
  if (!Number.isInteger(workers) || workers < 0) throw new RangeError(`decodeWorkers must be a non-negative integer, got ${String(workers)}.`);
  // The load's own onNotice also hears the download's notices (retries, lock waits) unless the hub options say otherwise.
  const dir = await resolveModel(dirOrRepoId, { ...options.hub, onNotice: options.hub?.onNotice ?? options.onNotice });
  const backend = await selectBackend(options.backend);
  if (!options.backend && !process.env.BEIT_BACKEND) {
    // Picked by default: a missing addon costs several times the speed, so say why once per process.
    const why = takeNativeFallbackNotice();
    if (why) (options.onWarning ?? ((m: string) => console.warn(m)))(`tfjs-beit runs on ${backend}, several times slower than its native backend: ${why}.`);
  }
  if (backend === 'native') {
    const threads = takeThreadsNotice();
    if (threads) (options.onWarning ?? ((m: string) => console.warn(m)))(threads);
  }
  const files = readCheckpointDir(dir);
  const procFile = path.join(dir, 'preprocessor_config.json');
  const processor = fs.existsSync(procFile) ? { text: readProcessorText(procFile), file: procFile } : undefined;
  const decode = { ...options.decode, onWarning: options.decode?.onWarning ?? options.onWarning ?? ((m: string) => console.warn(m)) };
  const reader = async (input: NodeImageInput) => {
    if (typeof input === 'string') return readImageString(input, decode, options.imageFetch);
    await initImageDecodersForNode();
    return toRgbImage(input, decode);
  };
  await settleBackends(); // another load may be starting another backend: tensors cannot be made meanwhile
  const model = buildImageModel({
    configText: files.configText, configFile: files.configFile, tensors: files.tensors,
    checkpointName: files.weightsFile, processor, reader, backend,
  }, options);
  if (workers > 0) {
    let pool: PreprocessPool | undefined;
    model.setPrefetcher((input) => {
      if (typeof input !== 'string' || (options.imageFetch && imageStringKind(input) === 'url')) return undefined;
      pool ??= new PreprocessPool(model.processor, {
        workers, onWarning: decode.onWarning,
        ...(decode.maxPixels !== undefined ? { maxPixels: decode.maxPixels } : {}),
        ...(decode.exifTranspose !== undefined ? { exifTranspose: decode.exifTranspose } : {}),
      });
      return pool.preprocess(input).then((p) => checkProcessed(model, p, imageSourceName(input)));
    }, () => { void pool?.close(); pool = undefined; });
  }
  return model;
}
