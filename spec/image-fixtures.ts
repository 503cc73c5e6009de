/**
 * Test helpers for the image specs: fixture paths, sha256, and a tiny PNG writer covering every
 * colour type, bit depth, palette/tRNS/eXIf and Adam7 interlacing, so decoder tests need no
 * binary fixtures beyond the shared photos.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export const IMAGES = path.resolve('spec/fixtures/images');

export interface IndexEntry {
  height: number;
  width: number;
  rgb_sha256: string;
  processed: Record<string, { shape: [number, number, number]; sha256: string }>;
}

export function imageIndex(): Record<string, IndexEntry> {
  return JSON.parse(fs.readFileSync(path.join(IMAGES, 'index.json'), 'utf8')).images;
}

/**
 * More encodings of the photos, made with the reference's Pillow 9.4 by
 * tools/fixtures/make-extra-images.py: CMYK JPEG, chroma subsampling, odd sizes, EXIF 1-8, PNG modes.
 */
export const IMAGES_EXTRA = path.resolve('spec/fixtures/images-extra');

export function extraImageIndex(): Record<string, IndexEntry & { mode: string }> {
  return JSON.parse(fs.readFileSync(path.join(IMAGES_EXTRA, 'index.json'), 'utf8')).images;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk with a correct CRC. */
export function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export interface PngSpec {
  width: number;
  height: number;
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples row-major, channel-interleaved, each 0 … 2^bitDepth − 1 (palette: indices). */
  samples: number[];
  palette?: [number, number, number][];
  trns?: Uint8Array;
  exif?: Uint8Array;
  interlace?: boolean;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function packRows(spec: PngSpec, xs: number[], ys: number[]): number[] {
  const ch = CHANNELS[spec.colorType];
  const out: number[] = [];
  for (const y of ys) {
    out.push(0); // filter: none
    let acc = 0;
    let bits = 0;
    for (const x of xs) {
      for (let c = 0; c < ch; c++) {
        const v = spec.samples[(y * spec.width + x) * ch + c];
        if (spec.bitDepth === 16) out.push(v >> 8, v & 255);
        else if (spec.bitDepth === 8) out.push(v);
        else {
          acc = (acc << spec.bitDepth) | v;
          bits += spec.bitDepth;
          if (bits === 8) { out.push(acc); acc = 0; bits = 0; }
        }
      }
    }
    if (bits > 0) out.push(acc << (8 - bits));
  }
  return out;
}

/** Encodes a PNG from raw samples (filter type 0, optionally Adam7 interlaced). */
export function makePng(spec: PngSpec): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width, 0);
  ihdr.writeUInt32BE(spec.height, 4);
  ihdr[8] = spec.bitDepth;
  ihdr[9] = spec.colorType;
  ihdr[12] = spec.interlace ? 1 : 0;
  const range = (n: number, start = 0, step = 1): number[] => {
    const r: number[] = [];
    for (let i = start; i < n; i += step) r.push(i);
    return r;
  };
  let raw: number[] = [];
  if (!spec.interlace) raw = packRows(spec, range(spec.width), range(spec.height));
  else {
    for (const [x0, y0, dx, dy] of ADAM7) {
      const xs = range(spec.width, x0, dx);
      const ys = range(spec.height, y0, dy);
      if (xs.length && ys.length) raw = raw.concat(packRows(spec, xs, ys));
    }
  }
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (spec.exif) parts.push(chunk('eXIf', spec.exif));
  if (spec.palette) parts.push(chunk('PLTE', Uint8Array.from(spec.palette.flat())));
  if (spec.trns) parts.push(chunk('tRNS', spec.trns));
  parts.push(chunk('IDAT', zlib.deflateSync(Uint8Array.from(raw))), chunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** A TIFF block holding only an orientation tag, little- or big-endian, optionally "Exif\0\0"-prefixed. */
export function tiffOrientation(orientation: number, bigEndian = false, prefix = false): Uint8Array {
  const b = Buffer.alloc(26);
  const w16 = (v: number, o: number): number => (bigEndian ? b.writeUInt16BE(v, o) : b.writeUInt16LE(v, o));
  const w32 = (v: number, o: number): number => (bigEndian ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
  b.write(bigEndian ? 'MM' : 'II', 0, 'latin1');
  w16(42, 2);
  w32(8, 4);
  w16(1, 8); // one entry
  w16(0x0112, 10);
  w16(3, 12); // SHORT
  w32(1, 14);
  w16(orientation, 18);
  w32(0, 22); // next IFD
  return prefix ? Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), b]) : b;
}

/** Inserts an APP1 Exif segment right after a JPEG's SOI marker. */
export function withJpegExif(jpeg: Uint8Array, orientation: number, bigEndian = false): Buffer {
  const payload = tiffOrientation(orientation, bigEndian, true);
  const seg = Buffer.alloc(4 + payload.length);
  seg[0] = 0xff;
  seg[1] = 0xe1;
  seg.writeUInt16BE(payload.length + 2, 2);
  Buffer.from(payload).copy(seg, 4);
  return Buffer.concat([Buffer.from(jpeg.subarray(0, 2)), seg, Buffer.from(jpeg.subarray(2))]);
}
