/**
 * Malformed checkpoints and configs: each gives one clear error naming the file and the problem,
 * never a crash, hang or huge allocation. The CLI turns them into exit code 1 without a stack trace.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { readSafetensorsFile, writeSafetensorsFile } from '../lib/node/safetensors-file.js';
import { encodeSafetensors, SafetensorsError } from '../lib/io/safetensors.js';
import { loadModel } from '../lib/node/load.js';
import { disposeOutput } from '../lib/model/model.js';
import { attentionForPixels } from '../lib/pipeline/attention.js';
import { parseConfig, ConfigError } from '../lib/checkpoint/config.js';
import { caseDir, FIXTURES } from './helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-bad-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Writes `u64 header length` + header text + data bytes. */
function rawFile(name: string, header: string | object, data = new Uint8Array(0), lengthOverride?: bigint): string {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const buf = new Uint8Array(8 + h.length + data.length);
  new DataView(buf.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.length), true);
  buf.set(h, 8);
  buf.set(data, 8 + h.length);
  const f = path.join(tmp, name);
  fs.writeFileSync(f, buf);
  return f;
}

function expectError(fn: () => unknown, type: new (...a: never[]) => Error, ...parts: (string | RegExp)[]): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, 'expected an error').to.be.instanceOf(type);
  for (const p of parts) expect((err as Error).message).to.match(typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);
}

