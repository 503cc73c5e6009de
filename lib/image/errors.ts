/**
 * Error and image types of the image pipeline. Their `name` is what the CLI uses to print them as one
 * short paragraph without a stack trace (see lib/cli/main.ts `isKnownError`).
 */

/** An image could not be read: empty, truncated, corrupt, unsupported or too large. */
export class ImageError extends Error {
  override name = 'ImageError';
  constructor(message: string) {
    super(message);
  }
}

/** Prefixes a message with the image's name when one is known. */
export function named(name: string | undefined, message: string): string {
  return name ? `${name}: ${message}` : message;
}

/** A decoded 8-bit RGB image, row-major HWC (`data.length === width * height * 3`). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** RGBA (or RGBX) pixels as an RgbImage, alpha dropped (never composited), as Pillow's `convert("RGB")`. */
export function rgbFromRgba(rgba: ArrayLike<number>, width: number, height: number): RgbImage {
  const n = width * height, rgb = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    rgb[i * 3] = rgba[j]!;
    rgb[i * 3 + 1] = rgba[j + 1]!;
    rgb[i * 3 + 2] = rgba[j + 2]!;
  }
  return { width, height, data: rgb };
}
