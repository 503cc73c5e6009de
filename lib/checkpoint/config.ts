/**
 * `config.json` -> one readonly, validated {@link ModelConfig}. Defaults are Hugging Face's
 * (`configuration_beit.py`, `configuration_data2vec_vision.py`, `configuration_vit.py`, transformers
 * 4.27). Everything downstream reads only this object; nothing re-reads the raw JSON.
 */

/** Model families this engine implements (one implementation driven by flags). */
export const SUPPORTED_MODEL_TYPES = ['data2vec-vision', 'beit', 'vit'] as const;
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

/**
 * Activations as Hugging Face's ACT2FN defines them: every one without learned parameters (`prelu` and
 * `xielu` have some, and no checkpoint of these families uses them).
 */
export const SUPPORTED_ACTIVATIONS = [
  'gelu', 'gelu_python', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_python_tanh', 'gelu_accurate', 'gelu_fast', 'gelu_10',
  'quick_gelu', 'relu', 'relu2', 'relu6', 'leaky_relu', 'silu', 'swish', 'mish', 'hardswish', 'sigmoid', 'tanh',
  'laplace', 'sqrtsoftplus', 'linear',
] as const;
export type Activation = (typeof SUPPORTED_ACTIVATIONS)[number];
export type HiddenAct = Activation;
export type PoolerAct = Activation;

/** The validated model configuration. Field names follow the HF config. */
export interface ModelConfig {
  readonly model_type: ModelType;
  readonly architectures: readonly string[];
  readonly hidden_size: number;
  readonly num_hidden_layers: number;
  readonly num_attention_heads: number;
  readonly intermediate_size: number;
  readonly hidden_act: HiddenAct;
  readonly layer_norm_eps: number;
  /** [height, width] in pixels. */
  readonly image_size: readonly [number, number];
  /** [height, width] of one patch. */
  readonly patch_size: readonly [number, number];
  readonly num_channels: number;
  /** BEiT family: absolute position embeddings (ViT always has them). */
  readonly use_absolute_position_embeddings: boolean;
  /** BEiT family: a relative position bias table in every layer. */
  readonly use_relative_position_bias: boolean;
  /** BEiT family: one relative position bias table shared by all layers. */
  readonly use_shared_relative_position_bias: boolean;
  /** BEiT family: layer scale (`lambda_1`, `lambda_2`) when > 0. */
  readonly layer_scale_init_value: number;
  /** BEiT family: mean pooling + pooler LayerNorm instead of CLS after the final LayerNorm. */
  readonly use_mean_pooling: boolean;
  /** ViT: bias on query, key and value (BEiT never has a key bias). */
  readonly qkv_bias: boolean;
  /** ViT: width of `pooler.dense` (newer transformers; default hidden_size). hidden_size for BEiT. */
  readonly pooler_output_size: number;
  /** ViT: activation after `pooler.dense` (newer transformers; default tanh). */
  readonly pooler_act: PoolerAct;
  /** Class index -> label, from `id2label` (empty when the config has none). */
  readonly id2label: Readonly<Record<number, string>>;
  /**
   * `problem_type` the classifier was fine-tuned for (null when the config has none): with
   * `multi_label_classification` the pipeline scores classes with a sigmoid instead of a softmax.
   */
  readonly problem_type: ProblemType | null;
}

/** The values `transformers`' PretrainedConfig accepts for `problem_type`. */
export const PROBLEM_TYPES = ['regression', 'single_label_classification', 'multi_label_classification'] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

/** Thrown for a config.json that is not JSON, has an unknown model type or is inconsistent. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const BEIT_DEFAULTS = {
  hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072,
  hidden_act: 'gelu', layer_norm_eps: 1e-12, image_size: 224, patch_size: 16, num_channels: 3,
  use_absolute_position_embeddings: false, use_relative_position_bias: false,
  use_shared_relative_position_bias: false, layer_scale_init_value: 0.1, use_mean_pooling: true,
  qkv_bias: false,
};
const VIT_DEFAULTS = {
  ...BEIT_DEFAULTS, layer_scale_init_value: 0, use_mean_pooling: false,
  use_absolute_position_embeddings: true, qkv_bias: true,
};

/**
 * Parses the text of a config.json.
 * @param text file content
 * @param file file name used in error messages
 */
