/**
 * PNG decoding to 8-bit RGB with Pillow 9.4's `open` + `convert("RGB")` semantics
 * (docs/pillow-resample.md §8–§9):
 * - alpha is dropped, never composited; gray is replicated to R, G, B;
 * - palette images use the palette colours; `tRNS` transparency is ignored;
 * - 1/2/4-bit gray is scaled to 0…255 (×255, ×85, ×17), as Pillow's unpackers do;
 * - 16-bit samples keep their high byte (v >> 8), as Pillow does for 16-bit RGB(A) and gray+alpha.
 *   16-bit *gray* also keeps the high byte here. This deliberately differs from Pillow 9.4, which
 *   opens it as mode "I" and clamps almost every pixel to 255 (a white image) on `convert("RGB")`.
 *
 * The inflate/unfilter/de-interlace work is pngjs's; `tRNS` chunks are removed before pngjs sees the
 * file because pngjs zeroes the colour of transparent gray/RGB pixels.
 */
import { PNG } from 'pngjs';
import { ImageError, named, type RgbImage } from './errors.js';

/** The PNG signature, 8 bytes. */
export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** IHDR fields plus the eXIf chunk, read without inflating anything. */
export interface PngHeader {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  readonly colorType: number;
  /** Payload of the first eXIf chunk, if any. */
  readonly exif?: Uint8Array;
}

const VALID_DEPTHS: Readonly<Record<number, readonly number[]>> = {
  0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16],
};

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) >>> 0) + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

function chunkType(b: Uint8Array, p: number): string {
  return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
}

/** One chunk of a PNG: its bytes [start, end) and payload; the last may be cut short by the end of the file. */
interface Chunk {
  readonly type: string;
  readonly start: number;
  readonly end: number;
  readonly data: Uint8Array;
  /** False when the file ends inside the chunk (end and data are then clamped to the file). */
  readonly whole: boolean;
}

/** The chunks after the signature, in file order (every walk over a PNG's chunk list goes through here). */
function* chunks(bytes: Uint8Array): Generator<Chunk> {
  for (let p = 8; p + 12 <= bytes.length;) {
    const len = u32(bytes, p);
    const end = Math.min(bytes.length, p + 12 + len);
    yield { type: chunkType(bytes, p + 4), start: p, end, data: bytes.subarray(p + 8, Math.min(bytes.length, p + 8 + len)), whole: p + 12 + len <= bytes.length };
    p = end;
  }
}

/** Reads IHDR (and eXIf) by walking the chunk list. Throws ImageError when the structure is broken. */
export function readPngHeader(bytes: Uint8Array, name?: string): PngHeader {
  const fail = (why: string): never => { throw new ImageError(named(name, `not a valid PNG file (${why}).`)); };
  if (bytes.length < 8 || !PNG_SIGNATURE.every((v, i) => bytes[i] === v)) fail('bad signature');
  if (bytes.length < 33 || chunkType(bytes, 12) !== 'IHDR' || u32(bytes, 8) !== 13) fail('missing IHDR chunk');
  const width = u32(bytes, 16);
  const height = u32(bytes, 20);
  const bitDepth = bytes[24];
  const colorType = bytes[25];
  if (width === 0 || height === 0) fail(`image size ${width}x${height}`);
  if (!VALID_DEPTHS[colorType]?.includes(bitDepth)) fail(`colour type ${colorType} with bit depth ${bitDepth}`);
  let exif: Uint8Array | undefined;
  for (const c of chunks(bytes)) {
    if (!c.whole) break; // truncation is reported by the decoder
    if (c.type === 'eXIf' && !exif) exif = c.data;
    if (c.type === 'IEND') break;
  }
  return exif ? { width, height, bitDepth, colorType, exif } : { width, height, bitDepth, colorType };
}

/** Returns the file without its tRNS chunks (other chunks and their CRCs are kept byte for byte). */
function withoutTrns(bytes: Uint8Array): Uint8Array {
  const keep: Array<[number, number]> = [];
  let last = 8;
  let removed = false;
  for (const c of chunks(bytes)) {
    if (c.type === 'tRNS') removed = true;
    else keep.push([c.start, c.end]);
    last = c.end;
  }
  if (!removed) return bytes;
  if (last < bytes.length) keep.push([last, bytes.length]);
  const out = new Uint8Array(8 + keep.reduce((s, [a, b]) => s + b - a, 0));
  out.set(bytes.subarray(0, 8));
  let o = 8;
  for (const [a, b] of keep) { out.set(bytes.subarray(a, b), o); o += b - a; }
  return out;
}

/** Tallest PNG decoded: pngjs spends ~160 bytes per row, so 89M rows (1-pixel wide) would need ~14 GB. */
export const MAX_PNG_ROWS = 1 << 20;

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

