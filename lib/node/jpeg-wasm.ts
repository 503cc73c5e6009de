/**
 * Node-only: initialises the runtime-neutral JPEG decoder (lib/image/jpeg.ts) from the .wasm file
 * that ships inside the `@jsquash/jpeg` package, read from disk instead of fetched from a URL.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { initJpegDecoder, jpegDecoderInitialised } from '../image/jpeg.js';

const WASM_PATH = '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
let done: Promise<void> | undefined;

/** Reads and compiles @jsquash/jpeg's decoder .wasm once; later calls return the same promise. */
export function initJpegDecoderForNode(): Promise<void> {
  if (!done) {
    done = jpegDecoderInitialised() ? Promise.resolve() : (async () => {
      const file = createRequire(import.meta.url).resolve(WASM_PATH);
      await initJpegDecoder(await fs.promises.readFile(file));
    })();
  }
  return done;
}
