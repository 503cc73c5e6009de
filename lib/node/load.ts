/**
 * `loadModel` for Node: a checkpoint folder -> a model on the chosen backend.
 */
import { selectBackend, type BackendName } from '../backend/select.js';
import { buildModel, type BuildOptions } from '../checkpoint/build.js';
import type { BeitModel } from '../model/model.js';
import { readCheckpointDir } from './checkpoint-dir.js';

/** Options of {@link loadModel}. */
export interface LoadOptions extends BuildOptions {
  /** tfjs backend: `native`, `tensorflow`, `wasm` or `cpu`. Default: env `BEIT_BACKEND`, else the fastest available. */
  readonly backend?: BackendName | string;
}

/** A loaded model plus the backend it runs on. */
export type LoadedModel = BeitModel & { readonly backend: BackendName };

/**
 * Loads a Hugging Face checkpoint folder (`config.json` + `model.safetensors` or sharded safetensors).
 * @example
 * const model = await loadModel('weights/data2vec-vision-base-ft1k', { backend: 'wasm' });
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const backend = await selectBackend(options.backend);
  const files = readCheckpointDir(dir);
  const model = buildModel(files.configText, files.configFile, files.tensors, files.weightsFile, options);
  return Object.assign(model, { backend }) as LoadedModel;
}
