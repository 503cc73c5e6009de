/**
 * Logits -> ranked predictions. Softmax over all classes in float64 on the host (max-subtracted),
 * so scores do not depend on the backend's float32 exp.
 */

/** One ranked class. */
export interface Prediction {
  /** The class name from `id2label` (`LABEL_<i>` when the config does not name it). */
  readonly label: string;
  /** Softmax probability over all classes. */
  readonly score: number;
  /** Class index. */
  readonly index: number;
}

/** Softmax of one row of logits, in float64. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/** The `topK` most probable classes of one row, by descending score (ties: lower index first). */
export function topK(logits: ArrayLike<number>, k: number, id2label: Readonly<Record<number, string>>): Prediction[] {
  const p = softmax(logits);
  const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b);
  return order.slice(0, Math.max(0, Math.min(k, p.length)))
    .map((index) => ({ label: id2label[index] ?? `LABEL_${index}`, score: p[index]!, index }));
}
