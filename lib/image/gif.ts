/**
 * GIF decoding with Pillow 9.4's semantics: `Image.open` gives the *first* frame, then
 * `convert("RGB")` maps palette indices to colours (transparency ignored, as for PNG).
 * - The canvas is the logical screen, grown to hold the first frame if it reaches past it; pixels
 *   outside the frame are the transparent index when the frame has one, else index 0.
 * - Colours come from the frame's local table, else the global one; without either, index i is gray
 *   (i, i, i), as are indices past the end of a table (Pillow's default palette).
 * - Data that ends before the frame is complete is an error ("image file is truncated" in Pillow);
 *   bytes after it are not read. Animated files decode to their first frame, as in Pillow.
 *
 * Written here because the format is small (LZW plus a block structure) and exact by nature; an npm
 * decoder would add a dependency for ~150 lines, and would composite frames or apply transparency
 * differently from Pillow.
 */
import { expandPalette, ImageError, named, paletteLut, type RgbImage } from './errors.js';

/** Whether the bytes start with a GIF signature. */
export function isGif(bytes: Uint8Array): boolean {
  return bytes.length >= 6 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x38
    && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61;
}

/** The first frame's place and data, read without decoding pixels. */
export interface GifHeader {
  /** Canvas size (logical screen, grown to the first frame). */
  readonly width: number;
  readonly height: number;
  readonly frame: { readonly left: number; readonly top: number; readonly width: number; readonly height: number; readonly interlaced: boolean };
  /** RGB triplets of the colour table in use (local, else global), or undefined. */
  readonly palette?: Uint8Array;
  readonly transparent?: number;
  readonly minCodeSize: number;
  /** Offset of the first data sub-block of the frame. */
  readonly dataOffset: number;
}

const u16 = (b: Uint8Array, p: number): number => b[p]! | (b[p + 1]! << 8);

/** Walks the blocks up to the first image descriptor. Throws ImageError when the structure is broken. */
export function readGifHeader(bytes: Uint8Array, name?: string): GifHeader {
  const fail = (why: string): never => { throw new ImageError(named(name, `not a valid GIF file (${why}).`)); };
  const truncated = (): never => { throw new ImageError(named(name, 'GIF file is truncated before its first frame.')); };
  if (!isGif(bytes)) fail('bad signature');
  if (bytes.length < 13) truncated();
  let width = u16(bytes, 6), height = u16(bytes, 8);
  const flags = bytes[10]!;
  let p = 13;
  let global: Uint8Array | undefined;
  if (flags & 0x80) {
    const n = 3 << ((flags & 7) + 1);
    if (p + n > bytes.length) truncated();
    global = bytes.subarray(p, p + n);
    p += n;
  }
  let transparent: number | undefined;
  for (;;) {
    if (p >= bytes.length) truncated();
    const block = bytes[p++]!;
    if (block === 0x3b) fail('no image in the file');
    if (block === 0x21) {
      if (p >= bytes.length) truncated();
      const label = bytes[p++]!;
      let first = true;
      for (;;) { // data sub-blocks
        if (p >= bytes.length) truncated();
        const n = bytes[p++]!;
        if (n === 0) break;
        if (p + n > bytes.length) truncated();
        if (label === 0xf9 && first && n >= 4) transparent = bytes[p]! & 1 ? bytes[p + 3] : undefined;
        first = false;
        p += n;
      }
      continue;
    }
    if (block !== 0x2c) fail(`unknown block 0x${block.toString(16)} at byte ${p - 1}`);
    if (p + 9 > bytes.length) truncated();
    const frame = { left: u16(bytes, p), top: u16(bytes, p + 2), width: u16(bytes, p + 4), height: u16(bytes, p + 6), interlaced: (bytes[p + 8]! & 0x40) !== 0 };
    const local = bytes[p + 8]!;
    p += 9;
    let palette = global;
    if (local & 0x80) {
      const n = 3 << ((local & 7) + 1);
      if (p + n > bytes.length) truncated();
      palette = bytes.subarray(p, p + n);
      p += n;
    }
    if (p >= bytes.length) truncated();
    const minCodeSize = bytes[p++]!;
    if (minCodeSize < 1 || minCodeSize > 11) fail(`LZW code size ${minCodeSize}`);
    if (!frame.width || !frame.height) fail(`empty first frame (${frame.width}x${frame.height})`);
    width = Math.max(width, frame.left + frame.width);
    height = Math.max(height, frame.top + frame.height);
    return { width, height, frame, ...(palette ? { palette } : {}), ...(transparent !== undefined ? { transparent } : {}), minCodeSize, dataOffset: p };
  }
}

