/**
 * An independent float64 reference of the Hugging Face forward (BEiT / Data2Vec-Vision / ViT),
 * written as literally as possible from modeling_beit.py / modeling_vit.py: a real convolution,
 * separate query/key/value, the relative position index built the way HF builds it (meshgrid,
 * pairwise coordinate differences, shifted and flattened), no load-time folding. The engine's fused
 * and folded float32 forward is tested against it on configs the fixtures do not cover.
 */
import type { HostTensor } from '../../lib/io/safetensors.js';
import type { ModelConfig } from '../../lib/checkpoint/config.js';

type W = (name: string) => Float64Array | undefined;

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse for a float64 reference; use a series / continued fraction.
  const t = Math.abs(x);
  if (t < 3) {
    let sum = t, term = t;
    for (let n = 1; n < 200; n++) {
      term *= -t * t / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * sum * 2 / Math.sqrt(Math.PI);
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  return Math.sign(x) * (1 - Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f));
}

/** ACT2FN in float64, from the definitions in transformers' activations.py and torch.nn. */
export function act(x: number, a: ModelConfig['hidden_act']): number {
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v))); // torch's threshold 20
  const gelu = 0.5 * x * (1 + erf(x / Math.SQRT2));
  switch (a) {
    case 'gelu': case 'gelu_python': return gelu;
    case 'gelu_10': return Math.min(10, Math.max(-10, gelu));
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_python_tanh': case 'gelu_accurate':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'gelu_fast': return 0.5 * x * (1 + Math.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)));
    case 'quick_gelu': return x * sigmoid(1.702 * x);
    case 'relu': return Math.max(0, x);
    case 'relu2': return Math.max(0, x) ** 2;
    case 'relu6': return Math.min(6, Math.max(0, x));
    case 'leaky_relu': return x >= 0 ? x : 0.01 * x;
    case 'silu': case 'swish': return x * sigmoid(x);
    case 'mish': return x * Math.tanh(softplus(x));
    case 'hardswish': return x <= -3 ? 0 : x >= 3 ? x : (x * (x + 3)) / 6;
    case 'sigmoid': return sigmoid(x);
    case 'tanh': return Math.tanh(x);
    case 'laplace': return 0.5 * (1 + erf((x - 0.707107) / (0.282095 * Math.sqrt(2))));
    case 'sqrtsoftplus': return Math.sqrt(softplus(x));
    case 'linear': return x;
  }
}

/** HF's relative_position_index, built as in BeitRelativePositionBias.__init__. */
export function hfRelativeIndex(wh: number, ww: number): number[][] {
  const numRel = (2 * wh - 1) * (2 * ww - 1) + 3;
  const coords: [number, number][] = [];
  for (let h = 0; h < wh; h++) for (let w = 0; w < ww; w++) coords.push([h, w]); // meshgrid ij, flatten
  const N = wh * ww;
  const idx = Array.from({ length: N + 1 }, () => new Array<number>(N + 1).fill(0));
  for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) {
    let r0 = coords[i]![0] - coords[j]![0], r1 = coords[i]![1] - coords[j]![1];
    r0 += wh - 1; r1 += ww - 1; r0 *= 2 * ww - 1;
    idx[i + 1]![j + 1] = r0 + r1;
  }
  for (let j = 0; j <= N; j++) idx[0]![j] = numRel - 3;
  for (let i = 0; i <= N; i++) idx[i]![0] = numRel - 2;
  idx[0]![0] = numRel - 1;
  return idx;
}

const linear = (x: number[], w: Float64Array, b: Float64Array | undefined, out: number): number[] => {
  const inp = x.length, y = new Array<number>(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < inp; i++) s += w[o * inp + i]! * x[i]!;
    y[o] = s;
  }
  return y;
};
const layerNorm = (x: number[], g: Float64Array, b: Float64Array, eps: number): number[] => {
  const m = x.reduce((a, v) => a + v, 0) / x.length;
  const v = x.reduce((a, u) => a + (u - m) ** 2, 0) / x.length;
  return x.map((u, i) => (u - m) / Math.sqrt(v + eps) * g[i]! + b[i]!);
};

