/**
 * A TypeScript port of the libjpeg-turbo stages that Pillow's JPEG pixels go through, for the files
 * the WebAssembly build (`@jsquash/jpeg`, used for everything else) cannot reproduce:
 *  - 4-component (CMYK) files: that build only outputs RGBA and libjpeg-turbo cannot convert CMYK to
 *    it, while Pillow asks for the raw CMYK samples and converts them itself;
 *  - 3-component files with a component sampled 1x2 (4:4:0, what lossless rotation makes of 4:2:2):
 *    that build upsamples them by replication, where Pillow's libjpeg-turbo 2.1 uses its fancy 1h2v
 *    filter (measured: 11% of the values differ).
 * No npm decoder reproduces libjpeg-turbo's samples (pure-JS decoders use other IDCTs: up to 45 levels
 * off, see the fixtures README), so the stages are ported from their published behaviour:
 *  - Huffman entropy decoding, sequential (SOF0/SOF1) and progressive (SOF2), with restart intervals
 *    (jpeg-entropy.ts);
 *  - dequantisation and the integer "islow" IDCT (jpeg-idct.ts);
 *  - upsampling as jdsample.c chooses it: fancy (triangle) 2h1v, 1h2v and 2h2v filters with their
 *    rounding and edge rules (context rows duplicated at the top and bottom of the image), replication
 *    for other integer ratios;
 *  - colour: YCbCr -> RGB with jdcolor.c's fixed-point tables (colour space chosen as
 *    jdapimin.c does: JFIF, then Adobe transform, then component ids); CMYK as Pillow reads it
 *    ("CMYK;I", inverted) and converts it (`cmyk2rgb`).
 * YCCK (Adobe transform 2), 12-bit samples, arithmetic coding and lossless/hierarchical frames are
 * refused with an ImageError rather than decoded approximately. Verified against Pillow 9.4 with
 * libjpeg-turbo 2.1 (the fixtures' reference): identical bytes on every file in images-extra.
 */
import { cmykTable, ImageError, named, type RgbImage } from './errors.js';
import { readFrame, type Component, type Frame } from './jpeg-entropy.js';
import { idctBlock } from './jpeg-idct.js';

/** Component samples at full image resolution ([height, width]), upsampled as libjpeg-turbo does. */
function componentPlane(f: Frame, c: Component, fail: (why: string) => never): Uint8Array {
  const sw = c.blocksPerLine * 8, sh = c.blocksPerColumn * 8;
  const samples = new Uint8Array(sw * sh);
  const ws = new Int32Array(64);
  for (let by = 0; by < c.blocksPerColumn; by++) {
    for (let bx = 0; bx < c.blocksPerLine; bx++) {
      idctBlock(c.coefs, (by * c.blocksPerLine + bx) * 64, c.quant!, ws, samples, by * 8 * sw + bx * 8, sw);
    }
  }
  const W = f.width, H = f.height, out = new Uint8Array(W * H);
  const dw = Math.ceil((W * c.h) / f.hmax), dh = Math.ceil((H * c.v) / f.vmax);
  const hx = f.hmax / c.h, vx = f.vmax / c.v;
  const at = (x: number, y: number) => samples[y * sw + x]!;
  if (hx === 1 && vx === 1) {
    for (let y = 0; y < H; y++) out.set(samples.subarray(y * sw, y * sw + W), y * W);
  } else if (hx === 2 && (vx === 1 || vx === 2) && dw <= 2) {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = at(x >> 1, vx === 2 ? y >> 1 : y);
  } else if (hx === 2 && vx === 1) { // h2v1_fancy_upsample
    const row = new Uint8Array(2 * dw);
    for (let y = 0; y < H; y++) {
      row[0] = at(0, y);
      row[1] = (at(0, y) * 3 + at(1, y) + 2) >> 2;
      for (let x = 1; x < dw - 1; x++) {
        const v3 = at(x, y) * 3;
        row[2 * x] = (v3 + at(x - 1, y) + 1) >> 2;
        row[2 * x + 1] = (v3 + at(x + 1, y) + 2) >> 2;
      }
      row[2 * dw - 2] = (at(dw - 1, y) * 3 + at(dw - 2, y) + 1) >> 2;
      row[2 * dw - 1] = at(dw - 1, y);
      out.set(row.subarray(0, W), y * W);
    }
  } else if (hx === 2 && vx === 2) { // h2v2_fancy_upsample; context rows duplicate the first / last real row
    const row = new Uint8Array(2 * dw);
    for (let y = 0; y < H; y++) {
      const iy = y >> 1, other = Math.min(dh - 1, Math.max(0, (y & 1) === 0 ? iy - 1 : iy + 1));
      const colsum = (x: number) => at(x, iy) * 3 + at(x, other);
      let last = colsum(0), cur = last, next = colsum(1);
      row[0] = (cur * 4 + 8) >> 4;
      row[1] = (cur * 3 + next + 7) >> 4;
      last = cur; cur = next;
      for (let x = 1; x < dw - 1; x++) {
        next = colsum(x + 1);
        row[2 * x] = (cur * 3 + last + 8) >> 4;
        row[2 * x + 1] = (cur * 3 + next + 7) >> 4;
        last = cur; cur = next;
      }
      row[2 * dw - 2] = (cur * 3 + last + 8) >> 4;
      row[2 * dw - 1] = (cur * 4 + 7) >> 4;
      out.set(row.subarray(0, W), y * W);
    }
  } else if (hx === 1 && vx === 2) { // h1v2_fancy_upsample (4:4:0); same context rows as 2h2v
    for (let y = 0; y < H; y++) {
      const iy = y >> 1, upper = (y & 1) === 0;
      const other = Math.min(dh - 1, Math.max(0, upper ? iy - 1 : iy + 1)), bias = upper ? 1 : 2;
      const near = iy * sw, far = other * sw, o = y * W;
      for (let x = 0; x < W; x++) out[o + x] = (samples[near + x]! * 3 + samples[far + x]! + bias) >> 2;
    }
  } else if (Number.isInteger(hx) && Number.isInteger(vx)) { // int_upsample: replication
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = at(Math.floor(x / hx), Math.floor(y / vx));
  } else {
    fail(`component sampling ${c.h}x${c.v} against ${f.hmax}x${f.vmax} is not supported`);
  }
  return out;
}

