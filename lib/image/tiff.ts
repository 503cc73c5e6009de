/**
 * TIFF decoding with Pillow 9.4's semantics (`TiffImagePlugin` with libtiff, then `convert("RGB")`),
 * measured on spec/fixtures/images-tiff (tools/fixtures/make-tiff-images.py, files written by libtiff):
 * - the first page (IFD0) only; strips or tiles, II or MM, classic or (little-endian) BigTIFF,
 *   PlanarConfiguration 1 or 2, FillOrder 2;
 * - compressions none, CCITT RLE / Group 3 (1-D, 2-D) / Group 4 (tiff-ccitt.ts), LZW, PackBits, Deflate
 *   (8 and 32946, inflated by png.ts's inflater), horizontal predictor 2, JPEG (7: each strip or tile
 *   joined to JPEGTables and decoded by jpeg.ts, as libtiff hands it to libjpeg);
 * - the pixel layouts of Pillow's OPEN_INFO table (others are "unknown pixel mode", as in Pillow), and
 *   its `convert("RGB")`: 1/2/4-bit gray scaled (WhiteIsZero inverted), 16-bit RGB/RGBA/CMYK keep their
 *   high byte, 16-bit and 32-bit gray (modes I;16, I) are clipped to 0…255 (nearly white for real
 *   16-bit data, as Pillow gives it), float gray (F) truncated and clipped, palette colours are the high
 *   byte of each ColorMap entry, associated alpha (RGBa) is un-premultiplied as ⌊v·255/a⌋, CMYK is
 *   Pillow's `cmyk2rgb`, alpha is dropped;
 * - the Orientation tag (274) of IFD0 is applied *twice*, as `load_image` does with Pillow 9.4: its
 *   TIFF `load()` transposes the pixels, and `exif_transpose` then finds the tag again and transposes
 *   once more (measured: 6 and 8 end up rotated 180°, every other value unchanged);
 * - 32-bit samples of compressed big-endian files are read byte-swapped, as Pillow 9.4 does on
 *   little-endian machines (it unpacks libtiff's native-order output with a big-endian raw mode), the
 *   horizontal predictor's sums included (libtiff takes them in the file's order);
 *   uint32 gray is Pillow's int32 mode I: values from 2³¹ up turn negative, hence black;
 * - the Predictor tag counts with LZW and Deflate only (libtiff ignores it elsewhere, and so does
 *   Pillow's own reader of uncompressed data);
 * - uncompressed data is read as Pillow's raw reader reads it: by size, not byte count, up to the last
 *   pixel inside the image (a tile cut short past the image's edge decodes); with PlanarConfiguration 2
 *   (even with one sample a pixel) it reads each plane with one letter of the raw mode: WhiteIsZero and
 *   FillOrder 2 are then not applied and 32-bit samples are read little-endian, while the layouts it
 *   misreads or refuses that way (2/4/16-bit samples, associated alpha, LA, PA, samples after alpha or
 *   CMYK, edge tiles of an RGB image with a 4th sample not declared in ExtraSamples) are refused here
 *   (rawPlanes);
 * - compressed separate planes of RGB with a 4th sample and no ExtraSamples tag are un-premultiplied, as
 *   Pillow's libtiff decoder does (libtiff calls that sample unspecified alpha).
 * Data that ends early or is corrupt is an error, where libtiff sometimes only warns (CCITT, Deflate).
 * Speed: typed-array loops per row and per mode, CCITT codes looked up 13 bits at a time, LZW strings
 * copied within the output, Deflate strips inflated several at a time (measured, best of 3: an A4 300-dpi
 * Group 4 page 100 ms, Pillow 47; 3000x2000 photos: LZW 170 ms, Pillow 89; Deflate + predictor 76, 79;
 * uncompressed 6, 53).
 *
 * Written here rather than with an npm decoder: measured on the fixtures, `utif` 3.1.0 decodes 30 of 62
 * exactly (wrong on predictor + tiles, Deflate 32946, FillOrder 2, separate planes, CCITT RLE and JPEG,
 * besides converting modes unlike Pillow), `tiff` 7.1.3 17 (no PackBits, CCITT, CMYK, 2/4-bit, JPEG).
 */
import { cmykTable, ImageError, named, type RgbImage } from './errors.js';
import { applyOrientation } from './exif.js';
import { decodeJpeg, readJpegHeader } from './jpeg.js';
import { inflate } from './png.js';
import { decodeCcitt, type CcittOptions } from './tiff-ccitt.js';
import { reverseBits, unLzw, unpackBits } from './tiff-codecs.js';

/**
 * Whether the bytes start with a TIFF header ("II*\0" or "MM\0*") or a BigTIFF one ("II+\0", "MM\0+").
 */
export function isTiff(b: Uint8Array): boolean {
  if (b.length < 4) return false;
  const version = b[0] === 0x49 && b[1] === 0x49 ? b[2]! | (b[3]! << 8) : b[0] === 0x4d && b[1] === 0x4d ? (b[2]! << 8) | b[3]! : -1;
  return version === 42 || version === 43;
}

