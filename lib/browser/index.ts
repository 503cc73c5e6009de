/**
 * tfjs-beit for browsers: the same engine as the Node entry (config, strict weight mapping, model,
 * Pillow-exact preprocessing, PNG/JPEG/WebP/GIF/BMP/TIFF decoding), with HTTP loading into Cache Storage, browser image
 * inputs and the webgpu / webgl / wasm / cpu backends. Nothing here imports a Node built-in; the
 * bundle (`npm run build:browser`) checks that by building for `--platform=browser`.
 *
 * The bundle carries its own TensorFlow.js; use the `tf` exported here so that tensors you create
 * live in the same engine as the model's.
 *
 * @example
 * import { loadModel } from 'tfjs-beit/browser';
 * const model = await loadModel('facebook/data2vec-vision-base-ft1k', { backend: 'webgl' });
 * const [top5] = await model.classify([fileInput.files[0]]);
 */
import * as tf from '@tensorflow/tfjs-core';

export { tf };
export { loadModel, type BrowserLoadOptions, type BrowserModel } from './load.js';
export { readBrowserImage, setJpegWasmUrl, initBrowserJpeg, setWebpWasmUrl, initBrowserWebp, type BrowserImageInput } from './image.js';
export { selectBrowserBackend, setWasmPrefix, activeBackend, BROWSER_ORDER } from './backends.js';
export { checkpointBase, fetchCheckpoint, parseSafetensors, type RemoteCheckpoint } from './checkpoint.js';
export { fetchFile, clearCache, CACHE_NAME, FetchError, type FileProgress, type FetchFileOptions, type FileExpectation } from './fetch-files.js';
export { ImageModel } from '../pipeline/image-model.js';
export { BeitModel, disposeOutput, InputError, type ForwardOptions, type ForwardOutput, type PixelInput, type PooledForwardOutput } from '../model/model.js';
export type { ClassifyOptions, EmbedOptions, Embedding } from '../pipeline/pipeline.js';
export { topK, softmax, sigmoid, type Prediction, type ScoreFunction } from '../pipeline/predictions.js';
export { parseConfig, ConfigError, SUPPORTED_MODEL_TYPES, type ModelConfig } from '../checkpoint/config.js';
export { WeightsError } from '../checkpoint/weights.js';
export { toleranceFor } from '../checkpoint/parity.js';
export { BackendError, type BackendName } from '../backend/select.js';
export { SafetensorsError, type HostTensor } from '../io/safetensors.js';
export { decodeImage, ImageError, type RgbImage, type DecodeOptions } from '../image/decode.js';
export type { FetchImageOptions } from '../image/source.js';
export { parseProcessorConfig, preprocess, ProcessorError, type ProcessorConfig, type ProcessedImage } from '../image/processor.js';
export {
  attentionForPixels, attentionMapsOf, clsToPatchAttention, resolveLayer,
  type AttentionMap, type AttentionResult,
} from '../pipeline/attention.js';
export { overlayAttention, modelRegion, jet, type OverlayOptions, type Region, type RgbaImage } from '../pipeline/attention-overlay.js';
export { version } from '../version.js';
