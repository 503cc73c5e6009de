/**
 * libjpeg's integer "islow" IDCT (jidctint.c) for the libjpeg-turbo port: 13-bit constants, 2 extra bits
 * between the column and row passes, an int workspace, and the post-IDCT range-limit table.
 */

// libjpeg's islow IDCT constants: FIX(x) = round(x * 2^13).
const CONST_BITS = 13, PASS1_BITS = 2;
const F0_298 = 2446, F0_390 = 3196, F0_541 = 4433, F0_765 = 6270, F0_899 = 7373, F1_175 = 9633, F1_501 = 12299,
  F1_847 = 15137, F1_961 = 16069, F2_053 = 16819, F2_562 = 20995, F3_072 = 25172;

/** libjpeg's DESCALE(x, n): add 2^(n-1), arithmetic shift by n (exact on doubles up to 2^53). */
const PASS1_SHIFT = CONST_BITS - PASS1_BITS, PASS2_SHIFT = CONST_BITS + PASS1_BITS + 3;
const PASS1_HALF = 2 ** (PASS1_SHIFT - 1), PASS1_SCALE = 2 ** -PASS1_SHIFT;
const PASS2_HALF = 2 ** (PASS2_SHIFT - 1), PASS2_SCALE = 2 ** -PASS2_SHIFT;
function descale1(x: number): number {
  return Math.floor((x + PASS1_HALF) * PASS1_SCALE);
}
function descale2(x: number): number {
  return Math.floor((x + PASS2_HALF) * PASS2_SCALE);
}

/** libjpeg's post-IDCT range limit, indexed by (x & 1023): the table jdmaster.c builds (centre 128). */
const RANGE = Uint8Array.from({ length: 1024 }, (_, i) => (i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896));

/**
 * libjpeg's 1-D islow butterfly: v[0..7] (one column or row) -> t[0..7], before descaling. Both passes
 * use it; they differ only in what they feed it and how they descale (see idctBlock).
 */
function butterfly(v: Float64Array, t: Float64Array): void {
  // Even part: the rotator is sqrt(2)·c(-6).
  let z1 = (v[2]! + v[6]!) * F0_541;
  let tmp2 = z1 + v[6]! * -F1_847;
  let tmp3 = z1 + v[2]! * F0_765;
  let tmp0 = (v[0]! + v[4]!) * 2 ** CONST_BITS;
  let tmp1 = (v[0]! - v[4]!) * 2 ** CONST_BITS;
  const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  // Odd part.
  tmp0 = v[7]!; tmp1 = v[5]!; tmp2 = v[3]!; tmp3 = v[1]!;
  z1 = tmp0 + tmp3;
  let z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
  const z5 = (z3 + z4) * F1_175;
  tmp0 *= F0_298; tmp1 *= F2_053; tmp2 *= F3_072; tmp3 *= F1_501;
  z1 *= -F0_899; z2 *= -F2_562; z3 *= -F1_961; z4 *= -F0_390;
  z3 += z5; z4 += z5;
  tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
  t[0] = tmp10 + tmp3; t[7] = tmp10 - tmp3; t[1] = tmp11 + tmp2; t[6] = tmp11 - tmp2;
  t[2] = tmp12 + tmp1; t[5] = tmp12 - tmp1; t[3] = tmp13 + tmp0; t[4] = tmp13 - tmp0;
}

const bv = new Float64Array(8), bt = new Float64Array(8);

/** One block: dequantise + islow IDCT into out (row stride `stride`); ws is the 8x8 int workspace. */
export function idctBlock(coefs: Int16Array, off: number, q: Int32Array, ws: Int32Array, out: Uint8Array, o: number, stride: number): void {
  for (let col = 0; col < 8; col++) { // pass 1: columns, kept with PASS1_BITS extra bits (int, as in libjpeg)
    const c = off + col;
    // jidctint.c's shortcut for a column without AC terms (most of them): the butterfly of (dc, 0, ..., 0)
    // gives dc·2^13 everywhere, which descales to dc << PASS1_BITS; same result, far less work.
    if (coefs[c + 8] === 0 && coefs[c + 16] === 0 && coefs[c + 24] === 0 && coefs[c + 32] === 0 && coefs[c + 40] === 0
      && coefs[c + 48] === 0 && coefs[c + 56] === 0) {
      const dc = coefs[c]! * q[col]! * (1 << PASS1_BITS);
      for (let k = 0; k < 8; k++) ws[k * 8 + col] = dc;
      continue;
    }
    for (let k = 0; k < 8; k++) bv[k] = coefs[c + k * 8]! * q[k * 8 + col]!;
    butterfly(bv, bt);
    for (let k = 0; k < 8; k++) ws[k * 8 + col] = descale1(bt[k]!);
  }
  for (let row = 0; row < 8; row++) { // pass 2: rows, descaled to samples through the range limit
    const r = row * 8, d = o + row * stride;
    if (ws[r + 1] === 0 && ws[r + 2] === 0 && ws[r + 3] === 0 && ws[r + 4] === 0 && ws[r + 5] === 0 && ws[r + 6] === 0
      && ws[r + 7] === 0) { // the same shortcut for a row (jidctint.c: DESCALE(ws[0], PASS1_BITS + 3))
      const v = RANGE[Math.floor((ws[r]! + 16) / 32) & 1023]!;
      for (let k = 0; k < 8; k++) out[d + k] = v;
      continue;
    }
    for (let k = 0; k < 8; k++) bv[k] = ws[r + k]!;
    butterfly(bv, bt);
    for (let k = 0; k < 8; k++) out[d + k] = RANGE[descale2(bt[k]!) & 1023]!;
  }
}
