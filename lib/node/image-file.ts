/**
 * Node-only: read an image file by path and decode it (lib/image/decode.ts). Errors name the path.
 */
import fs from 'node:fs';
import { decodeImage, ImageError, type DecodeOptions, type RgbImage } from '../image/decode.js';
import { initImageDecodersForNode } from './image-codecs.js';

/** Reads `file` and decodes it to RGB (EXIF orientation applied). Throws ImageError naming the path. */
export async function readImageFile(file: string, options: Omit<DecodeOptions, 'name'> = {}): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code ?? (e as Error).message;
    throw new ImageError(`${file}: cannot read image (${why}).`);
  }
  await initImageDecodersForNode();
  return decodeImage(bytes, { ...options, name: file });
}
