/** Decoding: every fixture bit-exact vs Pillow, all PNG formats, and refusal of bad input. */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImage, DEFAULT_MAX_PIXELS, ImageError, PILLOW_MAX_IMAGE_PIXELS, sniffFormat } from '../lib/image/decode.js';
import { toRgbImage } from '../lib/image/input.js';
import { rgbFromRgba } from '../lib/image/errors.js';
import { readImageFile } from '../lib/node/image-file.js';
import { initImageDecodersForNode, zlibInflate } from '../lib/node/image-codecs.js';
import { setPngInflater, streamInflate } from '../lib/image/png.js';
import zlib from 'node:zlib';
import { chunk, crc32, extraImageIndex, IMAGES, IMAGES_EXTRA, imageIndex, makePng, sha256, type PngSpec } from './image-fixtures.js';

async function expectImageError(p: Promise<unknown>, pattern?: RegExp): Promise<ImageError> {
  try {
    await p;
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(ImageError);
    expect((e as Error).name).to.equal('ImageError');
    if (pattern) expect((e as Error).message).to.match(pattern);
    return e as ImageError;
  }
  throw new Error('expected an ImageError');
}

/** A small deterministic pseudo-random sample generator. */
function samples(n: number, max: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(Math.floor((s / 2 ** 32) * (max + 1)));
  }
  return out;
}

/** Expected RGB by the Pillow 9.4 convert("RGB") rules (16-bit gray: high byte, our documented choice). */
function expectedRgb(spec: PngSpec): Uint8Array {
  const n = spec.width * spec.height;
  const ch = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[spec.colorType];
  const to8 = (v: number): number => (spec.bitDepth === 16 ? v >> 8 : spec.bitDepth < 8 ? (v * 255) / (2 ** spec.bitDepth - 1) : v);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const s = spec.samples.slice(i * ch, i * ch + ch);
    const rgb = spec.colorType === 3 ? spec.palette![s[0]] : ch <= 2 ? [s[0], s[0], s[0]].map(to8) : s.slice(0, 3).map(to8);
    out.set(rgb, i * 3);
  }
  return out;
}

/**
 * Overwrites `count` pseudo-random bytes of each file, one at a time: each result must decode to a
 * well-formed image or fail with an ImageError (not another exception, not a hang). The pixel limit is
 * lowered so a corrupted size field cannot make one case allocate gigabytes.
 */
async function expectCorruptionSafe(files: Uint8Array[], count: number, seed: number): Promise<void> {
  for (const [n, good] of files.entries()) {
    const pos = samples(count, good.length - 1, seed + n), val = samples(count, 255, seed + 100 + n);
    for (let i = 0; i < count; i++) {
      const b = new Uint8Array(good);
      b[pos[i]!] = val[i]!;
      try {
        const img = await decodeImage(b, { maxPixels: 1 << 22 });
        expect(img.data.length).to.equal(img.width * img.height * 3);
      } catch (e) {
        expect(e, `file ${n}, byte ${pos[i]} = ${val[i]}: ${String(e)}`).to.be.instanceOf(ImageError);
      }
    }
  }
}

/** Offset of the transform byte of the APP14 "Adobe" segment. */
function findAdobeTransform(b: Uint8Array): number {
  for (let p = 2; p + 4 < b.length;) {
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (b[p + 1] === 0xee) return p + 4 + 11;
    p += 2 + len;
  }
  throw new Error('no Adobe segment');
}

