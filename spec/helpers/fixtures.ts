/** Paths and loaders of the parity fixtures copied into spec/fixtures (tests run from the repo root). */
import path from 'node:path';
import { readSafetensorsFile } from '../../lib/node/safetensors-file.js';
import type { HostTensor } from '../../lib/io/safetensors.js';
import { registerNativeBackend } from '../../lib/node/native-backend.js';

export const FIXTURES = path.resolve('spec/fixtures');
export const MODEL_CASES = ['d2v-tiny', 'beit-tiny-shared', 'd2v-tiny-abspos', 'd2v-tiny-backbone', 'vit-tiny'] as const;

export const caseDir = (c: string): string => path.join(FIXTURES, c);

/** `pixel_values` of a case as a forward input. */
export function inputsOf(c: string): { data: Float32Array; shape: [number, number, number, number] } {
  const t = readSafetensorsFile(path.join(caseDir(c), 'inputs.safetensors')).tensors.get('pixel_values')!;
  return { data: t.data as Float32Array, shape: t.shape as [number, number, number, number] };
}

export function expectedOf(c: string): Map<string, HostTensor> {
  return readSafetensorsFile(path.join(caseDir(c), 'expected.safetensors')).tensors;
}

/**
 * Backends the parity suites run on: wasm and cpu always, plus `native` when its addon was built at
 * install (it is on CI machines, which have a compiler). `BEIT_TEST_BACKENDS` overrides the list.
 */
export const PARITY_BACKENDS = process.env.BEIT_TEST_BACKENDS
  ? process.env.BEIT_TEST_BACKENDS.split(',')
  : ['wasm', 'cpu', ...((await registerNativeBackend()) ? ['native'] : [])];
