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

/** Bytes per value of the TIFF field types Pillow reads (others are skipped, as Pillow skips them). */
const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8 };

/**
 * Reads the orientation tag (1…8) from an EXIF block as Pillow 9.4's `Exif` does (measured against it):
 * every IFD0 entry is read in order and a later 0x0112 entry replaces an earlier one; entries of an
 * unknown type, with count 0 or with data outside the block are skipped; entries after a truncation are
 * lost but those before it stay; the first value of a numeric entry of any type counts (SHORT, LONG,
 * signed, RATIONAL 12/2, FLOAT 6.0 ...) and rotates when it equals an integer 2…8, while a BYTE, ASCII or
 * UNDEFINED entry (read as bytes / text) never does.
 * @param block TIFF bytes, optionally preceded by "Exif\0\0"
 * @returns the orientation, or 1 when absent, out of range or unreadable
 */
export function exifOrientation(block: Uint8Array): number {
  return exifOrientationEntry(block) ?? 1;
}

/**
 * Like {@link exifOrientation}, but undefined when the block has no orientation entry Pillow would
 * record (Pillow then looks for an XMP orientation in a PNG: png-meta.ts); 1 for an entry whose value
 * does not rotate.
 */
export function exifOrientationEntry(block: Uint8Array): number | undefined {
  let t = block;
  if (t.length >= 6 && EXIF_PREFIX.every((b, i) => t[i] === b)) t = t.subarray(6);
  if (t.length < 8) return undefined;
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  let le: boolean;
  if (t[0] === 0x49 && t[1] === 0x49) le = true; // "II"
  else if (t[0] === 0x4d && t[1] === 0x4d) le = false; // "MM"
  else return undefined;
  if (dv.getUint16(2, le) !== 42) return undefined;
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > t.length) return undefined;
  const count = dv.getUint16(ifd, le);
  let value: number | undefined;
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    if (e + 12 > t.length) break; // Pillow keeps the entries read before a truncation
    if (dv.getUint16(e, le) !== 0x0112) continue;
    const type = dv.getUint16(e + 2, le);
    const n = dv.getUint32(e + 4, le);
    const unit = TYPE_SIZE[type];
    if (unit === undefined || n === 0) continue;
    const size = unit * n;
    const at = size > 4 ? dv.getUint32(e + 8, le) : e + 8;
    if (at + size > t.length) continue;
    value = fieldValue(dv, type, at, le);
  }
  if (value === undefined) return undefined;
  return Number.isInteger(value) && value >= 1 && value <= 8 ? value : 1;
}

/** The first value of a TIFF field as a number; NaN for the byte / text types. */
function fieldValue(dv: DataView, type: number, at: number, le: boolean): number {
  switch (type) {
    case 3: return dv.getUint16(at, le);
    case 4: case 13: return dv.getUint32(at, le);
    case 6: return dv.getInt8(at);
    case 8: return dv.getInt16(at, le);
    case 9: return dv.getInt32(at, le);
    case 11: return dv.getFloat32(at, le);
    case 12: return dv.getFloat64(at, le);
    case 16: return Number(dv.getBigUint64(at, le));
    case 5: return dv.getUint32(at, le) / dv.getUint32(at + 4, le); // x/0: NaN or Infinity, never 2…8
    case 10: return dv.getInt32(at, le) / dv.getInt32(at + 4, le);
    default: return Number.NaN; // BYTE, ASCII, UNDEFINED
  }
}

/** Bytes from which {@link applyOrientation} calls the installed accelerator (below, the call costs more). */
const ORIENT_NATIVE_MIN = 1 << 16;
let orientAccelerator: ((src: Uint8Array, w: number, h: number, c: number, orientation: number, out: Uint8Array) => void) | undefined;

/**
 * Installs (or with undefined removes) a faster {@link applyOrientation} for large images (Node: the addon's
 * tiled copy on its thread pool, the same permutation of pixels); returns the previous one.
 */
export function setOrientationAccelerator(
  a: ((src: Uint8Array, w: number, h: number, c: number, orientation: number, out: Uint8Array) => void) | undefined,
): typeof orientAccelerator {
  const previous = orientAccelerator;
  orientAccelerator = a;
  return previous;
}