/** Decodes the first frame's LZW data into `frame.width × frame.height` indices (row order as stored). */
function lzw(bytes: Uint8Array, h: GifHeader, fail: (why: string) => never): Uint8Array {
  const total = h.frame.width * h.frame.height;
  const out = new Uint8Array(total);
  const clear = 1 << h.minCodeSize, eoi = clear + 1;
  // String table: each code is a prefix code plus one final index; `first` is the string's first index.
  const prefix = new Int16Array(4096).fill(-1), suffix = new Uint8Array(4096), first = new Uint8Array(4096);
  for (let i = 0; i < clear; i++) { suffix[i] = i; first[i] = i; }
  const stack = new Uint8Array(4096);
  let size = h.minCodeSize + 1, next = eoi + 1, prev = -1;
  let n = 0, bits = 0, acc = 0, p = h.dataOffset, blockEnd = p;
  while (n < total) {
    while (bits < size) { // refill from the data sub-blocks
      if (p >= blockEnd) {
        if (p >= bytes.length || bytes[p] === 0) fail('GIF file is truncated (image data ends before the last row)');
        blockEnd = Math.min(bytes.length, p + 1 + bytes[p]!);
        p++;
        continue;
      }
      acc |= bytes[p++]! << bits;
      bits += 8;
    }
    const code = acc & ((1 << size) - 1);
    acc >>>= size;
    bits -= size;
    if (code === clear) {
      size = h.minCodeSize + 1; next = eoi + 1; prev = -1;
      continue;
    }
    if (code === eoi) break;
    if (prev < 0) {
      if (code >= clear) fail('corrupt GIF image data');
      out[n++] = code; // a root code is its own one-index string (n < total here)
      prev = code;
      continue;
    }
    if (code > next || (code === next && next >= 4096)) fail('corrupt GIF image data');
    if (next < 4096) { // the new entry: prev's string plus the first index of this code's string
      prefix[next] = prev;
      suffix[next] = code === next ? first[prev]! : first[code]!;
      first[next] = first[prev]!;
      next++;
      if (next === 1 << size && size < 12) size++;
    }
    // The string of `code`, written last index first straight into place (inlined: a closure that
    // updated `n` kept it in a context slot, several times slower). Clipped at the end of the image.
    let len = 1;
    for (let x = prefix[code]!; x >= 0; x = prefix[x]!) len++;
    let end = n + len;
    let x = code;
    while (end > total) { end--; x = prefix[x]!; } // indices past the end are dropped
    for (let q = end - 1; q >= n; q--) { out[q] = suffix[x]!; x = prefix[x]!; }
    n = end;
    prev = code;
  }
  if (n < total) fail('GIF file is truncated (image data ends before the last row)');
  return out;
}

/** Decodes the first frame to 8-bit RGB on its canvas, as Pillow's `open` + `convert("RGB")`. */
export function decodeGif(bytes: Uint8Array, h: GifHeader, name?: string): RgbImage {
  const fail = (why: string): never => { throw new ImageError(named(name, why.startsWith('GIF') ? `${why}.` : `not a valid GIF file (${why}).`)); };
  const idx = lzw(bytes, h, fail);
  const { width, height, frame } = h;
  const canvas = new Uint8Array(width * height).fill(h.transparent ?? 0);
  // Interlaced rows come in four passes: every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd from 1.
  const rowOrder: number[] = [];
  if (frame.interlaced) {
    for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]] as const) for (let y = start; y < frame.height; y += step) rowOrder.push(y);
  } else {
    for (let y = 0; y < frame.height; y++) rowOrder.push(y);
  }
  rowOrder.forEach((y, r) => {
    canvas.set(idx.subarray(r * frame.width, (r + 1) * frame.width), (frame.top + y) * width + frame.left);
  });
  const rgb = new Uint8Array(width * height * 3);
  expandPalette(canvas, 0, canvas.length, paletteLut(h.palette), rgb, 0);
  return { width, height, data: rgb };
}
