/**
 * BMP decoding with Pillow 9.4's semantics (`BmpImagePlugin`, then `convert("RGB")`):
 * - headers of 12 (OS/2 v1), 40, 64, 108 and 124 bytes; bottom-up rows, or top-down when the height's
 *   top byte is 0xFF; rows padded to 4 bytes;
 * - 1/4/8-bit palettes (BGRX quads, BGR triplets for 12-byte headers; `colors` entries, else 2^bits;
 *   indices past the table are gray (i, i, i)), RLE8 and RLE4 as Pillow's own RLE decoder reads them;
 * - 16-bit 5-5-5 (also without BITFIELDS) and 5-6-5, channels scaled as v·255 / max (truncated);
 *   24-bit; 32-bit with the BITFIELDS layouts Pillow accepts (alpha dropped); other masks are refused,
 *   as in Pillow.
 * Written here because it is a small, exact format; the RLE and mask rules are Pillow's own, which no
 * general-purpose decoder follows.
 */
import { expandPalette, ImageError, named, paletteLut, type RgbImage } from './errors.js';

/** Whether the bytes start like a BMP file ("BM"). */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

export interface BmpHeader {
  readonly width: number;
  readonly height: number;
  readonly bits: number;
  readonly compression: number;
  readonly topDown: boolean;
  /** Offset of the pixel data. */
  readonly dataOffset: number;
  /** RGB triplets of the colour table (1/4/8-bit images). */
  readonly palette?: Uint8Array;
  /** 32/24/16-bit channel masks (BITFIELDS), or the implied ones. */
  readonly masks?: readonly [number, number, number];
}

const u16 = (b: Uint8Array, p: number): number => b[p]! | (b[p + 1]! << 8);
const u32 = (b: Uint8Array, p: number): number => (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;

/** The 32-bit BITFIELDS layouts Pillow 9.4 reads (R, G, B, A masks); alpha is dropped. */
const MASKS_32: readonly (readonly [number, number, number, number])[] = [
  [0xff0000, 0xff00, 0xff, 0], [0xff000000, 0xff0000, 0xff00, 0], [0xff000000, 0xff0000, 0xff00, 0xff],
  [0xff, 0xff00, 0xff0000, 0xff000000], [0xff0000, 0xff00, 0xff, 0xff000000], [0, 0, 0, 0],
];
const MASKS_16: readonly (readonly [number, number, number])[] = [[0xf800, 0x7e0, 0x1f], [0x7c00, 0x3e0, 0x1f]];

/** Reads the headers and the colour table. Throws ImageError for what Pillow refuses or cannot read. */
export function readBmpHeader(bytes: Uint8Array, name?: string): BmpHeader {
  const fail = (why: string): never => { throw new ImageError(named(name, `not a supported BMP file (${why}).`)); };
  const truncated = (): never => { throw new ImageError(named(name, 'BMP file is truncated in its headers.')); };
  if (!isBmp(bytes)) fail('bad signature');
  if (bytes.length < 18) truncated();
  let dataOffset = u32(bytes, 10);
  const hs = u32(bytes, 14);
  if (![12, 40, 64, 108, 124].includes(hs)) fail(`header size ${hs}`);
  if (14 + hs > bytes.length) truncated();
  const h = 18; // header data after its size field
  let width: number, height: number, bits: number, compression = 0, colors = 0, topDown = false, pad = 4;
  let masks: [number, number, number] | undefined;
  let rgba: [number, number, number, number] | undefined;
  let p = 14 + hs;
  if (hs === 12) {
    width = u16(bytes, h); height = u16(bytes, h + 2); bits = u16(bytes, h + 6); pad = 3;
  } else {
    topDown = bytes[h + 7] === 0xff;
    width = u32(bytes, h);
    height = topDown ? 2 ** 32 - u32(bytes, h + 4) : u32(bytes, h + 4);
    bits = u16(bytes, h + 10);
    compression = u32(bytes, h + 12);
    colors = u32(bytes, h + 28);
    if (compression === 3) {
      if (hs >= 52) {
        rgba = [u32(bytes, h + 36), u32(bytes, h + 40), u32(bytes, h + 44), u32(bytes, h + 48)];
      } else {
        if (p + 12 > bytes.length) truncated();
        rgba = [u32(bytes, p), u32(bytes, p + 4), u32(bytes, p + 8), 0];
        p += 12;
      }
    }
  }
  if (!colors) colors = 2 ** bits;
  if (dataOffset === 14 + hs && bits <= 8) dataOffset += 4 * colors; // Pillow's rule for an offset that skips no palette
  if (![1, 4, 8, 16, 24, 32].includes(bits)) fail(`pixel depth ${bits}`);
  if (compression === 3) {
    const [r, g, b, a] = rgba!;
    const same = (m: readonly number[]) => m[0] === r && m[1] === g && m[2] === b && (m.length === 3 || m[3] === a);
    if (bits === 32 && MASKS_32.some(same)) masks = r || g || b ? [r, g, b] : [0xff0000, 0xff00, 0xff];
    else if (bits === 16 && MASKS_16.some(same)) masks = [r, g, b];
    else if (bits === 24 && same([0xff0000, 0xff00, 0xff])) masks = [r, g, b];
    else fail('unsupported bitfields layout');
  } else if (compression === 0) {
    if (bits === 16) masks = [0x7c00, 0x3e0, 0x1f];
    if (bits === 32 || bits === 24) masks = [0xff0000, 0xff00, 0xff];
  } else if (compression === 1 || compression === 2) {
    if (bits > 8) fail(`RLE with ${bits} bits per pixel`);
  } else {
    fail(`compression ${compression}`);
  }
  let palette: Uint8Array | undefined;
  if (bits <= 8) {
    if (!(colors > 0 && colors <= 65536)) fail(`palette size ${colors}`);
    const n = Math.min(colors, 256);
    palette = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const q = p + pad * i;
      if (q + 3 > bytes.length) break; // a short read leaves the rest of the table unset (gray), as Pillow's does
      palette[3 * i] = bytes[q + 2]!; palette[3 * i + 1] = bytes[q + 1]!; palette[3 * i + 2] = bytes[q]!;
    }
  }
  if (!width || !height) fail(`image size ${width}x${height}`);
  return { width, height, bits, compression, topDown, dataOffset, ...(palette ? { palette } : {}), ...(masks ? { masks } : {}) };
}