/**
 * Returns `img` transposed as EXIF `orientation` prescribes (a new image; `img` itself when the
 * orientation is 1 or unknown). Works for any channel count that divides the data length.
 * One pass: output row y reads the source from pixel `first(y)` in steps of `step` pixels (±1 along a
 * source row, ±W down a column); the rotations (5–8) go tile by tile so that both the rows written and
 * the columns read stay in cache.
 */
export function applyOrientation<T extends RgbImage>(img: T, orientation: number): RgbImage {
  if (!Number.isInteger(orientation) || orientation < 2 || orientation > 8) return img;
  const { width: W, height: H, data } = img;
  const C = data.length / (W * H);
  const swap = orientation >= 5;
  const ow = swap ? H : W;
  const oh = swap ? W : H;
  const out = new Uint8Array(data.length);
  if (orientAccelerator && Number.isInteger(C) && C <= 16 && data.length >= ORIENT_NATIVE_MIN) {
    orientAccelerator(data, W, H, C, orientation, out);
    return { width: ow, height: oh, data: out };
  }
  // src(x, y) = first(y) + x * step gives the input pixel shown at output (x, y), per Pillow's transpose definitions:
  // 2 y*W + (W-1-x), 3 (H-1-y)*W + (W-1-x), 4 (H-1-y)*W + x, 5 x*W + y, 6 (H-1-x)*W + y, 7 (H-1-x)*W + (W-1-y), 8 x*W + (W-1-y).
  let first0: number, firstDy: number, step: number;
  switch (orientation) {
    case 2: first0 = W - 1; firstDy = W; step = -1; break;
    case 3: first0 = (H - 1) * W + W - 1; firstDy = -W; step = -1; break;
    case 4: first0 = (H - 1) * W; firstDy = -W; step = 1; break;
    case 5: first0 = 0; firstDy = 1; step = W; break;
    case 6: first0 = (H - 1) * W; firstDy = 1; step = -W; break;
    case 7: first0 = (H - 1) * W + W - 1; firstDy = -1; step = -W; break;
    default: first0 = W - 1; firstDy = -1; step = W; break; // 8
  }
  const tile = swap ? 64 : ow; // a whole row at a time when the source is read along its rows
  for (let ty = 0; ty < oh; ty += tile) {
    const yEnd = Math.min(oh, ty + tile);
    for (let tx = 0; tx < ow; tx += tile) {
      const xEnd = Math.min(ow, tx + tile);
      if (C === 3) copyRun3(data, out, first0, firstDy, step, ow, ty, yEnd, tx, xEnd);
      else copyRun(data, out, C, first0, firstDy, step, ow, ty, yEnd, tx, xEnd);
    }
  }
  return { width: ow, height: oh, data: out };
}

/** The output block [tx, xEnd) x [ty, yEnd) of an RGB transpose (see applyOrientation). */
function copyRun3(data: Uint8Array, out: Uint8Array, first0: number, firstDy: number, step: number, ow: number,
  ty: number, yEnd: number, tx: number, xEnd: number): void {
  const ds = step * 3;
  for (let y = ty; y < yEnd; y++) {
    let s = (first0 + y * firstDy + tx * step) * 3;
    for (let x = tx, o = (y * ow + tx) * 3; x < xEnd; x++, o += 3, s += ds) {
      out[o] = data[s]!;
      out[o + 1] = data[s + 1]!;
      out[o + 2] = data[s + 2]!;
    }
  }
}

/** {@link copyRun3} for any channel count. */
function copyRun(data: Uint8Array, out: Uint8Array, C: number, first0: number, firstDy: number, step: number, ow: number,
  ty: number, yEnd: number, tx: number, xEnd: number): void {
  const ds = step * C;
  for (let y = ty; y < yEnd; y++) {
    let s = (first0 + y * firstDy + tx * step) * C;
    for (let x = tx, o = (y * ow + tx) * C; x < xEnd; x++, s += ds) {
      for (let c = 0; c < C; c++) out[o++] = data[s + c]!;
    }
  }
}
