/**
 * Backends in the browser: `webgpu` when the browser exposes `navigator.gpu`, `webgl`, `wasm` and
 * `cpu`. The shared selector (lib/backend/select.ts) knows Node's order; this module registers the
 * browser-only loaders and tries the browser's order. The wasm backend fetches its `.wasm` files
 * from a URL prefix (tfjs `setWasmPaths`): by default the folder of this bundle, where
 * `npm run build:browser` copies them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError, backendLoaders, selectBackend, type BackendName } from '../backend/select.js';

/** Order tried when no backend is requested. */
export const BROWSER_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

let wasmPrefix: string | undefined;
let wasmImported = false;

/**
 * Sets the URL folder the wasm backend loads `tfjs-backend-wasm*.wasm` from (must end with `/`).
 * Must be called before the wasm backend first initialises; later calls have no effect on it.
 */
export function setWasmPrefix(prefix: string): void {
  wasmPrefix = prefix.endsWith('/') ? prefix : `${prefix}/`;
}

backendLoaders.wasm = async () => {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (!wasmImported) {
    wasm.setWasmPaths(wasmPrefix ?? new URL('./', import.meta.url).href);
    wasmImported = true;
  }
  return true;
};

backendLoaders.webgl = async () => {
  await import('@tensorflow/tfjs-backend-webgl');
  return true;
};

backendLoaders.webgpu = async () => {
  // Without navigator.gpu the webgpu backend's factory fails; skip it early and quietly.
  const gpu = (globalThis.navigator as { gpu?: { requestAdapter(): Promise<unknown> } } | undefined)?.gpu;
  if (!gpu || !(await gpu.requestAdapter().catch(() => null))) return false;
  await import('@tensorflow/tfjs-backend-webgpu');
  return true;
};

const BROWSER_REASONS: Record<string, string> = {
  webgpu: 'no WebGPU adapter: navigator.gpu is missing or requestAdapter() gave none',
  webgl: 'no WebGL context could be created',
  wasm: 'the tfjs-backend-wasm*.wasm files could not be fetched or compiled; see setWasmPrefix()',
  native: 'the native addon exists only in Node',
  tensorflow: 'tfjs-node exists only in Node',
};

/**
 * Activates `requested`, or the first backend of {@link BROWSER_ORDER} that initialises here.
 * An explicitly requested backend that fails is an error, never a silent fallback.
 */
export async function selectBrowserBackend(requested?: string): Promise<BackendName> {
  if (requested !== undefined) {
    try {
      return await selectBackend(requested);
    } catch (e) {
      const why = BROWSER_REASONS[requested];
      throw why ? new BackendError(`backend "${requested}" is not available in this browser (${why}).`) : e;
    }
  }
  const tried: string[] = [];
  for (const name of BROWSER_ORDER) {
    try {
      return await selectBackend(name);
    } catch (e) {
      tried.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new BackendError(`no tfjs backend could be initialised in this browser (${tried.join('; ')}).`);
}

/** The active tfjs backend's name (e.g. to display it). */
export function activeBackend(): string {
  return tf.getBackend();
}
