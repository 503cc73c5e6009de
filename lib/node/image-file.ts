/**
 * Node-only: read an image given as a string, as `transformers`' `load_image` does: an http(s) URL is
 * downloaded, a `data:image/` URL decoded, anything else is a file path, and a string that is no
 * readable file but base64 of an image is decoded (see lib/image/source.ts). Errors name the source.
 */
import fs from 'node:fs';
import { decodeImage, ImageError, type DecodeOptions, type RgbImage } from '../image/decode.js';
import {
  base64ImageBytes, dataUrlBytes, describeBody, fetchImageBytes, imageSourceName, imageStringKind,
  type FetchImageOptions,
} from '../image/source.js';
import { initImageDecodersForNode } from './image-codecs.js';
import { envFetch } from './proxy.js';

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

/**
 * Reads an image named by a string: http(s) URL, `data:image/...;base64,` URL, file path, or base64
 * image bytes (tried only when the string is not a readable file). Throws ImageError naming the source.
 */
export async function readImageString(source: string, options: Omit<DecodeOptions, 'name'> = {},
  fetchOptions: FetchImageOptions = {}): Promise<RgbImage> {
  const kind = imageStringKind(source);
  if (kind === 'path') {
    try {
      return await readImageFile(source, options);
    } catch (e) {
      const bytes = e instanceof ImageError && /cannot read image/.test(e.message) ? base64ImageBytes(source) : undefined;
      if (bytes === undefined) {
        if (e instanceof ImageError && /\(no such file\)/.test(e.message)) {
          throw new ImageError(`${imageSourceName(source)}: cannot read image (no such file; an image string is a file path, ` +
            'an http(s) URL, a data:image/...;base64 URL or base64 image bytes).');
        }
        throw e;
      }
      await initImageDecodersForNode();
      return decodeImage(bytes, { ...options, name: imageSourceName(source) });
    }
  }
  await initImageDecodersForNode();
  const name = imageSourceName(source);
  if (kind === 'data-url') return decodeImage(dataUrlBytes(source), { ...options, name });
  const { bytes, contentType } = await fetchImageBytes(source, { ...fetchOptions, fetch: fetchOptions.fetch ?? envFetch });
  try {
    return await decodeImage(bytes, { ...options, name });
  } catch (e) {
    throw describeBody(e, contentType);
  }
}