/** IFD0, checked: everything needed to decode, read without touching pixel data. */
export interface TiffHeader {
  readonly width: number;
  readonly height: number;
  readonly le: boolean;
  readonly mode: string;
  readonly photometric: number;
  readonly compression: number;
  readonly bps: number;
  readonly spp: number;
  readonly format: number;
  readonly planar: boolean;
  readonly tiled: boolean;
  readonly fillOrder2: boolean;
  /** WhiteIsZero samples are inverted (not when Pillow's raw reader cuts the raw mode: see rawPlanes). */
  readonly whiteIsZero: boolean;
  /** 32-bit samples are read little-endian (see storeRow32). */
  readonly le32: boolean;
  /** 2 where the horizontal predictor applies (LZW and Deflate only: libtiff ignores the tag elsewhere). */
  readonly predictor: number;
  /** Chunk (strip or tile) size in pixels, and their offsets and byte counts (plane-major when planar). */
  readonly chunkW: number;
  readonly chunkH: number;
  readonly offsets: readonly number[];
  readonly counts: readonly number[];
  readonly colormap?: readonly number[];
  readonly jpegTables?: Uint8Array;
  readonly ccitt: CcittOptions;
  /** The Orientation tag (1…8), applied by Pillow's load() and again by exif_transpose. */
  readonly loadOrientation: number;
  orientation(): Promise<number>;
}

const COMPRESSIONS: Readonly<Record<number, string>> = {
  1: 'none', 2: 'CCITT RLE', 3: 'CCITT Group 3', 4: 'CCITT Group 4', 5: 'LZW', 6: 'old-style JPEG', 7: 'JPEG',
  8: 'Adobe Deflate', 32771: 'RLE word-aligned', 32773: 'PackBits', 32809: 'ThunderScan', 32946: 'Deflate',
  34661: 'JBIG', 34676: 'SGILog', 34677: 'SGILog24', 34712: 'JPEG 2000', 34887: 'LERC', 34925: 'LZMA',
  50000: 'Zstandard', 50001: 'WebP', 50002: 'JPEG XL',
};
const SUPPORTED = new Set([1, 2, 3, 4, 5, 7, 8, 32773, 32946]);
const TYPE_SIZE: Readonly<Record<number, number>> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4 };
/** BigTIFF's types: LONG8, SLONG8, IFD8. */
const BIG_TYPE_SIZE: Readonly<Record<number, number>> = { 16: 8, 17: 8, 18: 8 };
/** Most strips or tiles accepted (a 100-byte file could claim billions). */
const MAX_CHUNKS = 1 << 20;

/**
 * Reads the tags of IFD0 (numeric values; BYTE/UNDEFINED as bytes). Throws on a broken structure.
 * Classic TIFF: 4-byte offsets, 12-byte entries with 4 inline value bytes. BigTIFF (version 43, which
 * Pillow 9.4 reads too): 8-byte offsets and counts, 20-byte entries with 8 inline value bytes, and the
 * 8-byte types LONG8 / SLONG8 / IFD8.
 */
function readIfd0(b: Uint8Array, fail: (why: string) => never): { le: boolean; tags: Map<number, number[]>; raw: Map<number, Uint8Array> } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = b[0] === 0x49;
  const big = dv.getUint16(2, le) === 43;
  if (b.length < (big ? 16 : 8)) fail('the file is truncated in its header');
  // Pillow 9.4 fails on big-endian BigTIFF headers ("cannot identify image file"), so load_image does.
  if (big && !le) fail('big-endian BigTIFF, which Pillow 9.4 cannot open either');
  if (big && (dv.getUint16(4, le) !== 8 || dv.getUint16(6, le) !== 0)) fail('a BigTIFF header whose offsets are not 8 bytes');
  // An 8-byte value as a number; past 2^53 it cannot be an offset or size in a file held in memory.
  const u64 = (at: number): number => {
    const v = dv.getBigUint64(at, le);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Infinity;
  };
  const off = (at: number): number => (big ? u64(at) : dv.getUint32(at, le));
  const ifd = off(big ? 8 : 4);
  const countSize = big ? 8 : 2, entrySize = big ? 20 : 12, inline = big ? 8 : 4;
  if (ifd < (big ? 16 : 8) || ifd + countSize > b.length) {
    fail(`the first IFD offset ${ifd} is outside the file (${b.length} bytes: the file is truncated?)`);
  }
  const n = big ? u64(ifd) : dv.getUint16(ifd, le);
  if (ifd + countSize + entrySize * n > b.length) fail(`the first IFD (${n} entries at byte ${ifd}) runs past the end of the file`);
  const tags = new Map<number, number[]>(), raw = new Map<number, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const e = ifd + countSize + entrySize * i, tag = dv.getUint16(e, le), type = dv.getUint16(e + 2, le);
    const count = big ? u64(e + 4) : dv.getUint32(e + 4, le);
    const unit = TYPE_SIZE[type] ?? (big ? BIG_TYPE_SIZE[type] : undefined);
    if (unit === undefined || count === 0) continue; // unknown types are skipped, as Pillow does
    const size = unit * count;
    const valueAt = e + (big ? 12 : 8);
    const at = size > inline ? off(valueAt) : valueAt;
    if (at + size > b.length) {
      if ([256, 257, 258, 259, 262, 273, 277, 278, 279, 284, 320, 322, 323, 324, 325, 338, 339, 347].includes(tag)) {
        fail(`tag ${tag}'s ${count} values lie past the end of the file`);
      }
      continue;
    }
    raw.set(tag, b.subarray(at, at + size));
    const vals: number[] = [];
    for (let k = 0; k < count && k < 1 << 22; k++) {
      const q = at + k * unit;
      vals.push(type === 3 ? dv.getUint16(q, le) : type === 4 || type === 13 ? dv.getUint32(q, le) : type === 8 ? dv.getInt16(q, le)
        : type === 9 ? dv.getInt32(q, le) : type === 11 ? dv.getFloat32(q, le) : type === 12 ? dv.getFloat64(q, le)
          : type === 5 ? dv.getUint32(q, le) / dv.getUint32(q + 4, le) : type === 10 ? dv.getInt32(q, le) / dv.getInt32(q + 4, le)
            : type === 16 || type === 18 ? u64(q) : type === 17 ? Number(dv.getBigInt64(q, le))
              : type === 6 ? dv.getInt8(q) : b[q]!);
    }
    tags.set(tag, vals);
  }
  return { le, tags, raw };
}

