/**
 * The short TIFF decompressors (TIFF 6.0 specification, sections 9 and 13): PackBits and LZW, plus the
 * FillOrder 2 bit reversal. Each returns exactly the bytes a strip or tile should hold, or throws a
 * plain Error whose message the caller (tiff.ts) wraps into an ImageError naming the file. Deflate is
 * png.ts's inflater; CCITT is tiff-ccitt.ts.
 */

/** Bit-reversed bytes (FillOrder 2: the first pixel in a byte's low-order bit), as libtiff reads them. */
export function reverseBits(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    let b = bytes[i]!;
    b = ((b & 0xf0) >> 4) | ((b & 0x0f) << 4);
    b = ((b & 0xcc) >> 2) | ((b & 0x33) << 2);
    out[i] = ((b & 0xaa) >> 1) | ((b & 0x55) << 1);
  }
  return out;
}

/** PackBits (32773): n + 1 literal bytes for n in 0…127, 1 − n copies of the next byte for n in −127…−1. */
export function unpackBits(src: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let o = 0, p = 0;
  while (o < size && p < src.length) {
    const n = (src[p++]! << 24) >> 24;
    if (n >= 0) {
      if (p + n + 1 > src.length) break;
      const take = Math.min(n + 1, size - o);
      out.set(src.subarray(p, p + take), o);
      o += take; p += n + 1;
    } else if (n !== -128) {
      if (p >= src.length) break;
      out.fill(src[p++]!, o, Math.min(size, o + 1 - n));
      o = Math.min(size, o + 1 - n);
    }
  }
  if (o < size) throw new Error(`PackBits data ends after ${o} of ${size} bytes`);
  return out;
}

/**
 * TIFF LZW (5): MSB-first codes of 9 to 12 bits, Clear = 256, EOI = 257, the code width growing one
 * code early (at 511, 1023, 2047). A stream without EOI is accepted once the bytes are complete (libtiff
 * only warns); one that ends or breaks before is an error.
 * Each table entry is kept as where its string was last written in the output and its length (an
 * entry is the previous code's string plus one byte, which the output already holds right there), so
 * a code is a copy within the output rather than a walk along a prefix chain.
 */
export function unLzw(src: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const start = new Int32Array(4096), length = new Int32Array(4096).fill(1, 0, 256);
  let next = 258, width = 9, prev = -1, o = 0, bits = 0, acc = 0, p = 0;
  while (o < size) {
    while (bits < width && p < src.length) { acc = ((acc << 8) | src[p++]!) & 0xffffff; bits += 8; }
    if (bits < width) break;
    const code = (acc >>> (bits - width)) & ((1 << width) - 1);
    bits -= width;
    if (code === 257) break;
    if (code === 256) { next = 258; width = 9; prev = -1; continue; }
    if (prev < 0 ? code > 255 : code > next) throw new Error(`corrupt LZW data (code ${code} where the table has ${next})`);
    if (prev >= 0 && next < 4096) { // the new entry: the previous string plus the first byte of this one
      start[next] = start[prev]!; length[next] = length[prev]! + 1;
      next++;
      if (next + 1 >= 1 << width && width < 12) width++;
    }
    const at = o;
    if (code < 256) {
      out[o++] = code;
    } else {
      // Forward copy: for the code just added (code === next − 1 after a KwKwK), its last byte is the
      // first one being written, which the copy has already produced when it gets there.
      const from = start[code]!, n = Math.min(length[code]!, size - o);
      if (from + n <= o && n > 32) out.copyWithin(o, from, from + n);
      else for (let k = 0; k < n; k++) out[o + k] = out[from + k]!;
      o += n;
    }
    start[code] = at; // where the next entry, built on this string, finds it
    prev = code;
  }
  if (o < size) throw new Error(`LZW data ends after ${o} of ${size} bytes`);
  return out;
}