/** Bytes of filtered scanlines (one filter byte per row) that IHDR calls for, over all passes when interlaced. */
function scanlineBytes(h: PngHeader, interlaced: boolean): number {
  const bits = CHANNELS[h.colorType]! * h.bitDepth;
  const size = (w: number, rows: number): number => (w > 0 && rows > 0 ? rows * (Math.ceil((w * bits) / 8) + 1) : 0);
  if (!interlaced) return size(h.width, h.height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + size(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy)), 0);
}

/**
 * Counts the bytes a zlib stream inflates to, stopping once `limit` is reached: the count (at most
 * `limit` when the stream holds more), or undefined when the stream is corrupt.
 */
export type InflatedSizeCounter = (zlibStream: Uint8Array, limit: number) => number | undefined | Promise<number | undefined>;

/** The runtime-neutral counter: the platform's DecompressionStream (Node registers native zlib's, 4x faster). */
export async function streamInflatedSize(zlibStream: Uint8Array, limit: number): Promise<number | undefined> {
  const reader = new Blob([zlibStream as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return n;
      n += value.length;
      if (n >= limit) {
        await reader.cancel();
        return n;
      }
    }
  } catch {
    return undefined;
  }
}

let inflatedSizeCounter: InflatedSizeCounter = streamInflatedSize;

/** Replaces the counter that checks a PNG's image data against IHDR before decoding (see decodePng). */
export function setPngInflatedSizeCounter(counter: InflatedSizeCounter): void {
  inflatedSizeCounter = counter;
}

/** The IDAT payloads of a PNG, concatenated: one zlib stream. */
function idatStream(bytes: Uint8Array): Uint8Array {
  const parts = [...chunks(bytes)].filter((c) => c.type === 'IDAT').map((c) => c.data);
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let o = 0;
  for (const part of parts) { out.set(part, o); o += part.length; }
  return out;
}

/**
 * Decodes any standard PNG (all colour types and bit depths, interlaced or not) to 8-bit RGB.
 * Image data that ends before the last row is an error: pngjs's Node build would fill the missing rows
 * of a non-interlaced image from uninitialised memory. Pillow 9.4 (ZipDecode.c) raises "image file is
 * truncated" when the zlib stream ends inside a row, but when it ends exactly after a complete row it
 * returns the image with the remaining rows zero; we refuse both (a silently black part is no better).
 * Two known differences remain, both on malformed files: that zero-row case, and extra inflated bytes
 * after the last row of an *interlaced* image, which Pillow ignores and pngjs refuses.
 */
export async function decodePng(bytes: Uint8Array, header: PngHeader, name?: string): Promise<RgbImage> {
  if (header.height > MAX_PNG_ROWS) {
    throw new ImageError(named(name, `PNG image is ${header.width}x${header.height}: more than ${MAX_PNG_ROWS} rows is not supported `
      + '(the decoder keeps state per row; a 1-pixel-wide image at the pixel limit would exhaust memory).'));
  }
  const interlaced = bytes[28] === 1;
  const need = scanlineBytes(header, interlaced);
  const have = await inflatedSizeCounter(idatStream(bytes), need);
  if (have !== undefined && have < need) {
    throw new ImageError(named(name, `PNG file is truncated or corrupt (the image data inflates to ${have} bytes; `
      + `${header.width}x${header.height}${interlaced ? ' interlaced' : ''} needs ${need}).`));
  }
  let png: { width: number; height: number; data: ArrayLike<number> };
  try {
    const src = withoutTrns(bytes);
    const buf = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    png = PNG.sync.read(buf, { skipRescale: true }) as unknown as typeof png;
  } catch (e) {
    const why = (e as Error).message || String(e);
    const truncated = /end|finish|truncat|unexpected|waiting|waitng/i.test(why);
    throw new ImageError(named(name, truncated ? `PNG file is truncated or corrupt (${why}).` : `corrupt PNG data (${why}).`));
  }
  const { width, height, data } = png;
  if (width !== header.width || height !== header.height || data.length < width * height * 4) {
    throw new ImageError(named(name, 'corrupt PNG data (decoded size does not match IHDR).'));
  }
  // pngjs gives RGBA (gray replicated, palette applied). Samples are raw: 16-bit values for depth 16,
  // 0…2^d−1 for low-depth gray (skipRescale), 8-bit for everything else.
  const lowGray = header.colorType === 0 && header.bitDepth < 8;
  const shift = header.bitDepth === 16 ? 8 : 0;
  const scale = lowGray ? 255 / ((1 << header.bitDepth) - 1) : 1;
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    rgb[i * 3] = (data[j] >> shift) * scale;
    rgb[i * 3 + 1] = (data[j + 1] >> shift) * scale;
    rgb[i * 3 + 2] = (data[j + 2] >> shift) * scale;
  }
  return { width, height, data: rgb };
}
