/**
 * Logits -> ranked predictions, scored as transformers' image-classification pipeline scores them
 * (`function_to_apply`): a softmax over all classes, a sigmoid per class (multi-label checkpoints and
 * single-logit heads), or the raw logits. Computed in float64 on the host, so scores do not depend on
 * a backend's float32 exp.
 */
import type { ProblemType } from '../checkpoint/config.js';

/** One ranked class. */
export interface Prediction {
  /** The class name from `id2label` (`LABEL_<i>` when the config does not name it). */
  readonly label: string;
  /** The class's score: its softmax probability, its sigmoid, or its logit (see {@link ScoreFunction}). */
  readonly score: number;
  /** Class index. */
  readonly index: number;
}

/** How logits become scores: transformers' `function_to_apply` of the classification pipelines. */
export type ScoreFunction = 'softmax' | 'sigmoid' | 'none';
export const SCORE_FUNCTIONS: readonly ScoreFunction[] = ['softmax', 'sigmoid', 'none'];

/**
 * The pipeline's default: a sigmoid for `problem_type: "multi_label_classification"` or a single
 * class, else a softmax (the rule of transformers' ImageClassificationPipeline.postprocess).
 */
export function defaultScoreFunction(problemType: ProblemType | null, numLabels: number): ScoreFunction {
  if (problemType === 'multi_label_classification' || numLabels === 1) return 'sigmoid';
  return 'softmax';
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

/** Sigmoid of each logit, in float64: 1 / (1 + exp(-x)). */
export function sigmoid(logits: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: logits.length }, (_, i) => 1 / (1 + Math.exp(-logits[i]!)));
}

/** Scores of one row of logits under `fn`. */
export function scores(logits: ArrayLike<number>, fn: ScoreFunction = 'softmax'): Float64Array {
  if (fn === 'softmax') return softmax(logits);
  if (fn === 'sigmoid') return sigmoid(logits);
  return Float64Array.from(logits);
}

/** The `k` best classes of one row, by descending score (ties: lower index first). */
export function topK(logits: ArrayLike<number>, k: number, id2label: Readonly<Record<number, string>>,
  fn: ScoreFunction = 'softmax'): Prediction[] {
  const p = scores(logits, fn);
  const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b);
  return order.slice(0, Math.max(0, Math.min(k, p.length)))
    .map((index) => ({ label: id2label[index] ?? `LABEL_${index}`, score: p[index]!, index }));
}
