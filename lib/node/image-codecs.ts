/**
 * Node-only set-up of the runtime-neutral image decoders (lib/image): the JPEG and WebP decoders' .wasm
 * read from disk (./codec-wasm.ts), and native zlib to inflate PNG image data (lib/image/png.ts; zlib
 * takes ~3 ms for a 640×480 RGB image, where the DecompressionStream default takes ~12 ms), and the native
 * addon's resampling loops when it is present (./native-resample.ts).
 */
import zlib from 'node:zlib';
import { InflatedParts, setPngInflater } from '../image/png.js';
import { initJpegDecoderForNode, initWebpDecoderForNode } from './codec-wasm.js';
import { installNativeResample } from './native-resample.js';

/**
 * The first `limit` bytes a zlib stream inflates to, or fewer when it ends or turns corrupt before
 * (see Inflater in lib/image/png.ts). Stops inflating once `limit` bytes are out.
 */
export function zlibInflate(zlibStream: Uint8Array, limit: number): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const parts = new InflatedParts(limit);
    let settled = false;
    const inflate = zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: Math.min(Math.max(limit, zlib.constants.Z_MIN_CHUNK), 1 << 22) });
    const finish = () => {
      if (settled) return;
      settled = true;
      inflate.removeAllListeners('data');
      inflate.destroy();
      resolve(parts.bytes());
    };
    inflate.on('data', (chunk: Buffer) => {
      parts.add(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      if (parts.full) finish();
    });
    inflate.on('error', finish);
    inflate.on('end', finish);
    inflate.on('close', finish);
    inflate.end(zlibStream);
  });
}

let pngReady = false;

/** Prepares the decoders; later calls return at once. */
export async function initImageDecodersForNode(): Promise<void> {
  if (!pngReady) {
    setPngInflater(zlibInflate);
    installNativeResample();
    pngReady = true;
  }
  await Promise.all([initJpegDecoderForNode(), initWebpDecoderForNode()]);
}