/**
 * Pillow 9.4's mode for a layout (its OPEN_INFO table as rules), or undefined where it raises
 * "unknown pixel mode". `bps` is one value per sample.
 */
export function pillowMode(le: boolean, photo: number, format: number, fill: number, bps: readonly number[], extra: readonly number[]): string | undefined {
  const all = (v: number, n: number) => bps.length === n && bps.every((x) => x === v);
  const ex = extra.join(',');
  if (photo === 0 || photo === 1) {
    if (extra.length) return photo === 1 && format === 1 && fill === 1 && all(8, 2) && ex === '2' ? 'LA' : undefined;
    if (bps.length !== 1) return undefined;
    const d = bps[0]!;
    if (format === 3) return d === 32 && fill === 1 ? 'F' : undefined;
    if (format === 2) return photo === 1 && fill === 1 && (d === 16 || d === 32) ? 'I' : undefined;
    if (format !== 1) return undefined;
    if (d === 1) return '1';
    if (d === 2 || d === 4 || d === 8) return 'L';
    if (d === 16) return le && (photo === 1 || fill === 1) ? 'I;16' : !le && photo === 1 && fill === 1 ? 'I;16B' : undefined;
    if (d === 32) return le && photo === 1 && fill === 1 ? 'I' : undefined;
    return undefined;
  }
  if (format !== 1) return undefined;
  if (photo === 2) {
    if (fill === 2) return all(8, 3) && !extra.length ? 'RGB' : undefined;
    if (all(8, 3) || all(16, 3)) return extra.length ? undefined : 'RGB';
    if (all(8, 4) || all(16, 4)) {
      if (!extra.length || ex === '2' || (ex === '999' && bps[0] === 8)) return 'RGBA';
      return ex === '0' ? 'RGBX' : ex === '1' ? 'RGBa' : undefined;
    }
    if (all(8, 5) || all(8, 6)) {
      const rest = extra.slice(1).every((v) => v === 0) && extra.length === bps.length - 3;
      return rest ? (extra[0] === 0 ? 'RGBX' : extra[0] === 1 ? 'RGBa' : extra[0] === 2 ? 'RGBA' : undefined) : undefined;
    }
    return undefined;
  }
  if (photo === 3) {
    if (bps.length === 1 && [1, 2, 4, 8].includes(bps[0]!)) return 'P';
    return fill === 1 && all(8, 2) && ex === '2' ? 'PA' : undefined;
  }
  if (photo === 5 && fill === 1) {
    if ((all(8, 4) && !extra.length) || (all(8, 5) && ex === '0') || (all(8, 6) && ex === '0,0')) return 'CMYK';
    return le && all(16, 4) && !extra.length ? 'CMYK' : undefined;
  }
  if (photo === 6 && fill === 1 && all(8, 3) && !extra.length) return 'YCbCr';
  return undefined;
}

