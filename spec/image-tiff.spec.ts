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
const INDEX: Record<string, { how: string; mode: string; width: number; height: number; rgb_sha256: string }> =
  JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8')).images;
const read = (f: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(DIR, f)));

async function imageError(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try { await decodeImage(bytes, { name: 'bad.tif' }); } catch (e) { caught = e; }
  expect(caught, 'expected an ImageError').to.be.instanceOf(ImageError);
  expect((caught as Error).message).to.match(/^bad\.tif: /);
  expect((caught as Error).message).to.match(pattern);
}

/** The IFD0 entries of a little-endian TIFF: tag → byte position of the entry. */
function entries(b: Uint8Array): Map<number, number> {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ifd = dv.getUint32(4, true), n = dv.getUint16(ifd, true), m = new Map<number, number>();
  for (let i = 0; i < n; i++) m.set(dv.getUint16(ifd + 2 + 12 * i, true), ifd + 2 + 12 * i);
  return m;
}
/** A copy of `f` with the value of single-valued `tag` set to v (as a LONG when it does not fit a SHORT). */
function patched(f: string | Uint8Array, tag: number, v: number): Uint8Array {
  const b = (typeof f === 'string' ? read(f) : f).slice(), e = entries(b).get(tag)!, dv = new DataView(b.buffer);
  if (dv.getUint16(e + 2, true) === 3 && v < 65536) dv.setUint16(e + 8, v, true);
  else { dv.setUint16(e + 2, 4, true); dv.setUint32(e + 8, v, true); }
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
      for (const f of ['rgb8_lzw_pred2_strips4.tif', 'bilevel_g3_2d_large.tif', 'bilevel_g4_large_strips.tif', 'rgb8_packbits_mm.tif', 'palette8_lzw.tif']) {
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
});
