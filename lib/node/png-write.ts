/**
 * Node-only PNG encoder for 8-bit RGBA pixels (the attention overlay): IHDR, one zlib-compressed IDAT
 * with filter type 0 on every row, IEND. Twenty lines over node:zlib and the decoder's CRC, rather than
 * a dependency for one output format.
 */
import zlib from 'node:zlib';
import { crc32 } from '../image/png.js';

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes `width × height` RGBA pixels (row-major, 4 bytes each) as a PNG file. */
export function encodePngRgba(data: Uint8Array | Uint8ClampedArray, width: number, height: number): Buffer {
  if (data.length !== width * height * 4) throw new RangeError(`encodePngRgba: ${data.length} bytes for ${width}x${height} RGBA`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, deflate, no interlace
  const raw = Buffer.alloc(height * (1 + 4 * width));
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * 4 * width, (y + 1) * 4 * width), y * (1 + 4 * width) + 1);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}
