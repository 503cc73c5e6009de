/**
 * Draws an {@link AttentionMap} over the image it came from: the patch grid is upsampled bilinearly
 * (pixel centres, edges clamped) onto the part of the original image the model saw (the processor
 * may have resized with a kept aspect ratio and centre-cropped), min-max normalised, coloured with a
 * jet-like colormap and alpha-blended over the image. Pixels outside that part are dimmed.
 * Produces RGBA bytes (an `ImageData`-shaped object) so the same code serves the CLI's PNG and the
 * browser's canvas.
 */
import type { RgbImage } from '../image/errors.js';
import { resizeOutputSize, type ProcessorConfig } from '../image/processor.js';
import type { AttentionMap } from './attention.js';

/** A rectangle in image pixels (may extend past the image when the crop was padded). */
export interface Region {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** RGBA pixels, row-major; structurally an `ImageData`. */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray<ArrayBuffer>;
}

/** Options of {@link overlayAttention}. */
export interface OverlayOptions {
  /** Weight of the colormap over the image, 0..1 (default 0.5). */
  readonly alpha?: number;
  /** The part of the image the model saw (default: the whole image; see {@link modelRegion}). */
  readonly region?: Region;
  /** Brightness kept outside the region, 0..1 (default 0.35). */
  readonly dim?: number;
}

/**
 * The rectangle of a `width` x `height` image that the processor turns into the model input:
 * the whole image unless a centre crop cut part of the resized image away.
 */
export function modelRegion(processor: ProcessorConfig, width: number, height: number): Region {
  const resized = processor.do_resize ? resizeOutputSize(processor.size, height, width) : { width, height };
  if (!processor.do_center_crop) return { x: 0, y: 0, width, height };
  const sx = width / resized.width, sy = height / resized.height;
  const crop = processor.crop_size;
  // transformers' center_crop: offsets floor((size - crop) / 2), in resized pixels
  const left = Math.floor((resized.width - crop.width) / 2);
  const top = Math.floor((resized.height - crop.height) / 2);
  return { x: left * sx, y: top * sy, width: crop.width * sx, height: crop.height * sy };
}

/** Jet-like colormap: 0 -> dark blue, 0.5 -> green-yellow, 1 -> dark red. Returns 0..255 RGB. */
export function jet(t: number): [number, number, number] {
  const c = (v: number) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** Min-max normalises the map's values to 0..1 (all zeros when the map is flat). */
export function normalizeMap(values: Float32Array): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const span = hi - lo;
  return values.map((v) => (span > 0 ? (v - lo) / span : 0));
}

/** Bilinear sample of a row-major `gh x gw` grid at continuous cell coordinates (cell centres at i + 0.5). */
function sample(grid: Float32Array, gh: number, gw: number, gy: number, gx: number): number {
  const fy = Math.min(gh - 1, Math.max(0, gy - 0.5)), fx = Math.min(gw - 1, Math.max(0, gx - 0.5));
  const y0 = Math.floor(fy), x0 = Math.floor(fx);
  const y1 = Math.min(gh - 1, y0 + 1), x1 = Math.min(gw - 1, x0 + 1);
  const wy = fy - y0, wx = fx - x0;
  const top = grid[y0 * gw + x0]! * (1 - wx) + grid[y0 * gw + x1]! * wx;
  const bottom = grid[y1 * gw + x0]! * (1 - wx) + grid[y1 * gw + x1]! * wx;
  return top * (1 - wy) + bottom * wy;
}

/** Blends the colour-mapped attention over `image`; the result has the image's size. */
export function overlayAttention(image: RgbImage, map: AttentionMap, options: OverlayOptions = {}): RgbaImage {
  const { width, height, data } = image;
  const alpha = options.alpha ?? 0.5;
  const dim = options.dim ?? 0.35;
  const r = options.region ?? { x: 0, y: 0, width, height };
  const grid = normalizeMap(map.values);
  const gh = map.gridHeight, gw = map.gridWidth;
  const lut = Array.from({ length: 256 }, (_, i) => jet(i / 255));
  const out = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const gy = ((y + 0.5 - r.y) / r.height) * gh; // continuous grid row of this pixel centre
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const gx = ((x + 0.5 - r.x) / r.width) * gw;
      const inside = gy >= 0 && gy < gh && gx >= 0 && gx < gw;
      if (inside) {
        const [cr, cg, cb] = lut[Math.round(255 * sample(grid, gh, gw, gy, gx))]!;
        out[i * 4] = (1 - alpha) * data[i * 3]! + alpha * cr;
        out[i * 4 + 1] = (1 - alpha) * data[i * 3 + 1]! + alpha * cg;
        out[i * 4 + 2] = (1 - alpha) * data[i * 3 + 2]! + alpha * cb;
      } else {
        out[i * 4] = dim * data[i * 3]!;
        out[i * 4 + 1] = dim * data[i * 3 + 1]!;
        out[i * 4 + 2] = dim * data[i * 3 + 2]!;
      }
      out[i * 4 + 3] = 255;
    }
  }
  return { width, height, data: out };
}
