/**
 * Checkpoint name -> tensor map -> the model's weight tree. One strict, pure filter (timm's
 * `checkpoint_filter_fn` followed by a strict load): strip the one known prefix of the family
 * (`data2vec_vision.`, `beit.`, `vit.`, or none for head-less `*Model` checkpoints), collect the
 * tensors the config requires under their Hugging Face names, and fail once listing every missing or
 * misshapen tensor. Tensors left over are reported (HF's "Some weights were not used").
 */
import type { HostTensor } from '../io/safetensors.js';
import { patchGrid, type ModelConfig } from './config.js';
import { relativePositionIndex } from '../model/relative-bias.js';

/** Thrown when a checkpoint does not match its config; the message lists every problem. */
export class WeightsError extends Error {
  override name = 'WeightsError';
}

/** Host-side weights of one encoder layer; names mirror `encoder.layer.<i>.*`. */
export interface LayerWeights {
  readonly query: { weight: HostTensor; bias?: HostTensor };
  readonly key: { weight: HostTensor; bias?: HostTensor };
  readonly value: { weight: HostTensor; bias?: HostTensor };
  /** `attention.attention.relative_position_bias.relative_position_bias_table` when per-layer bias is used. */
  readonly relative_position_bias_table?: HostTensor;
  readonly output_dense: { weight: HostTensor; bias: HostTensor };
  readonly intermediate_dense: { weight: HostTensor; bias: HostTensor };
  readonly output_dense_2: { weight: HostTensor; bias: HostTensor };
  readonly layernorm_before: { weight: HostTensor; bias: HostTensor };
  readonly layernorm_after: { weight: HostTensor; bias: HostTensor };
  readonly lambda_1?: HostTensor;
  readonly lambda_2?: HostTensor;
}

/** The whole model's host-side weights, shaped like the HF module tree. */
export interface ModelWeights {
  readonly cls_token: HostTensor;
  readonly patch_projection: { weight: HostTensor; bias: HostTensor };
  readonly position_embeddings?: HostTensor;
  /** `encoder.relative_position_bias.relative_position_bias_table` (shared bias). */
  readonly shared_relative_position_bias_table?: HostTensor;
  readonly layers: readonly LayerWeights[];
  /** Final `layernorm` (CLS pooling models; ViT always). */
  readonly layernorm?: { weight: HostTensor; bias: HostTensor };
  /** BEiT-family mean-pooling `pooler.layernorm`. */
  readonly pooler_layernorm?: { weight: HostTensor; bias: HostTensor };
  /** ViT `pooler.dense` (`[pooler_output_size, hidden_size]`, the pooler of head-less ViTModel checkpoints). */
  readonly pooler_dense?: { weight: HostTensor; bias: HostTensor };
  readonly classifier?: { weight: HostTensor; bias: HostTensor };
}

/** Result of mapping: the weights, the tensor names not used, the prefix that was stripped, and notices. */
export interface MappedWeights {
  readonly weights: ModelWeights;
  readonly unused: readonly string[];
  readonly prefix: string;
  /** What the user should know about the mapping (a module initialized as transformers initializes it). */
  readonly notices: readonly string[];
}

const PREFIX: Record<ModelConfig['model_type'], string> = {
  'data2vec-vision': 'data2vec_vision.',
  beit: 'beit.',
  vit: 'vit.',
};

/** Largest gathered relative position bias, all layers together (BEiT-large at 512x512: 1.6 GB). */
const MAX_BIAS_BYTES = 2 ** 33;

/** Keys a model may carry that have no effect on inference and are accepted silently. */
const IGNORABLE = [/^embeddings\.mask_token$/];

/**
 * Maps a checkpoint's tensors onto the model described by `config`.
 * @param tensors every tensor of the checkpoint, by its stored name
 * @param file name for error messages (the checkpoint folder or file)
 */
