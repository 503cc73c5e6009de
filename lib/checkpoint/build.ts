/**
 * Config text + checkpoint tensors -> a ready {@link BeitModel}. Shared by the Node and browser
 * entry points, which differ only in how they fetch the bytes.
 */
import type { HostTensor } from '../io/safetensors.js';
import { BeitModel } from '../model/model.js';
import { parseConfig, type ModelConfig } from './config.js';
import { mapWeights } from './weights.js';

/** Options shared by every way of loading a model. */
export interface BuildOptions {
  /** Receives warnings (unused tensors). Default: `console.warn`. */
  readonly onWarning?: (message: string) => void;
}

/** Validates the config, maps the tensors and creates the model on the active backend. */
export function buildModel(configText: string, configFile: string, tensors: ReadonlyMap<string, HostTensor>,
  checkpointName: string, options: BuildOptions = {}): BeitModel {
  const config: ModelConfig = parseConfig(configText, configFile);
  const mapped = mapWeights(config, tensors, checkpointName);
  if (mapped.unused.length) {
    const warn = options.onWarning ?? ((m: string) => console.warn(m));
    warn(`Some weights of ${checkpointName} were not used by the ${config.model_type} model: ${mapped.unused.join(', ')}.`);
  }
  return new BeitModel(config, mapped.weights);
}