// jdcolor.c: YCbCr -> RGB with 16-bit fixed-point tables.
const SCALEBITS = 16, ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256), CB_B = new Int32Array(256), CR_G = new Int32Array(256), CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

/** Whether the port must decode a JPEG with these sampling factors ([h, v] per component). */
export function jpegNeedsPort(sampling: readonly (readonly [number, number])[]): boolean {
  if (sampling.length === 4) return true;
  const hmax = Math.max(...sampling.map(([h]) => h)), vmax = Math.max(...sampling.map(([, v]) => v));
  return sampling.length === 3 && sampling.some(([h, v]) => hmax === h && vmax === 2 * v);
}

/**
 * Decodes a 3-component (YCbCr or RGB) or 4-component (CMYK) JPEG to RGB as Pillow does (`Image.open`,
 * then `convert("RGB")` for CMYK).
 * @throws ImageError for YCCK, unsupported layouts and corrupt or truncated data
 */
export function portJpegToRgb(bytes: Uint8Array, name?: string): RgbImage {
  const fail = (why: string): never => { throw new ImageError(named(name, `JPEG: ${why}.`)); };
  const f = readFrame(bytes, fail);
  const nc = f.components.length;
  if (nc !== 3 && nc !== 4) fail(`expected 3 or 4 components, found ${nc}`);
  const n = f.width * f.height, rgb = new Uint8Array(n * 3);
  if (nc === 4) {
    if (f.adobeTransform === 2) fail('YCCK (Adobe transform 2) is not supported; save the image as RGB or plain CMYK');
    if (f.adobeTransform !== undefined && f.adobeTransform !== 0) fail(`unknown Adobe colour transform ${f.adobeTransform}`);
    const [cp, mp, yp, kp] = f.components.map((c) => componentPlane(f, c, fail)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    // Pillow: raw mode "CMYK;I" inverts the samples, then cmyk2rgb: nk = 255 - k, v = nk - nk·x/255 (rounded),
    // where nk is the stored K sample (255 - (255 - k)) and x = 255 - the stored sample: by table, [nk][sample].
    const t = cmykTable();
    for (let i = 0, o = 0; i < n; i++, o += 3) {
      const row = kp[i]! << 8;
      rgb[o] = t[row | cp[i]!]!;
      rgb[o + 1] = t[row | mp[i]!]!;
      rgb[o + 2] = t[row | yp[i]!]!;
    }
    return { width: f.width, height: f.height, data: rgb };
  }
  const ids = f.components.map((c) => c.id);
  const isRgb = !f.jfif && (f.adobeTransform !== undefined ? f.adobeTransform === 0 : ids[0] === 82 && ids[1] === 71 && ids[2] === 66);
  const [p0, p1, p2] = f.components.map((c) => componentPlane(f, c, fail)) as [Uint8Array, Uint8Array, Uint8Array];
  if (isRgb) {
    for (let i = 0; i < n; i++) { rgb[3 * i] = p0[i]!; rgb[3 * i + 1] = p1[i]!; rgb[3 * i + 2] = p2[i]!; }
    return { width: f.width, height: f.height, data: rgb };
  }
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    const y = p0[i]!, cb = p1[i]!, cr = p2[i]!;
    const r = y + CR_R[cr]!, g = y + ((CB_G[cb]! + CR_G[cr]!) >> SCALEBITS), b = y + CB_B[cb]!;
    rgb[o] = r < 0 ? 0 : r > 255 ? 255 : r; // Uint8Array stores wrap, so clamp first
    rgb[o + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
    rgb[o + 2] = b < 0 ? 0 : b > 255 ? 255 : b;
  }
  return { width: f.width, height: f.height, data: rgb };
}
