/**
 * `beit convert`: the fixture's pytorch_model.bin converts to tensors byte-identical to the reference
 * model.safetensors; folders, sharded checkpoints and half-precision conversion behave as documented.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { convertCheckpoint, floatToBf16Bits, floatToHalfBits, convertFloats } from '../lib/node/convert.js';
import { readSafetensorsHeader } from '../lib/node/safetensors-file.js';
import { encodeSafetensors, halfToFloat } from '../lib/io/safetensors.js';
import { main } from '../lib/cli/main.js';
import { f32bytes, statePickle, torchZip } from './support/torch-builders.js';

const FIX = path.resolve('spec/fixtures/d2v-tiny');

/** name -> {dtype, shape, bytes} of a safetensors file, plus its metadata. */
export function rawTensors(file: string): { tensors: Map<string, { dtype: string; shape: readonly number[]; bytes: Buffer }>; metadata: Record<string, string> } {
  const h = readSafetensorsHeader(file);
  const buf = fs.readFileSync(file);
  const tensors = new Map(h.entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, bytes: buf.subarray(e.begin, e.end) }]));
  return { tensors, metadata: { ...h.metadata } };
}

function expectSameTensors(a: string, b: string): void {
  const x = rawTensors(a).tensors, y = rawTensors(b).tensors;
  expect([...x.keys()].sort()).to.deep.equal([...y.keys()].sort());
  for (const [k, t] of y) {
    const u = x.get(k)!;
    expect(u.dtype, k).to.equal(t.dtype);
    expect(u.shape, k).to.deep.equal(t.shape);
    expect(u.bytes.equals(t.bytes), `${k} bytes`).to.equal(true);
  }
}

