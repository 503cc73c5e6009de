/**
 * TIFF: every fixture of spec/fixtures/images-tiff (written by libtiff, expected RGB from Pillow 9.4:
 * tools/fixtures/make-tiff-images.py) decodes to Pillow's pixels; damaged files give an ImageError.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { decodeImage, ImageError } from '../lib/image/decode.js';
import { initImageDecodersForNode } from '../lib/node/image-codecs.js';
import { sha256 } from './image-fixtures.js';

const DIR = path.resolve('spec/fixtures/images-tiff');
type Entry = { how: string; mode: string; width: number; height: number; rgb_sha256: string };
const INDEX_JSON: { images: Record<string, Entry>; refused: Record<string, Entry> } = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8'));
const INDEX = INDEX_JSON.images;
const read = (f: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(DIR, f)));

async function imageError(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try { await decodeImage(bytes, { name: 'bad.tif' }); } catch (e) { caught = e; }
  expect(caught, 'expected an ImageError').to.be.instanceOf(ImageError);
  expect((caught as Error).message).to.match(/^bad\.tif: /);
  expect((caught as Error).message).to.match(pattern);
}

/** The IFD0 entries of a TIFF: tag → byte position of the entry. */
function entries(b: Uint8Array): Map<number, number> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength), le = b[0] === 0x49;
  const ifd = dv.getUint32(4, le), n = dv.getUint16(ifd, le), m = new Map<number, number>();
  for (let i = 0; i < n; i++) m.set(dv.getUint16(ifd + 2 + 12 * i, le), ifd + 2 + 12 * i);
  return m;
}
/** A copy of `f` with the value of single-valued `tag` set to v (as a LONG when it does not fit a SHORT). */
function patched(f: string | Uint8Array, tag: number, v: number): Uint8Array {
  const b = (typeof f === 'string' ? read(f) : f).slice(), e = entries(b).get(tag)!, dv = new DataView(b.buffer), le = b[0] === 0x49;
  if (dv.getUint16(e + 2, le) === 3 && v < 65536) dv.setUint16(e + 8, v, le);
  else { dv.setUint16(e + 2, 4, le); dv.setUint32(e + 8, v, le); }
  return b;
}
/** A copy of `f` whose entry for `tag` becomes `to` = v (a SHORT): the IFD stays sorted when no tag lies between. */
function retagged(f: string, tag: number, to: number, v: number): Uint8Array {
  const b = read(f).slice(), e = entries(b).get(tag)!, dv = new DataView(b.buffer), le = b[0] === 0x49;
  dv.setUint16(e, to, le); dv.setUint16(e + 2, 3, le); dv.setUint32(e + 4, 1, le); dv.setUint32(e + 8, 0, le); dv.setUint16(e + 8, v, le);
  return b;
}
/** A copy of `f` whose entry for `tag` holds one value of TIFF type `type`, written by `put` at the entry's value field. */
function retyped(f: string, tag: number, type: number, put: (dv: DataView, at: number, le: boolean) => void): Uint8Array {
  const b = read(f).slice(), e = entries(b).get(tag)!, dv = new DataView(b.buffer), le = b[0] === 0x49;
  dv.setUint16(e + 2, type, le); dv.setUint32(e + 4, 1, le); dv.setUint32(e + 8, 0, le); put(dv, e + 8, le);
  return b;
}
/** The offset of a LONG array entry's k-th value. */
function valueAt(b: Uint8Array, tag: number, k: number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength), le = b[0] === 0x49, e = entries(b).get(tag)!;
  return dv.getUint32(e + 4, le) > 1 ? dv.getUint32(e + 8, le) + 4 * k : e + 8;
}

