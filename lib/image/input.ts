/**
 * The forms an image can take on the way into the pipeline, all normalised to an 8-bit
 * {@link RgbImage}: encoded PNG/JPEG/WebP/GIF/BMP/TIFF bytes, raw RGB/RGBA pixel buffers (e.g. a canvas `ImageData`),
 * or a TensorFlow.js tensor `[H, W, 3]`. RGBA drops alpha without compositing, like Pillow's
 * `convert("RGB")`. Runtime-neutral; tfjs-core is only used as a type here.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { decodeImage, type DecodeOptions } from './decode.js';
import { ImageError, named, rgbFromRgba, type RgbImage } from './errors.js';

/** Raw 8-bit pixels, row-major HWC, 3 (RGB) or 4 (RGBA) channels; `ImageData` fits this shape. */
export interface RawPixels {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  /** 3 or 4; inferred from the data length when omitted. */
  readonly channels?: 3 | 4;
}

/** Anything {@link toRgbImage} accepts. */
export type ImageInput = Uint8Array | ArrayBuffer | RawPixels | Tensor;

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'dtype' in x && 'shape' in x && typeof (x as Tensor).data === 'function';
}

/** Converts raw RGB/RGBA pixels to an RgbImage (copying; alpha dropped). */
export function fromRawPixels(px: RawPixels, name?: string): RgbImage {
  const { width, height, data } = px;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    // Float pixels would be truncated silently (NaN to 0): 8-bit values are what load_image gives.
    throw new ImageError(named(name, `raw pixels must be a Uint8Array or Uint8ClampedArray of 0…255 values, got ${
      (data as object)?.constructor?.name ?? typeof data}.`));
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError(named(name, `raw pixels need positive integer width and height, got ${width}x${height}.`));
  }
  const n = width * height;
  const channels = px.channels ?? (data.length === n * 4 ? 4 : 3);
  if ((channels !== 3 && channels !== 4) || data.length !== n * channels) {
    throw new ImageError(named(name, `raw pixels: expected ${n}x3 or ${n}x4 bytes for ${width}x${height}, got ${data.length}.`));
  }
  if (channels === 3) return { width, height, data: Uint8Array.from(data) };
  return rgbFromRgba(data, width, height);
}

/** Reads a `[H, W, 3]` int32 tensor (values must be integers 0…255). Does not dispose it. */
export async function fromTensor(t: Tensor, name?: string): Promise<RgbImage> {
  if (t.shape.length !== 3 || t.shape[2] !== 3) {
    throw new ImageError(named(name, `image tensor must have shape [height, width, 3], got [${t.shape.join(', ')}].`));
  }
  if (t.dtype !== 'int32' && t.dtype !== 'float32') {
    throw new ImageError(named(name, `image tensor must be int32 (or integral float32) with values 0..255, got ${t.dtype}.`));
  }
  const [height, width] = t.shape as [number, number, number];
  const values = (await t.data()) as Int32Array | Float32Array;
  const rgb = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) {
      throw new ImageError(named(name, `image tensor values must be integers in 0..255, found ${v} at index ${i}.`));
    }
    rgb[i] = v;
  }
  return { width, height, data: rgb };
}

/**
 * Normalises any {@link ImageInput} to RGB. Encoded bytes are decoded with EXIF orientation
 * applied (see decode.ts); pixel buffers and tensors are taken as they are.
 */
export async function toRgbImage(input: ImageInput, options: DecodeOptions = {}): Promise<RgbImage> {
  if (input instanceof Uint8Array) return decodeImage(input, options);
  if (input instanceof ArrayBuffer) return decodeImage(new Uint8Array(input), options);
  if (isTensor(input)) return fromTensor(input, options.name);
  if (typeof input === 'object' && input !== null && 'data' in input) return fromRawPixels(input, options.name);
  throw new ImageError(named(options.name, 'unsupported image input: expected encoded bytes, raw pixels or a [H, W, 3] tensor.'));
}