/** Reads and checks IFD0. Throws ImageError for what Pillow refuses and for what this decoder does not read. */
export function readTiffHeader(b: Uint8Array, name?: string): TiffHeader {
  const fail = (why: string): never => { throw new ImageError(named(name, `not a supported TIFF file (${why}).`)); };
  if (!isTiff(b)) fail('bad signature');
  const { le, tags, raw } = readIfd0(b, fail);
  const one = (t: number, d?: number): number => tags.get(t)?.[0] ?? d ?? fail(`required tag ${t} is missing`);
  const width = one(256), height = one(257);
  if (!(width > 0 && height > 0) || !Number.isInteger(width) || !Number.isInteger(height)) fail(`image size ${width}x${height}`);
  const compression = one(259, 1);
  if (!SUPPORTED.has(compression)) {
    fail(`compression ${compression}${COMPRESSIONS[compression] ? ` (${COMPRESSIONS[compression]})` : ''} is not supported; `
      + 'supported: none, CCITT RLE, Group 3, Group 4, LZW, JPEG, Deflate, PackBits');
  }
  const photometric = one(262, 0);
  const spp = one(277, compression === 7 && [2, 6].includes(photometric) ? 3 : 1);
  if (!Number.isInteger(spp) || spp < 1 || spp > 6) fail(`${spp} samples per pixel (Pillow: "Invalid value for samples per pixel")`);
  let bpsList = tags.get(258) ?? [1];
  if (bpsList.length > spp) bpsList = bpsList.slice(0, spp);
  else if (bpsList.length === 1 && spp > 1) bpsList = Array(spp).fill(bpsList[0]);
  if (bpsList.length !== spp) fail('BitsPerSample does not match SamplesPerPixel ("unknown data organization")');
  const formats = tags.get(339) ?? [1];
  const format = formats.every((f) => f === 1) ? 1 : formats.length === 1 ? formats[0]! : -1;
  const fill = one(266, 1), extra = tags.get(338) ?? [];
  const mode = pillowMode(le, photometric, format, fill, bpsList, extra);
  if (!mode) {
    fail(`unknown pixel mode: photometric ${photometric}, ${bpsList.join('/')} bits per sample, sample format ${formats.join('/')}`
      + `${extra.length ? `, extra samples ${extra.join('/')}` : ''}${fill === 2 ? ', FillOrder 2' : ''}`);
  }
  if (mode === 'YCbCr' && compression !== 7) fail('YCbCr pixels are only supported JPEG-compressed');
  const bps = bpsList[0]!;
  const planar = one(284, 1) === 2 && spp > 1;
  // libtiff runs the predictor for LZW and Deflate only; with other compressions the tag is ignored.
  const predictor = [5, 8, 32946].includes(compression) ? one(317, 1) : 1;
  if (predictor !== 1 && !(predictor === 2 && bps >= 8)) fail(`predictor ${predictor} with ${bps}-bit samples is not supported`);
  if ([2, 3, 4].includes(compression) && !(bps === 1 && spp === 1)) fail(`CCITT compression of ${bps}-bit samples`);
  const tiled = tags.has(322) || tags.has(324);
  const chunkW = tiled ? one(322) : width;
  const chunkH = tiled ? one(323) : Math.min(one(278, height), height);
  if (!(chunkW > 0 && chunkH > 0) || !Number.isInteger(chunkW) || !Number.isInteger(chunkH) || chunkW * chunkH > 1 << 28) fail(`${tiled ? 'tile' : 'strip'} size ${chunkW}x${chunkH}`);
  const rawPlanar = compression === 1 && one(284, 1) === 2;
  if (rawPlanar) rawPlanes(fail, mode!, bps, spp, photometric, extra, tiled && width % chunkW !== 0);
  const planes = planar ? spp : 1;
  const want = Math.ceil(width / chunkW) * Math.ceil(height / chunkH) * planes;
  if (want > MAX_CHUNKS) fail(`${want} ${tiled ? 'tiles' : 'strips'} (more than ${MAX_CHUNKS})`);
  const offsets = tags.get(tiled ? 324 : 273) ?? fail(`no ${tiled ? 'TileOffsets' : 'StripOffsets'} tag`);
  const counts = tags.get(tiled ? 325 : 279) ?? (offsets.length === 1 && compression === 1 ? [b.length - offsets[0]!] : fail('no byte counts tag'));
  if (offsets.length < want || counts.length < offsets.length) {
    fail(`${offsets.length} ${tiled ? 'tile' : 'strip'} offsets and ${counts.length} byte counts; ${width}x${height} needs ${want}`);
  }
  // (Signed or fractional types would otherwise index from the end of the file or be truncated; libtiff refuses them.)
  const notIndex = (v: number) => !Number.isInteger(v) || v < 0;
  if (offsets.slice(0, want).some(notIndex) || (tags.has(tiled ? 325 : 279) && counts.slice(0, want).some(notIndex))) {
    fail(`a ${tiled ? 'tile' : 'strip'} offset or byte count is not a whole number of bytes`);
  }
  const colormap = tags.get(320);
  if (mode === 'P' || mode === 'PA') {
    if (!colormap || colormap.length < 3 << bps) fail('palette image without a complete ColorMap');
  }
  const o = tags.get(274)?.[0];
  const orientation = o !== undefined && Number.isInteger(o) && o >= 1 && o <= 8 ? o : 1;
  return {
    width, height, le, mode: libtiffPlanes(mode!, compression, planar, spp, extra), photometric, compression, bps, spp, format, planar, tiled,
    fillOrder2: fill === 2 && !rawPlanar, whiteIsZero: photometric === 0 && !rawPlanar, le32: le || compression !== 1 || rawPlanar, predictor, chunkW, chunkH,
    offsets: offsets.slice(0, want), counts: counts.slice(0, want), ...(colormap ? { colormap } : {}),
    ...(raw.has(347) ? { jpegTables: raw.get(347)! } : {}),
    ccitt: { mode: compression as 2 | 3 | 4, t4: one(292, 0), t6: one(293, 0) },
    loadOrientation: orientation, orientation: async () => orientation,
  };
}

