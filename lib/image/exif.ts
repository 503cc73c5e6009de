/**
 * EXIF orientation: read tag 0x0112 from a TIFF/EXIF block (JPEG APP1 "Exif\0\0" payload or a
 * PNG eXIf chunk) and apply it the way Pillow's `ImageOps.exif_transpose` does, which is what
 * transformers' `load_image` calls before `convert("RGB")`.
 * Orientation → Pillow transpose: 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM,
 * 5 TRANSPOSE, 6 ROTATE_270 (90° clockwise), 7 TRANSVERSE, 8 ROTATE_90 (90° counter-clockwise).
 * A malformed block is treated as "no orientation", as Pillow does when it cannot read the tag.
 */
import type { RgbImage } from './errors.js';

const EXIF_PREFIX = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"

/**
 * Reads the orientation tag (1…8) from an EXIF block.
 * @param block TIFF bytes, optionally preceded by "Exif\0\0"
 * @returns the orientation, or 1 when absent, out of range or unreadable
 */
export function exifOrientation(block: Uint8Array): number {
  let t = block;
  if (t.length >= 6 && EXIF_PREFIX.every((b, i) => t[i] === b)) t = t.subarray(6);
  if (t.length < 8) return 1;
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  let le: boolean;
  if (t[0] === 0x49 && t[1] === 0x49) le = true; // "II"
  else if (t[0] === 0x4d && t[1] === 0x4d) le = false; // "MM"
  else return 1;
  if (dv.getUint16(2, le) !== 42) return 1;
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > t.length) return 1;
  const count = dv.getUint16(ifd, le);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > t.length) return 1;
    if (dv.getUint16(e, le) !== 0x0112) continue;
    const type = dv.getUint16(e + 2, le);
    // SHORT is the standard type; accept LONG too (seen in the wild, Pillow reads it as well).
    const v = type === 3 ? dv.getUint16(e + 8, le) : type === 4 ? dv.getUint32(e + 8, le) : 0;
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

/**
 * Returns `img` transposed as EXIF `orientation` prescribes (a new image; `img` itself when the
 * orientation is 1 or unknown). Works for any channel count that divides the data length.
 */
export function applyOrientation<T extends RgbImage>(img: T, orientation: number): RgbImage {
  if (orientation < 2 || orientation > 8) return img;
  const { width: W, height: H, data } = img;
  const C = data.length / (W * H);
  const swap = orientation >= 5;
  const ow = swap ? H : W;
  const oh = swap ? W : H;
  const out = new Uint8Array(data.length);
  // src(x, y) gives the input pixel shown at output (x, y), per Pillow's transpose definitions.
  const src: (x: number, y: number) => number = {
    2: (x: number, y: number) => y * W + (W - 1 - x),
    3: (x: number, y: number) => (H - 1 - y) * W + (W - 1 - x),
    4: (x: number, y: number) => (H - 1 - y) * W + x,
    5: (x: number, y: number) => x * W + y,
    6: (x: number, y: number) => (H - 1 - x) * W + y,
    7: (x: number, y: number) => (H - 1 - x) * W + (W - 1 - y),
    8: (x: number, y: number) => x * W + (W - 1 - y),
  }[orientation]!;
  let o = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const s = src(x, y) * C;
      for (let c = 0; c < C; c++) out[o++] = data[s + c];
    }
  }
  return { width: ow, height: oh, data: out };
}
