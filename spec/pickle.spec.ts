/**
 * The restricted unpickler and the PyTorch zip reader: state-dict opcodes are understood, anything
 * that could run code is refused with the global named, views (offsets, strides, shared storages)
 * are materialised correctly, and malformed input fails with a PickleError instead of crashing.
 */
import { expect } from 'chai';
import zlib from 'node:zlib';
import { PickleError, unpickle, isTensor } from '../lib/io/pickle.js';
import { readTorchCheckpoint } from '../lib/io/torch-zip.js';
import { ZipError, ZipReader } from '../lib/io/zip.js';
import { PickleWriter, f32bytes, memSource, statePickle, storedZip, torchZip } from './support/torch-builders.js';

function refused(fn: () => unknown, ...needles: string[]): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, 'expected an error').to.be.instanceOf(Error);
  expect((err as Error).name).to.equal('PickleError');
  for (const n of needles) expect((err as Error).message).to.include(n);
}

describe('restricted unpickler', () => {
  it('reads dicts, tuples, lists, memo, ints, floats and strings', () => {
    const w = new PickleWriter().proto().emptyDict().op(0x71, 0).mark()
      .str('a').int(-5)
      .str('b').op(0x8a, 2, 0x00, 0x80) // LONG1 -32768
      .str('c').op(0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18) // BINFLOAT pi (big-endian)
      .str('d').op(0x4b, 7).op(0x4d, 0x34, 0x12).op(0x86) // (7, 0x1234)
      .str('e').op(0x5d).op(0x4b, 1).op(0x61) // [1]
      .str('f').op(0x68, 0) // memo 0: the dict itself
      .str('g').op(0x88)
      .setitems().stop();
    const v = unpickle(w.bytes(), { file: 't.pkl' }) as Map<unknown, unknown>;
    expect(v.get('a')).to.equal(-5);
    expect(v.get('b')).to.equal(-32768);
    expect(v.get('c')).to.equal(Math.PI);
    expect(v.get('d')).to.deep.equal([7, 0x1234]);
    expect(v.get('e')).to.deep.equal([1]);
    expect(v.get('f')).to.equal(v);
    expect(v.get('g')).to.equal(true);
  });

  it('accepts protocol-4 framing (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL) for allowed globals', () => {
    const w = new PickleWriter().proto(4).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
      .op(0x8c, 11, ...new TextEncoder().encode('collections')).op(0x94)
      .op(0x8c, 11, ...new TextEncoder().encode('OrderedDict')).op(0x94)
      .op(0x93).emptyTuple().reduce().stop();
    expect(unpickle(w.bytes(), { file: 'p4.pkl' })).to.be.instanceOf(Map);
  });

  const evil: Array<[string, string, string]> = [
    ['os', 'system', 'os.system'],
    ['builtins', 'eval', 'builtins.eval'],
    ['posix', 'system', 'posix.system'],
    ['subprocess', 'Popen', 'subprocess.Popen'],
    ['torch', 'load', 'torch.load'],
    ['__builtin__', 'getattr', '__builtin__.getattr'],
  ];
  for (const [mod, name, full] of evil) {
    it(`refuses GLOBAL ${full} + REDUCE, naming it and the file`, () => {
      const w = new PickleWriter().proto().global(mod, name).mark().str('echo pwned').tuple().reduce().stop();
      refused(() => unpickle(w.bytes(), { file: 'evil.pkl' }), full, 'evil.pkl');
    });
  }

  it('refuses STACK_GLOBAL to a disallowed callable', () => {
    const w = new PickleWriter().proto(4).op(0x8c, 5, ...new TextEncoder().encode('posix'))
      .op(0x8c, 6, ...new TextEncoder().encode('system')).op(0x93).stop();
    refused(() => unpickle(w.bytes(), { file: 'sg.pkl' }), 'posix.system');
  });

  it('refuses object-building opcodes (INST, OBJ, NEWOBJ) and text persistent ids', () => {
    refused(() => unpickle(new PickleWriter().proto().op(0x69, ...new TextEncoder().encode('os\nsystem\n')).stop().bytes(), { file: 'i.pkl' }), 'not allowed');
    refused(() => unpickle(new PickleWriter().proto().mark().op(0x6f).stop().bytes(), { file: 'o.pkl' }), 'not allowed');
    refused(() => unpickle(new PickleWriter().proto().emptyTuple().emptyTuple().op(0x81).stop().bytes(), { file: 'n.pkl' }), 'not allowed');
    refused(() => unpickle(new PickleWriter().proto().op(0x50, 0x31, 0x0a).stop().bytes(), { file: 'p.pkl' }), 'not allowed');
  });

  it('refuses calling an allowed storage type, and BUILD on anything but a dict', () => {
    refused(() => unpickle(new PickleWriter().proto().global('torch', 'FloatStorage').emptyTuple().reduce().stop().bytes(), { file: 's.pkl' }), 'torch.FloatStorage');
    refused(() => unpickle(new PickleWriter().proto().emptyTuple().emptyDict().op(0x62).stop().bytes(), { file: 'b.pkl' }), 'BUILD');
  });

  it('fails cleanly on truncated or garbage input', () => {
    const good = statePickle([{ name: 'w', storage: '0', storageType: 'FloatStorage', numel: 4, offset: 0, shape: [4], stride: [1] }]);
    for (let cut = 0; cut < good.length; cut += 7) {
      refused(() => unpickle(good.subarray(0, cut), { file: 'cut.pkl', persistentLoad: () => ({ kind: 'opaque', value: 0 }) }));
    }
    let seed = 12345;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 300; i++) {
      const b = Uint8Array.from({ length: 40 }, rnd);
      b[0] = 0x80; b[1] = 2;
      try { unpickle(b, { file: 'fuzz.pkl' }); } catch (e) { expect((e as Error).name).to.equal('PickleError'); }
    }
  });

  it('APPENDS with half a million items works (no call-stack overflow)', () => {
    const n = 500_000;
    const b = Uint8Array.from([0x80, 2, 0x5d, 0x28, ...new Array<number>(n).fill(0x4e), 0x65, 0x2e]); // [] MARK None*n APPENDS STOP
    const v = unpickle(b, { file: 'big.pkl' });
    expect(Array.isArray(v) && v.length).to.equal(n);
  });

  it('reads a _rebuild_tensor_v2 call into a tensor reference', () => {
    const pk = statePickle([{ name: 'w', storage: '0', storageType: 'FloatStorage', numel: 6, offset: 1, shape: [2, 2], stride: [1, 2] }]);
    const v = unpickle(pk, { file: 't.pkl', persistentLoad: () => ({ kind: 'opaque', value: 'S' }) }) as Map<string, unknown>;
    const t = v.get('w') as Parameters<typeof isTensor>[0];
    expect(isTensor(t)).to.equal(true);
    expect(t).to.deep.include({ offset: 1, shape: [2, 2], stride: [1, 2] });
  });
});