/**
 * Uncompressed files with PlanarConfiguration 2 (even with one sample a pixel): Pillow 9.4 reads each
 * plane with one letter of the raw mode (its `rawmode[layer]`), so WhiteIsZero and FillOrder 2 are not
 * applied, 32-bit samples are read little-endian, and layouts whose letter means something else (2/4-bit
 * and 16-bit samples, associated alpha, LA, PA, extra samples after alpha or CMYK) are misread or refused
 * ("unknown raw mode"): refused here. So are tiles cut by the right edge when the planes outnumber the
 * photometric's channels plus ExtraSamples (RGB with a 4th sample and no ExtraSamples): Pillow reads
 * those at a wrong row stride.
 */
function rawPlanes(fail: (why: string) => never, mode: string, bps: number, spp: number, photometric: number, extra: readonly number[], edgeTiles: boolean): void {
  const why = 'uncompressed in separate planes (PlanarConfiguration 2), which Pillow 9.4 misreads or refuses';
  if (spp === 1 ? ![1, 8, 32].includes(bps) : bps !== 8) fail(`${bps}-bit samples, ${why}`);
  if (spp > 1 && !(['RGB', 'RGBX'].includes(mode) || (['RGBA', 'CMYK'].includes(mode) && spp === 4 && !extra.includes(1)))) {
    fail(`${spp} samples (photometric ${photometric}${extra.length ? `, extra samples ${extra.join('/')}` : ''}), ${why}`);
  }
  const channels = ([2, 6, 8].includes(photometric) ? 3 : photometric === 5 ? 4 : 1) + extra.length;
  if (edgeTiles && channels !== spp) fail(`tiles cut by the right edge, ${spp} samples but ${channels} channels with ExtraSamples, ${why}`);
}

/**
 * Pillow 9.4's libtiff decoder reads separate RGBA planes into RGBA and then un-premultiplies them when
 * libtiff calls the 4th sample unspecified or associated alpha: it does so (with a warning) when the
 * ExtraSamples tag is missing. Returns the mode the samples are converted with.
 */
function libtiffPlanes(mode: string, compression: number, planar: boolean, spp: number, extra: readonly number[]): string {
  return mode === 'RGBA' && compression !== 1 && planar && spp === 4 && extra.length === 0 ? 'RGBa' : mode;
}

/**
 * The stored bytes of chunk i, decompressed to `size` bytes (`w` pixels a row, `rows` rows). Uncompressed
 * data is read as Pillow reads it, by size rather than byte count, and only up to the last pixel inside
 * the image (`need` bytes): a tile cut short past the image's edge is complete enough.
 */
async function chunkBytes(b: Uint8Array, h: TiffHeader, i: number, size: number, w: number, rows: number, need: number): Promise<Uint8Array> {
  const off = h.offsets[i]!, count = h.counts[i]!;
  if (off > b.length || (h.compression !== 1 && off + count > b.length)) throw new Error(`its data (${count} bytes at byte ${off}) lies past the end of the file`);
  let src = b.subarray(off, Math.min(b.length, off + (h.compression === 1 ? size : count)));
  if (h.fillOrder2) src = reverseBits(src);
  switch (h.compression) {
    case 1: {
      if (src.length < need) throw new Error(`it holds ${src.length} of its ${need} bytes (image file is truncated)`);
      if (src.length >= size) return src;
      const whole = new Uint8Array(size);
      whole.set(src);
      return whole;
    }
    case 5: return unLzw(src, fits(src, size, 'LZW', (n) => Math.ceil((n * 8) / 9) * 4096));
    case 32773: return unpackBits(src, fits(src, size, 'PackBits', (n) => Math.ceil(n / 2) * 128));
    case 8: case 32946: {
      const out = await inflate(src, size);
      if (out.length < size) throw new Error(`its Deflate data inflates to ${out.length} of ${size} bytes`);
      return out;
    }
    default:
      if (rows > src.length * 8) throw new Error(`its ${src.length} bytes of CCITT data cannot hold ${rows} rows`); // a row takes a bit at least
      return decodeCcitt(src, w, rows, h.ccitt);
  }
}

/**
 * `size`, checked against the most the stored bytes can expand to (`most`: a 12-bit LZW code stands
 * for at most 4096 bytes, 2 PackBits bytes for 128), before an output buffer of that size is made.
 */
function fits(src: Uint8Array, size: number, what: string, most: (n: number) => number): number {
  if (size > most(src.length)) throw new Error(`its ${src.length} bytes of ${what} data cannot hold ${size} bytes`);
  return size;
}

/** A typed array of every sample of the image, pixel-interleaved; 32-bit formats keep their type. */
function sampleStore(h: TiffHeader): Uint8Array | Uint16Array | Uint32Array | Int32Array | Float32Array {
  const n = h.width * h.height * h.spp;
  if (h.bps <= 8) return new Uint8Array(n);
  if (h.bps === 16) return h.format === 2 ? new Int32Array(n) : new Uint16Array(n);
  return h.format === 3 ? new Float32Array(n) : new Int32Array(n); // Pillow's mode I is int32: uint32 ≥ 2³¹ turn negative
}

