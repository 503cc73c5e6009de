/**
 * Error and image types of the image pipeline, and the pixel conversions the decoders share (RGBA to
 * RGB, palettes, CMYK). The errors' `name` is what the CLI uses to print them as one short paragraph
 * without a stack trace (see lib/cli/main.ts `isKnownError`).
 */

/** An image could not be read: empty, truncated, corrupt, unsupported or too large. */
export class ImageError extends Error {
  override name = 'ImageError';
  constructor(message: string) {
    super(message);
  }
}

/** Prefixes a message with the image's name when one is known. */
export function named(name: string | undefined, message: string): string {
  return name ? `${name}: ${message}` : message;
}

/** A decoded 8-bit RGB image, row-major HWC (`data.length === width * height * 3`). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/**
 * RGBA (or RGBX) pixels as an RgbImage, alpha dropped (never composited), as Pillow's `convert("RGB")`.
 * Byte arrays (Uint8Array, Uint8ClampedArray: what the WebAssembly decoders return) are read through one
 * Uint8Array view, so the copy loop sees a single array type (a loop over a mix of array types is several
 * times slower in V8).
 */
export function rgbFromRgba(rgba: ArrayLike<number>, width: number, height: number): RgbImage {
  const n = width * height, rgb = new Uint8Array(n * 3);
  if (ArrayBuffer.isView(rgba) && (rgba as unknown as Uint8Array).BYTES_PER_ELEMENT === 1) {
    const v = rgba as unknown as Uint8Array;
    copyRgbaToRgb(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), rgb, n);
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      rgb[i * 3] = rgba[j]!;
      rgb[i * 3 + 1] = rgba[j + 1]!;
      rgb[i * 3 + 2] = rgba[j + 2]!;
    }
  }
  return { width, height, data: rgb };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Drops every fourth byte. On little-endian hosts with a 4-byte-aligned source, four pixels (four 32-bit
 * loads) become three 32-bit stores: about twice as fast as byte copies. `rgb` must start its buffer.
 */
function copyRgbaToRgb(src: Uint8Array, rgb: Uint8Array, n: number): void {
  let i = 0;
  if (LITTLE_ENDIAN && src.byteOffset % 4 === 0 && src.byteLength >= 4 * n && rgb.byteOffset === 0) {
    const u = new Uint32Array(src.buffer, src.byteOffset, n);
    const w = new Uint32Array(rgb.buffer, 0, (n >> 2) * 3);
    for (let o = 0; i + 3 < n; i += 4, o += 3) {
      const p0 = u[i]!, p1 = u[i + 1]!, p2 = u[i + 2]!, p3 = u[i + 3]!;
      w[o] = (p0 & 0xffffff) | (p1 << 24);
      w[o + 1] = ((p1 >>> 8) & 0xffff) | (p2 << 16);
      w[o + 2] = ((p2 >>> 16) & 0xff) | (p3 << 8);
    }
  }
  for (let j = i * 4, o = i * 3; i < n; i++, j += 4, o += 3) {
    rgb[o] = src[j]!;
    rgb[o + 1] = src[j + 1]!;
    rgb[o + 2] = src[j + 2]!;
  }
}

/**
 * The RGB colour of every 8-bit index (768 bytes): entry i of `palette` (RGB triples) while the palette
 * has one, gray (i, i, i) past its end, as Pillow's default palette fills the rest. Expanding indices
 * through it is one table read per pixel instead of a bounds test.
 */
export function paletteLut(palette: Uint8Array | undefined): Uint8Array {
  const lut = new Uint8Array(768);
  const entries = palette ? Math.min(256, Math.floor(palette.length / 3)) : 0;
  for (let i = 0; i < 256; i++) {
    if (i < entries) { lut[3 * i] = palette![3 * i]!; lut[3 * i + 1] = palette![3 * i + 1]!; lut[3 * i + 2] = palette![3 * i + 2]!; }
    else { lut[3 * i] = i; lut[3 * i + 1] = i; lut[3 * i + 2] = i; }
  }
  return lut;
}

/** Writes the colours of `count` indices `idx[from…]` through a {@link paletteLut} to `rgb` from byte `o`. */
export function expandPalette(idx: Uint8Array, from: number, count: number, lut: Uint8Array, rgb: Uint8Array, o: number): void {
  for (let i = from, end = from + count; i < end; i++, o += 3) {
    const q = idx[i]! * 3;
    rgb[o] = lut[q]!;
    rgb[o + 1] = lut[q + 1]!;
    rgb[o + 2] = lut[q + 2]!;
  }
}

let cmykLut: Uint8Array | undefined;
/**
 * Pillow's `cmyk2rgb` by table: nk - MULDIV255(255 - x, nk) at [nk << 8 | x], where nk = 255 - K and x is the
 * inverted ink (255 - C, M or Y), as an Adobe CMYK JPEG stores them; built on first use (64 KiB).
 */
export function cmykTable(): Uint8Array {
  if (!cmykLut) {
    cmykLut = new Uint8Array(65536);
    for (let nk = 0; nk < 256; nk++) for (let x = 0; x < 256; x++) cmykLut[(nk << 8) | x] = nk - muldiv255(255 - x, nk);
  }
  return cmykLut;
}

/** Pillow's MULDIV255: a·b/255 rounded with integer arithmetic. */
function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}
