// Exports a Hugging Face BEiT / Data2Vec-Vision / ViT image-classification checkpoint (config.json +
// model.safetensors) to the ONNX graph that `torch.onnx.export` (optimum, what transformers.js runs)
// produces for *ForImageClassification at opset 17: pixel_values [batch_size, C, H, W] -> logits
// [batch_size, labels]. Op by op as exported: Conv patch embedding, Reshape + Transpose, CLS token
// Expand + Concat; per layer LayerNormalization, q/k/v MatMul (+ Add bias), Reshape / Transpose to
// heads, MatMul, Div by sqrt(head_dim), Add relative position bias (gathered once here into a
// constant [1, heads, T, T]), Softmax, MatMul, Transpose / Reshape, output MatMul + Add, Mul
// lambda_1, residual Add, LayerNormalization, fc1, GELU as Div / Erf / Add / Mul / Mul, fc2, Mul
// lambda_2, residual Add; then mean pooling (Slice + ReduceMean) + pooler LayerNormalization or final
// LayerNormalization + CLS Gather, and the classifier Gemm (transB = 1).
import fs from 'node:fs';
import path from 'node:path';
import { Graph, attr, writeMessageAtomic } from './onnx.mjs';

/** Bumped whenever the emitted graph changes, so cached .onnx files are re-exported. */
export const EXPORTER_VERSION = 1;

// ---------------------------------------------------------------- safetensors

function f16ToF32(h) {
  const s = (h & 0x8000) ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Reads a safetensors file: 8-byte little-endian header length, JSON header
 * { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }, then the data.
 * Returns name -> { shape, data } with float types widened to Float32Array and I64 as BigInt64Array.
 */
export function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 8) throw new Error(`${file}: not a safetensors file`);
  const hlen = Number(buf.readBigUInt64LE(0));
  if (8 + hlen > buf.length) throw new Error(`${file}: header length ${hlen} past the end`);
  const header = JSON.parse(buf.toString('utf8', 8, 8 + hlen));
  const base = 8 + hlen;
  const out = new Map();
  for (const [name, h] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [b, e] = h.data_offsets;
    const n = h.shape.reduce((a, v) => a * v, 1);
    const bytes = buf.buffer.slice(buf.byteOffset + base + b, buf.byteOffset + base + e); // aligned copy
    let data;
    switch (h.dtype) {
      case 'F32': data = new Float32Array(bytes); break;
      case 'F64': data = Float32Array.from(new Float64Array(bytes)); break;
      case 'F16': data = Float32Array.from(new Uint16Array(bytes), f16ToF32); break;
      case 'BF16': {
        const u = new Uint16Array(bytes), u32 = new Uint32Array(u.length);
        for (let i = 0; i < u.length; i++) u32[i] = u[i] << 16;
        data = new Float32Array(u32.buffer);
        break;
      }
      case 'I64': data = new BigInt64Array(bytes); break;
      default: data = undefined; // other dtypes are not needed by the graph
    }
    if (data && data.length !== n) throw new Error(`${file}: ${name}: ${data.length} values for shape [${h.shape}]`);
    out.set(name, { shape: h.shape, dtype: h.dtype, data });
  }
  return out;
}

// ---------------------------------------------------------------- helpers

/** HF BeitRelativePositionBias's relative_position_index for a wh x ww window: [T*T], T = wh*ww + 1. */
export function hfRelativePositionIndex(wh, ww) {
  const N = wh * ww, T = N + 1;
  const numRel = (2 * wh - 1) * (2 * ww - 1) + 3;
  const idx = new Int32Array(T * T);
  // coords = stack(meshgrid(arange(wh), arange(ww), indexing='ij')).flatten(1); relative = coords[:, :, None] - coords[:, None, :]
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      let r0 = Math.floor(i / ww) - Math.floor(j / ww), r1 = (i % ww) - (j % ww);
      r0 += wh - 1; r1 += ww - 1; r0 *= 2 * ww - 1;
      idx[(i + 1) * T + (j + 1)] = r0 + r1;
    }
  }
  for (let j = 0; j < T; j++) idx[j] = numRel - 3; // relative_position_index[0, 0:] = num_relative_distance - 3
  for (let i = 0; i < T; i++) idx[i * T] = numRel - 2; // [0:, 0] = num_relative_distance - 2
  idx[0] = numRel - 1; // [0, 0] = num_relative_distance - 1
  return idx;
}