/** Copies one decompressed chunk's samples into the store, undoing the horizontal predictor. */
function storeChunk(h: TiffHeader, data: Uint8Array, store: ReturnType<typeof sampleStore>, x0: number, y0: number, plane: number): void {
  const per = h.planar ? 1 : h.spp, bps = h.bps;
  const rowBytes = Math.ceil((h.chunkW * per * bps) / 8);
  const rows = Math.min(h.chunkH, h.height - y0), cols = Math.min(h.chunkW, h.width - x0);
  // The predictor runs left to right through each row: columns past the image's edge never matter.
  for (let r = 0; r < rows; r++) {
    const row = r * rowBytes, dst = ((y0 + r) * h.width + x0) * h.spp + (h.planar ? plane : 0);
    if (bps === 8) storeRow8(data, row, store as Uint8Array, dst, cols, per, h.spp, h.predictor === 2);
    else if (bps < 8) storeRowBits(data, row, store as Uint8Array, dst, cols, bps);
    else if (bps === 16) storeRow16(h, data, row, store as Uint16Array | Int32Array, dst, cols, per);
    else storeRow32(h, data, row, store, dst, cols, per);
  }
}

/** One row of 8-bit samples (`per` a pixel in the chunk, `spp` a pixel in the store). */
function storeRow8(data: Uint8Array, row: number, store: Uint8Array, dst: number, cols: number, per: number, spp: number, predictor: boolean): void {
  const n = cols * per;
  if (per === spp) {
    store.set(data.subarray(row, row + n), dst);
    if (predictor) for (let k = dst + per, end = dst + n; k < end; k++) store[k] = store[k]! + store[k - per]!; // wraps mod 256
    return;
  }
  let acc = 0; // one plane of several: every spp-th store byte
  for (let x = 0; x < cols; x++) {
    acc = predictor ? (acc + data[row + x]!) & 0xff : data[row + x]!;
    store[dst + x * spp] = acc;
  }
}

/** One row of 1-, 2- or 4-bit samples (always one sample a pixel: see pillowMode), MSB first. */
function storeRowBits(data: Uint8Array, row: number, store: Uint8Array, dst: number, cols: number, bps: number): void {
  const mask = (1 << bps) - 1;
  for (let x = 0, bit = 0; x < cols; x++, bit += bps) store[dst + x] = (data[row + (bit >> 3)]! >> (8 - bps - (bit & 7))) & mask;
}

/** One row of 16-bit samples in the file's byte order; int16 (SampleFormat 2) sign-extended. */
function storeRow16(h: TiffHeader, data: Uint8Array, row: number, store: Uint16Array | Int32Array, dst: number, cols: number, per: number): void {
  const step = h.planar ? h.spp : 1, pred = h.predictor === 2, signed = h.format === 2, le = h.le;
  let acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0; // predictor sums of up to 4 samples; more use accs
  const accs = per > 4 ? new Int32Array(per) : undefined;
  for (let x = 0; x < cols; x++) {
    for (let s = 0; s < per; s++) {
      const q = row + 2 * (x * per + s);
      let v = le ? data[q]! | (data[q + 1]! << 8) : (data[q]! << 8) | data[q + 1]!;
      if (pred) {
        if (s === 0) v = acc0 = (acc0 + v) & 0xffff;
        else if (s === 1) v = acc1 = (acc1 + v) & 0xffff;
        else if (s === 2) v = acc2 = (acc2 + v) & 0xffff;
        else if (s === 3) v = acc3 = (acc3 + v) & 0xffff;
        else v = accs![s] = (accs![s]! + v) & 0xffff;
      }
      store[dst + (x * per + s) * step] = signed ? (v << 16) >> 16 : v;
    }
  }
}

/** One row of 32-bit samples (one a pixel: gray I or F). */
function storeRow32(h: TiffHeader, data: Uint8Array, row: number, store: ReturnType<typeof sampleStore>, dst: number, cols: number, per: number): void {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // Pillow 9.4 reads libtiff's output (native order, little-endian on the hosts it runs on) of a
  // compressed big-endian 32-bit file with a big-endian raw mode (F;32BF, I;32BS): byte-swapped values.
  // The predictor sums are libtiff's, taken in the file's byte order (its swabHorAcc32 swaps before it
  // adds); each sum is put back in that order, then read the way Pillow reads it (le32).
  const le = h.le, le32 = h.le32, pred = h.predictor === 2, float = h.format === 3;
  const step = h.planar ? h.spp : 1;
  const prev = new Float64Array(per);
  for (let x = 0; x < cols; x++) {
    for (let s = 0; s < per; s++) {
      const q = row + 4 * (x * per + s);
      if (pred) dv.setUint32(q, (prev[s] = (dv.getUint32(q, le) + prev[s]!) >>> 0), le);
      store[dst + (x * per + s) * step] = float ? dv.getFloat32(q, le32) : dv.getUint32(q, le32);
    }
  }
}

