/**
 * libjpeg's integer "islow" IDCT (jidctint.c) for the libjpeg-turbo port: 13-bit constants, 2 extra bits
 * between the column and row passes, an int workspace, and the post-IDCT range-limit table.
 * The arithmetic is done on doubles (exact: every intermediate is an integer well below 2^53), with the
 * butterfly written out in local variables for both passes (this is the port's hot loop).
 */

// libjpeg's islow IDCT constants: FIX(x) = round(x * 2^13).
const F0_298 = 2446, F0_390 = 3196, F0_541 = 4433, F0_765 = 6270, F0_899 = 7373, F1_175 = 9633, F1_501 = 12299,
  F1_847 = 15137, F1_961 = 16069, F2_053 = 16819, F2_562 = 20995, F3_072 = 25172;
const ONE = 8192; // 2^CONST_BITS

/**
 * libjpeg's DESCALE(x, n): add 2^(n-1), arithmetic shift by n (done as Math.floor(x·2^-n), exact on doubles
 * up to 2^53). Pass 1 shifts by CONST_BITS - PASS1_BITS = 11, pass 2 by CONST_BITS + PASS1_BITS + 3 = 18.
 */
const PASS1_HALF = 1024, PASS1_SCALE = 2 ** -11;
const PASS2_HALF = 131072, PASS2_SCALE = 2 ** -18;

/** libjpeg's post-IDCT range limit, indexed by (x & 1023): the table jdmaster.c builds (centre 128). */
const RANGE = Uint8Array.from({ length: 1024 }, (_, i) => (i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896));

/**
 * One block: dequantise + islow IDCT into out (row stride `stride`); ws is the 8x8 int workspace (an
 * Int32Array, so pass-1 results wrap to 32 bits as libjpeg's int workspace does).
 */
export function idctBlock(coefs: Int16Array, off: number, q: Int32Array, ws: Int32Array, out: Uint8Array, o: number, stride: number): void {
  for (let col = 0; col < 8; col++) { // pass 1: columns, kept with PASS1_BITS extra bits (int, as in libjpeg)
    const c = off + col;
    const a1 = coefs[c + 8]!, a2 = coefs[c + 16]!, a3 = coefs[c + 24]!, a4 = coefs[c + 32]!, a5 = coefs[c + 40]!,
      a6 = coefs[c + 48]!, a7 = coefs[c + 56]!;
    // jidctint.c's shortcut for a column without AC terms (most of them): the butterfly of (dc, 0, ..., 0)
    // gives dc·2^13 everywhere, which descales to dc << PASS1_BITS; same result, far less work.
    if (a1 === 0 && a2 === 0 && a3 === 0 && a4 === 0 && a5 === 0 && a6 === 0 && a7 === 0) {
      const dc = coefs[c]! * q[col]! * 4;
      ws[col] = dc; ws[col + 8] = dc; ws[col + 16] = dc; ws[col + 24] = dc;
      ws[col + 32] = dc; ws[col + 40] = dc; ws[col + 48] = dc; ws[col + 56] = dc;
      continue;
    }
    const v0 = coefs[c]! * q[col]!, v1 = a1 * q[col + 8]!, v2 = a2 * q[col + 16]!, v3 = a3 * q[col + 24]!,
      v4 = a4 * q[col + 32]!, v5 = a5 * q[col + 40]!, v6 = a6 * q[col + 48]!, v7 = a7 * q[col + 56]!;
    // Even part: the rotator is sqrt(2)·c(-6).
    let z1 = (v2 + v6) * F0_541;
    const e2 = z1 + v6 * -F1_847, e3 = z1 + v2 * F0_765;
    const e0 = (v0 + v4) * ONE, e1 = (v0 - v4) * ONE;
    const t10 = e0 + e3, t13 = e0 - e3, t11 = e1 + e2, t12 = e1 - e2;
    // Odd part.
    z1 = v7 + v1;
    let z2 = v5 + v3, z3 = v7 + v3, z4 = v5 + v1;
    const z5 = (z3 + z4) * F1_175;
    z1 *= -F0_899; z2 *= -F2_562; z3 = z3 * -F1_961 + z5; z4 = z4 * -F0_390 + z5;
    const o0 = v7 * F0_298 + z1 + z3, o1 = v5 * F2_053 + z2 + z4, o2 = v3 * F3_072 + z2 + z3, o3 = v1 * F1_501 + z1 + z4;
    ws[col] = Math.floor((t10 + o3 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 56] = Math.floor((t10 - o3 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 8] = Math.floor((t11 + o2 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 48] = Math.floor((t11 - o2 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 16] = Math.floor((t12 + o1 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 40] = Math.floor((t12 - o1 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 24] = Math.floor((t13 + o0 + PASS1_HALF) * PASS1_SCALE);
    ws[col + 32] = Math.floor((t13 - o0 + PASS1_HALF) * PASS1_SCALE);
  }
  for (let r = 0, d = o; r < 64; r += 8, d += stride) { // pass 2: rows, descaled to samples through the range limit
    const w0 = ws[r]!, w1 = ws[r + 1]!, w2 = ws[r + 2]!, w3 = ws[r + 3]!, w4 = ws[r + 4]!, w5 = ws[r + 5]!, w6 = ws[r + 6]!,
      w7 = ws[r + 7]!;
    if (w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0 && w6 === 0 && w7 === 0) {
      // the same shortcut for a row (jidctint.c: DESCALE(ws[0], PASS1_BITS + 3))
      const v = RANGE[Math.floor((w0 + 16) / 32) & 1023]!;
      out[d] = v; out[d + 1] = v; out[d + 2] = v; out[d + 3] = v; out[d + 4] = v; out[d + 5] = v; out[d + 6] = v; out[d + 7] = v;
      continue;
    }
    let z1 = (w2 + w6) * F0_541;
    const e2 = z1 + w6 * -F1_847, e3 = z1 + w2 * F0_765;
    const e0 = (w0 + w4) * ONE, e1 = (w0 - w4) * ONE;
    const t10 = e0 + e3, t13 = e0 - e3, t11 = e1 + e2, t12 = e1 - e2;
    z1 = w7 + w1;
    let z2 = w5 + w3, z3 = w7 + w3, z4 = w5 + w1;
    const z5 = (z3 + z4) * F1_175;
    z1 *= -F0_899; z2 *= -F2_562; z3 = z3 * -F1_961 + z5; z4 = z4 * -F0_390 + z5;
    const o0 = w7 * F0_298 + z1 + z3, o1 = w5 * F2_053 + z2 + z4, o2 = w3 * F3_072 + z2 + z3, o3 = w1 * F1_501 + z1 + z4;
    out[d] = RANGE[Math.floor((t10 + o3 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 7] = RANGE[Math.floor((t10 - o3 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 1] = RANGE[Math.floor((t11 + o2 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 6] = RANGE[Math.floor((t11 - o2 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 2] = RANGE[Math.floor((t12 + o1 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 5] = RANGE[Math.floor((t12 - o1 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 3] = RANGE[Math.floor((t13 + o0 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
    out[d + 4] = RANGE[Math.floor((t13 - o0 + PASS2_HALF) * PASS2_SCALE) & 1023]!;
  }
}