describe('image decode', function () {
  it('RGBA to RGB: the 32-bit word copy equals the byte copy (aligned and unaligned sources, every length mod 4)', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 1001]) {
      const buf = new Uint8Array(4 * n + 1);
      for (let i = 0; i < buf.length; i++) buf[i] = (i * 97 + 13) & 255;
      const want = new Uint8Array(3 * n);
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) want[3 * i + c] = buf[4 * i + c]!;
      const aligned = rgbFromRgba(buf.subarray(0, 4 * n), n, 1); // word path
      const unaligned = rgbFromRgba(buf.subarray(1), n, 1); // byte path (offset 1)
      const wantUnaligned = new Uint8Array(3 * n);
      for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) wantUnaligned[3 * i + c] = buf[1 + 4 * i + c]!;
      const clamped = rgbFromRgba(new Uint8ClampedArray(buf.buffer, 0, 4 * n), n, 1);
      const plain = rgbFromRgba(Array.from(buf.subarray(0, 4 * n)), n, 1); // generic ArrayLike path
      for (const got of [aligned, clamped, plain]) expect(Buffer.from(got.data).equals(Buffer.from(want)), `n=${n}`).to.equal(true);
      expect(Buffer.from(unaligned.data).equals(Buffer.from(wantUnaligned)), `n=${n} unaligned`).to.equal(true);
    }
  });

  before(async () => { await initImageDecodersForNode(); });

  describe('fixtures: decoded RGB equals Pillow (EXIF transpose + convert("RGB"))', () => {
    for (const [file, info] of Object.entries(imageIndex())) {
      it(file, async () => {
        const img = await readImageFile(path.join(IMAGES, file));
        expect([img.height, img.width]).to.deep.equal([info.height, info.width]);
        expect(img.data.length).to.equal(info.height * info.width * 3);
        expect(sha256(img.data)).to.equal(info.rgb_sha256);
      });
    }
  });

  describe('more encodings (CMYK JPEG, subsampling, odd sizes, EXIF 1-8, PNG modes, WebP, GIF, BMP): RGB equals Pillow 9.4', () => {
    for (const [file, info] of Object.entries(extraImageIndex())) {
      it(`${file} (${info.mode}, ${info.width}x${info.height})`, async () => {
        const img = await readImageFile(path.join(IMAGES_EXTRA, file));
        expect([img.height, img.width]).to.deep.equal([info.height, info.width]);
        expect(sha256(img.data)).to.equal(info.rgb_sha256);
      });
    }
  });

  it('the libjpeg-turbo port alone equals Pillow on every 3-component JPEG here, not only the 4:4:0 ones it is used for', async () => {
    const { portJpegToRgb } = await import('../lib/image/jpeg-port.js');
    const { readJpegHeader } = await import('../lib/image/jpeg.js');
    const cases = [
      ...Object.entries(imageIndex()).map(([f, i]) => [path.join(IMAGES, f), i.rgb_sha256] as const),
      ...Object.entries(extraImageIndex()).map(([f, i]) => [path.join(IMAGES_EXTRA, f), i.rgb_sha256] as const),
    ].filter(([f]) => f.endsWith('.jpg') && !/exif[2-8]?\.jpg$|_exif6\.jpg$/.test(f));
    let checked = 0;
    for (const [f, want] of cases) {
      const b = new Uint8Array(fs.readFileSync(f));
      if (readJpegHeader(b).components !== 3) continue;
      expect(sha256(portJpegToRgb(b, f).data), f).to.equal(want);
      checked++;
    }
    expect(checked).to.be.at.least(15);
  });

  it('sniffs the format from magic bytes, not the name', async () => {
    const png = fs.readFileSync(path.join(IMAGES, 'chelsea.png'));
    expect(sniffFormat(png)).to.equal('png');
    expect(sniffFormat(fs.readFileSync(path.join(IMAGES, 'chelsea_q90.jpg')))).to.equal('jpeg');
    const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'img-')), 'really-a-png.jpg');
    fs.writeFileSync(tmp, png);
    expect(sha256((await readImageFile(tmp)).data)).to.equal(imageIndex()['chelsea.png']!.rgb_sha256);
  });

  describe('PNG colour types, bit depths, palette, tRNS, interlacing', () => {
    const W = 13;
    const H = 7; // odd sizes leave some Adam7 passes short
    const palette: [number, number, number][] = samples(16 * 3, 255, 7).reduce<[number, number, number][]>(
      (acc, v, i) => { if (i % 3 === 0) acc.push([v, 0, 0]); else acc[acc.length - 1]![i % 3] = v; return acc; }, []);
    const cases: Array<[string, Omit<PngSpec, 'samples' | 'width' | 'height'>]> = [];
    for (const d of [1, 2, 4, 8, 16] as const) cases.push([`gray ${d}-bit`, { colorType: 0, bitDepth: d }]);
    for (const d of [8, 16] as const) {
      cases.push([`RGB ${d}-bit`, { colorType: 2, bitDepth: d }]);
      cases.push([`gray+alpha ${d}-bit`, { colorType: 4, bitDepth: d }]);
      cases.push([`RGBA ${d}-bit`, { colorType: 6, bitDepth: d }]);
    }
    for (const d of [1, 2, 4, 8] as const) {
      cases.push([`palette ${d}-bit with tRNS`, { colorType: 3, bitDepth: d, palette: palette.slice(0, Math.min(16, 2 ** d)), trns: Uint8Array.from([0, 128]) }]);
    }
    cases.push(['gray 8-bit with tRNS (colour kept)', { colorType: 0, bitDepth: 8, trns: Uint8Array.from([0, 77]) }]);
    cases.push(['RGB 8-bit with tRNS (colour kept)', { colorType: 2, bitDepth: 8, trns: Uint8Array.from([0, 1, 0, 2, 0, 3]) }]);
    for (const [label, base] of cases) {
      for (const interlace of [false, true]) {
        it(`${label}${interlace ? ', interlaced' : ''}`, async () => {
          const ch = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[base.colorType];
          const max = base.colorType === 3 ? base.palette!.length - 1 : 2 ** base.bitDepth - 1;
          const s = samples(W * H * ch, max, base.colorType * 31 + base.bitDepth);
          if (base.trns && base.colorType === 0) s[0] = 77; // a pixel that tRNS marks transparent
          if (base.trns && base.colorType === 2) s.splice(0, 3, 1, 2, 3);
          const spec: PngSpec = { ...base, width: W, height: H, samples: s, interlace };
          const img = await decodeImage(makePng(spec));
          expect([img.width, img.height]).to.deep.equal([W, H]);
          expect(Buffer.from(img.data).equals(Buffer.from(expectedRgb(spec)))).to.equal(true);
        });
      }
    }
  });

  describe('bad input gives ImageError naming the file', () => {
    const png = fs.readFileSync(path.join(IMAGES, 'chelsea.png'));
    const jpg = fs.readFileSync(path.join(IMAGES, 'chelsea_q90.jpg'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-img-'));
    const file = (name: string, bytes: Uint8Array | string): string => {
      const p = path.join(dir, name);
      fs.writeFileSync(p, bytes);
      return p;
    };

    it('hundreds of corrupt JPEGs do not break the decoder for the valid files after them', async function () {
      this.timeout(60000);
      const bad = Uint8Array.from(jpg);
      bad.set([0xff, 0xff, 0xff, 0xff], 3655); // inside the entropy-coded data: marker 0x37, a fatal libjpeg error
      for (let i = 0; i < 400; i++) await expectImageError(decodeImage(bad, { name: 'bad.jpg' }), /bad\.jpg: corrupt JPEG data \(Unsupported marker type 0x37\)/);
      const img = await decodeImage(jpg, { name: 'good.jpg' });
      expect([img.width, img.height]).to.deep.equal([451, 300]);
    });
    it('empty file', async () => {
      const p = file('empty.png', new Uint8Array(0));
      const e = await expectImageError(readImageFile(p), /empty/);
      expect(e.message).to.contain(p);
    });
    it('text file', async () => {
      const p = file('hello.jpg', 'hello\n'.repeat(20));
      const e = await expectImageError(readImageFile(p), /not a PNG, JPEG, WebP, GIF, BMP or TIFF/);
      expect(e.message).to.contain(p);
    });
    it('missing file', async () => {
      await expectImageError(readImageFile(path.join(dir, 'nope.png')), /nope\.png.*no such file/);
    });
    for (const frac of [0.5, 0.9, 0.999]) {
      it(`truncated PNG (${frac * 100}%)`, async () => {
        const p = file(`trunc-${frac}.png`, png.subarray(0, Math.floor(png.length * frac)));
        const e = await expectImageError(readImageFile(p));
        expect(e.message).to.contain(p);
      });
      it(`truncated JPEG (${frac * 100}%)`, async () => {
        const p = file(`trunc-${frac}.jpg`, jpg.subarray(0, Math.floor(jpg.length * frac)));
        const e = await expectImageError(readImageFile(p), /truncated/);
        expect(e.message).to.contain(p);
      });
    }
    it('JPEG cut inside its headers', async () => {
      await expectImageError(decodeImage(jpg.subarray(0, 40), { name: 'x.jpg' }), /x\.jpg: not a valid JPEG/);
    });
    describe('malformed PNGs and BMPs: opened or refused as Pillow 9.4 does (malformed.json)', () => {
      const { files } = JSON.parse(fs.readFileSync(path.join(IMAGES_EXTRA, 'malformed.json'), 'utf8')) as
        { files: Record<string, { opens: boolean; rgb_sha256?: string; pillow_error?: string }> };
      for (const [f, want] of Object.entries(files)) {
        it(`${f}: ${want.opens ? 'opens' : `refused (${want.pillow_error})`}`, async () => {
          const b = new Uint8Array(fs.readFileSync(path.join(IMAGES_EXTRA, 'malformed', f)));
          if (want.opens) expect(sha256((await decodeImage(b, { name: f })).data)).to.equal(want.rgb_sha256);
          else await expectImageError(decodeImage(b, { name: f }), new RegExp(f.replace('.', '\\.')));
        });
      }
    });
    it('a tiny PNG claiming 9000x9000 16-bit RGBA (648 MB of rows) is refused without allocating them', async () => {
      const ihdr = Buffer.alloc(13);
      ihdr.writeUInt32BE(9000, 0); ihdr.writeUInt32BE(9000, 4); ihdr[8] = 16; ihdr[9] = 6;
      const b = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
        chunk('IDAT', zlib.deflateSync(Buffer.alloc(100))), chunk('IEND', new Uint8Array(0))]);
      const before = process.memoryUsage().arrayBuffers;
      await expectImageError(decodeImage(b), /inflates to 100 bytes; 9000x9000 needs 648009000/);
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(64 << 20);
    });
    it('PNGs with corrupted bytes give an ImageError or an image, never another error or a hang', async () => {
      await expectCorruptionSafe([
        fs.readFileSync(path.join(IMAGES, 'chelsea_palette.png')),
        makePng({ width: 13, height: 7, colorType: 6, bitDepth: 16, samples: samples(13 * 7 * 4, 65535, 3), interlace: true }),
        makePng({ width: 9, height: 5, colorType: 0, bitDepth: 2, samples: samples(45, 3, 4) }),
      ], 200, 9);
    });
    it('a byte flipped inside the image data (IDAT CRC now wrong) decodes to what Pillow decodes', async () => {
      // Pillow does not check image-data CRCs; this flip still inflates, to other pixels
      // (/usr/bin/python3: Image.open(...).convert("RGB"), Pillow 9.4).
      const b = Buffer.from(png);
      b[b.length - 100] ^= 0xff;
      expect(sha256((await decodeImage(b, { name: 'crc.png' })).data)).to.equal('00f3c58b9cbb6f58ae9d4ef0b56d10c64d6d5a57b58ebedc5fc0899a7f7dc967');
    });
    it('PNG whose IHDR claims a huge size (valid CRC) is refused before decoding', async () => {
      const b = Buffer.from(png);
      b.writeUInt32BE(100_000, 16);
      b.writeUInt32BE(100_000, 20);
      b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
      const p = file('bomb.png', b);
      const e = await expectImageError(readImageFile(p), /100000x100000.*limit of 178956970/);
      expect(e.message).to.contain(p);
    });
    it('a 1-pixel-wide PNG with millions of rows is refused instead of exhausting memory', async () => {
      const b = makePng({ width: 1, height: 1, colorType: 0, bitDepth: 8, samples: [0] });
      b.writeUInt32BE(50_000_000, 20);
      b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
      await expectImageError(decodeImage(b, { name: 'tall.png' }), /tall\.png: PNG image is 1x50000000: more than 1048576 rows is not supported/);
    });
    it('JPEG whose frame header claims a huge size is refused before decoding', async () => {
      const b = Buffer.from(jpg);
      let p = 2;
      while (!(b[p + 1]! >= 0xc0 && b[p + 1]! <= 0xc2)) p += 2 + b.readUInt16BE(p + 2);
      b.writeUInt16BE(60000, p + 5);
      b.writeUInt16BE(60000, p + 7);
      await expectImageError(decodeImage(b, { name: 'bomb.jpg' }), /60000x60000/);
    });
    it('between Pillow\'s MAX_IMAGE_PIXELS and twice it, an image is decoded with a warning, as Pillow does', async function () {
      this.timeout(30000);
      // 9500 x 9500 = 90 250 000 pixels, 1-bit gray (a small file; 270 MB once RGB).
      const W = 9500, stride = 1 + Math.ceil(W / 8);
      const ihdr = Buffer.alloc(13);
      ihdr.writeUInt32BE(W, 0); ihdr.writeUInt32BE(W, 4); ihdr[8] = 1; ihdr[9] = 0;
      const raw = Buffer.alloc(W * stride, 0xff);
      for (let y = 0; y < W; y++) raw[y * stride] = 0; // filter byte: none
      const big = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
        chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
      const warnings: string[] = [];
      const img = await decodeImage(big, { name: 'big.png', onWarning: (m) => warnings.push(m) });
      expect([img.width, img.height, img.data[0], img.data[img.data.length - 1]]).to.deep.equal([W, W, 255, 255]);
      expect(warnings).to.deep.equal(['big.png: image is 9500x9500 = 90250000 pixels, more than Pillow\'s MAX_IMAGE_PIXELS (89478485); '
        + 'decoded anyway, as Pillow does after its DecompressionBombWarning.']);
      await expectImageError(decodeImage(big, { maxPixels: PILLOW_MAX_IMAGE_PIXELS }), /9500x9500 = 90250000 pixels, more than the limit of 89478485/);
      expect(DEFAULT_MAX_PIXELS).to.equal(2 * 89_478_485);
    });
    it('maxPixels is configurable', async () => {
      await expectImageError(decodeImage(png, { maxPixels: 451 * 300 - 1 }), /limit of 135299/);
      const ok = await decodeImage(png, { maxPixels: 451 * 300 });
      expect(ok.width).to.equal(451);
    });
    it('a CMYK JPEG whose scan header is broken is refused clearly', async () => {
      // SOI, SOF0 with 4 components, an empty SOS.
      const sof = [0xff, 0xc0, 0, 20, 8, 0, 8, 0, 8, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0];
      const b = Uint8Array.from([0xff, 0xd8, ...sof, 0xff, 0xda, 0, 2, 0xff, 0xd9]);
      await expectImageError(decodeImage(b), /JPEG: bad scan header/);
    });
    for (const frac of [0.05, 0.5, 0.97]) {
      it(`truncated WebP (${frac * 100}%), lossy and lossless`, async () => {
        for (const f of ['lossy.webp', 'lossless_alpha.webp']) {
          const b = fs.readFileSync(path.join(IMAGES_EXTRA, f));
          await expectImageError(decodeImage(new Uint8Array(b.subarray(0, Math.floor(b.length * frac))), { name: f }), /WebP/);
        }
      });
    }
    it('WebP with a header claiming a huge canvas is refused before decoding', async () => {
      const b = new Uint8Array(fs.readFileSync(path.join(IMAGES_EXTRA, 'lossy_exif6.webp'))); // has a VP8X chunk
      expect(String.fromCharCode(...b.subarray(12, 16))).to.equal('VP8X');
      b.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 24); // canvas 16777216 x 16777216
      await expectImageError(decodeImage(b), /possible decompression bomb/);
    });
    it('WebPs with corrupted bytes give an ImageError or an image, never another error or a hang', async () => {
      await expectCorruptionSafe(['lossy_alpha.webp', 'lossless.webp', 'animated_frame_offset.webp'].map((f) => fs.readFileSync(path.join(IMAGES_EXTRA, f))), 120, 3);
      // The decoder still works afterwards.
      const ok = await readImageFile(path.join(IMAGES_EXTRA, 'lossy.webp'));
      expect(sha256(ok.data)).to.equal(extraImageIndex()['lossy.webp']!.rgb_sha256);
    });
    for (const frac of [0.02, 0.5, 0.95]) {
      it(`truncated GIF (${frac * 100}%)`, async () => {
        const b = fs.readFileSync(path.join(IMAGES_EXTRA, 'chelsea.gif'));
        await expectImageError(decodeImage(new Uint8Array(b.subarray(0, Math.floor(b.length * frac))), { name: 'cut.gif' }), /cut\.gif: GIF file is truncated/);
      });
    }
    it('GIF whose screen claims a huge size is refused before decoding', async () => {
      const b = new Uint8Array(fs.readFileSync(path.join(IMAGES_EXTRA, 'palette256.gif')));
      b.set([0xff, 0xff, 0xff, 0xff], 6); // 65535 x 65535
      await expectImageError(decodeImage(b), /possible decompression bomb/);
    });
    it('GIFs with corrupted bytes give an ImageError or an image, never another error or a hang', async () => {
      await expectCorruptionSafe(['palette16_interlaced.gif', 'transparent.gif', 'animated.gif'].map((f) => fs.readFileSync(path.join(IMAGES_EXTRA, f))), 200, 17);
    });
    it('a tiny CMYK JPEG claiming 9000x9000 is refused without allocating its coefficients', async () => {
      const b = new Uint8Array(fs.readFileSync(path.join(IMAGES_EXTRA, 'cmyk_444.jpg')));
      let sof = 2;
      while (b[sof + 1] !== 0xc0) sof += 2 + ((b[sof + 2]! << 8) | b[sof + 3]!);
      b.set([0x23, 0x28, 0x23, 0x28], sof + 5); // 9000 x 9000
      const before = process.memoryUsage().arrayBuffers;
      await expectImageError(decodeImage(b, { name: 'big.jpg' }), /big\.jpg: JPEG: file is truncated \(\d+ bytes cannot hold \d+ blocks of 9000x9000\)/);
      expect(process.memoryUsage().arrayBuffers - before).to.be.below(64 << 20);
    });
    it('arithmetic-coded JPEG is refused clearly (Pillow reads it; documented)', async () => {
      const b = new Uint8Array(fs.readFileSync(path.join(IMAGES_EXTRA, 'arithmetic.jpg.refused')));
      await expectImageError(decodeImage(b, { name: 'a.jpg' }), /a\.jpg: arithmetic-coded JPEG is not supported/);
    });
    it('YCCK JPEG (Adobe transform 2) is refused clearly', async () => {
      const b = new Uint8Array(fs.readFileSync(path.join(IMAGES_EXTRA, 'cmyk_444.jpg')));
      const at = findAdobeTransform(b);
      b[at] = 2;
      await expectImageError(decodeImage(b, { name: 'ycck.jpg' }), /ycck\.jpg: JPEG: YCCK \(Adobe transform 2\) is not supported/);
    });
    for (const frac of [0.3, 0.7, 0.98]) {
      it(`truncated CMYK JPEG (${frac * 100}%), baseline and progressive`, async () => {
        for (const f of ['cmyk_420.jpg', 'cmyk_progressive_restart.jpg']) {
          const b = fs.readFileSync(path.join(IMAGES_EXTRA, f));
          await expectImageError(decodeImage(new Uint8Array(b.subarray(0, Math.floor(b.length * frac))), { name: f }), /truncated|runs into marker/);
        }
      });
    }
    it('BMPs with corrupted bytes give an ImageError or an image, never another error or a hang', async () => {
      await expectCorruptionSafe(['palette4.bmp', 'rle8.bmp', 'rle4.bmp', 'bgra32_v4_header.bmp', 'os2_header_palette8.bmp']
        .map((f) => fs.readFileSync(path.join(IMAGES_EXTRA, f))), 150, 23);
    });
    it('CMYK JPEGs with corrupted bytes give an ImageError or an image, never another error or a hang', async () => {
      await expectCorruptionSafe(['cmyk_420.jpg', 'cmyk_progressive_restart.jpg', 'cmyk_restart.jpg'].map((f) => fs.readFileSync(path.join(IMAGES_EXTRA, f))), 150, 7);
    });
    it('PNG with a bad colour type / bit depth', async () => {
      const b = makePng({ width: 2, height: 2, colorType: 2, bitDepth: 8, samples: new Array(12).fill(0) });
      b[24] = 4; // RGB with 4-bit samples is invalid
      b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
      await expectImageError(decodeImage(b), /colour type 2 with bit depth 4/);
    });
    it('PNG whose image data ends before its last row (IHDR height raised) is refused, not padded', async () => {
      for (const interlace of [false, true]) {
        const b = makePng({ width: 16, height: 16, colorType: 2, bitDepth: 8, samples: samples(16 * 16 * 3, 255, 7), interlace });
        b.writeUInt32BE(40, 20); // height 16 -> 40
        b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
        await expectImageError(decodeImage(b, { name: 'short.png' }), /short\.png: PNG file is truncated or corrupt/);
      }
      const b = makePng({ width: 16, height: 16, colorType: 2, bitDepth: 8, samples: samples(16 * 16 * 3, 255, 7) });
      b.writeUInt32BE(40, 20);
      b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
      await expectImageError(decodeImage(b), /the image data inflates to 784 bytes; 16x40 needs 1960/);
    });
    it('inflating image data: native zlib (Node) and DecompressionStream (browsers) give the same bytes', async () => {
      const raw = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 255);
      const z = new Uint8Array(zlib.deflateSync(raw));
      for (const limit of [1, 784, 4999, 5000, 5001, 1 << 20]) {
        const want = raw.subarray(0, Math.min(limit, 5000));
        expect(Buffer.from(await zlibInflate(z, limit)).equals(want), `zlib, limit ${limit}`).to.equal(true);
        expect(Buffer.from(await streamInflate(z, limit)).equals(want), `stream, limit ${limit}`).to.equal(true);
      }
      // Cut short or corrupt: fewer bytes (what inflated before the damage), never an exception.
      for (const bad of [z.subarray(0, z.length >> 1), Uint8Array.from([0x78, 0x9c, 0xff, 0xff, 0xff])]) {
        expect((await zlibInflate(bad, 5000)).length).to.be.below(5000);
        expect((await streamInflate(bad, 5000)).length).to.be.below(5000);
      }
      // decodePng with the browsers' inflater refuses the short image too, and decodes the good ones alike.
      setPngInflater(streamInflate);
      try {
        const b = makePng({ width: 16, height: 16, colorType: 2, bitDepth: 8, samples: samples(16 * 16 * 3, 255, 7) });
        b.writeUInt32BE(40, 20);
        b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
        await expectImageError(decodeImage(b), /the image data inflates to 784 bytes; 16x40 needs 1960/);
        expect(sha256((await readImageFile(path.join(IMAGES, 'chelsea.png'))).data)).to.equal(imageIndex()['chelsea.png']!.rgb_sha256);
      } finally {
        setPngInflater(zlibInflate);
      }
    });
    it('PNG without IHDR', async () => {
      const b = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IEND', new Uint8Array(0))]);
      await expectImageError(decodeImage(b), /IHDR/);
    });
    it('random bytes after a JPEG SOI never crash or hang', async () => {
      for (let seed = 1; seed <= 20; seed++) {
        const b = Uint8Array.from([0xff, 0xd8, 0xff, ...samples(200, 255, seed)]);
        await expectImageError(decodeImage(b));
      }
      // The decoder still works afterwards.
      expect(sha256((await decodeImage(jpg)).data)).to.equal(imageIndex()['chelsea_q90.jpg']!.rgb_sha256);
    });
  });

  it('the PNG writer (attention overlays) round-trips through the decoder and through pngjs', async () => {
    const { encodePngRgba } = await import('../lib/node/png-write.js');
    const { PNG } = await import('pngjs');
    const w = 17, h = 9, rgba = Uint8Array.from(samples(w * h * 4, 255, 29));
    const file = encodePngRgba(rgba, w, h);
    const img = await decodeImage(file);
    expect([img.width, img.height]).to.deep.equal([w, h]);
    expect(Array.from(img.data)).to.deep.equal(Array.from(rgba).filter((_, i) => i % 4 !== 3));
    expect(Array.from(PNG.sync.read(file).data)).to.deep.equal(Array.from(rgba));
  });

  describe('other input forms', () => {
    it('raw RGBA pixels drop alpha; raw RGB is copied', async () => {
      const rgba = Uint8ClampedArray.from([1, 2, 3, 0, 4, 5, 6, 255]);
      expect(Array.from((await toRgbImage({ data: rgba, width: 2, height: 1 })).data)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      const rgb = Uint8Array.from([9, 8, 7]);
      const img = await toRgbImage({ data: rgb, width: 1, height: 1, channels: 3 });
      expect(Array.from(img.data)).to.deep.equal([9, 8, 7]);
      expect(img.data).to.not.equal(rgb);
      await expectImageError(toRgbImage({ data: rgb, width: 2, height: 2 }), /raw pixels/);
    });
    it('a [H, W, 3] int32 tensor', async () => {
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-cpu');
      await tf.setBackend('cpu');
      const t = tf.tensor3d([[[1, 2, 3], [250, 251, 255]]], [1, 2, 3], 'int32');
      const img = await toRgbImage(t);
      expect([img.height, img.width, Array.from(img.data)]).to.deep.equal([1, 2, [1, 2, 3, 250, 251, 255]]);
      const bad = tf.tensor3d([[[1, 2, 300]]], [1, 1, 3], 'int32');
      await expectImageError(toRgbImage(bad), /0\.\.255/);
      await expectImageError(toRgbImage(tf.zeros([2, 2, 4], 'int32')), /shape/);
      t.dispose(); bad.dispose();
    });
    it('ArrayBuffer of encoded bytes', async () => {
      const b = fs.readFileSync(path.join(IMAGES, 'chelsea.png'));
      const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
      expect(sha256((await toRgbImage(ab)).data)).to.equal(imageIndex()['chelsea.png']!.rgb_sha256);
    });
  });
});
