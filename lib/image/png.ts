/**
 * PNG decoding to 8-bit RGB with Pillow 9.4's `open` + `convert("RGB")` semantics
 * (docs/pillow-resample.md §8–§9):
 * - alpha is dropped, never composited; gray is replicated to R, G, B;
 * - palette images use the palette colours; indices past the end of PLTE (or every index, without
 *   PLTE) map to gray (i, i, i), as Pillow's default palette does; `tRNS` transparency is ignored;
 * - 1/2/4-bit gray is scaled to 0…255 (×255, ×85, ×17), as Pillow's unpackers do;
 * - 16-bit samples keep their high byte (v >> 8), as Pillow does for 16-bit RGB(A) and gray+alpha.
 *   16-bit *gray* also keeps the high byte here. This deliberately differs from Pillow 9.4, which
 *   opens it as mode "I" and clamps almost every pixel to 255 (a white image) on `convert("RGB")`.
 * Which malformed files decode also follows Pillow: the CRC of every chunk before the image data is
 * checked (a mismatch is an error), unknown chunks are skipped, the image data is the first run of
 * consecutive IDAT chunks (their CRCs are not checked), and once the rows are complete nothing after
 * them is read: extra inflated data, a missing IEND or trailing bytes do not matter. Data that ends
 * before the last row is an error.
 *
 * Written here rather than with pngjs (the previous decoder): pngjs refuses several files Pillow opens
 * (no IEND, trailing bytes, a bad IDAT CRC, unknown critical chunks, extra image data), fills the rows
 * of a short non-interlaced image from uninitialised memory, zeroes transparent colours, and its
 * browser build carries browserify's zlib (most of this package's browser bundle). Inflating is the
 * platform's (DecompressionStream, or Node's zlib via {@link setPngInflater}); unfiltering and Adam7
 * de-interlacing are a few dozen lines of the PNG specification.
 */
import { ImageError, named, paletteLut, type RgbImage } from './errors.js';
import { PNG_META_TYPES, pngOrientation, type PngMetaChunk } from './png-meta.js';

/** The PNG signature, 8 bytes. */
export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** IHDR fields plus the metadata chunks, read without inflating anything. */
export interface PngHeader {
  readonly width: number;
  readonly height: number;
  readonly bitDepth: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  readonly colorType: number;
  /** The eXIf and text chunks, in file order, where Pillow looks for the EXIF orientation (png-meta.ts). */
  readonly meta: readonly PngMetaChunk[];
  /** The orientation Pillow's `exif_transpose` applies (inflates compressed text chunks). */
  orientation(): Promise<number>;
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
  const meta: PngMetaChunk[] = [];
  let afterImage = false;
  for (const c of chunks(bytes)) {
    if (!c.whole) break; // truncation is reported by the decoder
    if (c.type === 'IDAT') afterImage = true;
    else if (PNG_META_TYPES.has(c.type)) meta.push({ type: c.type, data: c.data, afterImage });
    if (c.type === 'IEND') break;
  }
  return { width, height, bitDepth, colorType, meta, orientation: () => pngOrientation(meta, inflater) };
}

/** Tallest PNG decoded: one filter byte and one row of state per row; 1-pixel-wide images at the pixel limit would need GBs. */
export const MAX_PNG_ROWS = 1 << 20;

const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;
const NO_INTERLACE = [[0, 0, 1, 1]] as const;

/** Bytes of filtered scanlines (one filter byte per row) that IHDR calls for, over all passes when interlaced. */
function scanlineBytes(h: PngHeader, interlaced: boolean): number {
  const bits = CHANNELS[h.colorType]! * h.bitDepth;
  const size = (w: number, rows: number): number => (w > 0 && rows > 0 ? rows * (Math.ceil((w * bits) / 8) + 1) : 0);
  return (interlaced ? ADAM7 : NO_INTERLACE).reduce((sum, [x0, y0, dx, dy]) => sum + size(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy)), 0);
}