describe('convert PyTorch -> safetensors', () => {
  let tmp: string;
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-convert-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('d2v-tiny/pytorch_model.bin gives tensors byte-identical to model.safetensors', () => {
    const out = path.join(tmp, 'out.safetensors');
    const r = convertCheckpoint(path.join(FIX, 'pytorch_model.bin'), out, { quiet: true });
    expect(r.tensors).to.equal(45);
    expectSameTensors(out, path.join(FIX, 'model.safetensors'));
    expect(rawTensors(out).metadata).to.deep.equal({ format: 'pt' });
    expect(fs.readdirSync(tmp)).to.deep.equal(['out.safetensors']); // no temporary left behind
  });

  it('a folder converts into a new folder with its configs copied', () => {
    const out = path.join(tmp, 'converted');
    convertCheckpoint(FIX, out, { quiet: true });
    expect(fs.readdirSync(out).sort()).to.deep.equal(['config.json', 'model.safetensors', 'preprocessor_config.json']);
    expect(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).to.equal(fs.readFileSync(path.join(FIX, 'config.json'), 'utf8'));
    expectSameTensors(path.join(out, 'model.safetensors'), path.join(FIX, 'model.safetensors'));
  });

  it('never overwrites its input', () => {
    const bin = path.join(tmp, 'ckpt.safetensors');
    fs.copyFileSync(path.join(FIX, 'pytorch_model.bin'), bin);
    expect(() => convertCheckpoint(bin, bin, { quiet: true })).to.throw(/refusing to overwrite/);
    const bin2 = path.join(tmp, 'pytorch_model.bin');
    fs.copyFileSync(path.join(FIX, 'pytorch_model.bin'), bin2);
    expect(() => convertCheckpoint(bin2, bin2, { quiet: true })).to.throw(/refusing to overwrite/);
    expect(fs.readFileSync(bin).equals(fs.readFileSync(path.join(FIX, 'pytorch_model.bin')))).to.equal(true);
  });

  it('never replaces files already at the output without force; a failed run leaves no new file', () => {
    const out = path.join(tmp, 'user');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'config.json'), 'mine');
    fs.writeFileSync(path.join(out, 'model.safetensors'), 'mine too');
    expect(() => convertCheckpoint(FIX, out, { quiet: true })).to.throw(/user\/model\.safetensors: already exists; pass --force/)
      .with.property('name', 'PickleError');
    expect(fs.readdirSync(out).sort()).to.deep.equal(['config.json', 'model.safetensors']);
    expect(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).to.equal('mine');
    expect(fs.readFileSync(path.join(out, 'model.safetensors'), 'utf8')).to.equal('mine too');
    convertCheckpoint(FIX, out, { quiet: true, force: true });
    expectSameTensors(path.join(out, 'model.safetensors'), path.join(FIX, 'model.safetensors'));
    // A single-file target too.
    const file = path.join(tmp, 'x.safetensors');
    fs.writeFileSync(file, 'keep');
    expect(() => convertCheckpoint(path.join(FIX, 'pytorch_model.bin'), file, { quiet: true })).to.throw(/x\.safetensors: already exists/);
    expect(fs.readFileSync(file, 'utf8')).to.equal('keep');
    // A config that cannot be copied fails before anything is written.
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'preprocessor_config.json'), { recursive: true });
    fs.copyFileSync(path.join(FIX, 'pytorch_model.bin'), path.join(src, 'pytorch_model.bin'));
    expect(() => convertCheckpoint(src, path.join(tmp, 'fresh'), { quiet: true }))
      .to.throw(/src\/preprocessor_config\.json: cannot copy \(not a regular file\)/);
    expect(fs.existsSync(path.join(tmp, 'fresh'))).to.equal(false);
  });

  it('output paths that cannot be written say why', () => {
    fs.mkdirSync(path.join(tmp, 'dir.safetensors'));
    expect(() => convertCheckpoint(path.join(FIX, 'pytorch_model.bin'), path.join(tmp, 'dir.safetensors'), { quiet: true }))
      .to.throw(/dir\.safetensors: cannot write \(is a directory\)/);
    fs.writeFileSync(path.join(tmp, 'afile'), '');
    expect(() => convertCheckpoint(FIX, path.join(tmp, 'afile', 'out'), { quiet: true }))
      .to.throw(/afile\/out: cannot create the output folder \(a file is in the way\)/);
    expect(() => convertCheckpoint(path.join(FIX, 'pytorch_model.bin'), path.join(tmp, 'afile'), { quiet: true, force: true }))
      .to.throw(/afile: cannot create the output folder \(a file is in the way\)/);
  });

  it('a tensor named "__metadata__" is refused (safetensors reserves the name), leaving no output', () => {
    const pk = statePickle([{ name: '__metadata__', storage: '0', storageType: 'FloatStorage', numel: 2, offset: 0, shape: [2], stride: [1] }]);
    const bin = path.join(tmp, 'meta.bin'), out = path.join(tmp, 'meta.safetensors');
    fs.writeFileSync(bin, torchZip(pk, new Map([['0', f32bytes([1, 2])]])));
    expect(() => convertCheckpoint(bin, out, { quiet: true })).to.throw(/a tensor named "__metadata__" cannot be stored/);
    expect(fs.readdirSync(tmp).sort()).to.deep.equal(['meta.bin']);
  });

  it('a tensor named "__proto__" is written like any other, not silently dropped', () => {
    const pk = statePickle([{ name: '__proto__', storage: '0', storageType: 'FloatStorage', numel: 2, offset: 0, shape: [2], stride: [1] },
      { name: 'b', storage: '0', storageType: 'FloatStorage', numel: 2, offset: 0, shape: [2], stride: [1] }]);
    const bin = path.join(tmp, 'proto.bin'), out = path.join(tmp, 'proto.safetensors');
    fs.writeFileSync(bin, torchZip(pk, new Map([['0', f32bytes([1, 2])]])));
    convertCheckpoint(bin, out, { quiet: true });
    const t = rawTensors(out).tensors;
    expect([...t.keys()].sort()).to.deep.equal(['__proto__', 'b']);
    expect([...new Float32Array(Uint8Array.from(t.get('__proto__')!.bytes).buffer)]).to.deep.equal([1, 2]);
    const enc = encodeSafetensors(new Map([['__proto__', { dtype: 'F32', shape: [1], data: new Float32Array([3]) }]]));
    expect(new TextDecoder().decode(enc.subarray(8)).trim()).to.match(/^\{"__proto__":\{"dtype":"F32"/);
  });

  it('a missing shard or a directory in place of pytorch_model.bin is a PickleError naming it', () => {
    const sharded = path.join(tmp, 'missing-shard');
    fs.mkdirSync(sharded);
    fs.writeFileSync(path.join(sharded, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: { a: 'pytorch_model-00001-of-00001.bin' } }));
    expect(() => convertCheckpoint(sharded, path.join(tmp, 'out1'), { quiet: true }))
      .to.throw(/missing-shard\/pytorch_model-00001-of-00001\.bin: cannot read \(ENOENT\)/).with.property('name', 'PickleError');
    const dirBin = path.join(tmp, 'dir-bin');
    fs.mkdirSync(path.join(dirBin, 'pytorch_model.bin'), { recursive: true });
    expect(() => convertCheckpoint(dirBin, path.join(tmp, 'out2'), { quiet: true }))
      .to.throw(/dir-bin\/pytorch_model\.bin: cannot read \(is a directory\)/).with.property('name', 'PickleError');
  });

  it('sharded pytorch_model.bin.index.json becomes sharded safetensors with an HF index', () => {
    const src = path.join(tmp, 'sharded');
    fs.mkdirSync(src);
    const a = statePickle([{ name: 'a.weight', storage: '0', storageType: 'FloatStorage', numel: 4, offset: 0, shape: [2, 2], stride: [1, 2] }]);
    const b = statePickle([{ name: 'b.bias', storage: '0', storageType: 'FloatStorage', numel: 3, offset: 0, shape: [3], stride: [1] },
      { name: 'b.index', storage: '1', storageType: 'LongStorage', numel: 1, offset: 0, shape: [1], stride: [1] }]);
    fs.writeFileSync(path.join(src, 'pytorch_model-00001-of-00002.bin'), torchZip(a, new Map([['0', f32bytes([1, 2, 3, 4])]])));
    fs.writeFileSync(path.join(src, 'pytorch_model-00002-of-00002.bin'),
      torchZip(b, new Map([['0', f32bytes([5, 6, 7])], ['1', new Uint8Array(new BigInt64Array([3n]).buffer)]])));
    fs.writeFileSync(path.join(src, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: { total_size: 36 }, weight_map: {
      'a.weight': 'pytorch_model-00001-of-00002.bin', 'b.bias': 'pytorch_model-00002-of-00002.bin', 'b.index': 'pytorch_model-00002-of-00002.bin' } }));
    fs.writeFileSync(path.join(src, 'config.json'), '{}');
    const out = path.join(tmp, 'out');
    convertCheckpoint(src, out, { quiet: true });
    expect(fs.readdirSync(out).sort()).to.deep.equal(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index).to.deep.equal({ metadata: { total_size: 36 }, weight_map: {
      'a.weight': 'model-00001-of-00002.safetensors', 'b.bias': 'model-00002-of-00002.safetensors', 'b.index': 'model-00002-of-00002.safetensors' } });
    const s1 = rawTensors(path.join(out, 'model-00001-of-00002.safetensors')).tensors.get('a.weight')!;
    expect([...new Float32Array(Uint8Array.from(s1.bytes).buffer)]).to.deep.equal([1, 3, 2, 4]); // transposed view, contiguous
    const s2 = rawTensors(path.join(out, 'model-00002-of-00002.safetensors')).tensors;
    expect(s2.get('b.index')!.dtype).to.equal('I64');
    // An index pointing outside its folder is refused, and so are an empty or list weight_map.
    fs.writeFileSync(path.join(src, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: { x: '../../etc/passwd' } }));
    expect(() => convertCheckpoint(src, path.join(tmp, 'out2'), { quiet: true })).to.throw(/weight_map/);
    fs.writeFileSync(path.join(src, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: {} }));
    expect(() => convertCheckpoint(src, path.join(tmp, 'out3'), { quiet: true })).to.throw(/"weight_map" is empty/);
    fs.writeFileSync(path.join(src, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: ['pytorch_model-00001-of-00002.bin'] }));
    expect(() => convertCheckpoint(src, path.join(tmp, 'out4'), { quiet: true })).to.throw(/"weight_map" must map tensor names/);
    // A shard that fails after another was written: no shard of the run is left.
    fs.writeFileSync(path.join(src, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: {
      'a.weight': 'pytorch_model-00001-of-00002.bin', 'z': 'pytorch_model-00003-of-00003.bin' } }));
    expect(() => convertCheckpoint(src, path.join(tmp, 'out5'), { quiet: true })).to.throw(/pytorch_model-00003-of-00003\.bin: cannot read/);
    expect(fs.readdirSync(path.join(tmp, 'out5'))).to.deep.equal([]);
  });

  it('float16 rounds to nearest even, like numpy/PyTorch', () => {
    // Reference bits from numpy float32 -> float16 (round to nearest even).
    const cases: Array<[number, number]> = [[1, 0x3c00], [-2.5, 0xc100], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00],
      [1e-8, 0], [2 ** -24, 1], [2 ** -25, 0], [3 * 2 ** -26, 1], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
      [0.1, 0x2e66], [-0.3333333, 0xb555], [Infinity, 0x7c00], [2 ** -14 - 2 ** -25, 0x400], [2 ** -14 - 2 ** -24, 0x3ff],
      [1234.5678, 0x64d3], [-7.77e-6, 0x8082], [3.14159265, 0x4248], [-0, 0x8000]];
    for (const [v, bits] of cases) expect(floatToHalfBits(v), String(v)).to.equal(bits);
    expect(floatToHalfBits(NaN) & 0x7c00).to.equal(0x7c00);
    expect(floatToHalfBits(NaN) & 0x3ff).to.not.equal(0);
  });

  it('bfloat16 rounds to nearest even, NaN -> 0x7fc0, like PyTorch', () => {
    const cases: Array<[number, number]> = [[1, 0x3f80], [-2.5, 0xc020], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82],
      [1 + 2 ** -8 + 2 ** -20, 0x3f81], [65504, 0x4780], [Infinity, 0x7f80], [-Infinity, 0xff80], [3.4e38, 0x7f80], [NaN, 0x7fc0]];
    for (const [v, bits] of cases) expect(floatToBf16Bits(v), String(v)).to.equal(bits);
  });

  it('--dtype float16 converts float tensors within half rounding and keeps int tensors', () => {
    const out = path.join(tmp, 'h.safetensors');
    convertCheckpoint(path.join(FIX, 'pytorch_model.bin'), out, { dtype: 'float16', quiet: true });
    const h = rawTensors(out).tensors, ref = rawTensors(path.join(FIX, 'model.safetensors')).tensors;
    for (const [k, t] of ref) {
      const u = h.get(k)!;
      if (t.dtype === 'I64') { expect(u.dtype).to.equal('I64'); expect(u.bytes.equals(t.bytes)).to.equal(true); continue; }
      expect(u.dtype, k).to.equal('F16');
      const f = new Float32Array(Uint8Array.from(t.bytes).buffer), g = new Uint16Array(Uint8Array.from(u.bytes).buffer);
      for (let i = 0; i < f.length; i++) {
        const err = Math.abs(halfToFloat(g[i]!) - f[i]!);
        expect(err <= Math.max(Math.abs(f[i]!) * 2 ** -11, 2 ** -25), `${k}[${i}]`).to.equal(true);
      }
    }
    // bfloat16 round trip back to float32 through convertFloats
    const bf = convertFloats(f32bytes([1.5, -3.25]), 'F32', 'BF16');
    expect([...new Float32Array(convertFloats(bf, 'BF16', 'F32').buffer)]).to.deep.equal([1.5, -3.25]);
  });

  it('the CLI prints {files, tensors, bytes} with --json', () => {
    const out = path.join(tmp, 'j.safetensors');
    const r = spawnSync(process.execPath, ['bin/beit.mjs', 'convert', path.join(FIX, 'pytorch_model.bin'), out, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ files: [out], tensors: 45, bytes: fs.statSync(out).size - readSafetensorsHeader(out).dataStart });
  });

  it('the CLI refuses a bad --dtype (exit 2) and malicious checkpoints (exit 1, no stack)', async () => {
    const errs: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    (process.stderr as { write: unknown }).write = (s: string) => { errs.push(String(s)); return true; };
    try {
      expect(await main(['convert', path.join(FIX, 'pytorch_model.bin'), path.join(tmp, 'x.safetensors'), '--dtype', 'int8'])).to.equal(2);
      const { PickleWriter } = await import('./support/torch-builders.js');
      const evil = new PickleWriter().proto().global('os', 'system').mark().str('id').tuple().reduce().stop().bytes();
      fs.writeFileSync(path.join(tmp, 'evil.bin'), torchZip(evil, new Map()));
      expect(await main(['convert', path.join(tmp, 'evil.bin'), path.join(tmp, 'e.safetensors'), '--quiet'])).to.equal(1);
    } finally {
      (process.stderr as { write: unknown }).write = write;
    }
    const text = errs.join('');
    expect(text).to.include('--dtype must be one of');
    expect(text).to.include('os.system');
    expect(text).to.not.match(/\n\s+at /);
    expect(fs.existsSync(path.join(tmp, 'e.safetensors'))).to.equal(false);
  });
});