describe('PyTorch zip checkpoints', () => {
  it('refuses a malicious pickle inside a checkpoint, naming the global and the file', () => {
    const evilPkl = new PickleWriter().proto().global('os', 'system').mark().str('touch /tmp/pwned').tuple().reduce().stop().bytes();
    const zip = torchZip(evilPkl, new Map());
    refused(() => readTorchCheckpoint(memSource(zip), 'evil.bin'), 'os.system', 'evil.bin');
    const evalPkl = new PickleWriter().proto().global('builtins', 'eval').mark().str('1+1').tuple().reduce().stop().bytes();
    refused(() => readTorchCheckpoint(memSource(torchZip(evalPkl, new Map(), 'pytorch_model')), 'evil2.bin'), 'builtins.eval');
  });

  it('a non-string state dict key is named briefly, even a tuple nested 500000 deep', () => {
    const deep = Uint8Array.from([0x80, 2, 0x7d, 0x29, ...new Array<number>(500_000).fill(0x85), 0x4e, 0x73, 0x2e]); // {((...(),),): None}
    refused(() => readTorchCheckpoint(memSource(torchZip(deep, new Map())), 'deep.bin'), 'deep.bin: state dict key (a tuple of 1) is not a string.');
    const intKey = Uint8Array.from([0x80, 2, 0x7d, 0x4b, 7, 0x4e, 0x73, 0x2e]); // {7: None}
    refused(() => readTorchCheckpoint(memSource(torchZip(intKey, new Map())), 'int.bin'), 'state dict key 7 is not a string.');
  });

  it('refuses the legacy (non-zip) format with a re-save hint', () => {
    const legacy = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    refused(() => readTorchCheckpoint(memSource(legacy), 'old.bin'), 'old.bin', 'legacy', 're-save');
  });

  it('refuses files that are not zip checkpoints', () => {
    refused(() => readTorchCheckpoint(memSource(new TextEncoder().encode('hello world, not a model')), 'x.bin'), 'not a PyTorch checkpoint');
    refused(() => readTorchCheckpoint(memSource(storedZip([['a.txt', new Uint8Array(3)]])), 'y.bin'), 'data.pkl');
  });

  it('makes transposed views contiguous and handles tensors sharing one storage', () => {
    // storage 0: 2x3 row-major [[0,1,2],[3,4,5]]; "t" is its transpose (3x2, strides [1,3]);
    // "row1" is the second row (offset 3); "col" a strided column view; storage 1 is int64.
    const pk = statePickle([
      { name: 't', storage: '0', storageType: 'FloatStorage', numel: 6, offset: 0, shape: [3, 2], stride: [1, 3] },
      { name: 'row1', storage: '0', storageType: 'FloatStorage', numel: 6, offset: 3, shape: [3], stride: [1] },
      { name: 'col', storage: '0', storageType: 'FloatStorage', numel: 6, offset: 1, shape: [2, 1], stride: [3, 1] },
      { name: 'idx', storage: '1', storageType: 'LongStorage', numel: 2, offset: 0, shape: [2], stride: [1] },
      { name: 'scalar', storage: '0', storageType: 'FloatStorage', numel: 6, offset: 5, shape: [], stride: [] },
    ]);
    const longs = new Uint8Array(new BigInt64Array([7n, -1n]).buffer);
    const zip = torchZip(pk, new Map([['0', f32bytes([0, 1, 2, 3, 4, 5])], ['1', longs]]));
    const ts = readTorchCheckpoint(memSource(zip), 'views.bin');
    const f = (n: string): number[] => [...new Float32Array(ts.get(n)!.read().slice().buffer)];
    expect([...ts.keys()]).to.deep.equal(['t', 'row1', 'col', 'idx', 'scalar']);
    expect(f('t')).to.deep.equal([0, 3, 1, 4, 2, 5]);
    expect(ts.get('t')!.shape).to.deep.equal([3, 2]);
    expect(f('row1')).to.deep.equal([3, 4, 5]);
    expect(f('col')).to.deep.equal([1, 4]);
    expect(f('scalar')).to.deep.equal([5]);
    expect(ts.get('idx')!.dtype).to.equal('I64');
    expect([...new BigInt64Array(ts.get('idx')!.read().slice().buffer)]).to.deep.equal([7n, -1n]);
  });

  it('refuses views that reach outside their storage, and missing storages', () => {
    const pk = statePickle([{ name: 'w', storage: '0', storageType: 'FloatStorage', numel: 4, offset: 2, shape: [2, 2], stride: [2, 1] }]);
    refused(() => readTorchCheckpoint(memSource(torchZip(pk, new Map([['0', f32bytes([1, 2, 3, 4])]]))), 'oob.bin'), 'oob.bin', '"w"');
    const pk2 = statePickle([{ name: 'w', storage: '9', storageType: 'FloatStorage', numel: 1, offset: 0, shape: [1], stride: [1] }]);
    refused(() => readTorchCheckpoint(memSource(torchZip(pk2, new Map())), 'nostore.bin'), 'data/9');
    const pk3 = statePickle([{ name: 'w', storage: '0', storageType: 'FloatStorage', numel: 1000000, offset: 0, shape: [1000000], stride: [1] }]);
    refused(() => readTorchCheckpoint(memSource(torchZip(pk3, new Map([['0', f32bytes([1])]]))), 'short.bin'), 'storage "0"');
    const pk4 = statePickle([{ name: 'huge', storage: '0', storageType: 'FloatStorage', numel: 1, offset: 0, shape: [100000, 100000], stride: [0, 0] }]);
    refused(() => readTorchCheckpoint(memSource(torchZip(pk4, new Map([['0', f32bytes([1])]]))), 'expand.bin'), 'expanded view');
    const pk5 = statePickle([{ name: 'ok', storage: '0', storageType: 'FloatStorage', numel: 1, offset: 0, shape: [2, 3], stride: [0, 0] }]);
    const ts = readTorchCheckpoint(memSource(torchZip(pk5, new Map([['0', f32bytes([9])]]))), 'expand-small.bin');
    expect([...new Float32Array(ts.get('ok')!.read().buffer)]).to.deep.equal([9, 9, 9, 9, 9, 9]);
  });

  it('reads zip64 archives (sizes and offsets in the zip64 extra field and end record)', () => {
    const pk = statePickle([{ name: 'w', storage: '0', storageType: 'HalfStorage', numel: 2, offset: 1, shape: [1], stride: [1] }]);
    const zip = torchZip(pk, new Map([['0', new Uint8Array([0x00, 0x3c, 0x00, 0xc0])]]), 'pytorch_model', true);
    const ts = readTorchCheckpoint(memSource(zip), 'z64.bin');
    expect(ts.get('w')!.dtype).to.equal('F16');
    expect([...ts.get('w')!.read()]).to.deep.equal([0x00, 0xc0]);
  });

  it('detects truncated archives and CRC mismatches', () => {
    const pk = statePickle([{ name: 'w', storage: '0', storageType: 'FloatStorage', numel: 2, offset: 0, shape: [2], stride: [1] }]);
    const zip = torchZip(pk, new Map([['0', f32bytes([1, 2])]]));
    expect(() => readTorchCheckpoint(memSource(zip.subarray(0, zip.length - 30)), 'trunc.bin')).to.throw(/trunc\.bin/);
    const bad = zip.slice();
    bad[50] = bad[50]! ^ 0xff; // inside data.pkl (30-byte local header + 16-byte name)
    expect(() => ZipReader.open(memSource(bad), 'crc.bin').read(ZipReader.open(memSource(bad), 'crc.bin').entries.get('archive/data.pkl')!))
      .to.throw(ZipError, /CRC-32/);
  });

  it('a flipped byte in tensor data is a CRC error naming the entry, whether a view reads all or part of its storage', () => {
    const pk = statePickle([
      { name: 'a', storage: '0', storageType: 'FloatStorage', numel: 4, offset: 0, shape: [4], stride: [1] },
      { name: 'b', storage: '1', storageType: 'FloatStorage', numel: 4, offset: 1, shape: [2], stride: [1] },
    ]);
    const zip = torchZip(pk, new Map([['0', f32bytes([1, 2, 3, 4])], ['1', f32bytes([5, 6, 7, 8])]]));
    const at = (needle: number[]): number => zip.findIndex((_, i) => needle.every((b, j) => zip[i + j] === b));
    for (const [name, value] of [['a', 3], ['b', 8]] as const) {
      const bad = zip.slice();
      bad[at([...f32bytes([value])]) + 1]! ^= 0x10; // a's third float / b's last float (outside the view)
      const ts = readTorchCheckpoint(memSource(bad), 'flip.bin', undefined, name === 'b' ? zlib.crc32 : undefined);
      expect(() => ts.get(name)!.read()).to.throw(ZipError, new RegExp(`flip\\.bin: entry "archive/data/${name === 'a' ? 0 : 1}": CRC-32 mismatch`));
    }
    const ts = readTorchCheckpoint(memSource(zip), 'ok.bin');
    expect([...new Float32Array(ts.get('b')!.read().slice().buffer)]).to.deep.equal([6, 7]);
  });

  it('views of a compressed storage inflate it once, not once per view', () => {
    const views = Array.from({ length: 300 }, (_, i) => ({ name: `v${i}`, storage: '0', storageType: 'FloatStorage' as const,
      numel: 4096, offset: i, shape: [8], stride: [1] }));
    const zip = torchZip(statePickle(views), new Map([['0', f32bytes(Array.from({ length: 4096 }, (_, i) => i))]]), 'archive', false,
      new Set(['archive/data/0']));
    let inflations = 0;
    const inflate = (d: Uint8Array, n: number): Uint8Array => { inflations++; return zlib.inflateRawSync(d, { maxOutputLength: Math.max(n, 1) }); };
    const ts = readTorchCheckpoint(memSource(zip), 'views.bin', inflate);
    for (const [i, name] of [...ts.keys()].entries()) {
      expect([...new Float32Array(ts.get(name)!.read().slice().buffer)]).to.deep.equal(Array.from({ length: 8 }, (_, j) => i + j));
    }
    expect(inflations).to.equal(1); // data.pkl is stored
  });

  it('a data.pkl declaring more than 256 MiB is refused before it is read', () => {
    const zip = torchZip(statePickle([]), new Map());
    const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    for (let i = 0; i + 4 <= zip.length; i++) { // the central directory's uncompressed size of data.pkl
      if (v.getUint32(i, true) === 0x02014b50 && new TextDecoder().decode(zip.subarray(i + 46, i + 46 + 16)) === 'archive/data.pkl') {
        v.setUint32(i + 24, 512 << 20, true);
      }
    }
    refused(() => readTorchCheckpoint(memSource(zip), 'big.bin'), 'big.bin: archive/data.pkl declares 536870912 bytes');
  });

  it('corrupt deflate data is a ZipError naming the entry, not a bare zlib error', () => {
    const zip = storedZip([['archive/data.pkl', new Uint8Array([0xff, 0xff, 0xff, 0xff])]]);
    const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    for (let i = 0; i + 4 <= zip.length; i++) { // mark the entry as deflated (local and central headers)
      if (v.getUint32(i, true) === 0x04034b50) v.setUint16(i + 8, 8, true);
      if (v.getUint32(i, true) === 0x02014b50) v.setUint16(i + 10, 8, true);
    }
    const z = ZipReader.open(memSource(zip), 'deflate.bin', (d, n) => zlib.inflateRawSync(d, { maxOutputLength: Math.max(n, 1) }));
    expect(() => z.read(z.entries.get('archive/data.pkl')!)).to.throw(ZipError, /deflate\.bin: entry "archive\/data\.pkl": corrupt deflate data \(.+\)/);
  });
});
