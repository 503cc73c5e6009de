/**
 * Browser image inputs -> 8-bit RGB. Encoded bytes (a `Blob`/`File`, or the bytes behind an
 * `<img>`'s `src`) go through this package's own PNG/JPEG/WebP/GIF/BMP/TIFF decoders, so the pixels are identical to
 * Node's and to Pillow's. The browser's own decoding (canvas) differs (colour management, its JPEG
 * IDCT, premultiplied alpha), so it is used only for inputs that are already decoded pixels:
 * `ImageBitmap` and `ImageData`, taken as they are and documented as such. The JPEG and WebP decoders'
 * `.wasm` files are fetched from next to the bundle (on first use) unless the caller provides them.
 */
import { sniffFormat, type DecodeOptions } from '../image/decode.js';
import { ImageError, named, type RgbImage } from '../image/errors.js';
import { toRgbImage, type ImageInput } from '../image/input.js';
import { describeBody, fetchImageBytes, imageSourceName, type FetchImageOptions } from '../image/source.js';
import { initJpegDecoder, jpegDecoderInitialised } from '../image/jpeg.js';
import { initWebpDecoder, webpDecoderInitialised } from '../image/webp.js';

/**
 * What the browser model reads:
 * - `Blob` / `File`: PNG, JPEG, WebP, GIF, BMP or TIFF bytes, decoded like in Node (exact);
 * - `HTMLImageElement`: its `currentSrc`/`src` is fetched again (normally from the HTTP cache) and the
 *   bytes are decoded like a Blob (exact); never its rendered pixels;
 * - `ImageBitmap`, `ImageData`, a canvas (`HTMLCanvasElement`, `OffscreenCanvas`): pixels the browser already
 *   decoded or drew, taken as they are (not bit-identical to Pillow for JPEGs; alpha is dropped, not composited);
 * - a string: a URL (absolute, relative to the page, `data:` or `blob:`) whose bytes are fetched and
 *   decoded like a Blob (exact), as `transformers`' `load_image` takes http(s) URLs and base64 data URLs;
 * - any {@link ImageInput}: encoded bytes, raw RGB/RGBA pixels, a `[H, W, 3]` tensor.
 */
export type BrowserImageInput = string | Blob | HTMLImageElement | ImageBitmap | ImageData | HTMLCanvasElement | OffscreenCanvas
  | ImageInput;

/** Fetches a decoder's .wasm (from `url`, else next to the bundle) and initialises it once. */
function wasmLoader(label: string, file: string, setter: string, initialised: () => boolean,
  initDecoder: (wasm: BufferSource) => Promise<void>): { setUrl: (url: string) => void; init: () => Promise<void> } {
  let url: string | undefined;
  let pending: Promise<void> | undefined;
  return {
    setUrl: (u) => { url = u; },
    init: () => {
      if (initialised()) return pending ?? Promise.resolve();
      pending = (async () => {
        const where = url ?? new URL(`./${file}`, import.meta.url).href;
        const res = await fetch(where);
        if (!res.ok) throw new ImageError(`${label} decoder: ${where}: HTTP ${res.status}; serve ${file} next to the bundle or call ${setter}().`);
        await initDecoder(new Uint8Array(await res.arrayBuffer()));
      })();
      pending.catch(() => { pending = undefined; });
      return pending;
    },
  };
}

const jpegWasm = wasmLoader('JPEG', 'mozjpeg_dec.wasm', 'setJpegWasmUrl', jpegDecoderInitialised, initJpegDecoder);
const webpWasm = wasmLoader('WebP', 'webp_dec.wasm', 'setWebpWasmUrl', webpDecoderInitialised, initWebpDecoder);

/** Sets where the JPEG decoder's `mozjpeg_dec.wasm` is fetched from (default: next to this bundle). */
export function setJpegWasmUrl(url: string): void {
  jpegWasm.setUrl(url);
}

/** Fetches and compiles the JPEG decoder's wasm once. */
export function initBrowserJpeg(): Promise<void> {
  return jpegWasm.init();
}

/** Sets where the WebP decoder's `webp_dec.wasm` is fetched from (default: next to this bundle). */
export function setWebpWasmUrl(url: string): void {
  webpWasm.setUrl(url);
}

/** Fetches and compiles the WebP decoder's wasm once (done on the first WebP image). */
export function initBrowserWebp(): Promise<void> {
  return webpWasm.init();
}

const isBlob = (x: unknown): x is Blob => typeof Blob !== 'undefined' && x instanceof Blob;
const isImg = (x: unknown): x is HTMLImageElement => typeof HTMLImageElement !== 'undefined' && x instanceof HTMLImageElement;
const isBitmap = (x: unknown): x is ImageBitmap => typeof ImageBitmap !== 'undefined' && x instanceof ImageBitmap;
const isCanvas = (x: unknown): x is HTMLCanvasElement | OffscreenCanvas =>
  (typeof HTMLCanvasElement !== 'undefined' && x instanceof HTMLCanvasElement)
  || (typeof OffscreenCanvas !== 'undefined' && x instanceof OffscreenCanvas);

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
  try {
    return ctx.getImageData(0, 0, width, height);
  } catch (e) {
    throw new ImageError(named(name, `the browser will not give these pixels (${(e as Error).name}): the image came from another origin `
      + 'without CORS; serve it with Access-Control-Allow-Origin, or pass its bytes (a Blob or File).'));
  }
}

/** Decodes any {@link BrowserImageInput} to RGB (see the type for which inputs are exact). */
export async function readBrowserImage(input: BrowserImageInput, options: DecodeOptions = {},
  fetchOptions: FetchImageOptions = {}): Promise<RgbImage> {
  if (typeof input === 'string') {
    const name = options.name ?? imageSourceName(input);
    const { bytes, contentType } = await fetchImageBytes(input, fetchOptions);
    try {
      return await readBrowserImage(bytes, { ...options, name });
    } catch (e) {
      throw describeBody(e, contentType);
    }
  }
  if (isImg(input)) {
    const src = input.currentSrc || input.src;
    if (!src) throw new ImageError(named(options.name, 'the <img> element has no src.'));
    // Its bytes are fetched again like a URL string, with the same idle timeout and size limit.
    try {
      return await readBrowserImage(src, { ...options, name: options.name ?? imageSourceName(src) }, fetchOptions);
    } catch (e) {
      if (!(e instanceof ImageError) || !/cannot download|network/i.test(e.message)) throw e;
      throw new ImageError(`${e.message.replace(/\.$/, '')}; an <img> is read again from its src: a cross-origin image must be `
        + `served with CORS${src.startsWith('blob:') ? ', and its blob: URL must not be revoked yet' : ''}. Passing the File or Blob avoids both.`);
    }
  }
  if (isCanvas(input)) {
    if (!input.width || !input.height) throw new ImageError(named(options.name, `the canvas is empty (${input.width}x${input.height}).`));
    return toRgbImage(bitmapPixels(await createImageBitmap(input), options.name), options);
  }
  if (isBlob(input)) {
    const name = options.name ?? ((input as File).name || undefined);
    return readBrowserImage(new Uint8Array(await input.arrayBuffer()), name ? { ...options, name } : options);
  }
  if (isBitmap(input)) return toRgbImage(bitmapPixels(input, options.name), options);
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const format = sniffFormat(new Uint8Array(input instanceof Uint8Array ? input.subarray(0, 12) : input.slice(0, 12)));
    if (format === 'jpeg') await initBrowserJpeg();
    if (format === 'webp') await initBrowserWebp();
  }
  return toRgbImage(input as ImageInput, options);
}
