/**
 * Node-only set-up of the runtime-neutral image decoders (lib/image): the JPEG and WebP decoders' .wasm
 * read from disk (./codec-wasm.ts), and native zlib for the PNG image-data size check (lib/image/png.ts
 * inflates the IDAT stream once before pngjs decodes it; zlib does that in ~3 ms for a 640×480 RGB
 * image, where the DecompressionStream default takes ~12 ms).
 */
import zlib from 'node:zlib';
import { setPngInflatedSizeCounter } from '../image/png.js';
import { initJpegDecoderForNode, initWebpDecoderForNode } from './codec-wasm.js';

/** Inflated size of a zlib stream, capped at `limit` (see InflatedSizeCounter); undefined when corrupt. */
export function zlibInflatedSize(zlibStream: Uint8Array, limit: number): number | undefined {
  try {
    // One output chunk of the expected size (capped: a header may claim far more than the data holds).
    const chunkSize = Math.min(Math.max(limit, zlib.constants.Z_MIN_CHUNK), 1 << 24);
    return zlib.inflateSync(zlibStream, { maxOutputLength: Math.max(1, limit), chunkSize }).length;
  } catch (e) {
    // More output than `limit`: enough for the check. Anything else: the stream is corrupt.
    return (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? limit : undefined;
  }
}

let pngReady = false;

/** Prepares the decoders; later calls return at once. */
export async function initImageDecodersForNode(): Promise<void> {
  if (!pngReady) {
    setPngInflatedSizeCounter(zlibInflatedSize);
    pngReady = true;
  }
  await Promise.all([initJpegDecoderForNode(), initWebpDecoderForNode()]);
}
