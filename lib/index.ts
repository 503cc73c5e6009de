/**
 * tfjs-beit — BEiT / Data2Vec-Vision / ViT inference over TensorFlow.js, from Hugging Face
 * checkpoints, with the reference's outputs. This is the Node entry point; importing it runs nothing
 * beyond registering optional backends.
 *
 * @example
 * import { loadModel } from 'tfjs-beit';
 * const model = await loadModel('weights/data2vec-vision-base-ft1k');
 * const [predictions] = await model.classify(['cat.jpg'], { topK: 3 });
 * model.dispose();
 */
export { loadModel, type LoadOptions, type NodeModel, type NodeImageInput } from './node/load.js';
export { ImageModel } from './pipeline/image-model.js';
export { BeitModel, disposeOutput, settleBackends, InputError, type ForwardOptions, type ForwardOutput, type PixelInput, type PooledForwardOutput } from './model/model.js';
export type { ClassifyOptions, EmbedOptions, Embedding } from './pipeline/pipeline.js';
export { topK, softmax, sigmoid, type Prediction, type ScoreFunction } from './pipeline/predictions.js';
export { parseConfig, validateConfig, ConfigError, SUPPORTED_MODEL_TYPES, type ModelConfig } from './checkpoint/config.js';
export { mapWeights, WeightsError } from './checkpoint/weights.js';
export { compareOutputs, type ParityRow } from './checkpoint/parity.js';
export { selectBackend, KNOWN_BACKENDS, BackendError, type BackendName } from './backend/select.js';
export { SafetensorsError, encodeSafetensors, type HostTensor } from './io/safetensors.js';
export { readSafetensorsFile, writeSafetensorsFile, readSafetensorsHeader } from './node/safetensors-file.js';
export { decodeImage, ImageError, DEFAULT_MAX_PIXELS, PILLOW_MAX_IMAGE_PIXELS, type RgbImage, type DecodeOptions } from './image/decode.js';
export { toRgbImage, type ImageInput, type RawPixels } from './image/input.js';
export { parseProcessorConfig, defaultProcessorConfig, preprocess, ProcessorError, type ProcessorConfig, type ProcessedImage } from './image/processor.js';
export { resize, Resample } from './image/resample.js';
export { readImageFile, readImageString } from './node/image-file.js';
export type { FetchImageOptions } from './image/source.js';
export { resolveModel, downloadModel, HubError, type HubOptions } from './node/hub.js';
export { version } from './version.js';
export { convertCheckpoint, type ConvertOptions, type ConvertResult } from './node/convert.js';
export { PickleError } from './io/pickle.js';
export {
  attentionForPixels, attentionMapsOf, clsToPatchAttention, resolveLayer, type AttentionMap, type AttentionResult,
} from './pipeline/attention.js';
export { overlayAttention, modelRegion, jet, type OverlayOptions, type Region, type RgbaImage } from './pipeline/attention-overlay.js';