/** Decodes to 8-bit RGB as Pillow's `open` + `convert("RGB")` (its load applies the orientation once). */
export async function decodeTiff(b: Uint8Array, h: TiffHeader, name?: string): Promise<RgbImage> {
  const img = h.compression === 7 ? await decodeJpegChunks(b, h, name) : await decodeSamples(b, h, name);
  // Pillow 9.4's TIFF load() already applies the Orientation tag (load_end); exif_transpose then finds
  // the tag still in getexif() and applies it a second time. Here: once now, once by decode.ts.
  return applyOrientation(img, h.loadOrientation);
}

/** Chunks decompressed ahead of the one being stored (Deflate runs off the main thread: many small strips overlap). */
const AHEAD = 16;
/** …as long as those hold at most this many bytes. */
const AHEAD_BYTES = 1 << 25;

async function decodeSamples(b: Uint8Array, h: TiffHeader, name?: string): Promise<RgbImage> {
  const store = sampleStore(h);
  const across = Math.ceil(h.width / h.chunkW), down = Math.ceil(h.height / h.chunkH), per = across * down;
  const place = (i: number) => {
    const plane = Math.floor(i / per), x0 = (i % across) * h.chunkW, y0 = Math.floor((i % per) / across) * h.chunkH;
    const rows = h.tiled ? h.chunkH : Math.min(h.chunkH, h.height - y0); // libtiff's last strip is short
    const bits = (h.planar ? 1 : h.spp) * h.bps, rowBytes = Math.ceil((h.chunkW * bits) / 8);
    const need = (Math.min(rows, h.height - y0) - 1) * rowBytes + Math.ceil((Math.min(h.chunkW, h.width - x0) * bits) / 8);
    return { plane, x0, y0, rows, size: rows * rowBytes, need };
  };
  const pending: Promise<Uint8Array | Error>[] = [];
  let next = 0, aheadBytes = 0;
  for (let i = 0; i < h.offsets.length; i++) {
    while (next < h.offsets.length && (next === i || (pending.length < AHEAD && aheadBytes < AHEAD_BYTES))) {
      const { rows, size, need } = place(next);
      pending.push(chunkBytes(b, h, next, size, h.chunkW, rows, need).catch((e: unknown) => e as Error));
      aheadBytes += size;
      next++;
    }
    const data = await pending.shift()!, at = place(i);
    aheadBytes -= at.size;
    if (data instanceof Error) {
      throw new ImageError(named(name, `TIFF file is truncated or corrupt in ${h.tiled ? 'tile' : 'strip'} ${i}: ${data.message}.`));
    }
    storeChunk(h, data, store, at.x0, at.y0, at.plane);
  }
  return toRgb(h, store);
}

/** Pillow's `convert("RGB")` of the mode's samples. */
function toRgb(h: TiffHeader, s: ReturnType<typeof sampleStore>): RgbImage {
  const { width, height, spp, bps, mode } = h, n = width * height;
  if (mode === 'RGB' && bps === 8 && spp === 3) return { width, height, data: s as Uint8Array }; // already RGB
  const rgb = new Uint8Array(n * 3);
  switch (mode) {
    case '1': case 'L': case 'LA': grayToRgb(rgb, s, spp, levels(h)); break;
    case 'P': case 'PA': grayToRgb(rgb, s, spp, undefined, palette(h)); break;
    case 'I;16': case 'I;16B': case 'I': case 'F':
      for (let i = 0, o = 0; i < n; i++, o += 3) {
        const v = s[i * spp]!;
        rgb[o] = rgb[o + 1] = rgb[o + 2] = v >= 255 ? 255 : v > 0 ? Math.trunc(v) : 0;
      }
      break;
    case 'CMYK': cmykToRgb(rgb, s, n, bps === 16 ? 8 : 0); break;
    case 'RGBa': unpremultiply(rgb, s, n, spp, bps === 16 ? 8 : 0); break;
    default: { // RGB, RGBA, RGBX: 16-bit colour keeps its high byte
      const hi = bps === 16 ? 8 : 0;
      for (let i = 0, p = 0, o = 0; i < n; i++, p += spp, o += 3) { rgb[o] = s[p]! >> hi; rgb[o + 1] = s[p + 1]! >> hi; rgb[o + 2] = s[p + 2]! >> hi; }
    }
  }
  return { width, height, data: rgb };
}

/** The 8-bit gray level of each 1/2/4/8-bit sample value (scaled; WhiteIsZero inverted). */
function levels(h: TiffHeader): Uint8Array {
  const max = (1 << h.bps) - 1, lut = new Uint8Array(1 << h.bps);
  for (let v = 0; v <= max; v++) lut[v] = Math.round(((h.whiteIsZero ? max - v : v) * 255) / max);
  return lut;
}

