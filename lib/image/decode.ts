/**
 * Image bytes → 8-bit RGB, following transformers' `load_image`: open with Pillow, apply the EXIF
 * orientation (`ImageOps.exif_transpose`), then `convert("RGB")`. The format is sniffed from the
 * magic bytes, never from a file extension. The frame size is read from the header and checked
 * against a pixel limit before any pixel memory is allocated (decompression-bomb guard).
 * Runtime-neutral: no Node built-ins here (file reading lives in lib/node/image-file.ts).
 */
import { ImageError, named, type RgbImage } from './errors.js';
import { applyOrientation, exifOrientation } from './exif.js';
import { decodeJpeg, readJpegHeader } from './jpeg.js';
import { decodePng, PNG_SIGNATURE, readPngHeader } from './png.js';
import { decodeWebp, isWebp, readWebpHeader } from './webp.js';
import { decodeGif, isGif, readGifHeader } from './gif.js';
import { decodeBmp, isBmp, readBmpHeader } from './bmp.js';
import { decodeTiff, isTiff, readTiffHeader } from './tiff.js';

export { ImageError, type RgbImage } from './errors.js';

/** Pillow's `Image.MAX_IMAGE_PIXELS` (1024 · 1024 · 1024 // 4 // 3): above it Pillow warns (DecompressionBombWarning). */
export const PILLOW_MAX_IMAGE_PIXELS = 89_478_485;

/**
 * Default refusal limit: twice `MAX_IMAGE_PIXELS`, where Pillow's `Image.open` raises
 * DecompressionBombError. Between the two Pillow decodes with a warning, and so does this pipeline
 * (`onWarning`), so the images `load_image` accepts are accepted here.
 */
export const DEFAULT_MAX_PIXELS = 2 * PILLOW_MAX_IMAGE_PIXELS;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Name used in error messages (a file path, a URL). */
  readonly name?: string;
  /** Refuse images with more pixels than this (default {@link DEFAULT_MAX_PIXELS}, as Pillow). */
  readonly maxPixels?: number;
  /**
   * Told about images over {@link PILLOW_MAX_IMAGE_PIXELS} that are decoded anyway (Pillow's
   * DecompressionBombWarning). Default: nothing (the Node and browser `loadModel` pass their `onWarning`).
   */
  readonly onWarning?: (message: string) => void;
  /** Apply the EXIF orientation (default true, as `load_image` does). */
  readonly exifTranspose?: boolean;
}

/** A file whose header has been read: its size, and the orientation and decoding still to do. */
interface Opened {
  readonly width: number;
  readonly height: number;
  /** The EXIF orientation `exif_transpose` applies (1…8). */
  readonly orientation: () => number | Promise<number>;
  readonly decode: () => RgbImage | Promise<RgbImage>;
}

/** A format's header: its EXIF block, or (PNG) its own way to find the orientation. */
type Header = {
  readonly width: number; readonly height: number; readonly exif?: Uint8Array;
  orientation?(): Promise<number>;
};

/** One format: its signature test, and opening = reading its header (cheap), decoding deferred. */
function codecOf<H extends Header>(sniff: (b: Uint8Array) => boolean, header: (b: Uint8Array, name?: string) => H,
  decode: (b: Uint8Array, h: H, name?: string) => RgbImage | Promise<RgbImage>) {
  return {
    sniff,
    open: (b: Uint8Array, name?: string): Opened => {
      const h = header(b, name);
      const orientation = () => (h.orientation ? h.orientation() : h.exif ? exifOrientation(h.exif) : 1);
      return { width: h.width, height: h.height, orientation, decode: () => decode(b, h, name) };
    },
  };
}

/** The formats decoded, in the order their signatures are tested. */
const CODECS = {
  png: codecOf((b) => b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v), readPngHeader, decodePng),
  jpeg: codecOf((b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff, readJpegHeader, decodeJpeg),
  webp: codecOf(isWebp, readWebpHeader, decodeWebp),
  gif: codecOf(isGif, readGifHeader, decodeGif),
  bmp: codecOf(isBmp, readBmpHeader, decodeBmp),
  tiff: codecOf(isTiff, readTiffHeader, decodeTiff),
};

/** The formats {@link sniffFormat} recognises. */
export type ImageFormat = keyof typeof CODECS;

/** Identifies the format from magic bytes; `undefined` when it is none of {@link ImageFormat}. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  return (Object.keys(CODECS) as ImageFormat[]).find((f) => CODECS[f].sniff(bytes));
}

/** Throws ImageError when width × height exceeds `maxPixels`. */
export function checkPixelLimit(width: number, height: number, maxPixels: number, name?: string): void {
  if (width * height > maxPixels) {
    throw new ImageError(named(name, `image is ${width}x${height} = ${width * height} pixels, more than the limit of `
      + `${maxPixels} (possible decompression bomb; raise maxPixels if the file is trusted).`));
  }
}

/**
 * Decodes PNG, JPEG, WebP, GIF (first frame), BMP or TIFF (first page) bytes to RGB (row-major HWC), EXIF orientation applied.
 * @throws ImageError for empty, truncated, corrupt, unsupported or oversized input
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  const { name, maxPixels = DEFAULT_MAX_PIXELS, exifTranspose = true, onWarning } = options;
  if (bytes.length === 0) throw new ImageError(named(name, 'file is empty.'));
  const format = sniffFormat(bytes);
  if (!format) throw new ImageError(named(name, `not a PNG, JPEG, WebP, GIF, BMP or TIFF image (starts with ${hexPrefix(bytes)}).`));
  const opened = CODECS[format].open(bytes, name);
  checkPixelLimit(opened.width, opened.height, maxPixels, name); // before any pixel memory
  const pixels = opened.width * opened.height;
  if (pixels > PILLOW_MAX_IMAGE_PIXELS) {
    onWarning?.(named(name, `image is ${opened.width}x${opened.height} = ${pixels} pixels, more than Pillow's MAX_IMAGE_PIXELS `
      + `(${PILLOW_MAX_IMAGE_PIXELS}); decoded anyway, as Pillow does after its DecompressionBombWarning.`));
  }
  const img = await opened.decode();
  return exifTranspose ? applyOrientation(img, await opened.orientation()) : img;
}

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