/**
 * Inflates a zlib stream: its first `limit` bytes, or fewer when the stream ends (or turns corrupt)
 * before that. Never throws for bad data: a short result is how corruption shows.
 */
export type Inflater = (zlibStream: Uint8Array, limit: number) => Uint8Array | Promise<Uint8Array>;

/** The runtime-neutral inflater: the platform's DecompressionStream (Node registers native zlib's, 4x faster). */
export async function streamInflate(zlibStream: Uint8Array, limit: number): Promise<Uint8Array> {
  const reader = new Blob([zlibStream as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate')).getReader();
  const parts = new InflatedParts(limit);
  try {
    while (!parts.full) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.add(value);
    }
    await reader.cancel().catch(() => undefined);
  } catch {
    // corrupt or cut short: what was inflated so far is the result
  }
  return parts.bytes();
}

/**
 * Inflated chunks up to a limit, joined at the end: memory follows what the stream really holds, not
 * what IHDR claims (a 100-byte file may claim 600 MB of rows).
 */
export class InflatedParts {
  private readonly parts: Uint8Array[] = [];
  private n = 0;

  constructor(private readonly limit: number) {}

  get full(): boolean {
    return this.n >= this.limit;
  }

  add(chunk: Uint8Array): void {
    const take = Math.min(chunk.length, this.limit - this.n);
    if (take <= 0) return;
    this.parts.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    this.n += take;
  }

  bytes(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.n);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

let inflater: Inflater = streamInflate;

/** Inflates with the current inflater (the platform's, or the one {@link setPngInflater} set): TIFF's Deflate uses it too. */
export function inflate(zlibStream: Uint8Array, limit: number): Uint8Array | Promise<Uint8Array> {
  return inflater(zlibStream, limit);
}

/** Replaces how a PNG's image data is inflated (Node: native zlib, see lib/node/image-codecs.ts). */
export function setPngInflater(f: Inflater): void {
  inflater = f;
}

/** The CRC-32 of PNG chunks (ISO 3309), table-driven. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG chunks use it). */
export function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** What Pillow reads of the chunk list: the palette and the image data (first run of IDAT chunks). */
function readChunks(bytes: Uint8Array, name?: string): { palette?: Uint8Array; idat: Uint8Array } {
  const fail = (why: string): never => { throw new ImageError(named(name, why)); };
  let palette: Uint8Array | undefined;
  const parts: Uint8Array[] = [];
  for (const c of chunks(bytes)) {
    if (c.type === 'IDAT') {
      parts.push(c.data); // CRC not checked, as Pillow streams image data without it
      continue;
    }
    if (parts.length) break; // the image data ended; Pillow reads nothing further
    if (!/^[A-Za-z]{4}$/.test(c.type)) fail(`not a valid PNG file (broken chunk type ${JSON.stringify(c.type)} at byte ${c.start}).`);
    if (!c.whole) fail('PNG file is truncated before its image data.');
    const stored = u32(bytes, c.end - 4);
    if (crc32(bytes.subarray(c.start + 4, c.end - 4)) !== stored) fail(`not a valid PNG file (bad checksum in chunk ${c.type}).`);
    if (c.type === 'PLTE' && !palette) palette = c.data;
    if (c.type === 'IEND') break;
  }
  if (!parts.length) fail('PNG file has no image data (no IDAT chunk).');
  const idat = parts.length === 1 ? parts[0]! : new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  if (parts.length > 1) {
    let o = 0;
    for (const part of parts) { idat.set(part, o); o += part.length; }
  }
  return palette ? { palette, idat } : { idat };
}

/**
 * Reverses the filters of `rows` consecutive scanlines (filter-type byte + `rowBytes` bytes each) of
 * `data` from byte `start`, in place, the row before the first being zeros; returns the index of the
 * first row with an unknown filter type (rows before it done), or -1. Installed in Node from the addon
 * (the same byte arithmetic as {@link unfilter}, ~5x faster: Paeth rows dominate photos saved as PNG).
 */
export type PngUnfilter = (data: Uint8Array, start: number, rows: number, rowBytes: number, bpp: number) => number;
let passUnfilter: PngUnfilter | undefined;

/** Installs (or with undefined removes) {@link PngUnfilter}; returns the previous one. */
export function setPngUnfilter(f: PngUnfilter | undefined): PngUnfilter | undefined {
  const previous = passUnfilter;
  passUnfilter = f;
  return previous;
}

/** Reverses the PNG row filters in place; `prev` is the previous unfiltered row (zeros for a pass's first). */
function unfilter(type: number, row: Uint8Array, prev: Uint8Array, bpp: number): boolean {
  const n = row.length;
  switch (type) {
    case 0: return true;
    case 1: for (let i = bpp; i < n; i++) row[i] = row[i]! + row[i - bpp]!; return true;
    case 2: for (let i = 0; i < n; i++) row[i] = row[i]! + prev[i]!; return true;
    case 3: {
      const m = Math.min(bpp, n);
      for (let i = 0; i < m; i++) row[i] = row[i]! + (prev[i]! >> 1);
      for (let i = m; i < n; i++) row[i] = row[i]! + ((row[i - bpp]! + prev[i]!) >> 1);
      return true;
    }
    case 4: {
      const m = Math.min(bpp, n);
      for (let i = 0; i < m; i++) row[i] = row[i]! + prev[i]!; // a = c = 0: Paeth picks b
      for (let i = m; i < n; i++) {
        const a = row[i - bpp]!, b = prev[i]!, c = prev[i - bpp]!;
        const pa = b > c ? b - c : c - b, pb = a > c ? a - c : c - a, pab = a + b - c - c;
        const pc = pab < 0 ? -pab : pab;
        row[i] = row[i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      return true;
    }
    default: return false;
  }
}

/**
 * Writes the RGB of one unfiltered row of `pw` pixels to `rgb` from byte `o`, `ostep` bytes apart (3, or
 * more for an Adam7 pass), as Pillow's unpackers and `convert("RGB")` make it: the first 3 (RGB, RGBA) or
 * 1 (gray, palette, gray+alpha) samples of each pixel, 16-bit samples by their high byte, 1/2/4-bit gray
 * scaled to 0…255, palette indices through a {@link paletteLut}. One plain loop per sample layout.
 */
function rowToRgb(row: Uint8Array, pw: number, colorType: number, bitDepth: number, channels: number,
  lut: Uint8Array | undefined, rgb: Uint8Array, o: number, ostep: number): void {
  if (bitDepth === 8 || bitDepth === 16) {
    const step = channels * (bitDepth >> 3); // bytes a pixel; a 16-bit sample's high byte comes first
    const sb = bitDepth >> 3; // bytes a sample
    if (colorType === 2 || colorType === 6) {
      for (let i = 0, k = 0; i < pw; i++, k += step, o += ostep) {
        rgb[o] = row[k]!; rgb[o + 1] = row[k + sb]!; rgb[o + 2] = row[k + 2 * sb]!;
      }
    } else if (colorType === 3) { // 8-bit only
      for (let i = 0; i < pw; i++, o += ostep) {
        const q = row[i]! * 3;
        rgb[o] = lut![q]!; rgb[o + 1] = lut![q + 1]!; rgb[o + 2] = lut![q + 2]!;
      }
    } else {
      for (let i = 0, k = 0; i < pw; i++, k += step, o += ostep) {
        const v = row[k]!;
        rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v;
      }
    }
    return;
  }
  // 1/2/4-bit gray or palette: one sample a pixel
  const mask = (1 << bitDepth) - 1;
  const grayScale = colorType === 0 ? 255 / mask : 1;
  for (let i = 0; i < pw; i++, o += ostep) {
    const bit = i * bitDepth;
    const idx = (row[bit >> 3]! >> (8 - bitDepth - (bit & 7))) & mask;
    if (colorType === 3) {
      const q = idx * 3;
      rgb[o] = lut![q]!; rgb[o + 1] = lut![q + 1]!; rgb[o + 2] = lut![q + 2]!;
    } else {
      const v = idx * grayScale;
      rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v;
    }
  }
}

/** Bytes of a pass from which the installed {@link PngUnfilter} is called (below, the call costs more). */
const NATIVE_UNFILTER_MIN = 1 << 16;

/**
 * Decodes any standard PNG (all colour types and bit depths, interlaced or not) to 8-bit RGB.
 * Image data that ends before the last row is an error. Pillow 9.4 (ZipDecode.c) raises "image file
 * is truncated" there too, except in one case we also refuse: data ending exactly after a complete row
 * followed by IEND, where it may return the remaining rows zero (a silently black part is no better).
 * A corrupt zlib trailer (Adler-32) after the complete rows is accepted here; Pillow refuses it when it
 * arrives in the same read as the last row.
 */
export async function decodePng(bytes: Uint8Array, header: PngHeader, name?: string): Promise<RgbImage> {
  const { width, height, bitDepth, colorType } = header;
  if (height > MAX_PNG_ROWS) {
    throw new ImageError(named(name, `PNG image is ${width}x${height}: more than ${MAX_PNG_ROWS} rows is not supported `
      + '(the decoder keeps state per row; a 1-pixel-wide image at the pixel limit would exhaust memory).'));
  }
  if (bytes[27] !== 0) throw new ImageError(named(name, `not a valid PNG file (unknown filter method ${bytes[27]}).`));
  const interlaced = bytes[28] !== 0; // Pillow reads any non-zero interlace method as Adam7
  const { palette, idat } = readChunks(bytes, name);
  const need = scanlineBytes(header, interlaced);
  const data = await inflater(idat, need);
  if (data.length < need) {
    throw new ImageError(named(name, `PNG file is truncated or corrupt (the image data inflates to ${data.length} bytes; `
      + `${width}x${height}${interlaced ? ' interlaced' : ''} needs ${need}).`));
  }
  const channels = CHANNELS[colorType]!, bits = channels * bitDepth, bpp = Math.max(1, bits >> 3);
  const lut = colorType === 3 ? paletteLut(palette) : undefined;
  const rgb = new Uint8Array(width * height * 3);
  const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // one array type for the row loops
  let p = 0;
  for (const [x0, y0, dx, dy] of interlaced ? ADAM7 : NO_INTERLACE) {
    const pw = Math.ceil((width - x0) / dx), ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rowBytes = Math.ceil((pw * bits) / 8);
    const badRow = (type: number, j: number) => new ImageError(named(name, `corrupt PNG data (unknown filter type ${type} in row ${y0 + j * dy}).`));
    if (passUnfilter && ph * rowBytes >= NATIVE_UNFILTER_MIN) {
      const bad = passUnfilter(src, p, ph, rowBytes, bpp);
      if (bad >= 0) throw badRow(src[p + bad * (rowBytes + 1)]!, bad);
      for (let j = 0; j < ph; j++, p += 1 + rowBytes) {
        rowToRgb(src.subarray(p + 1, p + 1 + rowBytes), pw, colorType, bitDepth, channels, lut, rgb, ((y0 + j * dy) * width + x0) * 3, 3 * dx);
      }
      continue;
    }
    let prev: Uint8Array = new Uint8Array(rowBytes);
    for (let j = 0; j < ph; j++) {
      const type = src[p]!;
      const row = src.subarray(p + 1, p + 1 + rowBytes);
      if (!unfilter(type, row, prev, bpp)) throw badRow(type, j);
      p += 1 + rowBytes;
      prev = row;
      rowToRgb(row, pw, colorType, bitDepth, channels, lut, rgb, ((y0 + j * dy) * width + x0) * 3, 3 * dx);
    }
  }
  return { width, height, data: rgb };
}