/** The ColorMap as RGB triplets, each entry's high byte. */
function palette(h: TiffHeader): Uint8Array {
  const size = 1 << h.bps, cmap = h.colormap!, lut = new Uint8Array(size * 3);
  for (let k = 0; k < size; k++) { lut[3 * k] = cmap[k]! >> 8; lut[3 * k + 1] = cmap[size + k]! >> 8; lut[3 * k + 2] = cmap[2 * size + k]! >> 8; }
  return lut;
}

/** Gray through `lut` (one level per value), or palette through `pal` (RGB triplets), of every spp-th sample. */
function grayToRgb(rgb: Uint8Array, s: ReturnType<typeof sampleStore>, spp: number, lut?: Uint8Array, pal?: Uint8Array): void {
  if (lut && spp === 1 && s instanceof Uint8Array) { // bilevel and gray scans: a monomorphic loop (4x faster on a 300-dpi page)
    for (let p = 0, o = 0; o < rgb.length; p++, o += 3) { const v = lut[s[p]!]!; rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v; }
    return;
  }
  for (let p = 0, o = 0; o < rgb.length; p += spp, o += 3) {
    const v = s[p]!;
    if (lut) { rgb[o] = rgb[o + 1] = rgb[o + 2] = lut[v]!; }
    else { rgb[o] = pal![3 * v]!; rgb[o + 1] = pal![3 * v + 1]!; rgb[o + 2] = pal![3 * v + 2]!; }
  }
}

/** Pillow's `cmyk2rgb`: each of R, G, B is (255 − K) − MULDIV255(C|M|Y, 255 − K) ({@link cmykTable}). */
function cmykToRgb(rgb: Uint8Array, s: ReturnType<typeof sampleStore>, n: number, hi: number): void {
  const t = cmykTable();
  for (let i = 0, p = 0, o = 0; i < n; i++, p += 4, o += 3) {
    const row = (255 - (s[p + 3]! >> hi)) << 8;
    for (let c = 0; c < 3; c++) rgb[o + c] = t[row | (255 - (s[p + c]! >> hi))]!;
  }
}

/** Associated alpha (RGBa) to RGB as Pillow un-premultiplies it: ⌊v·255/a⌋, clipped; 0 where a = 0. */
function unpremultiply(rgb: Uint8Array, s: ReturnType<typeof sampleStore>, n: number, spp: number, hi: number): void {
  for (let i = 0, p = 0, o = 0; i < n; i++, p += spp, o += 3) {
    const a = s[p + 3]! >> hi;
    for (let c = 0; c < 3; c++) rgb[o + c] = a === 0 ? 0 : Math.min(255, Math.floor(((s[p + c]! >> hi) * 255) / a));
  }
}

/**
 * JPEG (7): each strip or tile is a JPEG stream whose tables may live in JPEGTables; joined (tables
 * without their EOI, then the chunk without its SOI), it is decoded by jpeg.ts like any JPEG file.
 */
async function decodeJpegChunks(b: Uint8Array, h: TiffHeader, name?: string): Promise<RgbImage> {
  if (h.planar) throw new ImageError(named(name, 'not a supported TIFF file (JPEG compression with separate planes).'));
  const { width, height } = h, rgb = new Uint8Array(width * height * 3);
  const across = Math.ceil(width / h.chunkW);
  for (let i = 0; i < h.offsets.length; i++) {
    const off = h.offsets[i]!, count = h.counts[i]!;
    if (off + count > b.length) throw new ImageError(named(name, `TIFF file is truncated or corrupt in ${h.tiled ? 'tile' : 'strip'} ${i}: its data lies past the end of the file.`));
    let jpg = b.subarray(off, off + count);
    const t = h.jpegTables;
    if (t && t.length > 4 && jpg.length > 2) {
      const joined = new Uint8Array(t.length - 2 + jpg.length - 2);
      joined.set(t.subarray(0, t.length - 2)); joined.set(jpg.subarray(2), t.length - 2);
      jpg = joined;
    }
    const x0 = (i % across) * h.chunkW, y0 = Math.floor(i / across) * h.chunkH;
    const header = readJpegHeader(jpg, name), segH = h.tiled ? h.chunkH : Math.min(h.chunkH, height - y0);
    // libtiff (JPEGPreDecode) refuses a stream larger than its strip or tile ("JPEG strip/tile size exceeds
    // expected dimensions"), except a taller last strip; it would otherwise be decoded whole, unbounded by maxPixels.
    const tallLastStrip = !h.tiled && y0 + segH === height && header.width === h.chunkW;
    if (header.width > h.chunkW || (header.height > segH && !tallLastStrip)) {
      throw new ImageError(named(name, `TIFF file is corrupt in ${h.tiled ? 'tile' : 'strip'} ${i}: its JPEG data is ${header.width}x${header.height}, `
        + `larger than the ${h.chunkW}x${segH} it should hold.`));
    }
    const part = await decodeJpeg(jpg, header, name);
    const cols = Math.min(part.width, width - x0), rows = Math.min(part.height, height - y0);
    for (let r = 0; r < rows; r++) {
      rgb.set(part.data.subarray(r * part.width * 3, (r * part.width + cols) * 3), ((y0 + r) * width + x0) * 3);
    }
  }
  return { width, height, data: rgb };
}