/** Reference outputs for one image `[C, H, W]` (float64). */
export function referenceForward(c: ModelConfig, tensors: ReadonlyMap<string, HostTensor>, prefix: string, pixels: Float32Array):
  { hidden: number[][][]; last: number[][]; pooled?: number[]; logits?: number[]; attentions: number[][][][] } {
  const w: W = (n) => {
    const t = tensors.get(n.startsWith('classifier') ? n : prefix + n);
    return t ? Float64Array.from(t.data as Float32Array) : undefined;
  };
  const D = c.hidden_size, Hh = c.num_attention_heads, hd = D / Hh, C = c.num_channels;
  const [H, Wd] = c.image_size, [ph, pw] = c.patch_size, gh = Math.floor(H / ph), gw = Math.floor(Wd / pw), N = gh * gw, T = N + 1;
  // Conv2d(kernel = stride = patch; pixels past the last whole patch are never read), then flatten(2).transpose(1, 2)
  const pw8 = w('embeddings.patch_embeddings.projection.weight')!, pb = w('embeddings.patch_embeddings.projection.bias')!;
  let x: number[][] = [Array.from(w('embeddings.cls_token')!)];
  for (let py = 0; py < gh; py++) for (let px = 0; px < gw; px++) {
    const tok = new Array<number>(D);
    for (let o = 0; o < D; o++) {
      let s = pb[o]!;
      for (let ch = 0; ch < C; ch++) for (let ky = 0; ky < ph; ky++) for (let kx = 0; kx < pw; kx++) {
        s += pw8[((o * C + ch) * ph + ky) * pw + kx]! * pixels[(ch * H + py * ph + ky) * Wd + px * pw + kx]!;
      }
      tok[o] = s;
    }
    x.push(tok);
  }
  const pos = w('embeddings.position_embeddings');
  if (pos) x = x.map((t, i) => t.map((v, d) => v + pos[i * D + d]!));
  const hidden = [x];
  const attentions: number[][][][] = [];
  const index = hfRelativeIndex(gh, gw);
  const biasFrom = (table: Float64Array | undefined) => table
    ? (h: number, i: number, j: number) => table[index[i]![j]! * Hh + h]! : undefined;
  const shared = biasFrom(w('encoder.relative_position_bias.relative_position_bias_table'));
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}.`;
    const a = `${p}attention.attention.`;
    const own = biasFrom(w(`${a}relative_position_bias.relative_position_bias_table`));
    const h1 = x.map((t) => layerNorm(t, w(`${p}layernorm_before.weight`)!, w(`${p}layernorm_before.bias`)!, c.layer_norm_eps));
    const q = h1.map((t) => linear(t, w(`${a}query.weight`)!, w(`${a}query.bias`), D));
    const k = h1.map((t) => linear(t, w(`${a}key.weight`)!, w(`${a}key.bias`), D));
    const v = h1.map((t) => linear(t, w(`${a}value.weight`)!, w(`${a}value.bias`), D));
    const ctx = Array.from({ length: T }, () => new Array<number>(D).fill(0));
    const probsL: number[][][] = [];
    for (let h = 0; h < Hh; h++) {
      const probs: number[][] = [];
      for (let i = 0; i < T; i++) {
        const s = new Array<number>(T);
        for (let j = 0; j < T; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[i]![h * hd + d]! * k[j]![h * hd + d]!;
          s[j] = dot / Math.sqrt(hd) + (own ? own(h, i, j) : 0) + (shared ? shared(h, i, j) : 0);
        }
        const m = Math.max(...s);
        const e = s.map((u) => Math.exp(u - m));
        const z = e.reduce((u, t) => u + t, 0);
        probs.push(e.map((u) => u / z));
        for (let j = 0; j < T; j++) for (let d = 0; d < hd; d++) ctx[i]![h * hd + d]! += probs[i]![j]! * v[j]![h * hd + d]!;
      }
      probsL.push(probs);
    }
    attentions.push(probsL);
    const lam1 = w(`${p}lambda_1`), lam2 = w(`${p}lambda_2`);
    const attnOut = ctx.map((t) => linear(t, w(`${p}attention.output.dense.weight`)!, w(`${p}attention.output.dense.bias`), D));
    x = x.map((t, i) => t.map((u, d) => u + (lam1 ? lam1[d]! : 1) * attnOut[i]![d]!));
    const h2 = x.map((t) => layerNorm(t, w(`${p}layernorm_after.weight`)!, w(`${p}layernorm_after.bias`)!, c.layer_norm_eps));
    const mid = h2.map((t) => linear(t, w(`${p}intermediate.dense.weight`)!, w(`${p}intermediate.dense.bias`), c.intermediate_size).map((u) => act(u, c.hidden_act)));
    const out = mid.map((t) => linear(t, w(`${p}output.dense.weight`)!, w(`${p}output.dense.bias`), D));
    x = x.map((t, i) => t.map((u, d) => u + (lam2 ? lam2[d]! : 1) * out[i]![d]!));
    hidden.push(x);
  }
  const ln = w('layernorm.weight');
  const last = ln ? x.map((t) => layerNorm(t, ln, w('layernorm.bias')!, c.layer_norm_eps)) : x;
  let pooled: number[] | undefined;
  let head: number[] | undefined;
  if (c.model_type === 'vit') {
    const pd = w('pooler.dense.weight');
    if (pd) pooled = linear(last[0]!, pd, w('pooler.dense.bias'), pd.length / D).map((v) => act(v, c.pooler_act));
    head = last[0];
  } else if (c.use_mean_pooling) {
    const pl = w('pooler.layernorm.weight');
    const mean = new Array<number>(D).fill(0).map((_, d) => last.slice(1).reduce((s, t) => s + t[d]!, 0) / N);
    if (pl) pooled = layerNorm(mean, pl, w('pooler.layernorm.bias')!, c.layer_norm_eps);
    // BeitModel (add_pooling_layer=True) creates a pooler the checkpoint lacks as nn.LayerNorm does: weight 1, bias 0.
    else if (c.model_type === 'beit') pooled = layerNorm(mean, new Float64Array(D).fill(1), new Float64Array(D), c.layer_norm_eps);
    head = pooled;
  } else {
    pooled = last[0];
    head = pooled;
  }
  const cw = w('classifier.weight');
  const logits = cw && head ? linear(head, cw, w('classifier.bias'), cw.length / D) : undefined;
  return { hidden, last, pooled, logits, attentions };
}
