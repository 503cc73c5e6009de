/**
 * WebP decoding with libwebp compiled to WebAssembly (`@jsquash/webp`, the Squoosh build). Pillow
 * decodes WebP with libwebp too (fancy upsampling, unpremultiplied RGBA), and lossy VP8, lossless VP8L
 * and the alpha plane are all integer-exact, so the pixels match Pillow's (measured on lossy,
 * lossless, alpha, tiny and odd-sized files made with Pillow 9.4: identical bytes).
 *
 * Runtime-neutral like jpeg.ts: Node initialises the decoder from the package's .wasm file
 * (lib/node/codec-wasm.ts), browsers fetch it next to the bundle (lib/browser/image.ts).
 *
 * The RIFF chunks are read here first, for the canvas size (decompression-bomb guard before any pixel
 * memory), the EXIF chunk (orientation, as Pillow's `exif_transpose` reads it) and animation. Of an
 * animated file Pillow returns the first frame as libwebp's WebPAnimDecoder renders it: a key frame,
 * decoded straight onto a canvas of transparent black at its offset (no blending); here the frame's
 * chunks are rewrapped as a still WebP, decoded, and placed the same way.
 */
import decodeWasm, { init as initWasm } from '@jsquash/webp/decode.js';
import { ImageError, named, type RgbImage } from './errors.js';
import { rgbOfDecoded, WasmDecoder } from './wasm-decoder.js';

/** What the chunk scan learns before decoding. */
export interface WebpHeader {
  readonly width: number;
  readonly height: number;
  /** TIFF-structured EXIF payload ("Exif\0\0" prefix removed), if the file has an EXIF chunk. */
  readonly exif?: Uint8Array;
  /** Animated files: the first frame's place on the canvas and its chunks (ALPH?, VP8 or VP8L). */
  readonly firstFrame?: { readonly x: number; readonly y: number; readonly width: number; readonly height: number; readonly chunks: Uint8Array };
}

const fourcc = (b: Uint8Array, p: number): string => String.fromCharCode(b[p]!, b[p + 1]!, b[p + 2]!, b[p + 3]!);
const u32 = (b: Uint8Array, p: number): number => (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
const u24 = (b: Uint8Array, p: number): number => b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);

/** Whether the bytes start like a WebP file ("RIFF" size "WEBP"). */
export function isWebp(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && fourcc(bytes, 0) === 'RIFF' && fourcc(bytes, 8) === 'WEBP';
}

/** Scans the RIFF chunks. Throws ImageError on a malformed, truncated or animated file. */
export function readWebpHeader(bytes: Uint8Array, name?: string): WebpHeader {
  const fail = (why: string): never => { throw new ImageError(named(name, `not a valid WebP file (${why}).`)); };
  if (!isWebp(bytes)) fail('missing RIFF/WEBP signature');
  const end = Math.min(bytes.length, 8 + u32(bytes, 4));
  let size: { width: number; height: number } | undefined;
  let canvas: { width: number; height: number } | undefined;
  let exif: Uint8Array | undefined;
  let animated = false;
  let exifFlag = false;
  let firstFrame: WebpHeader['firstFrame'];
  for (let p = 12; p + 8 <= end;) {
    const id = fourcc(bytes, p), len = u32(bytes, p + 4), data = p + 8;
    if (data + len > bytes.length) fail(`chunk ${JSON.stringify(id)} is truncated`);
    if (id === 'VP8X') {
      if (len < 10) fail('short VP8X chunk');
      animated = (bytes[data]! & 0x02) !== 0;
      exifFlag = (bytes[data]! & 0x08) !== 0; // libwebp's demuxer (Pillow) skips an EXIF chunk the flags do not announce
      canvas = { width: u24(bytes, data + 4) + 1, height: u24(bytes, data + 7) + 1 };
    } else if (id === 'ANMF' && !firstFrame) {
      if (len < 16) fail('short ANMF chunk');
      firstFrame = { x: 2 * u24(bytes, data), y: 2 * u24(bytes, data + 3), width: u24(bytes, data + 6) + 1,
        height: u24(bytes, data + 9) + 1, chunks: bytes.subarray(data + 16, data + len) };
    } else if (id === 'VP8 ' && !size) {
      if (len < 10 || bytes[data + 3] !== 0x9d || bytes[data + 4] !== 0x01 || bytes[data + 5] !== 0x2a) fail('bad VP8 frame header');
      size = { width: (bytes[data + 6]! | (bytes[data + 7]! << 8)) & 0x3fff, height: (bytes[data + 8]! | (bytes[data + 9]! << 8)) & 0x3fff };
    } else if (id === 'VP8L' && !size) {
      if (len < 5 || bytes[data] !== 0x2f) fail('bad VP8L header');
      const v = u32(bytes, data + 1);
      size = { width: (v & 0x3fff) + 1, height: ((v >>> 14) & 0x3fff) + 1 };
    } else if (id === 'EXIF' && !exif && exifFlag) {
      const e = bytes.subarray(data, data + len);
      const prefixed = e.length >= 6 && fourcc(e, 0) === 'Exif' && e[4] === 0 && e[5] === 0;
      exif = prefixed ? e.subarray(6) : e;
    }
    p = data + len + (len & 1);
  }
  if (animated || firstFrame) {
    if (!canvas || !firstFrame) return fail('animation without a canvas or frames');
    if (firstFrame.x + firstFrame.width > canvas.width || firstFrame.y + firstFrame.height > canvas.height) fail('first frame outside the canvas');
    return { ...canvas, firstFrame, ...(exif ? { exif } : {}) };
  }
  const dims = canvas ?? size;
  if (!size || !dims) return fail('no VP8 or VP8L image data');
  if (!dims.width || !dims.height) fail(`image size ${dims.width}x${dims.height} is not supported`);
  return exif ? { ...dims, exif } : dims;
}