/** Pillow's BmpRleDecoder: palette indices in bottom-up row order, or undefined when too short. */
function rle(bytes: Uint8Array, h: BmpHeader): Uint8Array | undefined {
  const rle4 = h.compression === 2, xs = h.width, total = xs * h.height;
  const data = new Uint8Array(total);
  let n = 0, x = 0, p = h.dataOffset;
  const push = (v: number) => { if (n < total) data[n] = v; n++; };
  while (n < total) {
    if (p + 2 > bytes.length) break;
    const count = bytes[p]!, byte = bytes[p + 1]!;
    p += 2;
    if (count) { // encoded run, clipped at the end of the row
      const run = x + count > xs ? Math.max(0, xs - x) : count;
      for (let i = 0; i < run; i++) push(rle4 ? (i % 2 === 0 ? byte >> 4 : byte & 15) : byte);
      x += run;
    } else if (byte === 0) { // end of line
      while (n % xs !== 0) push(0);
      x = 0;
    } else if (byte === 1) { // end of bitmap
      break;
    } else if (byte === 2) { // delta: Pillow reads two bytes, then the offsets from the next two
      if (p + 2 > bytes.length) break;
      p += 2;
      if (p + 2 > bytes.length) return undefined;
      const right = bytes[p]!, up = bytes[p + 1]!;
      p += 2;
      for (let i = 0; i < right + up * xs; i++) push(0);
      x = n % xs;
    } else { // absolute mode
      const want = rle4 ? byte >> 1 : byte;
      const got = Math.min(want, bytes.length - p);
      for (let i = 0; i < got; i++) {
        const v = bytes[p + i]!;
        if (rle4) { push(v >> 4); push(v & 15); } else push(v);
      }
      p += got;
      if (got < want) break;
      x += byte;
      if (p % 2 !== 0) p++; // word alignment, counted from the start of the file
    }
  }
  return n >= total ? data : undefined;
}

