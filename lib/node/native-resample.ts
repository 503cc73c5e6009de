/**
 * Image pixel loops on the native addon (native/image.cc) when the addon is present: Pillow-exact
 * resizing (the passes of lib/image/resample.ts with the same integer sums, so the same bytes), the
 * EXIF orientation (lib/image/exif.ts applyOrientation, the same permutation of pixels), both spread over
 * the addon's thread pool, and PNG row unfiltering (lib/image/png.ts, the same byte arithmetic). Without
 * the addon the JavaScript loops run.
 */
import { setResampleAccelerator, type AxisCoefficients, type ResampleAccelerator } from '../image/resample.js';
import { setOrientationAccelerator } from '../image/exif.js';
import { setPngUnfilter } from '../image/png.js';
import { loadNativeAddon, type NativeAddon } from './native-addon.js';

/** An accelerator calling `addon.resampleH` / `addon.resampleV`. */
export function nativeResampleAccelerator(addon: NativeAddon): ResampleAccelerator {
  return {
    horizontal(src: Uint8Array, inW: number, h: number, pix: number, channels: number, ax: AxisCoefficients,
      outW: number, out: Uint8Array): void {
      addon.resampleH(src, inW, h, pix, channels, ax.start, ax.count, ax.coeffs, ax.stride, outW, out);
    },
    vertical(src: Uint8Array, rowLen: number, inH: number, ax: AxisCoefficients, outH: number, out: Uint8Array): void {
      addon.resampleV(src, rowLen, inH, ax.start, ax.count, ax.coeffs, ax.stride, outH, out);
    },
  };
}

let installed = false;

/**
 * Installs the native loops once, if the addon loads and has their entry points (`BEIT_NATIVE_RESAMPLE=0`
 * keeps the JavaScript loops). Returns whether they are installed.
 */
export function installNativeResample(): boolean {
  if (installed) return true;
  if (process.env.BEIT_NATIVE_RESAMPLE === '0') return false;
  const addon = loadNativeAddon();
  if (addon === undefined || typeof addon.resampleH !== 'function' || typeof addon.orient !== 'function'
    || typeof addon.pngUnfilter !== 'function') return false;
  setResampleAccelerator(nativeResampleAccelerator(addon));
  setOrientationAccelerator((src, w, h, c, orientation, out) => addon.orient(src, w, h, c, orientation, out));
  setPngUnfilter((data, start, rows, rowBytes, bpp) => addon.pngUnfilter(data, start, rows, rowBytes, bpp));
  installed = true;
  return true;
}
