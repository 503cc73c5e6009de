/**
 * Node-only: initialises the runtime-neutral JPEG and WebP decoders (lib/image/jpeg.ts, webp.ts) from
 * the .wasm files that ship inside the `@jsquash/jpeg` and `@jsquash/webp` packages, read from disk
 * instead of fetched from a URL.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { initJpegDecoder, jpegDecoderInitialised } from '../image/jpeg.js';
import { initWebpDecoder, webpDecoderInitialised } from '../image/webp.js';

/** Reads and compiles a package's .wasm once; later calls return the same promise. */
function fromPackage(wasmPath: string, initialised: () => boolean, initDecoder: (wasm: BufferSource) => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    if (!done) {
      done = initialised() ? Promise.resolve() : (async () => {
        const file = createRequire(import.meta.url).resolve(wasmPath);
        await initDecoder(await fs.promises.readFile(file));
      })();
    }
    return done;
  };
}

/** Initialises @jsquash/jpeg's decoder from its .wasm file. */
export const initJpegDecoderForNode = fromPackage('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm', jpegDecoderInitialised, initJpegDecoder);

/** Initialises @jsquash/webp's decoder from its .wasm file. */
export const initWebpDecoderForNode = fromPackage('@jsquash/webp/codec/dec/webp_dec.wasm', webpDecoderInitialised, initWebpDecoder);
