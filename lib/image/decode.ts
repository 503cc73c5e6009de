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

export { ImageError, type RgbImage } from './errors.js';

/** Pillow's `Image.MAX_IMAGE_PIXELS` (1024 · 1024 · 1024 // 4 // 3). */
export const DEFAULT_MAX_PIXELS = 89_478_485;

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Name used in error messages (a file path, a URL). */
  readonly name?: string;
  /** Refuse images with more pixels than this (default {@link DEFAULT_MAX_PIXELS}). */
  readonly maxPixels?: number;
  /** Apply the EXIF orientation (default true, as `load_image` does). */
  readonly exifTranspose?: boolean;
}

/** The formats {@link sniffFormat} recognises. */
export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp';

/** Identifies the format from magic bytes; `undefined` when it is not PNG, JPEG, WebP, GIF or BMP. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((v, i) => bytes[i] === v)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (isWebp(bytes)) return 'webp';
  if (isGif(bytes)) return 'gif';
  if (isBmp(bytes)) return 'bmp';
  return undefined;
}

/** Throws ImageError when width × height exceeds `maxPixels`. */
export function checkPixelLimit(width: number, height: number, maxPixels: number, name?: string): void {
  if (width * height > maxPixels) {
    throw new ImageError(named(name, `image is ${width}x${height} = ${width * height} pixels, more than the limit of `
      + `${maxPixels} (possible decompression bomb; raise maxPixels if the file is trusted).`));
  }
}

/**
 * Decodes PNG, JPEG, WebP, GIF (first frame) or BMP bytes to RGB (row-major HWC), EXIF orientation applied.
 * @throws ImageError for empty, truncated, corrupt, unsupported or oversized input
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  const { name, maxPixels = DEFAULT_MAX_PIXELS, exifTranspose = true } = options;
  if (bytes.length === 0) throw new ImageError(named(name, 'file is empty.'));
  const format = sniffFormat(bytes);
  let img: RgbImage;
  let exif: Uint8Array | undefined;
  if (format === 'png') {
    const header = readPngHeader(bytes, name);
    checkPixelLimit(header.width, header.height, maxPixels, name);
    img = await decodePng(bytes, header, name);
    exif = header.exif;
  } else if (format === 'jpeg') {
    const header = readJpegHeader(bytes, name);
    checkPixelLimit(header.width, header.height, maxPixels, name);
    img = await decodeJpeg(bytes, header, name);
    exif = header.exif;
  } else if (format === 'webp') {
    const header = readWebpHeader(bytes, name);
    checkPixelLimit(header.width, header.height, maxPixels, name);
    img = await decodeWebp(bytes, header, name);
    exif = header.exif;
  } else if (format === 'gif') {
    const header = readGifHeader(bytes, name);
    checkPixelLimit(header.width, header.height, maxPixels, name);
    img = decodeGif(bytes, header, name);
  } else if (format === 'bmp') {
    const header = readBmpHeader(bytes, name);
    checkPixelLimit(header.width, header.height, maxPixels, name);
    img = decodeBmp(bytes, header, name);
  } else {
    throw new ImageError(named(name, `not a PNG, JPEG, WebP, GIF or BMP image (starts with ${hexPrefix(bytes)}).`));
  }
  return exifTranspose && exif ? applyOrientation(img, exifOrientation(exif)) : img;
}

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
}
