/**
 * `loadModel` for browsers, the counterpart of lib/node/load.ts: fetch the checkpoint over HTTP
 * (cached in Cache Storage), pick a browser backend, and build the same {@link ImageModel} with a
 * reader for browser image inputs.
 */
import type { BackendName } from '../backend/select.js';
import { buildImageModel, type BuildOptions } from '../checkpoint/build.js';
import { settleBackends } from '../model/model.js';
import type { DecodeOptions } from '../image/decode.js';
import type { ImageModel } from '../pipeline/image-model.js';
import { selectBrowserBackend, setWasmPrefix } from './backends.js';
import { checkpointBase, fetchCheckpoint } from './checkpoint.js';
import type { FileProgress } from './fetch-files.js';
import { readBrowserImage, setJpegWasmUrl, setWebpWasmUrl, type BrowserImageInput } from './image.js';
import type { FetchImageOptions } from '../image/source.js';

/** Options of {@link loadModel} in the browser. */
export interface BrowserLoadOptions extends BuildOptions {
  /** `webgpu`, `webgl`, `wasm` or `cpu`. Default: the first of those that initialises here. */
  readonly backend?: BackendName | string;
  /** Progress of each file: `{ file, loaded, total, cached }` (`total` undefined until known; the last report has `loaded === total`). */
  readonly onProgress?: (p: FileProgress) => void;
  /** Keep the files in Cache Storage so that a reload does not download again (default true). */
  readonly cache?: boolean;
  /** The fetch to use (default `globalThis.fetch`), e.g. to add headers. */
  readonly fetch?: typeof fetch;
  /** A server silent this long (no answer, or no data mid-file) ends the load with an error; default 30000 ms, 0 never. */
  readonly timeoutMs?: number;
  /** Hub revision for repo ids (default `main`). */
  readonly revision?: string;
  /** Folder URL of `tfjs-backend-wasm*.wasm` (default: the bundle's folder). */
  readonly wasmPaths?: string;
  /** URL of `mozjpeg_dec.wasm` (default: next to the bundle). */
  readonly jpegWasmUrl?: string;
  /** URL of `webp_dec.wasm` (default: next to the bundle; fetched on the first WebP image). */
  readonly webpWasmUrl?: string;
  /** Image decoding options (e.g. `maxPixels`). */
  readonly decode?: Omit<DecodeOptions, 'name'>;
  /** Fetching images given as URL strings: `fetch`, idle `timeoutMs` (30 s), `maxBytes` (256 MiB). */
  readonly imageFetch?: FetchImageOptions;
}

/** A model loaded in a browser. */
export type BrowserModel = ImageModel<BrowserImageInput>;

/**
 * Loads a checkpoint from a folder URL (`/models/my-beit/`, `https://example.com/ckpt/`) or a
 * Hugging Face repo id (`facebook/data2vec-vision-base-ft1k`).
 * @example
 * const model = await loadModel('facebook/data2vec-vision-base-ft1k', {
 *   onProgress: ({ file, loaded, total }) => console.log(file, loaded, total) });
 * const [top5] = await model.classify([fileInput.files[0]]);
 */
export async function loadModel(urlOrRepoId: string, options: BrowserLoadOptions = {}): Promise<BrowserModel> {
  if (options.wasmPaths) setWasmPrefix(options.wasmPaths);
  if (options.jpegWasmUrl) setJpegWasmUrl(options.jpegWasmUrl);
  if (options.webpWasmUrl) setWebpWasmUrl(options.webpWasmUrl);
  const base = checkpointBase(urlOrRepoId, options.revision);
  const fetchOptions = {
    cache: options.cache ?? true,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
  // The backend first: a wrong name or a backend that cannot start is reported before a large download.
  const backend = await selectBrowserBackend(options.backend);
  const ckpt = await fetchCheckpoint(base, fetchOptions);
  const processor = ckpt.processorText === undefined ? undefined
    : { text: ckpt.processorText, file: `${base}preprocessor_config.json` };
  await settleBackends(); // another load may be starting another backend: tensors cannot be made meanwhile
  const decode = { ...options.decode, onWarning: options.decode?.onWarning ?? options.onWarning ?? ((m: string) => console.warn(m)) };
  return buildImageModel<BrowserImageInput>({
    configText: ckpt.configText, configFile: `${base}config.json`, tensors: ckpt.tensors,
    checkpointName: ckpt.weightsUrl, processor, backend,
    reader: (input) => readBrowserImage(input, decode, options.imageFetch),
  }, options);
}
