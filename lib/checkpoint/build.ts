/**
 * Config text + checkpoint tensors (+ processor config) -> a ready {@link ImageModel}. Shared by the
 * Node and browser entry points, which differ only in how they fetch bytes and read images.
 */
import type { HostTensor } from '../io/safetensors.js';
import { defaultProcessorConfig, isFastProcessor, parseProcessorConfig, type ProcessorConfig } from '../image/processor.js';
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, useBackend } from '../backend/select.js';
import { ImageModel } from '../pipeline/image-model.js';
import type { ImageReader } from '../pipeline/pipeline.js';
import { parseConfig, type ModelConfig } from './config.js';
import { mapWeights } from './weights.js';

/** Options shared by every way of loading a model. */
export interface BuildOptions {
  /** Receives warnings (tensors the model does not use). Default: `console.warn`. */
  readonly onWarning?: (message: string) => void;
  /** Receives notices (default preprocessing in effect). Default: `onWarning`. */
  readonly onNotice?: (message: string) => void;
}

/** What an entry point hands over to build a model. */
export interface BuildInputs<I> {
  readonly configText: string;
  readonly configFile: string;
  readonly tensors: ReadonlyMap<string, HostTensor>;
  readonly checkpointName: string;
  /**
   * The processor config: parsed, or the text of `preprocessor_config.json` (parsed here, where the model
   * type is known for a config that names no processor class); undefined derives the defaults from `image_size`.
   */
  readonly processor?: ProcessorConfig | { readonly text: string; readonly file: string };
  readonly reader: ImageReader<I>;
  readonly backend: string;
}

/** Validates the config, maps the tensors and creates the model on the active backend. */
export function buildImageModel<I>(inputs: BuildInputs<I>, options: BuildOptions = {}): ImageModel<I> {
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const config: ModelConfig = parseConfig(inputs.configText, inputs.configFile);
  const mapped = mapWeights(config, inputs.tensors, inputs.checkpointName);
  if (mapped.unused.length) {
    warn(`Some weights of ${inputs.checkpointName} were not used by the ${config.model_type} model: ${mapped.unused.join(', ')}.`);
  }
  for (const n of mapped.notices) (options.onNotice ?? warn)(n);
  const family = config.model_type === 'vit' ? 'vit' : 'beit';
  const given = inputs.processor;
  let processor = given && 'text' in given ? parseProcessorConfig(given.text, given.file, family) : given;
  if (!processor) {
    processor = defaultProcessorConfig(config.image_size, family);
    (options.onNotice ?? warn)(`No preprocessor_config.json for ${inputs.checkpointName}: using ${family} defaults for ${config.image_size.join('x')} images.`);
  } else if (isFastProcessor(processor)) {
    const slow = processor.image_processor_type.replace(/Fast$/, '');
    (options.onNotice ?? warn)(`preprocessor_config.json names ${processor.image_processor_type}: images are preprocessed as ${slow} does `
      + '(Pillow, what transformers runs with use_fast=False); the fast processor\'s torchvision resize can differ by a few levels per pixel.');
  }
  // The model's tensors are created on the active backend: make it the requested one again, synchronously
  // (another model may have been loaded on another backend since it was selected).
  if (inputs.backend !== 'current' && !useBackend(inputs.backend)) {
    throw new BackendError(`backend "${inputs.backend}" is not initialised.`);
  }
  return new ImageModel(config, mapped.weights, processor, inputs.reader, inputs.backend === 'current' ? tf.getBackend() : inputs.backend);
}

/** Builds a model from config text and tensors alone (no images; tests and tools). */
export function buildModel(configText: string, configFile: string, tensors: ReadonlyMap<string, HostTensor>,
  checkpointName: string, options: BuildOptions = {}): ImageModel<never> {
  return buildImageModel<never>({
    configText, configFile, tensors, checkpointName, backend: 'current',
    reader: () => Promise.reject(new Error('this model was built without an image reader')),
    processor: defaultProcessorConfig(parseConfig(configText, configFile).image_size),
  }, options);
}
