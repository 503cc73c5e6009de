/** EXIF orientation: tag parsing (TIFF II/MM, JPEG APP1, PNG eXIf) and all eight transposes. */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { decodeImage } from '../lib/image/decode.js';
import type { RgbImage } from '../lib/image/errors.js';
import { applyOrientation, exifOrientation } from '../lib/image/exif.js';
import { initImageDecodersForNode } from '../lib/node/image-codecs.js';
import { IMAGES, makePng, sha256, tiffOrientation, withJpegExif } from './image-fixtures.js';

// Reference transposes built from two primitives, written by scattering input pixels (the
// implementation gathers), so the two cannot share a mistake.
function flipLR(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
    const d = (y * img.width + (img.width - 1 - x)) * 3;
    out.set(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3), d);
  }
  return { width: img.width, height: img.height, data: out };
}
/** Pillow ROTATE_90: 90° counter-clockwise; input (x, y) lands at (y, W − 1 − x). */
function rot90ccw(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  const ow = img.height;
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
    const d = ((img.width - 1 - x) * ow + y) * 3;
    out.set(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3), d);
  }
  return { width: img.height, height: img.width, data: out };
}
const times = (f: (i: RgbImage) => RgbImage, n: number) => (i: RgbImage): RgbImage => { for (let k = 0; k < n; k++) i = f(i); return i; };
const REFERENCE: Record<number, (i: RgbImage) => RgbImage> = {
  1: (i) => i,
  2: flipLR, // FLIP_LEFT_RIGHT
  3: times(rot90ccw, 2), // ROTATE_180
  4: (i) => times(rot90ccw, 2)(flipLR(i)), // FLIP_TOP_BOTTOM
  5: (i) => rot90ccw(flipLR(i)), // TRANSPOSE
  6: times(rot90ccw, 3), // ROTATE_270 (90° clockwise)
  7: (i) => times(rot90ccw, 3)(flipLR(i)), // TRANSVERSE
  8: rot90ccw, // ROTATE_90
};

/** The per-pixel closure transpose applyOrientation used before its tiled one-pass loops (any channel count). */
function closureTranspose(img: RgbImage, orientation: number): RgbImage {
  const { width: W, height: H, data } = img;
  const C = data.length / (W * H);
  const swap = orientation >= 5;
  const ow = swap ? H : W, oh = swap ? W : H;
  const out = new Uint8Array(data.length);
  const src = {
    2: (x: number, y: number) => y * W + (W - 1 - x),
    3: (x: number, y: number) => (H - 1 - y) * W + (W - 1 - x),
    4: (x: number, y: number) => (H - 1 - y) * W + x,
    5: (x: number, y: number) => x * W + y,
    6: (x: number, y: number) => (H - 1 - x) * W + y,
    7: (x: number, y: number) => (H - 1 - x) * W + (W - 1 - y),
    8: (x: number, y: number) => x * W + (W - 1 - y),
  }[orientation]!;
  let o = 0;
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    const s = src(x, y) * C;
    for (let c = 0; c < C; c++) out[o++] = data[s + c]!;
  }
  return { width: ow, height: oh, data: out };
}

function synthetic(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + 11) & 255;
  return { width, height, data };
}