describe('safetensors reader refuses malformed files', () => {
  const f32 = (n: number) => new Uint8Array(n * 4);
  it('a file shorter than the length prefix', () => {
    const f = path.join(tmp, 'short.safetensors'); fs.writeFileSync(f, new Uint8Array(5));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'short.safetensors', 'shorter than the 8-byte');
  });
  it('an empty file', () => {
    const f = path.join(tmp, 'empty.safetensors'); fs.writeFileSync(f, '');
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'empty.safetensors');
  });
  it('a directory in place of the file', () => {
    const d = path.join(tmp, 'dir.safetensors'); fs.mkdirSync(d);
    expectError(() => readSafetensorsFile(d), SafetensorsError, 'dir.safetensors: cannot open (is a directory)');
  });
  it('writing creates a missing folder; a failed write names the target, not its temporary file', () => {
    const f = path.join(tmp, 'new', 'sub', 'w.safetensors');
    writeSafetensorsFile(f, { w: { dtype: 'F32', shape: [1], data: new Float32Array([1]) } });
    expect([...readSafetensorsFile(f).tensors.keys()]).to.deep.equal(['w']);
    const d = path.join(tmp, 'target-is-dir.safetensors'); fs.mkdirSync(d);
    expect(() => writeSafetensorsFile(d, {})).to.throw(`${d}: cannot write (EISDIR).`);
    expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
  });
  it('a header length larger than the file (no huge allocation)', () => {
    const f = rawFile('hugelen.safetensors', '{}', new Uint8Array(0), 1n << 60n);
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'hugelen.safetensors', 'larger than the file');
  });
  it('a header that is not JSON', () => {
    expectError(() => readSafetensorsFile(rawFile('notjson.safetensors', '{"a": [1, 2')), SafetensorsError, 'notjson.safetensors', 'not valid UTF-8 JSON');
  });
  it('a header that is JSON but not an object', () => {
    expectError(() => readSafetensorsFile(rawFile('array.safetensors', '[1,2]')), SafetensorsError, 'must be a JSON object');
  });
  it('an unknown dtype', () => {
    const f = rawFile('dtype.safetensors', { w: { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'dtype.safetensors', 'tensor "w"', 'unknown dtype "F8_E4M3"');
  });
  it('a dtype named like an Object.prototype member is unknown, not a NaN-byte size', () => {
    for (const dtype of ['toString', '__proto__', 'constructor']) {
      const f = rawFile('proto-dtype.safetensors', { w: { dtype, shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
      expectError(() => readSafetensorsFile(f), SafetensorsError, 'tensor "w"', `unknown dtype "${dtype}"`);
    }
  });
  it('a shape that does not match the offsets span', () => {
    const f = rawFile('span.safetensors', { w: { dtype: 'F32', shape: [3, 2], data_offsets: [0, 16] } }, f32(4));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'tensor "w"', 'needs 24 bytes but data_offsets span 16');
  });
  it('offsets beyond the end of the file', () => {
    const f = rawFile('range.safetensors', { w: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, f32(4));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'tensor "w"', 'outside the data section');
  });
  it('overlapping tensors', () => {
    const f = rawFile('overlap.safetensors', {
      a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
    }, f32(4));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'overlap', '"a" and "b"');
  });
  it('bytes that belong to no tensor (a hole, trailing data) are refused, as the reference reader refuses them', () => {
    const hole = rawFile('hole.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, f32(4));
    expectError(() => readSafetensorsFile(hole), SafetensorsError, 'hole.safetensors: 4 bytes of the data section before tensor "b" belong to no tensor');
    const tail = rawFile('tail.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(3));
    expectError(() => readSafetensorsFile(tail), SafetensorsError, 'tail.safetensors: 4 bytes after the last tensor', 'trailing data');
    const lead = rawFile('lead.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3));
    expectError(() => readSafetensorsFile(lead), SafetensorsError, '4 bytes of the data section before tensor "a"');
    // Zero-size tensors anywhere in the sequence are fine.
    const zero = rawFile('zero.safetensors', { z: { dtype: 'F32', shape: [0], data_offsets: [8, 8] }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(2));
    expect([...readSafetensorsFile(zero).tensors.keys()].sort()).to.deep.equal(['a', 'z']);
  });
  it('negative or fractional shapes and offsets', () => {
    const f = rawFile('neg.safetensors', { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'non-negative integers');
    const g = rawFile('frac.safetensors', { w: { dtype: 'F32', shape: [1], data_offsets: [0.5, 4] } }, f32(1));
    expectError(() => readSafetensorsFile(g), SafetensorsError, 'data_offsets');
  });
  it('a truncated real checkpoint', () => {
    const st = fs.readFileSync(path.join(caseDir('d2v-tiny'), 'model.safetensors'));
    const f = path.join(tmp, 'trunc.safetensors'); fs.writeFileSync(f, st.subarray(0, st.length - 999));
    expectError(() => readSafetensorsFile(f), SafetensorsError, 'trunc.safetensors', 'outside the data section');
  });
  it('widens F16, BF16 and F64 and narrows I64', () => {
    const half = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]); // 1, -2, 65504, 2^-24
    const bf = new Uint16Array([0x3f80, 0xc040]); // 1, -3
    const f64 = new Float64Array([0.1, -1e10]);
    const i64 = new BigInt64Array([5n, -7n]);
    const f = path.join(tmp, 'dtypes.safetensors');
    fs.writeFileSync(f, encodeSafetensors({
      h: { dtype: 'F16', shape: [4], data: half }, b: { dtype: 'BF16', shape: [2], data: bf },
      d: { dtype: 'F64', shape: [2], data: f64 }, i: { dtype: 'I64', shape: [2], data: i64 },
    }));
    const t = readSafetensorsFile(f).tensors;
    expect([...t.get('h')!.data]).to.deep.equal([1, -2, 65504, 2 ** -24]);
    expect([...t.get('b')!.data]).to.deep.equal([1, -3]);
    expect([...t.get('d')!.data]).to.deep.equal([Math.fround(0.1), -1e10]);
    expect(t.get('i')!.dtype).to.equal('int32');
    expect([...t.get('i')!.data]).to.deep.equal([5, -7]);
  });
});

describe('config.json validation', () => {
  const base = JSON.parse(fs.readFileSync(path.join(caseDir('d2v-tiny'), 'config.json'), 'utf8'));
  const cfg = (patch: object) => JSON.stringify({ ...base, ...patch });
  it('not JSON', () => expectError(() => parseConfig('{model_type:', 'x/config.json'), ConfigError, 'x/config.json', 'not valid JSON'));
  it('unknown model_type lists the supported ones', () =>
    expectError(() => parseConfig(cfg({ model_type: 'deit' })), ConfigError, '"deit"', 'data2vec-vision, beit, vit'));
  it('hidden_size not divisible by heads', () =>
    expectError(() => parseConfig(cfg({ hidden_size: 50 })), ConfigError, 'hidden_size 50 is not a multiple of num_attention_heads 4'));
  it('unknown hidden_act', () => expectError(() => parseConfig(cfg({ hidden_act: 'xielu' })), ConfigError, 'hidden_act "xielu"', 'gelu_new'));
  it('ViT pooler_act and pooler_output_size are validated; BEiT ignores them as transformers does', () => {
    expectError(() => parseConfig(cfg({ model_type: 'vit', pooler_act: 'prelu' })), ConfigError, 'unsupported pooler_act "prelu"', 'tanh');
    expectError(() => parseConfig(cfg({ model_type: 'vit', pooler_output_size: 0 })), ConfigError, 'pooler_output_size must be an integer >= 1, got 0');
    const vit = parseConfig(cfg({ model_type: 'vit', pooler_output_size: 5, pooler_act: 'relu' }));
    expect([vit.pooler_output_size, vit.pooler_act]).to.deep.equal([5, 'relu']);
    const vitDefaults = parseConfig(cfg({ model_type: 'vit' }));
    expect([vitDefaults.pooler_output_size, vitDefaults.pooler_act]).to.deep.equal([vitDefaults.hidden_size, 'tanh']);
    const beit = parseConfig(cfg({ pooler_output_size: 5, pooler_act: 'prelu' }));
    expect([beit.pooler_output_size, beit.pooler_act]).to.deep.equal([beit.hidden_size, 'tanh']);
  });
  it('id2label keys are read as Python\'s int() reads them', () => {
    for (const k of ['', '1e0', '0x4', '1.0', '-1', 'one']) {
      expectError(() => parseConfig(cfg({ id2label: { [k]: 'x' } })), ConfigError, `id2label entry ${JSON.stringify(k)}: "x" is not index -> string`);
    }
    expect(parseConfig(cfg({ id2label: { ' 7 ': 'a', '1_0': 'b', '+3': 'c', '007': 'd' } })).id2label).to.deep.equal({ 7: 'd', 10: 'b', 3: 'c' });
  });
  it('image_size smaller than patch_size (no patch); pruned heads', () => {
    expectError(() => parseConfig(cfg({ image_size: 4, patch_size: 8 })), ConfigError, 'smaller than patch_size');
    expectError(() => parseConfig(cfg({ pruned_heads: { 0: [1] } })), ConfigError, 'pruned_heads {"0":[1]}: checkpoints with pruned attention heads are not supported');
    expect(parseConfig(cfg({ pruned_heads: {} })).hidden_size).to.be.a('number');
  });
  it('a patch grid whose attention matrix could not be held (46657 tokens: 8.1 GiB per image and head)', () => {
    expectError(() => parseConfig(cfg({ image_size: 216, patch_size: 1 })), ConfigError, 'gives 46657 tokens per image');
    // The largest grid under the bound still parses: 152x152 patches = 23105 tokens (1.99 GiB).
    expect(() => parseConfig(cfg({ image_size: 152, patch_size: 1 }))).not.to.throw();
  });
  it('sizes beyond exact integers (1e300, 2^53) are refused, not taken as integers', () => {
    expectError(() => parseConfig(cfg({ num_channels: 1e300 }), 'x/config.json'), ConfigError, 'x/config.json', 'num_channels must be an integer >= 1, got 1e+300');
    expectError(() => parseConfig(cfg({ num_hidden_layers: 2 ** 53 })), ConfigError, 'num_hidden_layers must be an integer >= 1, got 9007199254740992');
    expectError(() => parseConfig(cfg({ image_size: 1e300, patch_size: 1e300 })), ConfigError, 'image_size must be a positive integer or [height, width]');
    expectError(() => parseConfig(cfg({ id2label: { 1e30: 'x' } })), ConfigError, 'id2label entry "1e+30"');
  });
  it('non-square image sizes and patch sizes are accepted', () => {
    const c = parseConfig(cfg({ image_size: [32, 48], patch_size: [8, 16] }));
    expect(c.image_size).to.deep.equal([32, 48]);
    expect(c.patch_size).to.deep.equal([8, 16]);
  });
  it('fills HF defaults (layer_norm_eps 1e-12 for BEiT, qkv_bias for ViT)', () => {
    const c = parseConfig(JSON.stringify({ model_type: 'beit' }));
    expect(c.layer_norm_eps).to.equal(1e-12);
    expect(c.hidden_size).to.equal(768);
    expect(parseConfig(JSON.stringify({ model_type: 'vit' })).qkv_bias).to.equal(true);
  });
});

describe('checkpoint / config mismatches', () => {
  function folder(name: string, config: object, tensors?: Map<string, unknown>): string {
    const d = path.join(tmp, name);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
    const src = path.join(caseDir('d2v-tiny'), 'model.safetensors');
    if (tensors) fs.writeFileSync(path.join(d, 'model.safetensors'), encodeSafetensors(tensors as never));
    else fs.copyFileSync(src, path.join(d, 'model.safetensors'));
    return d;
  }
  const config = JSON.parse(fs.readFileSync(path.join(caseDir('d2v-tiny'), 'config.json'), 'utf8'));

  it('missing and misshapen tensors are listed together', async () => {
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const out = new Map<string, unknown>();
    for (const [k, v] of t) {
      if (k.endsWith('layer.1.lambda_2') || k.endsWith('pooler.layernorm.bias')) continue;
      const dtype = v.dtype === 'int32' ? 'I32' : 'F32';
      if (k.endsWith('layer.0.intermediate.dense.weight')) out.set(k, { dtype, shape: [48, 96], data: v.data });
      else out.set(k, { dtype, shape: v.shape, data: v.data });
    }
    const d = folder('mismatch', config, out);
    let err: Error | undefined;
    try { await loadModel(d, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('WeightsError');
    expect(err!.message).to.include('model.safetensors');
    expect(err!.message).to.include('missing data2vec_vision.encoder.layer.1.lambda_2');
    expect(err!.message).to.include('missing data2vec_vision.pooler.layernorm.bias');
    expect(err!.message).to.include('layer.0.intermediate.dense.weight: shape [48,96], expected [96,48]');
  });
  it('messages name the stored dtype, a classifier of the wrong rank, and a classifier bias without its weight', async () => {
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const variant = async (name: string, edit: (k: string, v: { dtype: string; shape: readonly number[]; data: unknown }) =>
      [string, { dtype: string; shape: readonly number[]; data: unknown }] | undefined): Promise<string> => {
      const out = new Map<string, unknown>();
      for (const [k, v] of t) {
        const e = edit(k, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: v.shape, data: v.data });
        if (e) out.set(e[0], e[1]);
      }
      let err: Error | undefined;
      try { await loadModel(folder(name, config, out), { backend: 'cpu' }); } catch (e) { err = e as Error; }
      expect(err?.name, name).to.equal('WeightsError');
      return err!.message;
    };
    const D = config.hidden_size as number, L = Object.keys(config.id2label).length;
    expect(await variant('i64', (k, v) => [k, k.endsWith('layer.0.output.dense.bias')
      ? { dtype: 'I64', shape: v.shape, data: new BigInt64Array(v.shape[0]!) } : v])).to.include('layer.0.output.dense.bias: dtype I64, expected a floating-point tensor');
    expect(await variant('cls1d', (k, v) => [k, k === 'classifier.weight' ? { ...v, shape: [L * D] } : v]))
      .to.include(`classifier.weight: shape [${L * D}], expected [${L},${D}]`);
    expect(await variant('nobias', (k, v) => (k === 'classifier.weight' ? undefined : [k, v]))).to.include('missing classifier.weight (the checkpoint has classifier.bias)');
  });
  it('non-finite weights: classify and embed refuse the NaN outputs instead of ranking them', async () => {
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const out = new Map<string, unknown>();
    for (const [k, v] of t) {
      const data = v.dtype === 'float32' ? Float32Array.from(v.data as Float32Array) : v.data;
      if (k.endsWith('layer.0.intermediate.dense.weight')) (data as Float32Array)[5] = Number.NaN;
      out.set(k, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: v.shape, data });
    }
    const d = folder('nan', config, out);
    fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'preprocessor_config.json'), path.join(d, 'preprocessor_config.json'));
    const m = await loadModel(d, { backend: 'cpu', onNotice: () => {} });
    try {
      const img = path.resolve('spec/fixtures/images/chelsea.png');
      const attention = async () => attentionForPixels(m, (await m.preprocess(img)).pixelValues);
      for (const run of [() => m.classify([img, img]), () => m.embed([img]), attention]) {
        let err: Error | undefined;
        try { await run(); } catch (e) { err = e as Error; }
        expect(err?.name).to.equal('WeightsError');
        expect(err!.message).to.match(/non-finite (logits|pooled output) \(NaN\) for image 0: the checkpoint's weights hold NaN/);
      }
    } finally {
      m.dispose();
    }
  });
  it('a config for another architecture (more layers) names the missing layer', async () => {
    const d = folder('layers', { ...config, num_hidden_layers: 3 });
    let err: Error | undefined;
    try { await loadModel(d, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.message).to.include('missing data2vec_vision.encoder.layer.2.attention.attention.query.weight');
  });
  it('a config asking for 1e8 layers fails at once with one line, not a hang', async function () {
    this.timeout(10000);
    const d = folder('many-layers', { ...config, num_hidden_layers: 100_000_000 });
    let err: Error | undefined;
    try { await loadModel(d, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('WeightsError');
    expect(err!.message).to.include('num_hidden_layers is 100000000 but the checkpoint holds only 2 layer(s)');
    expect(err!.message).to.include('missing data2vec_vision.encoder.layer.2.attention.attention.query.weight');
    expect(err!.message).to.not.include('encoder.layer.3.');
  });
  it('a stray tensor of layer 999999999 does not lift the layer bound (one line, no huge model)', async function () {
    this.timeout(10000);
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const out = new Map<string, unknown>();
    for (const [k, v] of t) out.set(k, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: v.shape, data: v.data });
    out.set('data2vec_vision.encoder.layer.999999999.x', { dtype: 'F32', shape: [0], data: new Float32Array(0) });
    let err: Error | undefined;
    try { await loadModel(folder('stray-layer', { ...config, num_hidden_layers: 1_000_000_000 }, out), { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('WeightsError');
    expect(err!.message).to.include('num_hidden_layers is 1000000000 but the checkpoint holds only 2 layer(s) in sequence (it also has tensors of layer 999999999)');
    expect(err!.message.length).to.be.below(2000);
  });
  it('a relative_position_index that differs from the computed one', async () => {
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const out = new Map<string, unknown>();
    for (const [k, v] of t) {
      const data = k.endsWith('layer.1.attention.attention.relative_position_bias.relative_position_index')
        ? (v.data as Int32Array).map((x, i) => (i === 20 ? x + 1 : x)) : v.data;
      out.set(k, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: v.shape, data });
    }
    let err: Error | undefined;
    try { await loadModel(folder('index', config, out), { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.message).to.match(/layer\.1\..*relative_position_index: differs/);
  });
  it('a config with a large patch grid is a shape mismatch, checked before computing its index', async () => {
    let err: Error | undefined;
    try { await loadModel(folder('grid', { ...config, image_size: 100, patch_size: 1 }), { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('WeightsError');
    expect(err!.message).to.include('layer.0.attention.attention.relative_position_bias.relative_position_index: int32 [17,17], expected an integer [10001,10001] index for a 100x100 patch grid');
    // Past the attention-matrix bound the config itself is refused.
    err = undefined;
    try { await loadModel(folder('grid2', { ...config, image_size: 4096, patch_size: 1 }), { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('ConfigError');
    expect(err!.message).to.include('gives 16777217 tokens per image');
  });
  it('a patch grid whose gathered relative position bias would exceed 8 GiB is refused before loading', async () => {
    let err: Error | undefined;
    try {
      await loadModel(folder('bias-bound', { ...config, image_size: 4096, patch_size: 32, num_attention_heads: 4 }), { backend: 'cpu' });
    } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('WeightsError');
    expect(err!.message).to.include('the relative position bias of 2 table(s) x 4 heads x 16385² tokens would take 8.0 GiB once gathered');
  });
  it('unused tensors give a warning that lists them', async () => {
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const out = new Map<string, unknown>();
    for (const [k, v] of t) out.set(k, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape: v.shape, data: v.data });
    out.set('lm_head.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    const warnings: string[] = [];
    const m = await loadModel(folder('unused', config, out), { backend: 'cpu', onWarning: (w) => warnings.push(w), onNotice: () => {} });
    m.dispose();
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include('lm_head.weight');
  });
  it('named pipes in place of the files are refused at once, not waited on', async function () {
    this.timeout(20000);
    const fifo = (f: string) => { fs.rmSync(f, { force: true }); expect(spawnSync('mkfifo', [f]).status).to.equal(0); };
    for (const [file, name] of [['model.safetensors', 'SafetensorsError'], ['config.json', 'ConfigError'],
      ['preprocessor_config.json', 'ProcessorError']] as const) {
      const d = folder(`fifo-${file}`, config);
      fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'preprocessor_config.json'), path.join(d, 'preprocessor_config.json'));
      fifo(path.join(d, file));
      let err: Error | undefined;
      try { await loadModel(d, { backend: 'cpu', onNotice: () => {} }); } catch (e) { err = e as Error; }
      expect(err?.name, file).to.equal(name);
      expect(err!.message).to.include(`${file}: cannot`).and.include('is a named pipe, not a file');
    }
    // An image, read whole, may come through a pipe (/dev/stdin, <(...)): it is read, not refused.
    const m = await loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    try {
      const img = path.join(tmp, 'pipe.png');
      fifo(img);
      const writer = spawn('sh', ['-c', `cat "${path.join(FIXTURES, 'images', 'chelsea.png')}" > "${img}"`]);
      const [viaPipe] = await m.classify([img], { topK: 1 });
      const [direct] = await m.classify([path.join(FIXTURES, 'images', 'chelsea.png')], { topK: 1 });
      expect(viaPipe).to.deep.equal(direct);
      writer.kill();
      let err: Error | undefined;
      try { await m.classify(['/dev/null']); } catch (e) { err = e as Error; }
      expect(err?.message).to.include('/dev/null: cannot read image (is a device, not a file)');
    } finally { m.dispose(); }
  });
  it('a directory named config.json is a ConfigError naming it', async () => {
    const d = path.join(tmp, 'config-dir'); fs.mkdirSync(path.join(d, 'config.json'), { recursive: true });
    let err: Error | undefined;
    try { await loadModel(d, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('ConfigError');
    expect(err!.message).to.include('config.json: cannot read (is a directory)');
  });
  it('a folder with only pytorch_model.bin points to beit convert', async () => {
    const d = path.join(tmp, 'binonly'); fs.mkdirSync(d);
    fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'config.json'), path.join(d, 'config.json'));
    fs.writeFileSync(path.join(d, 'pytorch_model.bin'), 'x');
    let err: Error | undefined;
    try { await loadModel(d, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.message).to.include('beit convert');
  });
  it('id2label naming another number of classes than the classifier holds', async () => {
    const labels = Object.keys(config.id2label).length;
    for (const [name, id2label, want] of [
      ['fewer', Object.fromEntries(Object.entries(config.id2label).slice(1)), `${labels} classes, but config.json id2label names ${labels - 1}`],
      ['more', { ...config.id2label, [labels]: 'extra' }, `${labels} classes, but config.json id2label names ${labels + 1}`],
      ['gap', { ...Object.fromEntries(Object.entries(config.id2label).slice(1)), [labels + 4]: 'far' }, `(indices up to ${labels + 4})`],
    ] as const) {
      let err: Error | undefined;
      try { await loadModel(folder(`labels-${name}`, { ...config, id2label }), { backend: 'cpu' }); } catch (e) { err = e as Error; }
      expect(err?.name, name).to.equal('WeightsError');
      expect(err!.message).to.include('classifier.weight: ');
      expect(err!.message).to.include(want);
    }
  });
  it('images on a model whose num_channels is not 3: an error naming the mismatch, not a crash', async () => {
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    for (const C of [1, 4]) {
      const out = new Map<string, unknown>();
      for (const [k, v] of t) {
        let { shape, data } = v;
        if (k.endsWith('patch_embeddings.projection.weight')) {
          shape = [v.shape[0]!, C, v.shape[2]!, v.shape[3]!];
          data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.01);
        }
        out.set(k, { dtype: v.dtype === 'int32' ? 'I32' : 'F32', shape, data });
      }
      const d = folder(`channels-${C}`, { ...config, num_channels: C }, out);
      fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'preprocessor_config.json'), path.join(d, 'preprocessor_config.json'));
      const m = await loadModel(d, { backend: 'cpu', onNotice: () => {} });
      try {
        const img = path.resolve('spec/fixtures/images/chelsea.png');
        for (const run of [() => m.classify([img]), () => m.embed([img]), () => m.preprocess(img)]) {
          let err: Error | undefined;
          try { await run(); } catch (e) { err = e as Error; }
          expect(err?.name).to.equal('InputError');
          expect(err!.message).to.include(`chelsea.png: images are RGB (3 channels) but the model's config.json says num_channels ${C}`);
        }
        // forward() takes pixels of the model's channel count.
        const out = m.forward({ data: new Float32Array(C * 32 * 32), shape: [1, C, 32, 32] });
        expect(out.logits!.shape).to.deep.equal([1, Object.keys(config.id2label).length]);
        disposeOutput(out);
      } finally {
        m.dispose();
      }
    }
  });
  it('pixel input of the wrong shape', async () => {
    const m = await loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    try {
      expect(() => m.forward({ data: new Float32Array(3 * 16 * 16), shape: [1, 3, 16, 16] })).to.throw(/\[batch, 3, 32, 32\].*\[1,3,16,16\]/);
      expect(() => m.forward({ data: new Float32Array(5), shape: [1, 3, 32, 32] })).to.throw(/5 values/);
    } finally { m.dispose(); }
  });
});

describe('CLI errors', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/beit.mjs', ...args], { encoding: 'utf8' });
  it('a truncated checkpoint: exit 1, one paragraph naming the file, no stack trace', () => {
    const d = path.join(tmp, 'cli-trunc'); fs.mkdirSync(d);
    fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'config.json'), path.join(d, 'config.json'));
    const st = fs.readFileSync(path.join(caseDir('d2v-tiny'), 'model.safetensors'));
    fs.writeFileSync(path.join(d, 'model.safetensors'), st.subarray(0, 1000));
    const r = cli('parity', d, '--inputs', path.join(caseDir('d2v-tiny'), 'inputs.safetensors'),
      '--expected', path.join(caseDir('d2v-tiny'), 'expected.safetensors'), '--backend', 'cpu');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('model.safetensors');
    expect(r.stderr).not.to.match(/\n\s+at /);
    const v = cli('parity', d, '--inputs', path.join(caseDir('d2v-tiny'), 'inputs.safetensors'),
      '--expected', path.join(caseDir('d2v-tiny'), 'expected.safetensors'), '--backend', 'cpu', '--verbose');
    expect(v.stderr).to.match(/\n\s+at /);
  });
  it('a config that is not JSON: exit 1', () => {
    const d = path.join(tmp, 'cli-cfg'); fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'config.json'), '{oops');
    fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'model.safetensors'), path.join(d, 'model.safetensors'));
    const r = cli('parity', d, '--inputs', path.join(caseDir('d2v-tiny'), 'inputs.safetensors'),
      '--expected', path.join(caseDir('d2v-tiny'), 'expected.safetensors'), '--backend', 'cpu');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('config.json: not valid JSON');
  });
  it('unknown flag: exit 2; --help lists the commands', () => {
    expect(cli('parity', '--nope').status).to.equal(2);
    const h = cli('--help');
    expect(h.status).to.equal(0);
    expect(h.stdout).to.include('parity');
  });
  it('an unknown backend is a usage error (exit 2) naming the known ones', () => {
    const r = cli('parity', caseDir('d2v-tiny'), '--backend', 'metal');
    expect(r.status).to.equal(2);
    expect(r.stderr).to.include('unknown backend "metal"');
  });
  it('parity exits 1 when a reference tensor differs', () => {
    const exp = readSafetensorsFile(path.join(caseDir('vit-tiny'), 'expected.safetensors')).tensors;
    const out: Record<string, unknown> = {};
    for (const [k, v] of exp) out[k] = { dtype: 'F32', shape: v.shape, data: k === 'logits' ? (v.data as Float32Array).map((x) => x + 0.01) : v.data };
    out['attentions.9'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) };
    const f = path.join(tmp, 'wrong-expected.safetensors');
    fs.writeFileSync(f, encodeSafetensors(out as never));
    const r = cli('parity', caseDir('vit-tiny'), '--expected', f, '--backend', 'cpu', '--json');
    expect(r.status).to.equal(1);
    const rep = JSON.parse(r.stdout);
    expect(rep.ok).to.equal(false);
    const byName = Object.fromEntries(rep.tensors.map((t: { name: string }) => [t.name, t]));
    expect(byName.logits.ok).to.equal(false);
    expect(byName['attentions.9'].ok).to.equal(false);
    expect(byName['hidden_states.0'].ok).to.equal(true);
  });
});