/** Largest attention score matrix (tokens² float32 values, per image and head) a config may imply. */
const MAX_SCORE_BYTES = 2 ** 31;

export function parseConfig(text: string, file = 'config.json'): ModelConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message}).`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: must be a JSON object.`);
  return validateConfig(raw as Record<string, unknown>, file);
}

/** Validates a parsed config object and fills in Hugging Face's defaults. */
export function validateConfig(raw: Record<string, unknown>, file = 'config.json'): ModelConfig {
  const fail = (msg: string): never => { throw new ConfigError(`${file}: ${msg}`); };
  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    fail(`unsupported model_type ${JSON.stringify(modelType)}; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}.`);
  }
  const isVit = modelType === 'vit';
  const d: Record<string, unknown> = { ...(isVit ? VIT_DEFAULTS : BEIT_DEFAULTS) };
  const get = (k: string): unknown => (raw[k] === undefined || raw[k] === null ? d[k] : raw[k]);
  const int = (k: string, min = 1): number => {
    const v = get(k);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(`${k} must be an integer >= ${min}, got ${JSON.stringify(v)}.`);
    return v as number;
  };
  const bool = (k: string): boolean => {
    const v = get(k);
    if (typeof v !== 'boolean') fail(`${k} must be true or false, got ${JSON.stringify(v)}.`);
    return v as boolean;
  };
  const pair = (k: string): [number, number] => {
    const v = get(k);
    const arr = typeof v === 'number' ? [v, v] : v;
    if (!Array.isArray(arr) || arr.length !== 2 || !arr.every((x) => Number.isSafeInteger(x) && x >= 1)) {
      fail(`${k} must be a positive integer or [height, width], got ${JSON.stringify(v)}.`);
    }
    return [(arr as number[])[0]!, (arr as number[])[1]!];
  };

  const hidden_size = int('hidden_size');
  const num_attention_heads = int('num_attention_heads');
  if (hidden_size % num_attention_heads !== 0) {
    fail(`hidden_size ${hidden_size} is not a multiple of num_attention_heads ${num_attention_heads}.`);
  }
  const hidden_act = get('hidden_act');
  if (typeof hidden_act !== 'string' || !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(hidden_act)) {
    fail(`unsupported hidden_act ${JSON.stringify(hidden_act)}; supported: ${SUPPORTED_ACTIVATIONS.join(', ')}.`);
  }
  const layer_norm_eps = get('layer_norm_eps');
  if (typeof layer_norm_eps !== 'number' || !(layer_norm_eps > 0) || !Number.isFinite(layer_norm_eps)) {
    fail(`layer_norm_eps must be a positive number, got ${JSON.stringify(layer_norm_eps)}.`);
  }
  const image_size = pair('image_size');
  const patch_size = pair('patch_size');
  // A size that patch_size does not divide is valid: the patch conv (stride = kernel) drops the last
  // rows / columns of pixels, and the grid is image_size // patch_size (patchGrid).
  if (image_size[0] < patch_size[0] || image_size[1] < patch_size[1]) {
    fail(`image_size [${image_size}] is smaller than patch_size [${patch_size}]: there is no patch.`);
  }
  const pruned = raw.pruned_heads;
  if (pruned !== undefined && pruned !== null
    && (typeof pruned !== 'object' || Object.values(pruned as object).some((v) => !Array.isArray(v) || v.length > 0))) {
    fail(`pruned_heads ${JSON.stringify(pruned)}: checkpoints with pruned attention heads are not supported.`);
  }
  // One attention score matrix is tokens² floats per image and head: past 2 GiB (23170 tokens; real
  // checkpoints have 197-1025) a forward would only end in an out-of-memory kill of the process.
  const tokens = Math.floor(image_size[0] / patch_size[0]) * Math.floor(image_size[1] / patch_size[1]) + 1;
  if (tokens * tokens * 4 > MAX_SCORE_BYTES) {
    fail(`image_size [${image_size}] with patch_size [${patch_size}] gives ${tokens} tokens per image; one attention `
      + `matrix would take ${(tokens * tokens * 4 / 2 ** 30).toFixed(1)} GiB (at most ${MAX_SCORE_BYTES / 2 ** 30} GiB is supported).`);
  }
  const lsv = get('layer_scale_init_value');
  if (typeof lsv !== 'number' || !Number.isFinite(lsv)) fail(`layer_scale_init_value must be a number, got ${JSON.stringify(lsv)}.`);
  const pooler_act = isVit ? (raw.pooler_act ?? 'tanh') : 'tanh';
  if (typeof pooler_act !== 'string' || !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(pooler_act)) {
    fail(`unsupported pooler_act ${JSON.stringify(pooler_act)}; supported: ${SUPPORTED_ACTIVATIONS.join(', ')}.`);
  }
  const problem_type = raw.problem_type ?? null;
  if (problem_type !== null && !(PROBLEM_TYPES as readonly unknown[]).includes(problem_type)) {
    fail(`problem_type must be one of ${PROBLEM_TYPES.join(', ')} (or null), got ${JSON.stringify(problem_type)}.`);
  }
  const architectures = Array.isArray(raw.architectures) ? raw.architectures.filter((a): a is string => typeof a === 'string') : [];

  return Object.freeze({
    model_type: modelType as ModelType,
    architectures: Object.freeze(architectures),
    hidden_size,
    num_hidden_layers: int('num_hidden_layers'),
    num_attention_heads,
    intermediate_size: int('intermediate_size'),
    hidden_act: hidden_act as HiddenAct,
    layer_norm_eps: layer_norm_eps as number,
    image_size: Object.freeze(image_size),
    patch_size: Object.freeze(patch_size),
    num_channels: int('num_channels'),
    use_absolute_position_embeddings: isVit ? true : bool('use_absolute_position_embeddings'),
    use_relative_position_bias: isVit ? false : bool('use_relative_position_bias'),
    use_shared_relative_position_bias: isVit ? false : bool('use_shared_relative_position_bias'),
    layer_scale_init_value: isVit ? 0 : (lsv as number),
    use_mean_pooling: isVit ? false : bool('use_mean_pooling'),
    qkv_bias: isVit ? bool('qkv_bias') : false,
    pooler_output_size: isVit && raw.pooler_output_size !== undefined && raw.pooler_output_size !== null ? int('pooler_output_size') : hidden_size,
    pooler_act: pooler_act as PoolerAct,
    id2label: Object.freeze(parseId2Label(raw.id2label, fail)),
    problem_type: problem_type as ProblemType | null,
  });
}

function parseId2Label(v: unknown, fail: (m: string) => never): Record<number, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail('id2label must be an object mapping class indices to labels.');
  const out: Record<number, string> = {};
  for (const [k, label] of Object.entries(v as Record<string, unknown>)) {
    // Keys as Python's int() reads them (transformers: {int(key): value}); Number() would also take "", "1e0", "0x4".
    const i = /^\s*\+?[0-9](_?[0-9])*\s*$/.test(k) ? Number(k.replace(/[\s_+]/g, '')) : Number.NaN;
    if (!Number.isSafeInteger(i) || i < 0 || typeof label !== 'string') fail(`id2label entry ${JSON.stringify(k)}: ${JSON.stringify(label)} is not index -> string.`);
    out[i] = label as string;
  }
  return out;
}

/** Number of patches along height and width (trailing pixels that fill no whole patch are dropped, as the conv does). */
export function patchGrid(c: ModelConfig): [number, number] {
  return [Math.floor(c.image_size[0] / c.patch_size[0]), Math.floor(c.image_size[1] / c.patch_size[1])];
}