describe('image EXIF orientation', () => {
  before(async () => { await initImageDecodersForNode(); });

  it('the reference transposes match Pillow\'s definitions on a 3x2 image', () => {
    // Pixels numbered 0..5 row-major: [[0 1 2], [3 4 5]].
    const img = { width: 3, height: 2, data: Uint8Array.from([0, 1, 2, 3, 4, 5].flatMap((v) => [v, v, v])) };
    const flat = (i: RgbImage): number[][] => Array.from({ length: i.height }, (_, y) =>
      Array.from({ length: i.width }, (_, x) => i.data[(y * i.width + x) * 3]!));
    expect(flat(REFERENCE[6]!(img))).to.deep.equal([[3, 0], [4, 1], [5, 2]]); // clockwise
    expect(flat(REFERENCE[8]!(img))).to.deep.equal([[2, 5], [1, 4], [0, 3]]); // counter-clockwise
    expect(flat(REFERENCE[5]!(img))).to.deep.equal([[0, 3], [1, 4], [2, 5]]); // transpose
    expect(flat(REFERENCE[7]!(img))).to.deep.equal([[5, 2], [4, 1], [3, 0]]); // transverse
    expect(flat(REFERENCE[4]!(img))).to.deep.equal([[3, 4, 5], [0, 1, 2]]);
    expect(flat(REFERENCE[3]!(img))).to.deep.equal([[5, 4, 3], [2, 1, 0]]);
  });

  for (let o = 1; o <= 8; o++) {
    it(`orientation ${o} on a 5x3 image`, () => {
      const img = synthetic(5, 3);
      const got = applyOrientation(img, o);
      const want = REFERENCE[o]!(img);
      expect([got.width, got.height]).to.deep.equal([want.width, want.height]);
      expect(Buffer.from(got.data).equals(Buffer.from(want.data))).to.equal(true);
    });
  }

  it('the tiled one-pass transposes equal the per-pixel reference at tile edges, for 1, 3 and 4 channels', () => {
    // 64-pixel tiles: sizes below, at and across tile boundaries, one-pixel strips, non-square.
    const sizes: [number, number][] = [[1, 1], [1, 200], [200, 1], [64, 64], [65, 63], [130, 67], [129, 128], [7, 300]];
    let compared = 0;
    for (const [w, h] of sizes) {
      for (const C of [1, 3, 4]) {
        const data = new Uint8Array(w * h * C);
        for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 8) * 7 + 3) & 255;
        const img = { width: w, height: h, data };
        for (let o = 2; o <= 8; o++) {
          const got = applyOrientation(img, o), want = closureTranspose(img, o);
          expect([got.width, got.height], `${w}x${h}x${C} orientation ${o}`).to.deep.equal([want.width, want.height]);
          expect(Buffer.from(got.data).equals(Buffer.from(want.data)), `${w}x${h}x${C} orientation ${o}`).to.equal(true);
          if (C === 3) expect(Buffer.from(got.data).equals(Buffer.from(REFERENCE[o]!(img).data))).to.equal(true);
          compared++;
        }
      }
    }
    expect(compared).to.equal(8 * 3 * 7);
  });

  it('reads the tag from little- and big-endian TIFF, with or without the Exif prefix', () => {
    for (let o = 1; o <= 8; o++) {
      expect(exifOrientation(tiffOrientation(o))).to.equal(o);
      expect(exifOrientation(tiffOrientation(o, true))).to.equal(o);
      expect(exifOrientation(tiffOrientation(o, false, true))).to.equal(o);
    }
  });

  it('malformed or out-of-range blocks mean "no orientation"', () => {
    expect(exifOrientation(new Uint8Array(0))).to.equal(1);
    expect(exifOrientation(Uint8Array.from([0x49, 0x49, 42, 0, 0xff, 0xff, 0, 0]))).to.equal(1);
    expect(exifOrientation(tiffOrientation(9))).to.equal(1);
    expect(exifOrientation(tiffOrientation(6).subarray(0, 12))).to.equal(1);
    expect(exifOrientation(Buffer.from('not a tiff at all'))).to.equal(1);
  });

  it('JPEG APP1 orientations 1..8 (II and MM) are applied after decoding', async () => {
    const jpg = fs.readFileSync(path.join(IMAGES, 'chelsea_q90.jpg'));
    const plain = await decodeImage(jpg);
    for (let o = 1; o <= 8; o++) {
      for (const be of [false, true]) {
        const got = await decodeImage(withJpegExif(jpg, o, be));
        const want = REFERENCE[o]!(plain);
        expect([got.width, got.height], `orientation ${o}`).to.deep.equal([want.width, want.height]);
        expect(Buffer.from(got.data).equals(Buffer.from(want.data)), `orientation ${o}`).to.equal(true);
      }
    }
    const raw = await decodeImage(withJpegExif(jpg, 6), { exifTranspose: false });
    expect(Buffer.from(raw.data).equals(Buffer.from(plain.data))).to.equal(true);
  });

  it('PNG eXIf orientation is applied', async () => {
    const samples = Array.from(synthetic(4, 3).data);
    const png = makePng({ width: 4, height: 3, colorType: 2, bitDepth: 8, samples, exif: tiffOrientation(8, true) });
    const got = await decodeImage(png);
    const want = REFERENCE[8]!({ width: 4, height: 3, data: Uint8Array.from(samples) });
    expect([got.width, got.height]).to.deep.equal([3, 4]);
    expect(Buffer.from(got.data).equals(Buffer.from(want.data))).to.equal(true);
  });

  // Made with Pillow 9.4 by tools/fixtures/make-metadata-images.py: each file carries its orientation the
  // way some writer does (ImageMagick's raw-profile text chunks, XMP, repeated or unusually typed EXIF
  // entries), or has stray bytes between JPEG segments; the pixels must be what exif_transpose gives.
  describe('where Pillow finds the orientation (spec/fixtures/images-meta)', () => {
    const dir = path.resolve('spec/fixtures/images-meta');
    const index: Record<string, { how: string; width: number; height: number; rgb_sha256: string }> =
      JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')).images;
    for (const [file, want] of Object.entries(index)) {
      it(`${file}: ${want.how}`, async () => {
        const got = await decodeImage(new Uint8Array(fs.readFileSync(path.join(dir, file))), { name: file });
        expect([got.width, got.height]).to.deep.equal([want.width, want.height]);
        expect(sha256(got.data)).to.equal(want.rgb_sha256);
      });
    }
  });
});
