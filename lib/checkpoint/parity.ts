/**
 * Parity measurement: a forward output against reference tensors computed in Python. Names follow
 * the fixtures (`logits`, `pooler_output`, `last_hidden_state`, `hidden_states.<i>`,
 * `attentions.<i>`); the tolerance is the fixtures README's `1e-4 * max(1, max|ref|)`.
 */
import type { HostTensor } from '../io/safetensors.js';

/** One compared tensor. */
export interface ParityRow {
  readonly name: string;
  readonly shape: readonly number[];
  /** max |out - ref|; Infinity when the engine could not produce the tensor or shapes differ. */
  readonly maxAbsError: number;
  readonly tolerance: number;
  readonly ok: boolean;
  /** Why a tensor failed besides its error (missing output, shape mismatch, top-1 disagreement). */
  readonly note?: string;
}

/** Host copies of the outputs the engine produced, by reference name. */
export type ProducedOutputs = ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;

/** The fixtures' tolerance for a reference tensor. */
export function toleranceFor(ref: Float32Array): number {
  let m = 0;
  for (const v of ref) m = Math.max(m, Math.abs(v));
  return 1e-4 * Math.max(1, m);
}

/** Row-wise argmax of a `[rows, cols]` array. */
export function argmaxRows(data: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * cols < data.length; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c]! > data[r * cols + best]!) best = c;
    out.push(best);
  }
  return out;
}

/** Compares every reference tensor; a reference the engine did not produce is a failure. */
export function compareOutputs(produced: ProducedOutputs, expected: ReadonlyMap<string, HostTensor>): ParityRow[] {
  const rows: ParityRow[] = [];
  for (const [name, ref] of expected) {
    const refData = ref.data as Float32Array;
    const tolerance = toleranceFor(refData);
    const got = produced.get(name);
    if (!got) {
      rows.push({ name, shape: ref.shape, maxAbsError: Infinity, tolerance, ok: false, note: 'not produced by the engine' });
      continue;
    }
    if (got.shape.length !== ref.shape.length || got.shape.some((d, i) => d !== ref.shape[i])) {
      rows.push({ name, shape: ref.shape, maxAbsError: Infinity, tolerance, ok: false, note: `engine shape [${got.shape}]` });
      continue;
    }
    let err = 0;
    let nonFinite = -1;
    for (let i = 0; i < refData.length; i++) {
      const d = Math.abs(got.data[i]! - refData[i]!);
      if (!Number.isFinite(d)) { nonFinite = i; break; } // a NaN or an infinity on either side fails the tensor
      if (d > err) err = d;
    }
    if (nonFinite >= 0) err = Number.NaN;
    let ok = err <= tolerance;
    let note: string | undefined = nonFinite < 0 ? undefined
      : `non-finite value at flat index ${nonFinite} (engine ${got.data[nonFinite]}, reference ${refData[nonFinite]})`;
    if (name === 'logits' && ref.shape.length === 2) {
      const cols = ref.shape[1]!;
      const a = argmaxRows(got.data, cols), b = argmaxRows(refData, cols);
      if (a.some((v, i) => v !== b[i])) { ok = false; note = note ?? `top-1 ${a} vs reference ${b}`; }
    }
    rows.push({ name, shape: ref.shape, maxAbsError: err, tolerance, ok, ...(note ? { note } : {}) });
  }
  return rows;
}