/** Decodes to 8-bit RGB as Pillow's `open` + `convert("RGB")`. */
export function decodeBmp(bytes: Uint8Array, h: BmpHeader, name?: string): RgbImage {
  const { width, height, bits } = h;
  const rgb = new Uint8Array(width * height * 3);
  // Palette colours as Pillow's convert gives them: the table's entries, gray (i, i, i) past its end.
  const lut = bits <= 8 ? paletteLut(h.palette) : undefined;
  if (h.compression === 1 || h.compression === 2) {
    const idx = rle(bytes, h);
    if (!idx) throw new ImageError(named(name, 'BMP file is truncated or corrupt (not enough RLE image data).'));
    for (let r = 0; r < height; r++) {
      const y = h.topDown ? r : height - 1 - r;
      expandPalette(idx, r * width, width, lut!, rgb, y * width * 3);
    }
    return { width, height, data: rgb };
  }
  const stride = ((width * bits + 31) >>> 3) & ~3;
  if (h.dataOffset + stride * height > bytes.length) {
    throw new ImageError(named(name, `BMP file is truncated (${bytes.length - h.dataOffset} bytes of pixel data; ${width}x${height} needs ${stride * height}).`));
  }
  // Channel extraction for masked pixels: shift to the mask's low bit, scale v·255/max (truncated).
  const channels = h.masks?.map((m) => {
    const shift = m ? 31 - Math.clz32(m & -m) : 0, max = m ? m >>> shift : 1;
    return { m, shift, max };
  });
  const src = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength); // one array type for the row loops
  if (bits === 8 || (bits === 24 && isBgr(channels!))) { // the common layouts: one plain loop a row
    for (let r = 0; r < height; r++) {
      const y = h.topDown ? r : height - 1 - r;
      const row = h.dataOffset + r * stride;
      if (bits === 8) expandPalette(src, row, width, lut!, rgb, y * width * 3);
      else bgrRow(src, row, width, rgb, y * width * 3);
    }
    return { width, height, data: rgb };
  }
  for (let r = 0; r < height; r++) {
    const y = h.topDown ? r : height - 1 - r;
    const row = h.dataOffset + r * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (bits <= 8) {
        const bit = x * bits;
        const q = ((bytes[row + (bit >> 3)]! >> (8 - bits - (bit & 7))) & ((1 << bits) - 1)) * 3;
        rgb[o] = lut![q]!; rgb[o + 1] = lut![q + 1]!; rgb[o + 2] = lut![q + 2]!;
        continue;
      }
      const q = row + x * (bits >> 3);
      const v = bits === 16 ? u16(bytes, q) : bits === 24 ? bytes[q]! | (bytes[q + 1]! << 8) | (bytes[q + 2]! << 16) : u32(bytes, q);
      for (let c = 0; c < 3; c++) {
        const { m, shift, max } = channels![c]!;
        const s = ((v & m) >>> shift) >>> 0;
        rgb[o + c] = max === 255 ? s : Math.floor((s * 255) / max);
      }
    }
  }
  return { width, height, data: rgb };
}

/** Whether the masks are the plain 8-bit B, G, R bytes of a 24-bit pixel (every 24-bit file Pillow reads). */
function isBgr(channels: readonly { m: number; shift: number; max: number }[]): boolean {
  return channels[0]!.m === 0xff0000 && channels[1]!.m === 0xff00 && channels[2]!.m === 0xff;
}

/** One row of 24-bit B, G, R pixels from `bytes[q…]` to RGB from `rgb[o]`. */
function bgrRow(bytes: Uint8Array, q: number, width: number, rgb: Uint8Array, o: number): void {
  for (let x = 0; x < width; x++, q += 3, o += 3) {
    rgb[o] = bytes[q + 2]!;
    rgb[o + 1] = bytes[q + 1]!;
    rgb[o + 2] = bytes[q]!;
  }
}