/** A TIFF LZW encoder (MSB-first codes, early change, Clear when the table fills): what the decoder must undo. */
function lzw(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let acc = 0, bits = 0, width = 9, next = 258;
  const put = (code: number) => {
    acc = (acc << width) | code; bits += width;
    while (bits >= 8) { out.push((acc >>> (bits - 8)) & 255); bits -= 8; }
    acc &= (1 << bits) - 1;
  };
  let table = new Map<string, number>();
  put(256);
  let w = '';
  for (const c of data) {
    const wc = `${w},${c}`;
    if (w === '') { w = `${c}`; continue; }
    if (table.has(wc)) { w = wc; continue; }
    put(w.includes(',') ? table.get(w)! : Number(w));
    table.set(wc, next++);
    if (next >= 1 << width && width < 12) width++; // the decoder's table is one entry behind: it switches one code early
    if (next >= 4094) { put(256); table = new Map(); next = 258; width = 9; }
    w = `${c}`;
  }
  if (w !== '') put(w.includes(',') ? table.get(w)! : Number(w));
  put(257);
  if (bits > 0) out.push((acc << (8 - bits)) & 255);
  return new Uint8Array(out);
}

/** A little-endian one-strip TIFF: width × height, `spp` samples of `bps` bits, photometric, compression. */
function tiffFile(width: number, height: number, spp: number, bps: number, photometric: number, compression: number, strip: Uint8Array): Uint8Array {
  const tags: [number, number][] = [[256, width], [257, height], [258, bps], [259, compression], [262, photometric], [273, 0], [277, spp], [278, height], [279, strip.length]];
  const ifd = 8 + strip.length + (strip.length & 1), b = new Uint8Array(ifd + 2 + 12 * tags.length + 4 + 2 * spp), dv = new DataView(b.buffer);
  b.set([0x49, 0x49, 42, 0]); dv.setUint32(4, ifd, true); b.set(strip, 8);
  dv.setUint16(ifd, tags.length, true);
  const bpsAt = ifd + 2 + 12 * tags.length + 4;
  tags.forEach(([tag, v], i) => {
    const e = ifd + 2 + 12 * i;
    dv.setUint16(e, tag, true); dv.setUint16(e + 2, 4, true); dv.setUint32(e + 4, 1, true); dv.setUint32(e + 8, tag === 273 ? 8 : v, true);
    if (tag === 258) { dv.setUint16(e + 2, 3, true); dv.setUint32(e + 4, spp, true); if (spp > 2) dv.setUint32(e + 8, bpsAt, true); else dv.setUint16(e + 8, v, true); }
  });
  for (let k = 0; k < spp; k++) dv.setUint16(bpsAt + 2 * k, bps, true);
  return b;
}

