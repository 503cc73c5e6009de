/**
 * Backend choice and initialisation. Order of preference in Node: `native` (this project's addon,
 * when it was built at install), `tensorflow` (tfjs-node, only when the user installed it), `wasm`
 * (always available from npm), `cpu` (pure JS, slow). The choice comes from the API option, else the
 * `BEIT_BACKEND` environment variable, else the first available of that list.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

/** Backend names understood by {@link selectBackend}. */
export const KNOWN_BACKENDS = ['native', 'tensorflow', 'wasm', 'cpu', 'webgpu', 'webgl'] as const;
export type BackendName = (typeof KNOWN_BACKENDS)[number];

/** Optional hooks registering extra backends (the native addon, tfjs-node); set by the Node entry. */
export const backendLoaders: Partial<Record<BackendName, () => Promise<boolean>>> = {};

let wasmLoaded = false;
backendLoaders.wasm = async () => {
  if (!wasmLoaded) {
    await import('@tensorflow/tfjs-backend-wasm');
    wasmLoaded = true;
  }
  return true;
};
backendLoaders.cpu = async () => true;

/** Error for an unknown or unavailable backend. */
export class BackendError extends Error {
  override name = 'BackendError';
  /** True when the name itself is unknown (a usage error), false when a known backend cannot run here. */
  constructor(message: string, readonly unknownName = false) {
    super(message);
  }
}

/** Default order tried when no backend is requested. */
export const DEFAULT_ORDER: readonly BackendName[] = ['native', 'tensorflow', 'wasm', 'cpu'];

/**
 * Makes `requested` (or the best available backend) the active tfjs backend and returns its name.
 * An explicitly requested backend that cannot load is an error, never a silent fallback.
 */
export async function selectBackend(requested?: string): Promise<BackendName> {
  // PROD skips tfjs debug checks and its "install tfjs-node" banner; this engine chooses backends itself.
  tf.env().set('PROD', true);
  const wanted = requested ?? envBackend();
  if (wanted !== undefined) {
    if (!(KNOWN_BACKENDS as readonly string[]).includes(wanted)) {
      throw new BackendError(`unknown backend "${wanted}"; known backends: ${KNOWN_BACKENDS.join(', ')}`
        + ' (native, tensorflow, wasm and cpu in Node; webgpu, webgl, wasm and cpu in browsers).', true);
    }
    const name = wanted as BackendName;
    if (!(await tryLoad(name))) {
      throw new BackendError(`backend "${name}" is not available here (${unavailableReason(name)}).`);
    }
    return name;
  }
  for (const name of DEFAULT_ORDER) {
    if (await tryLoad(name)) return name;
  }
  throw new BackendError('no tfjs backend could be initialised.');
}

function envBackend(): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> } };
  const v = g.process?.env?.BEIT_BACKEND;
  return v ? v : undefined;
}

async function tryLoad(name: BackendName): Promise<boolean> {
  const loader = backendLoaders[name];
  if (!loader) return false;
  try {
    if (!(await loader())) return false;
    if (tf.getBackend() !== name) {
      if (!(await tf.setBackend(name))) return false;
    }
    await tf.ready();
    // Another load may have switched backends meanwhile (loads on different backends at once): what
    // counts is that this one is initialised; useBackend makes it active where tensors are created.
    return tf.findBackend(name) != null && useBackend(name);
  } catch {
    return false;
  }
}

/**
 * Makes an initialised backend the active one, synchronously (tfjs's setBackend only awaits a first
 * initialisation). Loaders call it right before creating a model's tensors; false if `name` is not ready.
 */
export function useBackend(name: string): boolean {
  if (tf.getBackend() !== name && tf.findBackend(name) != null) tf.setBackend(name).catch(() => undefined);
  return tf.getBackend() === name;
}

function unavailableReason(name: BackendName): string {
  switch (name) {
    case 'native': return 'the native addon was not built at install; run `npm rebuild tfjs-beit` with a C++ toolchain '
      + '(if npm held back install scripts, first `npm install-scripts approve tfjs-beit`)';
    case 'tensorflow': return 'install @tensorflow/tfjs-node to use it';
    case 'webgpu': case 'webgl': return 'browser-only backend';
    default: return 'it failed to initialise';
  }
}