/** [out, in] row-major -> [in, out] (nn.Linear weight -> MatMul initializer). */
function transpose2d(w, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

const pair = (v) => (Array.isArray(v) ? v : [v, v]);

// ---------------------------------------------------------------- export

/**
 * Builds the ONNX graph of a checkpoint folder and writes it to `outFile` (atomically).
 * @returns {{ numLabels: number, nodes: number, initializers: number, bytes: number, config: object }}
 */
export function exportCheckpoint(dir, outFile, log = () => {}) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const type = config.model_type;
  if (!['beit', 'data2vec-vision', 'vit'].includes(type)) throw new Error(`${dir}: model_type ${type} is not beit, data2vec-vision or vit`);
  if ((config.hidden_act ?? 'gelu') !== 'gelu') throw new Error(`${dir}: hidden_act ${config.hidden_act}: only the erf GELU is exported`);
  const stFile = path.join(dir, 'model.safetensors');
  if (!fs.existsSync(stFile)) throw new Error(`${dir}: no model.safetensors (sharded and .bin checkpoints are not read here)`);
  log(`reading ${stFile}`);
  const tensors = readSafetensors(stFile);
  const prefix = { beit: 'beit.', 'data2vec-vision': 'data2vec_vision.', vit: 'vit.' }[type];
  const get = (name, shape) => {
    const t = tensors.get(name);
    if (!t) return undefined;
    if (!(t.data instanceof Float32Array)) throw new Error(`${name}: dtype ${t.dtype} is not a float type`);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      throw new Error(`${name}: shape [${t.shape}], expected [${shape}]`);
    }
    return t.data;
  };
  const need = (name, shape) => {
    const d = get(name, shape);
    if (!d) throw new Error(`${stFile}: missing tensor ${name}`);
    return d;
  };

  const D = config.hidden_size, L = config.num_hidden_layers, H = config.num_attention_heads, I = config.intermediate_size;
  const C = config.num_channels ?? 3, eps = config.layer_norm_eps ?? 1e-12;
  const [ih, iw] = pair(config.image_size ?? 224), [ph, pw] = pair(config.patch_size ?? 16);
  const gh = ih / ph, gw = iw / pw, N = gh * gw, T = N + 1, hd = D / H;
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || !Number.isInteger(hd)) throw new Error(`${dir}: inconsistent sizes in config.json`);
  const clsW = get('classifier.weight');
  if (!clsW) throw new Error(`${dir}: no classifier.weight (only *ForImageClassification checkpoints are exported)`);
  const numLabels = clsW.length / D;
  need('classifier.weight', [numLabels, D]);

  const g = new Graph('main_graph');
  const B = 'batch_size';
  const x0 = g.input('pixel_values', [B, C, ih, iw]);
  const root = `/${prefix.slice(0, -1)}`;

  // ---- embeddings
  let s = `${root}/embeddings/patch_embeddings/projection`;
  const conv = g.node('Conv', [x0,
    g.init(`${prefix}embeddings.patch_embeddings.projection.weight`, [D, C, ph, pw], need(`${prefix}embeddings.patch_embeddings.projection.weight`, [D, C, ph, pw])),
    g.init(`${prefix}embeddings.patch_embeddings.projection.bias`, [D], need(`${prefix}embeddings.patch_embeddings.projection.bias`, [D]))],
  { dilations: attr.ints([1, 1]), group: attr.int(1), kernel_shape: attr.ints([ph, pw]), pads: attr.ints([0, 0, 0, 0]), strides: attr.ints([ph, pw]) }, s);
  s = `${root}/embeddings/patch_embeddings`;
  const flat = g.node('Reshape', [conv, g.i64('flatten_shape', [0, D, -1])], {}, s); // flatten(2)
  const patches = g.node('Transpose', [flat], { perm: attr.ints([0, 2, 1]) }, s); // transpose(1, 2)
  s = `${root}/embeddings`;
  const batch = g.node('Shape', [x0], { start: attr.int(0), end: attr.int(1) }, s);
  const expandShape = g.node('Concat', [batch, g.i64('cls_expand_tail', [1, D])], { axis: attr.int(0) }, s);
  const cls = g.node('Expand', [g.init(`${prefix}embeddings.cls_token`, [1, 1, D], need(`${prefix}embeddings.cls_token`, [1, 1, D])), expandShape], {}, s);
  let x = g.node('Concat', [cls, patches], { axis: attr.int(1) }, s);
  const pos = get(`${prefix}embeddings.position_embeddings`, [1, T, D]);
  if (pos) x = g.node('Add', [x, g.init(`${prefix}embeddings.position_embeddings`, [1, T, D], pos)], {}, s);

  // ---- relative position bias, gathered once: [1, H, T, T]
  const index = hfRelativePositionIndex(gh, gw);
  const numRel = (2 * gh - 1) * (2 * gw - 1) + 3;
  const checkIndex = (name) => {
    const t = tensors.get(name);
    if (!t) return;
    if (!(t.data instanceof BigInt64Array) || t.data.length !== T * T) throw new Error(`${name}: expected I64 [${T}, ${T}]`);
    for (let i = 0; i < T * T; i++) {
      if (Number(t.data[i]) !== index[i]) throw new Error(`${name}: stored index differs from HF's at ${i}: ${t.data[i]} vs ${index[i]}`);
    }
  };
  const biasFromTable = (tableName, initName) => {
    const table = need(tableName, [numRel, H]);
    const bias = new Float32Array(H * T * T);
    for (let p = 0; p < T * T; p++) {
      const row = index[p] * H;
      for (let h = 0; h < H; h++) bias[h * T * T + p] = table[row + h];
    }
    return g.init(initName, [1, H, T, T], bias);
  };
  let sharedBias;
  if (tensors.has(`${prefix}encoder.relative_position_bias.relative_position_bias_table`)) {
    checkIndex(`${prefix}encoder.relative_position_bias.relative_position_index`);
    sharedBias = biasFromTable(`${prefix}encoder.relative_position_bias.relative_position_bias_table`, `${prefix}encoder.relative_position_bias.gathered`);
  }

  const layerNorm = (input, wName, scope) => g.node('LayerNormalization', [input,
    g.init(`${wName}.weight`, [D], need(`${wName}.weight`, [D])), g.init(`${wName}.bias`, [D], need(`${wName}.bias`, [D]))],
  { axis: attr.int(-1), epsilon: attr.float(eps) }, scope);
  /** nn.Linear on a [B, T, in] input: MatMul with the transposed weight, then Add(bias, .) when it has one. */
  const linear = (input, key, inF, outF, scope) => {
    const w = transpose2d(need(`${key}.weight`, [outF, inF]), outF, inF);
    const mm = g.node('MatMul', [input, g.init(`${key}.weight_transposed`, [inF, outF], w)], {}, scope);
    const b = get(`${key}.bias`, [outF]);
    return b ? g.node('Add', [g.init(`${key}.bias`, [outF], b), mm], {}, scope) : mm;
  };

  const headShape = g.i64('heads_shape', [0, 0, H, hd]);
  const mergeShape = g.i64('merge_heads_shape', [0, 0, D]);
  const sqrtHd = g.scalar('sqrt_head_dim', Math.sqrt(hd));
  const sqrt2 = g.scalar('sqrt_2', Math.SQRT2), one = g.scalar('one', 1), half = g.scalar('half', 0.5);

  for (let l = 0; l < L; l++) {
    log(`layer ${l + 1}/${L}`);
    const p = `${prefix}encoder.layer.${l}.`, a = `${p}attention.attention.`;
    const ls = `${root}/encoder/layer.${l}`;
    const h = layerNorm(x, `${p}layernorm_before`, `${ls}/layernorm_before`);
    const q = linear(h, `${a}query`, D, D, `${ls}/attention/attention/query`);
    const k = linear(h, `${a}key`, D, D, `${ls}/attention/attention/key`);
    const v = linear(h, `${a}value`, D, D, `${ls}/attention/attention/value`);
    const as = `${ls}/attention/attention`;
    const qh = g.node('Transpose', [g.node('Reshape', [q, headShape], {}, as)], { perm: attr.ints([0, 2, 1, 3]) }, as);
    const kt = g.node('Transpose', [g.node('Reshape', [k, headShape], {}, as)], { perm: attr.ints([0, 2, 3, 1]) }, as);
    const vh = g.node('Transpose', [g.node('Reshape', [v, headShape], {}, as)], { perm: attr.ints([0, 2, 1, 3]) }, as);
    let scores = g.node('Div', [g.node('MatMul', [qh, kt], {}, as), sqrtHd], {}, as);
    let bias;
    if (tensors.has(`${a}relative_position_bias.relative_position_bias_table`)) {
      checkIndex(`${a}relative_position_bias.relative_position_index`);
      bias = biasFromTable(`${a}relative_position_bias.relative_position_bias_table`, `${a}relative_position_bias.gathered`);
    }
    if (bias) scores = g.node('Add', [scores, bias], {}, as);
    if (sharedBias) scores = g.node('Add', [scores, sharedBias], {}, as);
    const probs = g.node('Softmax', [scores], { axis: attr.int(-1) }, as);
    const ctx = g.node('Reshape', [g.node('Transpose', [g.node('MatMul', [probs, vh], {}, as)], { perm: attr.ints([0, 2, 1, 3]) }, as), mergeShape], {}, as);
    let attnOut = linear(ctx, `${p}attention.output.dense`, D, D, `${ls}/attention/output/dense`);
    const lam1 = get(`${p}lambda_1`, [D]);
    if (lam1) attnOut = g.node('Mul', [g.init(`${p}lambda_1`, [D], lam1), attnOut], {}, ls);
    x = g.node('Add', [attnOut, x], {}, ls);
    const h2 = layerNorm(x, `${p}layernorm_after`, `${ls}/layernorm_after`);
    const fc1 = linear(h2, `${p}intermediate.dense`, D, I, `${ls}/intermediate/dense`);
    const gs = `${ls}/intermediate/intermediate_act_fn`;
    const erf = g.node('Erf', [g.node('Div', [fc1, sqrt2], {}, gs)], {}, gs);
    const gelu = g.node('Mul', [g.node('Mul', [fc1, g.node('Add', [erf, one], {}, gs)], {}, gs), half], {}, gs);
    let mlp = linear(gelu, `${p}output.dense`, I, D, `${ls}/output/dense`);
    const lam2 = get(`${p}lambda_2`, [D]);
    if (lam2) mlp = g.node('Mul', [g.init(`${p}lambda_2`, [D], lam2), mlp], {}, ls);
    x = g.node('Add', [mlp, x], {}, ls);
  }

  // ---- head
  let head;
  if (type !== 'vit' && config.use_mean_pooling && tensors.has(`${prefix}pooler.layernorm.weight`)) {
    // BEiT / Data2Vec-Vision mean pooling: no final LayerNorm; pooler.layernorm(mean of tokens 1:)
    const ps = `${root}/pooler`;
    const patchTokens = g.node('Slice', [x, g.i64('slice_starts', [1]), g.i64('slice_ends', [9223372036854775807n]),
      g.i64('slice_axes', [1]), g.i64('slice_steps', [1])], {}, ps);
    const mean = g.node('ReduceMean', [patchTokens], { axes: attr.ints([1]), keepdims: attr.int(0) }, ps);
    head = layerNorm(mean, `${prefix}pooler.layernorm`, `${ps}/layernorm`);
  } else {
    if (type !== 'vit' && config.use_mean_pooling) throw new Error(`${dir}: use_mean_pooling without pooler.layernorm`);
    if (tensors.has(`${prefix}layernorm.weight`)) x = layerNorm(x, `${prefix}layernorm`, `${root}/layernorm`);
    head = g.node('Gather', [x, g.init('cls_index', [], BigInt64Array.of(0n))], { axis: attr.int(1) }, root); // [:, 0]
  }
  const logits = g.node('Gemm', [head, g.init('classifier.weight', [numLabels, D], clsW),
    g.init('classifier.bias', [numLabels], need('classifier.bias', [numLabels]))],
  { alpha: attr.float(1), beta: attr.float(1), transB: attr.int(1) }, '/classifier');
  g.nodes.at(-1).outputs = ['logits'];
  void logits;
  g.output('logits', [B, numLabels]);

  log(`writing ${outFile}`);
  const model = g.model({
    producerVersion: String(EXPORTER_VERSION),
    docString: `${config.architectures?.[0] ?? type} from ${path.basename(dir)}, torch.onnx-style graph written by tools/onnx/export-beit.mjs`,
  });
  writeMessageAtomic(outFile, model);
  return { numLabels, nodes: g.nodes.length, initializers: g.initializers.length, bytes: model.length, config };
}

/**
 * Returns the path of `<dir>/model.onnx` (or `out`), exporting it when it is missing, older than the
 * checkpoint, or written by another exporter version (recorded in a `.json` sidecar), or when `force`.
 */
export function ensureOnnx(dir, { out, force = false, log = () => {} } = {}) {
  const file = out ?? path.join(dir, 'model.onnx');
  const side = `${file}.json`;
  const st = fs.statSync(path.join(dir, 'model.safetensors'));
  const stamp = { exporter: EXPORTER_VERSION, source: { size: st.size, mtimeMs: Math.round(st.mtimeMs) } };
  if (!force && fs.existsSync(file) && fs.existsSync(side)) {
    try {
      if (JSON.stringify(JSON.parse(fs.readFileSync(side, 'utf8'))) === JSON.stringify(stamp)) return { file, exported: false };
    } catch { /* re-export */ }
  }
  exportCheckpoint(dir, file, log);
  const tmp = `${side}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(stamp) + '\n');
  fs.renameSync(tmp, side);
  return { file, exported: true };
}
