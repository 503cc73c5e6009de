/**
 * Node-only: read an image given as a string, as `transformers`' `load_image` does: an http(s) URL is
 * downloaded, a `data:image/` URL decoded, a `file://` URL or anything else is a file path, and a string that is no
 * readable file but base64 of an image is decoded (see lib/image/source.ts). Errors name the source.
 */
import fs from 'node:fs';
import { notRegularFile } from './regular-file.js';
import { fileURLToPath } from 'node:url';
import { decodeImage, ImageError, type DecodeOptions, type RgbImage } from '../image/decode.js';
import {
  base64ImageBytes, dataUrlBytes, describeBody, fetchImageBytes, imageSourceName, imageStringKind,
  type FetchImageOptions,
} from '../image/source.js';
import { initImageDecodersForNode } from './image-codecs.js';
import { envFetch } from './proxy.js';

/** The bytes of `file`, or the ImageError saying why they cannot be read (`hint` follows "no such file"). */
async function readBytes(file: string, hint = ''): Promise<Uint8Array | ImageError> {
  const odd = notRegularFile(file, true);
  if (odd) return new ImageError(`${imageSourceName(file)}: cannot read image (${odd}).`);
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const dangling = code === 'ENOENT' ? danglingLinkTarget(file) : undefined;
    const why = dangling !== undefined ? `a symbolic link to ${dangling}, which does not exist`
      : code === 'ENOENT' ? `no such file${hint}` : code === 'EISDIR' ? 'is a directory' : code ?? (e as Error).message;
    return new ImageError(`${imageSourceName(file)}: cannot read image (${why}).`);
  }
}

/** The target of `file` when it is a symbolic link (whose target is missing), else undefined. */
function danglingLinkTarget(file: string): string | undefined {
  try {
    return fs.lstatSync(file).isSymbolicLink() ? fs.readlinkSync(file) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads `file` and decodes it to RGB (EXIF orientation applied). Throws ImageError naming the path. */
export async function readImageFile(file: string, options: Omit<DecodeOptions, 'name'> = {}): Promise<RgbImage> {
  const bytes = await readBytes(file);
  if (bytes instanceof ImageError) throw bytes;
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
  const name = imageSourceName(source);
  if (/^file:\/\//i.test(source)) {
    let file: string;
    try { file = fileURLToPath(source); } catch (e) { throw new ImageError(`${name}: not a usable file URL (${(e as Error).message}).`); }
    return readImageFile(file, options);
  }
  if (kind === 'path') {
    const bytes = await readBytes(source, '; an image string is a file path, an http(s) URL, a data:image/...;base64 URL or base64 image bytes');
    const decoded = bytes instanceof ImageError ? base64ImageBytes(source) : bytes;
    if (decoded === undefined) throw bytes;
    await initImageDecodersForNode();
    return decodeImage(decoded, { ...options, name });
  }
  await initImageDecodersForNode();
  if (kind === 'data-url') return decodeImage(dataUrlBytes(source), { ...options, name });
  const { bytes, contentType } = await fetchImageBytes(source, { ...fetchOptions, fetch: fetchOptions.fetch ?? envFetch });
  try {
    return await decodeImage(bytes, { ...options, name });
  } catch (e) {
    throw describeBody(e, contentType);
  }
}