const wasm = new WasmDecoder(initWasm, decodeWasm);

/** Initialises the WebP decoder from a compiled module or the raw .wasm bytes. Calling it again is harmless. */
export function initWebpDecoder(module: WebAssembly.Module | BufferSource): Promise<void> {
  return wasm.init(module);
}

/** A still WebP file made of an animation frame's chunks (with a VP8X header when they carry alpha). */
function stillFromFrame(chunks: Uint8Array, width: number, height: number): Uint8Array {
  const hasAlpha = chunks.length >= 4 && fourcc(chunks, 0) === 'ALPH';
  const vp8x = hasAlpha ? 18 : 0;
  const out = new Uint8Array(12 + vp8x + chunks.length);
  const put32 = (p: number, v: number) => { out[p] = v & 255; out[p + 1] = (v >>> 8) & 255; out[p + 2] = (v >>> 16) & 255; out[p + 3] = (v >>> 24) & 255; };
  out.set([0x52, 0x49, 0x46, 0x46], 0); // RIFF
  put32(4, out.length - 8);
  out.set([0x57, 0x45, 0x42, 0x50], 8); // WEBP
  if (hasAlpha) {
    out.set([0x56, 0x50, 0x38, 0x58], 12); // VP8X
    put32(16, 10);
    out[20] = 0x10; // alpha
    put32(24, width - 1); // 24-bit fields; the fourth byte is overwritten next
    put32(27, height - 1);
    out[30] = 0;
  }
  out.set(chunks, 12 + vp8x);
  return out;
}

/** Whether {@link initWebpDecoder} has been called. */
export function webpDecoderInitialised(): boolean {
  return wasm.initialised;
}

/**
 * Decodes a still WebP (lossy or lossless, with or without alpha) to 8-bit RGB; alpha is dropped, as
 * Pillow's `convert("RGB")` does. No EXIF rotation here: see exif.ts.
 */
export async function decodeWebp(bytes: Uint8Array, header: WebpHeader, name?: string): Promise<RgbImage> {
  const f = header.firstFrame;
  if (f) {
    const frame = await decodeWebp(stillFromFrame(f.chunks, f.width, f.height), { width: f.width, height: f.height }, name);
    const rgb = new Uint8Array(header.width * header.height * 3); // transparent black outside the frame
    for (let y = 0; y < f.height; y++) rgb.set(frame.data.subarray(y * f.width * 3, (y + 1) * f.width * 3), ((f.y + y) * header.width + f.x) * 3);
    return { width: header.width, height: header.height, data: rgb };
  }
  const { rgba } = await wasm.decode(bytes);
  if (!rgba) throw new ImageError(named(name, 'corrupt or truncated WebP data.'));
  return rgbOfDecoded(rgba, header, 'WebP', name);
}