export function mapWeights(config: ModelConfig, tensors: ReadonlyMap<string, HostTensor>, file: string): MappedWeights {
  const prefix = PREFIX[config.model_type];
  const hasPrefix = [...tensors.keys()].some((k) => k.startsWith(prefix));
  const local = new Map<string, string>(); // local name -> stored name
  for (const k of tensors.keys()) {
    if (hasPrefix && k.startsWith(prefix)) local.set(k.slice(prefix.length), k);
    else if (!hasPrefix || k.startsWith('classifier.')) local.set(k, k);
  }
  const used = new Set<string>();
  const problems: string[] = [];
  const D = config.hidden_size, I = config.intermediate_size, H = config.num_attention_heads;
  const [gh, gw] = patchGrid(config);
  const T = gh * gw + 1;
  const numRel = (2 * gh - 1) * (2 * gw - 1) + 3;

  const take = (name: string, shape: number[] | null, required = true): HostTensor | undefined => {
    const stored = local.get(name);
    const t = stored === undefined ? undefined : tensors.get(stored);
    if (!t) {
      if (required) problems.push(`missing ${hasPrefix ? prefix : ''}${name}${shape ? ` [${shape}]` : ''}`);
      return undefined;
    }
    used.add(stored!);
    if (t.dtype !== 'float32') problems.push(`${stored}: dtype ${t.stored ?? t.dtype}, expected a floating-point tensor`);
    else if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      problems.push(`${stored}: shape [${t.shape}], expected [${shape}]`);
    }
    return t;
  };
  const linear = (name: string, out: number, inp: number, bias = true) => ({
    weight: take(`${name}.weight`, [out, inp])!,
    bias: bias ? take(`${name}.bias`, [out])! : undefined,
  });
  const norm = (name: string, required = true) => {
    const weight = take(`${name}.weight`, [D], required);
    const bias = take(`${name}.bias`, [D], required);
    return weight && bias ? { weight, bias } : undefined;
  };
  const checkIndex = (name: string) => {
    const stored = local.get(name);
    if (stored === undefined) return;
    used.add(stored);
    const t = tensors.get(stored)!;
    if (t.dtype !== 'int32' || t.shape.length !== 2 || t.shape[0] !== T || t.shape[1] !== T) {
      problems.push(`${stored}: ${t.dtype} [${t.shape}], expected an integer [${T},${T}] index for a ${gh}x${gw} patch grid`);
      return;
    }
    // Computed only once the stored shape matches, so its size is bounded by the checkpoint's.
    const want = relativePositionIndex(gh, gw);
    if (t.data.some((v, i) => v !== want[i])) {
      problems.push(`${stored}: differs from the relative position index of a ${gh}x${gw} patch grid`);
    }
  };

  // Layers are listed up to the first one the checkpoint lacks entirely: a config asking for far more
  // layers than stored (num_hidden_layers 1e8) gets one line, not a problem list that never ends.
  // "Stored" counts layers 0, 1, ... up to the first index without a tensor, so one stray tensor named
  // encoder.layer.999999999.* cannot make the list (and the model built from it) that long.
  const indices = new Set<number>();
  for (const k of local.keys()) {
    const m = /^encoder\.layer\.(\d+)\./.exec(k);
    if (m) indices.add(Number(m[1]));
  }
  let stored = 0;
  while (indices.has(stored)) stored++;
  const listedLayers = Math.min(config.num_hidden_layers, stored + 1);
  if (config.num_hidden_layers > listedLayers) {
    problems.push(`num_hidden_layers is ${config.num_hidden_layers} but the checkpoint holds only ${stored} layer(s)`
      + (indices.size > stored ? ` in sequence (it also has tensors of layer ${[...indices].reduce((a, b) => Math.max(a, b), 0)})` : ''));
  }

  // The relative position bias is gathered at load into [heads, tokens, tokens] per layer (and once more
  // when shared): 22 MB for a base model, 1.6 GB for BEiT-large at 512x512. Far past that, a small file
  // with a large patch grid would take all memory while loading.
  const tables = (config.use_relative_position_bias ? listedLayers : 0) + (config.use_shared_relative_position_bias ? 1 : 0);
  const biasBytes = tables * H * T * T * 4;
  if (biasBytes > MAX_BIAS_BYTES) {
    throw new WeightsError(`${file}: the relative position bias of ${tables} table(s) x ${H} heads x ${T}² tokens would take `
      + `${(biasBytes / 2 ** 30).toFixed(1)} GiB once gathered (at most ${MAX_BIAS_BYTES / 2 ** 30} GiB is supported).`);
  }

  const isBeit = config.model_type !== 'vit';
  const weights: ModelWeights = {
    cls_token: take('embeddings.cls_token', [1, 1, D])!,
    patch_projection: {
      weight: take('embeddings.patch_embeddings.projection.weight', [D, config.num_channels, ...config.patch_size])!,
      bias: take('embeddings.patch_embeddings.projection.bias', [D])!,
    },
    position_embeddings: config.use_absolute_position_embeddings ? take('embeddings.position_embeddings', [1, T, D]) : undefined,
    shared_relative_position_bias_table: config.use_shared_relative_position_bias
      ? take('encoder.relative_position_bias.relative_position_bias_table', [numRel, H]) : undefined,
    layers: Array.from({ length: listedLayers }, (_, i): LayerWeights => {
      const p = `encoder.layer.${i}.`;
      const a = `${p}attention.attention.`;
      const qkvBias = isBeit || config.qkv_bias;
      if (config.use_relative_position_bias) checkIndex(`${a}relative_position_bias.relative_position_index`);
      return {
        query: linear(`${a}query`, D, D, qkvBias),
        key: linear(`${a}key`, D, D, !isBeit && config.qkv_bias),
        value: linear(`${a}value`, D, D, qkvBias),
        relative_position_bias_table: config.use_relative_position_bias
          ? take(`${a}relative_position_bias.relative_position_bias_table`, [numRel, H]) : undefined,
        output_dense: linear(`${p}attention.output.dense`, D, D) as LayerWeights['output_dense'],
        intermediate_dense: linear(`${p}intermediate.dense`, I, D) as LayerWeights['intermediate_dense'],
        output_dense_2: linear(`${p}output.dense`, D, I) as LayerWeights['output_dense_2'],
        layernorm_before: norm(`${p}layernorm_before`)!,
        layernorm_after: norm(`${p}layernorm_after`)!,
        lambda_1: config.layer_scale_init_value > 0 ? take(`${p}lambda_1`, [D]) : undefined,
        lambda_2: config.layer_scale_init_value > 0 ? take(`${p}lambda_2`, [D]) : undefined,
      };
    }),
    layernorm: config.use_mean_pooling ? undefined : norm('layernorm'),
    pooler_layernorm: undefined,
    pooler_dense: undefined,
    classifier: undefined,
  };
  if (config.use_shared_relative_position_bias) checkIndex('encoder.relative_position_bias.relative_position_index');

  // The head: present in *ForImageClassification checkpoints, absent from head-less *Model ones.
  const cls = local.has('classifier.weight') ? tensors.get(local.get('classifier.weight')!) : undefined;
  const labelCount = Object.keys(config.id2label).length;
  // A classifier's rows are its classes; a misshapen one is checked against id2label's count (or "num_labels").
  const numLabels = cls && cls.shape.length === 2 ? cls.shape[0]! : labelCount;
  let classifier: { weight: HostTensor; bias: HostTensor } | undefined;
  if (cls && cls.shape.length !== 2) {
    const name = local.get('classifier.weight')!;
    used.add(name);
    if (local.has('classifier.bias')) used.add(local.get('classifier.bias')!);
    problems.push(`${name}: shape [${cls.shape}], expected [${labelCount || 'num_labels'},${D}]`);
  } else if (cls) {
    classifier = linear('classifier', numLabels, D) as { weight: HostTensor; bias: HostTensor };
  }
  if (!cls && local.has('classifier.bias')) problems.push(`missing ${local.get('classifier.bias')!.replace(/bias$/, 'weight')} (the checkpoint has classifier.bias)`);
  if (classifier && cls!.shape.length === 2 && numLabels > 0) {
    // transformers sizes the classifier from id2label (num_labels = len(id2label)) and refuses a stored
    // one of another size; labels past the stored rows, or rows without a label, would be nonsense.
    const labels = Object.keys(config.id2label).map(Number);
    if (labels.length > 0 && (labels.length !== numLabels || labels.some((i) => i >= numLabels))) {
      problems.push(`${local.get('classifier.weight')}: ${numLabels} classes, but config.json id2label names ${labels.length}`
        + (labels.some((i) => i >= numLabels) ? ` (indices up to ${Math.max(...labels)})` : ''));
    }
  }
  const notices: string[] = [];
  let pooler_layernorm, pooler_dense;
  if (isBeit && config.use_mean_pooling) {
    pooler_layernorm = norm('pooler.layernorm', classifier !== undefined);
    if (!pooler_layernorm && config.model_type === 'beit' && !local.has('pooler.layernorm.weight') && !local.has('pooler.layernorm.bias')) {
      // BeitModel (add_pooling_layer=True, what AutoModel builds) creates the pooler of a checkpoint saved
      // without one (BeitForMaskedImageModeling, *ForSemanticSegmentation) with LayerNorm's initial values.
      pooler_layernorm = {
        weight: { dtype: 'float32', shape: [D], data: new Float32Array(D).fill(1) } as HostTensor,
        bias: { dtype: 'float32', shape: [D], data: new Float32Array(D) } as HostTensor,
      };
      notices.push(`${file} has no pooler.layernorm: the pooled output is LayerNorm(mean of the patch tokens) with weight 1 `
        + 'and bias 0, as transformers\' BeitModel initializes the missing pooler.');
    }
  } else if (!isBeit && local.has('pooler.dense.weight')) {
    pooler_dense = linear('pooler.dense', config.pooler_output_size, D) as { weight: HostTensor; bias: HostTensor };
  }
  Object.assign(weights, { classifier, pooler_layernorm, pooler_dense });

  if (problems.length) {
    throw new WeightsError(`${file}: the checkpoint does not match its config (${config.model_type}, ` +
      `${config.num_hidden_layers} layers, hidden ${D}, image [${config.image_size}], patch [${config.patch_size}]):\n  - ` +
      problems.join('\n  - '));
  }
  const unused = [...tensors.keys()].filter((k) => !used.has(k) && !IGNORABLE.some((re) => re.test(k.startsWith(prefix) ? k.slice(prefix.length) : k)));
  return { weights, unused, prefix: hasPrefix ? prefix : '', notices };
}
