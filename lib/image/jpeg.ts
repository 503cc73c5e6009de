/**
 * JPEG decoding with libjpeg-turbo compiled to WebAssembly (`@jsquash/jpeg`, the Squoosh build of
 * mozjpeg's decoder, which uses libjpeg-turbo's IDCT and upsampling). That is the same decoder family
 * Pillow links, and it reproduces Pillow's pixels exactly (measured on the fixtures), while pure-JS
 * decoders with a different IDCT do not.
 *
 * This module is runtime-neutral: it never touches the file system. Browsers can let @jsquash fetch
 * its .wasm next to its script, or call {@link initJpegDecoder} with a compiled module; Node code
 * calls `initJpegDecoderForNode()` from lib/node/codec-wasm.ts, which reads the .wasm file.
 *
 * Before handing bytes to the decoder, the marker segments are scanned here to read the frame size
 * (for the decompression-bomb guard), the components' sampling factors (CMYK files and 4:4:0 chroma
 * go to jpeg-port.ts, which reproduces what this build cannot: see there) and the first APP1 "Exif"
 * block (Pillow keeps the first one).
 */
import decodeWasm, { init as initWasm } from '@jsquash/jpeg/decode.js';
import { ImageError, named, type RgbImage } from './errors.js';
import { nextMarker } from './jpeg-entropy.js';
import { jpegNeedsPort, portJpegToRgb } from './jpeg-port.js';
import { rgbOfDecoded, WasmDecoder } from './wasm-decoder.js';

/** What the marker scan learns before decoding. */
export interface JpegHeader {
  readonly width: number;
  readonly height: number;
  /** Number of colour components in the frame (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK). */
  readonly components: number;
  /** Horizontal and vertical sampling factors of each component. */
  readonly sampling: readonly (readonly [number, number])[];
  /** Arithmetic-coded frame (SOF9-SOF15). */
  readonly arithmetic: boolean;
  /** Payload of the first APP1 "Exif\0\0" segment, if any. */
  readonly exif?: Uint8Array;
}

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** Scans JPEG marker segments up to the first SOS. Throws ImageError on a malformed or truncated header. */
export function readJpegHeader(bytes: Uint8Array, name?: string): JpegHeader {
  const fail = (why: string): never => { throw new ImageError(named(name, `not a valid JPEG file (${why}).`)); };
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) fail('missing SOI marker');
  let p = 2;
  let frame: Omit<JpegHeader, 'exif'> | undefined;
  let exif: Uint8Array | undefined;
  for (;;) {
    const next = nextMarker(bytes, p); // skips stray bytes between segments, as libjpeg and Pillow do
    if (!next) return fail('file is truncated before the image data');
    const m = next.m;
    p = next.p;
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue; // markers without a length
    if (m === 0xd9) fail('end of image before any image data');
    if (p + 2 > bytes.length) fail('file is truncated before the image data');
    const len = (bytes[p] << 8) | bytes[p + 1];
    if (len < 2 || p + len > bytes.length) fail('file is truncated before the image data');
    const seg = bytes.subarray(p + 2, p + len);
    if (m === 0xe1 && !exif && seg.length >= 6 && seg[0] === 0x45 && seg[1] === 0x78 && seg[2] === 0x69
      && seg[3] === 0x66 && seg[4] === 0 && seg[5] === 0) exif = seg.subarray(6);
    if (SOF.has(m) && !frame) {
      if (seg.length < 6 || seg.length < 6 + 3 * seg[5]) fail('short frame header');
      const sampling = Array.from({ length: seg[5] }, (_, i) => [seg[7 + 3 * i] >> 4, seg[7 + 3 * i] & 15] as const);
      frame = { height: (seg[1] << 8) | seg[2], width: (seg[3] << 8) | seg[4], components: seg[5], sampling, arithmetic: m >= 0xc9 };
    }
    if (m === 0xda) break;
    p += len;
  }
  if (!frame) return fail('no frame header before the image data');
  if (frame.width === 0 || frame.height === 0) fail(`frame size ${frame.width}x${frame.height} is not supported`);
  return exif ? { ...frame, exif } : frame;
}

const wasm = new WasmDecoder(initWasm, decodeWasm);

/**
 * Initialises the JPEG decoder from a compiled WebAssembly module or the raw .wasm bytes.
 * Optional in browsers (the default fetches the .wasm next to @jsquash's script); Node code should
 * call `initJpegDecoderForNode()` from lib/node/codec-wasm.ts. Calling it again is harmless.
 */
export function initJpegDecoder(module: WebAssembly.Module | BufferSource): Promise<void> {
  return wasm.init(module);
}

/** Whether {@link initJpegDecoder} has been called. */
export function jpegDecoderInitialised(): boolean {
  return wasm.initialised;
}

/**
 * Decodes a baseline or progressive, gray or YCbCr JPEG to 8-bit RGB (gray is replicated, as
 * Pillow's `convert("RGB")` does). No EXIF rotation here: see exif.ts.
 * Throws ImageError for corrupt or truncated data ("Premature end of JPEG file" is an error, as it
 * is for Pillow without LOAD_TRUNCATED_IMAGES). CMYK files and 4:4:0 chroma go through jpeg-port.ts;
 * YCCK and arithmetic-coded files are refused.
 */
export async function decodeJpeg(bytes: Uint8Array, header: JpegHeader, name?: string): Promise<RgbImage> {
  if (header.arithmetic) {
    throw new ImageError(named(name, 'arithmetic-coded JPEG is not supported (Pillow reads it; this decoder cannot). Re-save it with Huffman coding, e.g. `jpegtran -optimize`.'));
  }
  if (jpegNeedsPort(header.sampling)) return portJpegToRgb(bytes, name);
  if (header.components !== 1 && header.components !== 3) {
    throw new ImageError(named(name, `JPEG with ${header.components} colour components is not supported.`));
  }
  const { rgba, thrown, messages } = await wasm.decode(bytes);
  if (!rgba) {
    const why = messages.at(-1) ?? (thrown instanceof Error ? thrown.message : 'decoding failed');
    throw new ImageError(named(name, `corrupt JPEG data (${why}).`));
  }
  const premature = messages.find((w) => /premature end/i.test(w));
  if (premature) throw new ImageError(named(name, `JPEG file is truncated (${premature}).`));
  return rgbOfDecoded(rgba, header, 'JPEG', name);
}
