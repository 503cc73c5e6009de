/**
 * Browser image inputs -> 8-bit RGB. Encoded bytes (a `Blob`/`File`, or the bytes behind an
 * `<img>`'s `src`) go through this package's own PNG/JPEG decoders, so the pixels are identical to
 * Node's and to Pillow's. The browser's own decoding (canvas) differs (colour management, its JPEG
 * IDCT, premultiplied alpha), so it is used only for inputs that are already decoded pixels:
 * `ImageBitmap` and `ImageData`, taken as they are and documented as such. The JPEG decoder's
 * `.wasm` is fetched from next to the bundle unless the caller provides it.
 */
import { sniffFormat, type DecodeOptions } from '../image/decode.js';
import { ImageError, named, type RgbImage } from '../image/errors.js';
import { toRgbImage, type ImageInput } from '../image/input.js';
import { initJpegDecoder, jpegDecoderInitialised } from '../image/jpeg.js';

/**
 * What the browser model reads:
 * - `Blob` / `File`: PNG or JPEG bytes, decoded like in Node (exact);
 * - `HTMLImageElement`: its `currentSrc`/`src` is fetched again (normally from the HTTP cache) and the
 *   bytes are decoded like a Blob (exact); never its rendered pixels;
 * - `ImageBitmap`, `ImageData`: pixels the browser already decoded, taken as they are (not
 *   bit-identical to Pillow for JPEGs; alpha is dropped, not composited);
 * - any {@link ImageInput}: encoded bytes, raw RGB/RGBA pixels, a `[H, W, 3]` tensor.
 */
export type BrowserImageInput = Blob | HTMLImageElement | ImageBitmap | ImageData | ImageInput;

let jpegWasmUrl: string | undefined;
let jpegInit: Promise<void> | undefined;

/** Sets where the JPEG decoder's `mozjpeg_dec.wasm` is fetched from (default: next to this bundle). */
export function setJpegWasmUrl(url: string): void {
  jpegWasmUrl = url;
}

/** Fetches and compiles the JPEG decoder's wasm once. */
export function initBrowserJpeg(): Promise<void> {
  if (jpegDecoderInitialised()) return jpegInit ?? Promise.resolve();
  jpegInit = (async () => {
    const url = jpegWasmUrl ?? new URL('./mozjpeg_dec.wasm', import.meta.url).href;
    const res = await fetch(url);
    if (!res.ok) throw new ImageError(`JPEG decoder: ${url}: HTTP ${res.status}; serve mozjpeg_dec.wasm next to the bundle or call setJpegWasmUrl().`);
    await initJpegDecoder(new Uint8Array(await res.arrayBuffer()));
  })();
  jpegInit.catch(() => { jpegInit = undefined; });
  return jpegInit;
}

const isBlob = (x: unknown): x is Blob => typeof Blob !== 'undefined' && x instanceof Blob;
const isImg = (x: unknown): x is HTMLImageElement => typeof HTMLImageElement !== 'undefined' && x instanceof HTMLImageElement;
const isBitmap = (x: unknown): x is ImageBitmap => typeof ImageBitmap !== 'undefined' && x instanceof ImageBitmap;

/** Reads the pixels of an ImageBitmap through an offscreen 2D canvas (the browser's decode). */
function bitmapPixels(bitmap: ImageBitmap, name?: string): ImageData {
  const { width, height } = bitmap;
  if (!width || !height) throw new ImageError(named(name, 'the ImageBitmap is empty (closed?).'));
  const canvas = typeof OffscreenCanvas !== 'undefined'
    ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new ImageError(named(name, 'no 2D canvas context to read the ImageBitmap.'));
  ctx.drawImage(bitmap, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

/** Decodes any {@link BrowserImageInput} to RGB (see the type for which inputs are exact). */
export async function readBrowserImage(input: BrowserImageInput, options: DecodeOptions = {}): Promise<RgbImage> {
  if (isImg(input)) {
    const src = input.currentSrc || input.src;
    if (!src) throw new ImageError(named(options.name, 'the <img> element has no src.'));
    const res = await fetch(src).catch((e: Error) => {
      throw new ImageError(named(options.name ?? src, `cannot fetch the <img> bytes (${e.message}); a cross-origin image must be served with CORS, or pass a Blob instead.`));
    });
    if (!res.ok) throw new ImageError(named(options.name ?? src, `HTTP ${res.status} while fetching the image bytes.`));
    return readBrowserImage(new Uint8Array(await res.arrayBuffer()), { ...options, name: options.name ?? src });
  }
  if (isBlob(input)) {
    const name = options.name ?? ((input as File).name || undefined);
    return readBrowserImage(new Uint8Array(await input.arrayBuffer()), name ? { ...options, name } : options);
  }
  if (isBitmap(input)) return toRgbImage(bitmapPixels(input, options.name), options);
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    if (sniffFormat(new Uint8Array(input instanceof Uint8Array ? input.subarray(0, 8) : input.slice(0, 8))) === 'jpeg') await initBrowserJpeg();
  }
  return toRgbImage(input as ImageInput, options);
}