describe('TIFF decoding', () => {
  before(async () => { await initImageDecodersForNode(); });

  describe('equals Pillow 9.4 (spec/fixtures/images-tiff)', () => {
    it('has the fixtures', () => { expect(Object.keys(INDEX).length).to.be.greaterThan(60); });
    for (const [file, want] of Object.entries(INDEX)) {
      it(`${file}: ${want.how} (Pillow mode ${want.mode})`, async () => {
        const got = await decodeImage(read(file), { name: file });
        expect([got.width, got.height]).to.deep.equal([want.width, want.height]);
        expect(sha256(got.data)).to.equal(want.rgb_sha256);
      });
    }
  });

  describe('damaged files give a clear ImageError', () => {
    it('truncated in the header or before IFD0', async () => {
      await imageError(read('rgb8_lzw.tif').subarray(0, 6), /truncated|outside the file/);
      await imageError(read('rgb8_lzw.tif').subarray(0, 200), /first IFD offset \d+ is outside the file/);
    });
    it('IFD0 cut short', async () => {
      const b = read('rgb8_lzw.tif'), ifd = new DataView(b.buffer, b.byteOffset).getUint32(4, true);
      await imageError(b.subarray(0, ifd + 30), /first IFD .* runs past the end of the file/);
    });
    it('a strip offset past the end of the file', async () => {
      await imageError(patched('rgb8_lzw.tif', 273, 1 << 30), /strip 0: its data .* lies past the end of the file/);
    });
    it('an uncompressed strip cut short (Pillow: "image file is truncated")', async () => {
      const b = read('rgb8_none_strips5_ii.tif');
      await imageError(patched('rgb8_none_strips5_ii.tif', 273, b.length - 50), /truncated .*image file is truncated/);
    });
    it('LZW, PackBits, Deflate and CCITT data cut short', async () => {
      await imageError(patched('rgb8_lzw.tif', 279, 500), /strip 0: LZW data ends after \d+ of 2553 bytes/);
      await imageError(patched('la8_deflate.tif', 279, 20), /strip 0: its Deflate data inflates to \d+ of 1702 bytes/);
      await imageError(patched('bilevel_g4.tif', 279, 40), /strip 0: (CCITT data ends early|corrupt CCITT)/);
    });
    it('zero width or height', async () => {
      await imageError(patched('rgb8_lzw.tif', 256, 0), /image size 0x23/);
      await imageError(patched('rgb8_lzw.tif', 257, 0), /image size 37x0/);
    });
    it('too few strip offsets, absurd strip counts', async () => {
      await imageError(patched('rgb8_none_strips5_ii.tif', 278, 1), /strip offsets .* needs 23/);
      await imageError(patched('rgb8_lzw.tif', 257, 60000), /1 strip offsets .* needs/);
      await imageError(patched('rgb8_tiles16_none.tif', 257, 60000000), /\d+ tiles \(more than 1048576\)/);
    });
    it('an oversized header is refused before any pixel memory', async () => {
      let caught: unknown;
      try { await decodeImage(read('rgb8_lzw_strips_large.tif'), { name: 'big.tif', maxPixels: 150 * 96 }); } catch (e) { caught = e; }
      expect((caught as Error).message).to.match(/^big\.tif: image is 150x97 = 14550 pixels, more than the limit/);
    });
    it('unknown or unsupported compressions name the compression', async () => {
      await imageError(patched('rgb8_lzw.tif', 259, 6), /compression 6 \(old-style JPEG\) is not supported/);
      await imageError(patched('rgb8_lzw.tif', 259, 34676), /compression 34676 \(SGILog\) is not supported/);
      await imageError(patched('rgb8_lzw.tif', 259, 32809), /compression 32809 \(ThunderScan\)/);
      await imageError(patched('rgb8_lzw.tif', 259, 999), /compression 999 is not supported/);
    });
    it('layouts Pillow refuses are "unknown pixel mode"', async () => {
      await imageError(patched('gray8_whiteiszero.tif', 258, 7), /unknown pixel mode: photometric 0, 7 bits per sample/);
      await imageError(patched('rgb8_lzw.tif', 262, 8), /unknown pixel mode: photometric 8/);
      await imageError(patched('rgb8_lzw.tif', 277, 9), /9 samples per pixel/);
    });
    it('corrupt LZW codes and CCITT codes', async () => {
      const b = read('rgb8_lzw.tif').slice(), off = new DataView(b.buffer).getUint32(entries(b).get(273)! + 8, true);
      b.fill(0xff, off + 10, off + 40);
      await imageError(b, /strip 0: (corrupt LZW data|LZW data ends)/);
      const g = read('bilevel_g4.tif').slice(), goff = new DataView(g.buffer).getUint32(entries(g).get(273)! + 8, true);
      g.fill(0, goff + 3, goff + 12);
      await imageError(g, /corrupt CCITT data|CCITT data ends early|uncompressed mode/);
    });
    it('an IFD chain looping back to IFD0 does not matter: only the first page is read, as Pillow does', async () => {
      const b = read('rgb8_lzw.tif').slice(), dv = new DataView(b.buffer), ifd = dv.getUint32(4, true);
      dv.setUint32(ifd + 2 + 12 * dv.getUint16(ifd, true), ifd, true);
      const got = await decodeImage(b);
      expect(sha256(got.data)).to.equal(INDEX['rgb8_lzw.tif']!.rgb_sha256);
    });
    it('random corruption gives an ImageError or an image, never another error or a hang', async () => {
      for (const f of ['rgb8_lzw_pred2_strips4.tif', 'bilevel_g3_2d_large.tif', 'bilevel_g4_large_strips.tif', 'rgb8_packbits_mm.tif', 'palette8_lzw.tif',
        'rgba8_noextra_planar_lzw.tif', 'bilevel_planar2_none.tif', 'rgba8_planar_tiles16_none.tif']) {
        const good = read(f);
        let seed = 7;
        for (let k = 0; k < 40; k++) {
          const b = good.slice();
          for (let j = 0; j < 6; j++) { seed = (seed * 1103515245 + 12345) >>> 0; b[seed % b.length] = seed >>> 24; }
          try { await decodeImage(b, { name: f }); } catch (e) { expect(e, `${f} #${k}: ${(e as Error).message}`).to.be.instanceOf(ImageError); }
        }
      }
    });
  });

  describe('found by the TIFF audit', () => {
    it('layouts Pillow 9.4 misreads (uncompressed separate planes) are refused, not guessed', async () => {
      expect(Object.keys(INDEX_JSON.refused)).to.have.length.greaterThan(2);
      for (const f of Object.keys(INDEX_JSON.refused)) await imageError(read(f), /uncompressed in separate planes \(PlanarConfiguration 2\), which Pillow 9\.4 misreads or refuses/);
      await imageError(patched('gray2_whiteiszero.tif', 284, 2), /2-bit samples, uncompressed in separate planes/);
      await imageError(patched('rgba8_associated_none.tif', 284, 2), /4 samples \(photometric 2, extra samples 1\), uncompressed in separate planes/);
    });
    it('the Predictor tag is ignored outside LZW and Deflate, as libtiff (and Pillow\'s raw reader) ignore it', async () => {
      for (const f of ['rgb8_none_strips5_ii.tif', 'gray2_packbits.tif', 'bilevel_g4.tif', 'bilevel_rle.tif', 'rgb8_packbits_mm.tif']) {
        for (const predictor of [2, 3]) {
          const got = await decodeImage(retagged(f, 284, 317, predictor), { name: f });
          expect(sha256(got.data), `${f}, predictor ${predictor}`).to.equal(INDEX[f]!.rgb_sha256);
        }
      }
    });
    it('an uncompressed tile cut short past the image edge is complete enough (Pillow reads to the last visible pixel)', async () => {
      // rgb8_tiles16_none.tif: 37x23 in 16x16 tiles; its last tile shows 5x7 pixels: 6 rows of 48 bytes, then 15.
      const moved = (keep: number) => {
        const b = read('rgb8_tiles16_none.tif'), at = valueAt(b, 324, 5), dv = new DataView(b.buffer, b.byteOffset);
        const last = dv.getUint32(at, true), out = new Uint8Array(b.length + keep);
        out.set(b); out.set(b.subarray(last, last + keep), b.length);
        new DataView(out.buffer).setUint32(at, b.length, true);
        return out;
      };
      expect(sha256((await decodeImage(moved(6 * 48 + 15))).data)).to.equal(INDEX['rgb8_tiles16_none.tif']!.rgb_sha256);
      await imageError(moved(6 * 48 + 14), /tile 5: it holds 302 of its 303 bytes \(image file is truncated\)/);
    });
    it('compressed data too short for its strip fails before an output buffer of the claimed size is made', async () => {
      const t0 = performance.now();
      await imageError(tiffFile(20000, 8000, 3, 8, 2, 5, new Uint8Array([0x80, 0, 0x20, 0x10])), /strip 0: its 4 bytes of LZW data cannot hold 480000000 bytes/);
      await imageError(tiffFile(20000, 8000, 3, 8, 2, 32773, new Uint8Array([0x81, 0])), /strip 0: its 2 bytes of PackBits data cannot hold 480000000 bytes/);
      await imageError(tiffFile(20000, 8000, 1, 1, 0, 4, new Uint8Array(16).fill(0xff)), /strip 0: its 16 bytes of CCITT data cannot hold 8000 rows/);
      expect(performance.now() - t0).to.be.below(500);
    });
    it('LZW: long strings, KwKwK codes and table resets decode exactly', async () => {
      const w = 600, h = 40, px = new Uint8Array(w * h * 3);
      let seed = 1;
      for (let i = 0; i < px.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        const y = Math.floor(i / (w * 3));
        px[i] = y < 10 ? 7 : y < 20 ? (i % 5) * 40 : y < 30 ? seed >>> 24 : ((i >> 7) & 1) * 255; // runs, cycles, noise, long runs
      }
      const got = await decodeImage(tiffFile(w, h, 3, 8, 2, 5, lzw(px)), { name: 'lzw.tif' });
      expect(Buffer.from(got.data).equals(Buffer.from(px))).to.equal(true);
    });
    it('32-bit big-endian data with predictor 2: sums taken in file order, then read byte-swapped as Pillow does', () => {
      // The fixtures themselves are checked above; this pins that they are in the index (the old decoder summed swapped values).
      expect(INDEX).to.include.keys('int32_gray_lzw_pred2_mm.tif', 'float32_gray_deflate_pred2_mm.tif');
    });
    it('fractional or negative structural values (FLOAT / SLONG types) are an ImageError, not a RangeError or a misread', async () => {
      await imageError(retyped('gray8_whiteiszero.tif', 277, 11, (dv, at, le) => dv.setFloat32(at, 1.5, le)), /1\.5 samples per pixel/);
      await imageError(retyped('rgb8_tiles16_none.tif', 322, 11, (dv, at, le) => dv.setFloat32(at, 16.5, le)), /tile size 16\.5x16/);
      await imageError(retyped('rgb8_none_strips5_ii.tif', 278, 11, (dv, at, le) => dv.setFloat32(at, 4.5, le)), /strip size 37x4\.5/);
      await imageError(retyped('rgb8_lzw.tif', 273, 9, (dv, at, le) => dv.setInt32(at, -3000, le)), /strip offset or byte count is not a whole number/);
    });
    it('a JPEG strip or tile larger than its segment is refused before it is decoded (libtiff: "exceeds expected dimensions")', async () => {
      const grown = (f: string, w: number, hgt: number) => {
        const b = read(f).slice();
        for (let i = 0; i + 9 < b.length; i++) {
          if (b[i] === 0xff && b[i + 1] === 0xc0) { b[i + 5] = hgt >> 8; b[i + 6] = hgt & 255; b[i + 7] = w >> 8; b[i + 8] = w & 255; }
        }
        return b;
      };
      await imageError(grown('jpeg_gray.tif', 30000, 30000), /strip 0: its JPEG data is 30000x30000, larger than the 150x97 it should hold/);
      await imageError(grown('jpeg_ycbcr_tiles.tif', 64, 64), /tile 0: its JPEG data is 64x64, larger than the 64x32 it should hold/);
    });
    it('BigTIFF: little-endian decodes (fixtures big_*); a big-endian one, which Pillow 9.4 cannot open, and broken headers are refused', async () => {
      await imageError(new Uint8Array([0x4d, 0x4d, 0, 43, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0]), /big-endian BigTIFF, which Pillow 9.4 cannot open either/);
      await imageError(new Uint8Array([0x49, 0x49, 43, 0, 4, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]), /BigTIFF header whose offsets are not 8 bytes/);
      await imageError(new Uint8Array([0x49, 0x49, 43, 0, 8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]), /first IFD offset 256 is outside the file \(16 bytes/);
      await imageError(new Uint8Array([0x49, 0x49, 43, 0, 8, 0, 0, 0, 16, 0, 0, 0]), /truncated in its header/);
      // An IFD claiming 2^40 entries, and one whose entry count does not fit in a double exactly.
      const ifd = (count: bigint) => { const b = new Uint8Array(32); b.set([0x49, 0x49, 43, 0, 8, 0, 0, 0, 16]); new DataView(b.buffer).setBigUint64(16, count, true); return b; };
      await imageError(ifd(1n << 40n), /runs past the end of the file/);
      await imageError(ifd((1n << 64n) - 1n), /runs past the end of the file/);
      const files = Object.keys(INDEX).filter((f) => f.startsWith('big_'));
      expect(files).to.have.length(3);
    });
    it('is fast on large pages and photos (typed-array paths, no per-pixel closures)', async () => {
      const page = new Uint8Array((2480 / 8) * 3508).map((_, i) => ((i * 2654435761) >>> 29) === 0 ? 0x0f : 0);
      const photo = new Uint8Array(3000 * 2000 * 3).map((_, i) => (i * 31) & 255);
      for (const [name, file] of [['A4 bilevel page', tiffFile(2480, 3508, 1, 1, 0, 1, page)], ['3000x2000 RGB photo', tiffFile(3000, 2000, 3, 8, 2, 1, photo)],
        ['LZW 600x500 RGB', tiffFile(600, 500, 3, 8, 2, 5, lzw(photo.subarray(0, 9e5)))]] as const) {
        const t0 = performance.now();
        await decodeImage(file, { name });
        expect(performance.now() - t0, name).to.be.below(1000);
      }
    });
  });
});
