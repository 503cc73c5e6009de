/**
 * The native resampling passes (native/resample.cc through lib/node/native-resample.ts) against the
 * JavaScript loops of lib/image/resample.ts: the same bytes for every filter, channel count, size
 * (1, primes, up and down, windows touching the buffer's end) and thread count, and the JavaScript
 * loops keep their own tests with the accelerator removed. Skipped, with the reason, only when the
 * addon was not built.
 */
import { expect } from 'chai';
import path from 'node:path';
import { resize, resizeGeneral, setResampleAccelerator, axisCoefficients, type ResampleAccelerator } from '../lib/image/resample.js';
import { loadNativeAddon, nativeAddonError, type NativeAddon } from '../lib/node/native-addon.js';
import { installNativeResample, nativeResampleAccelerator } from '../lib/node/native-resample.js';
import { applyOrientation, setOrientationAccelerator } from '../lib/image/exif.js';
import { setPngUnfilter } from '../lib/image/png.js';
import { decodeImage } from '../lib/image/decode.js';
import zlib from 'node:zlib';
import { chunk } from './image-fixtures.js';
import { readImageFile } from '../lib/node/image-file.js';
import { IMAGES } from './image-fixtures.js';

type Img = { width: number; height: number; data: Uint8Array };

function noise(w: number, h: number, C: number, seed: number): Img {
  const data = new Uint8Array(w * h * C);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; data[i] = s & 255; }
  return { width: w, height: h, data };
}

/** Stripes of 0 and 255: the largest positive and negative lobes, so clipping at both ends. */
function stripes(w: number, h: number, C: number, period: number): Img {
  const data = new Uint8Array(w * h * C);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < C; c++) {
    data[(y * w + x) * C + c] = ((x + y + c) / period | 0) % 2 ? 255 : 0;
  }
  return { width: w, height: h, data };
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

