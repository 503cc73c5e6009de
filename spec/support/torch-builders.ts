/**
 * Test helpers that hand-craft pickles and PyTorch-style zip checkpoints, so the converter's specs can
 * cover strided views, shared storages, sharded checkpoints and malicious pickles without Python.
 */
import zlib from 'node:zlib';
import { crc32 } from '../../lib/io/zip.js';

/** Appends pickle opcodes. */
export class PickleWriter {
  private readonly parts: number[] = [];
  op(...bytes: number[]): this { this.parts.push(...bytes); return this; }
  proto(v = 2): this { return this.op(0x80, v); }
  mark(): this { return this.op(0x28); }
  tuple(): this { return this.op(0x74); }
  emptyDict(): this { return this.op(0x7d); }
  emptyTuple(): this { return this.op(0x29); }
  setitems(): this { return this.op(0x75); }
  reduce(): this { return this.op(0x52); }
  persid(): this { return this.op(0x51); }
  newFalse(): this { return this.op(0x89); }
  stop(): this { return this.op(0x2e); }
  int(n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.op(0x4a, ...b);
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, b.length, true);
    return this.op(0x58, ...len, ...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  ints(xs: readonly number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.tuple();
  }
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

/** One tensor view for {@link statePickle}. */
export interface ViewSpec {
  readonly name: string;
  readonly storage: string;
  readonly storageType: string;
  readonly numel: number;
  readonly offset: number;
  readonly shape: readonly number[];
  readonly stride: readonly number[];
}

/** A `torch.save(state_dict)`-style pickle over the given views. */
export function statePickle(views: readonly ViewSpec[]): Uint8Array {
  const w = new PickleWriter().proto().emptyDict().mark();
  for (const v of views) {
    w.str(v.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    w.mark().str('storage').global('torch', v.storageType).str(v.storage).str('cpu').int(v.numel).tuple().persid();
    w.int(v.offset).ints(v.shape).ints(v.stride).newFalse().global('collections', 'OrderedDict').emptyTuple().reduce();
    w.tuple().reduce();
  }
  return w.setitems().stop().bytes();
}

/** A zip with STORED entries, as `torch.save` writes. */
export function storedZip(entries: ReadonlyArray<readonly [string, Uint8Array]>, zip64 = false,
  deflated: ReadonlySet<string> = new Set()): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, raw] of entries) {
    const n = new TextEncoder().encode(name);
    const crc = crc32(raw);
    const deflate = deflated.has(name);
    const data = deflate ? new Uint8Array(zlib.deflateRawSync(raw)) : raw;
    const local = new Uint8Array(30 + n.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(8, deflate ? 8 : 0, true);
    lv.setUint32(14, crc, true); lv.setUint32(18, data.length, true); lv.setUint32(22, raw.length, true);
    lv.setUint16(26, n.length, true); local.set(n, 30);
    // zip64: sizes and offset moved into a 28-byte extra field (id 1), 0xffffffff in their places.
    const extra = zip64 ? 28 : 0;
    const cd = new Uint8Array(46 + n.length + extra);
    const cv = new DataView(cd.buffer);
    const big = (v: number): number => (zip64 ? 0xffffffff : v);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 45, true); cv.setUint16(6, 45, true);
    cv.setUint16(10, deflate ? 8 : 0, true);
    cv.setUint32(16, crc, true); cv.setUint32(20, big(data.length), true); cv.setUint32(24, big(raw.length), true);
    cv.setUint16(28, n.length, true); cv.setUint16(30, extra, true); cv.setUint32(42, big(offset), true); cd.set(n, 46);
    if (zip64) {
      const x = 46 + n.length;
      cv.setUint16(x, 1, true); cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(raw.length), true); cv.setBigUint64(x + 12, BigInt(data.length), true);
      cv.setBigUint64(x + 20, BigInt(offset), true);
    }
    chunks.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : entries.length, true); ev.setUint16(10, zip64 ? 0xffff : entries.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true); ev.setUint32(16, zip64 ? 0xffffffff : offset, true);
  const tail: Uint8Array[] = [];
  if (zip64) {
    const rec = new Uint8Array(56), rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true); rv.setBigUint64(4, 44n, true); rv.setUint16(12, 45, true); rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(entries.length), true); rv.setBigUint64(32, BigInt(entries.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true); rv.setBigUint64(48, BigInt(offset), true);
    const loc = new Uint8Array(20), lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true); lv.setBigUint64(8, BigInt(offset + cdSize), true); lv.setUint32(16, 1, true);
    tail.push(rec, loc);
  }
  const all = [...chunks, ...central, ...tail, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of all) { out.set(c, at); at += c.length; }
  return out;
}

/** A complete PyTorch zip checkpoint: `<prefix>/data.pkl`, `<prefix>/data/<key>`, `<prefix>/version`. */
export function torchZip(pickle: Uint8Array, storages: ReadonlyMap<string, Uint8Array>, prefix = 'archive', zip64 = false,
  deflated: ReadonlySet<string> = new Set()): Uint8Array {
  return storedZip([
    [`${prefix}/data.pkl`, pickle],
    ...[...storages].map(([k, v]) => [`${prefix}/data/${k}`, v] as const),
    [`${prefix}/version`, new TextEncoder().encode('3\n')],
  ], zip64, deflated);
}

/** float32 values as little-endian bytes. */
export function f32bytes(xs: readonly number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(xs).buffer);
}

/** A RandomAccess over bytes in memory. */
export function memSource(b: Uint8Array): { size: number; read(o: number, n: number): Uint8Array } {
  return {
    size: b.length,
    read(o, n) {
      if (o < 0 || n < 0 || o + n > b.length) throw new Error(`read past end (${o}+${n} > ${b.length})`);
      return b.slice(o, o + n);
    },
  };
}