describe('native resampling', function () {
  let addon: NativeAddon;
  let native: ResampleAccelerator;
  let previous: ResampleAccelerator | undefined;

  before(async function () {
    await readImageFile(path.join(IMAGES, 'chelsea.png')); // installs the accelerator as the CLI does
    const a = loadNativeAddon();
    if (a === undefined) {
      console.log(`      (skipped: native addon unavailable: ${nativeAddonError()}; build it with: node tools/build-native.mjs)`);
      this.skip();
    }
    addon = a!;
    native = nativeResampleAccelerator(addon);
    expect(installNativeResample()).to.equal(true);
    previous = setResampleAccelerator(native);
  });

  after(() => {
    if (addon) { setResampleAccelerator(previous); addon.setThreads(addon.info().defaultThreads); }
  });

  /** resizeGeneral with the native passes, with the JavaScript int32 loops, and the double reference. */
  function threeWays(img: Img, w: number, h: number, f: 1 | 2 | 3 | 4 | 5): [Uint8Array, Uint8Array, Uint8Array] {
    setResampleAccelerator(native);
    const n = resizeGeneral(img, w, h, f).data;
    setResampleAccelerator(undefined);
    const js = resizeGeneral(img, w, h, f).data;
    const ref = resizeGeneral(img, w, h, f, false).data;
    setResampleAccelerator(native);
    return [n, js, ref];
  }

  it('gives the bytes of the JavaScript loops: 1-4 channels, every filter, sizes up, down, 1 and primes', () => {
    const sizes = [[1, 1], [7, 3], [97, 131], [224, 224], [613, 5], [2, 409]];
    let compared = 0;
    for (const C of [1, 2, 3, 4]) {
      for (const [iw, ih] of [[1, 1], [5, 7], [131, 89], [640, 11]] as const) {
        const imgs = [noise(iw, ih, C, iw * 31 + C), stripes(iw, ih, C, 3)];
        for (const img of imgs) {
          for (const [w, h] of sizes) {
            for (const f of [1, 2, 3, 4, 5] as const) {
              const [n, js, ref] = threeWays(img, w!, h!, f);
              const what = `C=${C} ${iw}x${ih} -> ${w}x${h} filter ${f}`;
              expect(same(js, ref), `${what}: JavaScript int32`).to.equal(true);
              expect(same(n, ref), `${what}: native`).to.equal(true);
              compared++;
            }
          }
        }
      }
    }
    expect(compared).to.equal(4 * 4 * 2 * 6 * 5);
  });

  it('gives the same bytes on 1, 2 and 3 threads, for images large enough to use the pool', () => {
    const img = noise(1531, 1021, 3, 99);
    const runs: Uint8Array[] = [];
    for (const t of [1, 2, 3]) {
      addon.setThreads(t);
      for (const f of [2, 3] as const) runs.push(resizeGeneral(img, 224, 224, f).data, resizeGeneral(img, 3001, 2003, f).data);
    }
    addon.setThreads(addon.info().defaultThreads);
    setResampleAccelerator(undefined);
    const ref: Uint8Array[] = [];
    for (const f of [2, 3] as const) ref.push(resizeGeneral(img, 224, 224, f).data, resizeGeneral(img, 3001, 2003, f).data);
    setResampleAccelerator(native);
    runs.forEach((r, i) => expect(same(r, ref[i % 4]!), `run ${i}`).to.equal(true));
  });

  it('the gray fast path (one channel of three) gives the bytes of the general path, native and JavaScript', async () => {
    const chelsea = await readImageFile(path.join(IMAGES, 'chelsea.png'));
    const gray = { width: chelsea.width, height: chelsea.height, data: new Uint8Array(chelsea.data.length) };
    for (let i = 0; i < gray.data.length; i += 3) gray.data[i] = gray.data[i + 1] = gray.data[i + 2] = chelsea.data[i + 1]!;
    for (const [w, h] of [[224, 224], [451, 17], [3, 300], [1000, 700]] as const) {
      for (const f of [1, 2, 3, 4, 5] as const) {
        const fast = resize(gray, w, h, f).data;
        setResampleAccelerator(undefined);
        const jsFast = resize(gray, w, h, f).data;
        const ref = resizeGeneral(gray, w, h, f, false).data;
        setResampleAccelerator(native);
        expect(same(fast, ref), `${w}x${h} filter ${f}: native`).to.equal(true);
        expect(same(jsFast, ref), `${w}x${h} filter ${f}: JavaScript`).to.equal(true);
      }
    }
  });

  it('EXIF orientations 2-8 give the bytes of the JavaScript transpose (1, 3 and 4 bytes a pixel; tiles cut anywhere)', () => {
    let compared = 0;
    for (const C of [1, 3, 4]) {
      for (const [w, h] of [[257, 300], [131, 509], [4001, 17], [17, 4001], [300, 257]] as const) {
        const img = noise(w, h, C, w + h + C);
        expect(img.data.length).to.be.above(65536); // the size from which the addon is called
        for (let o = 2; o <= 8; o++) {
          const fast = applyOrientation(img, o);
          const prev = setOrientationAccelerator(undefined);
          const js = applyOrientation(img, o);
          setOrientationAccelerator(prev);
          expect([fast.width, fast.height]).to.deep.equal([js.width, js.height]);
          expect(same(fast.data, js.data), `C=${C} ${w}x${h} orientation ${o}`).to.equal(true);
          compared++;
        }
      }
    }
    expect(compared).to.equal(3 * 5 * 7);
    const src = new Uint8Array(12 * 3);
    expect(() => addon.orient(src, 4, 3, 3, 1, new Uint8Array(36))).to.throw(RangeError, /orientation/);
    expect(() => addon.orient(src, 4, 4, 3, 6, new Uint8Array(48))).to.throw(RangeError, /shorter/);
    expect(() => addon.orient(src, 2 ** 62, 4, 1, 6, new Uint8Array(48))).to.throw(RangeError, /shorter/);
    expect(() => addon.orient(src, 4, 3, 3, 6, src)).to.throw(RangeError, /share memory/);
    expect(() => addon.orient(src, 4, 3, 3, 6.5, new Uint8Array(36))).to.throw(RangeError, /orientation/);
    const sharedSrc = new Uint8Array(new SharedArrayBuffer(36)), out = new Uint8Array(36);
    sharedSrc.set(noise(12, 1, 3, 5).data);
    addon.orient(sharedSrc, 4, 3, 3, 6, out);
    expect(same(out, applyOrientation({ width: 4, height: 3, data: sharedSrc.slice() }, 6).data)).to.equal(true);
    expect(applyOrientation({ width: 4, height: 3, data: out }, 6.5).data).to.equal(out); // not an EXIF orientation: unchanged
  });

  it('PNG unfiltering: the filters of the PNG specification on random rows (bpp 1-8), and decoded images equal to the JavaScript path', async () => {
    /** The five filters as the PNG specification defines them (the test's own reference). */
    const reference = (data: Uint8Array, rows: number, rowBytes: number, bpp: number): number => {
      let prev: Uint8Array = new Uint8Array(rowBytes);
      for (let r = 0; r < rows; r++) {
        const at = r * (rowBytes + 1), type = data[at]!, row = data.subarray(at + 1, at + 1 + rowBytes);
        if (type > 4) return r;
        for (let i = 0; i < rowBytes; i++) {
          const a = i >= bpp ? row[i - bpp]! : 0, b = prev[i]!, c = i >= bpp ? prev[i - bpp]! : 0;
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][type]!;
          row[i] = (row[i]! + pred) & 255;
        }
        prev = row;
      }
      return -1;
    };
    let cases = 0;
    for (const bpp of [1, 2, 3, 4, 6, 8]) {
      for (const rowBytes of [1, 5, 301, 1001]) {
        const rows = 70, img = noise(rows * (rowBytes + 1), 1, 1, bpp * 7919 + rowBytes).data;
        for (let r = 0; r < rows; r++) img[r * (rowBytes + 1)]! %= 5;
        const a = img.slice(), b = img.slice();
        expect(addon.pngUnfilter(a, 0, rows, rowBytes, bpp)).to.equal(-1);
        expect(reference(b, rows, rowBytes, bpp)).to.equal(-1);
        expect(same(a, b), `bpp ${bpp} rowBytes ${rowBytes}`).to.equal(true);
        cases++;
      }
    }
    expect(cases).to.equal(24);
    const bad = noise(40 * 11, 1, 1, 3).data;
    for (let r = 0; r < 40; r++) bad[r * 11]! %= 5;
    bad[17 * 11] = 9;
    const original = bad.slice();
    expect(addon.pngUnfilter(bad, 0, 40, 10, 3)).to.equal(17);
    expect(() => addon.pngUnfilter(bad, 5, 40, 10, 3)).to.throw(RangeError, /shorter/);
    // Sizes that used to slip past the checks (0 rows of 2^53 bytes allocated a row of zeros; 2^63 - 1 wrapped).
    expect(() => addon.pngUnfilter(bad, 0, 0, 2 ** 53, 1)).to.throw(RangeError, /shorter/);
    expect(() => addon.pngUnfilter(bad, 0, 1, 2 ** 63 - 1, 1)).to.throw(RangeError);
    expect(() => addon.pngUnfilter(bad, Number.NaN, 2, 4, 1)).to.throw(RangeError, /bad sizes/);
    expect(() => addon.pngUnfilter(bad, 0.5, 2, 4, 1)).to.throw(RangeError, /bad sizes/);
    // Views of a SharedArrayBuffer (their memory used to be a null pointer: a segfault).
    const shared = new Uint8Array(new SharedArrayBuffer(bad.length));
    shared.set(original);
    expect(addon.pngUnfilter(shared, 0, 40, 10, 3)).to.equal(17);
    expect(same(shared, bad)).to.equal(true);
    // Whole files: random filtered scanlines of an RGB and a 16-bit RGBA image, native and JavaScript decodes.
    const png = (w: number, h: number, colorType: number, depth: number, bytesPerPixel: number, badRow?: number) => {
      const rowBytes = w * bytesPerPixel, raw = noise(h * (rowBytes + 1), 1, 1, w + h).data;
      for (let r = 0; r < h; r++) raw[r * (rowBytes + 1)]! %= 5;
      if (badRow !== undefined) raw[badRow * (rowBytes + 1)] = 7;
      const ihdr = Buffer.alloc(13);
      ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = depth; ihdr[9] = colorType;
      return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
        chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
    };
    const outcome = async (bytes: Uint8Array) => decodeImage(bytes, { name: 'x.png' }).then((r) => r.data, (e: Error) => e.message);
    for (const file of [png(300, 250, 2, 8, 3), png(131, 170, 6, 16, 8), png(300, 250, 2, 8, 3, 201)]) {
      const fast = await outcome(file);
      const prev = setPngUnfilter(undefined);
      const js = await outcome(file);
      setPngUnfilter(prev);
      if (typeof js === 'string') expect(fast).to.equal(js).and.match(/unknown filter type 7 in row 201/);
      else expect(same(fast as Uint8Array, js)).to.equal(true);
    }
  });

  it('a 12-megapixel photo resizes in a fraction of the JavaScript time (logs both)', () => {
    const img = noise(4000, 3000, 3, 7);
    const time = (fn: () => void) => { const t = performance.now(); fn(); return performance.now() - t; };
    resizeGeneral(img, 224, 224, 3);
    const nativeMs = Math.min(time(() => resizeGeneral(img, 224, 224, 3)), time(() => resizeGeneral(img, 224, 224, 3)));
    setResampleAccelerator(undefined);
    const jsMs = time(() => resizeGeneral(img, 224, 224, 3));
    setResampleAccelerator(native);
    console.log(`      4000x3000 -> 224x224 bicubic: native ${nativeMs.toFixed(1)} ms, JavaScript ${jsMs.toFixed(1)} ms`);
    expect(nativeMs).to.be.below(jsMs);
  });

  it('refuses windows outside the input, short arrays, wrapping sizes, aliasing and several bad arguments with one RangeError', () => {
    const ax = axisCoefficients(10, 4, 3);
    const src = new Uint8Array(10 * 2 * 3), out = new Uint8Array(4 * 2 * 3);
    expect(() => addon.resampleH(src, 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, ax.stride, 4, out)).to.not.throw();
    const badStart = ax.start.slice(); badStart[3] = 9;
    expect(() => addon.resampleH(src, 10, 2, 3, 3, badStart, ax.count, ax.coeffs, ax.stride, 4, out)).to.throw(RangeError, /window 3 outside the input/);
    expect(() => addon.resampleH(src.subarray(1), 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, ax.stride, 4, out)).to.throw(RangeError, /shorter/);
    expect(() => addon.resampleH(src, 10, 2, 3, 2, ax.start, ax.count, ax.coeffs, ax.stride, 4, out)).to.throw(RangeError, /bad sizes/);
    expect(() => addon.resampleV(src, 30, 2, ax.start, ax.count, ax.coeffs, ax.stride, 4, new Uint8Array(120))).to.throw(RangeError, /window/);
    expect(() => addon.resampleV(src, 30, 2, ax.start, ax.count, ax.coeffs.subarray(1), ax.stride, 4, new Uint8Array(120))).to.throw(RangeError, /shorter/);
    expect(() => (addon.resampleH as (...a: unknown[]) => void)(new Float32Array(60), 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, ax.stride, 4, out))
      .to.throw(RangeError, /must be a Uint8Array/);
    // Sizes whose products wrap around int64 (they used to pass the length checks and crash).
    expect(() => addon.resampleH(new Uint8Array(0), 2 ** 62, 4, 1, 1, ax.start, ax.count, ax.coeffs, ax.stride, 4, out)).to.throw(RangeError, /shorter/);
    expect(() => addon.resampleH(src, 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, 3 * 2 ** 61, 2, out)).to.throw(RangeError, /coefficient arrays shorter/);
    expect(() => addon.resampleH(src, 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, 2 ** 64, 4, out)).to.throw(RangeError, /coefficient arrays shorter/);
    expect(() => addon.resampleV(new Uint8Array(16), 2 ** 62, 4, ax.start, ax.count, ax.coeffs, ax.stride, 4, new Uint8Array(16))).to.throw(RangeError, /shorter/);
    // Two bad arguments in one call: one RangeError (a second throw used to abort the process).
    expect(() => (addon.resampleH as (...a: unknown[]) => void)(null, 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, ax.stride, 4, null)).to.throw(RangeError, /argument 0/);
    const f32 = new Float32Array(8);
    expect(() => (addon.resampleV as (...a: unknown[]) => void)(src, 30, 2, f32, f32, f32, 1, 1, new Uint8Array(30))).to.throw(RangeError, /argument 3 must be an Int32Array/);
    expect(() => (addon.resampleH as () => void)()).to.throw(RangeError);
    // The same holds for the older entry points, which check their arguments the same way.
    expect(() => (addon.gemm as (...a: unknown[]) => void)(...new Array<null>(19).fill(null))).to.throw(RangeError, /argument 0/);
    // Output sharing the source's memory.
    const buf = new Uint8Array(200);
    expect(() => addon.resampleH(buf.subarray(0, 60), 10, 2, 3, 3, ax.start, ax.count, ax.coeffs, ax.stride, 4, buf.subarray(50, 74))).to.throw(RangeError, /share memory/);
  });
});
