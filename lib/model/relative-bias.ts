/**
 * BEiT relative position bias (Bao et al. 2021, §2.6; HF `BeitRelativePositionBias`).
 * The table has (2*Wh-1)*(2*Ww-1) entries for patch-to-patch offsets plus three for CLS:
 * cls->token, token->cls and cls->cls. The index is computed once per model and the bias
 * `[heads, T, T]` is gathered once at load, never per call.
 */

/**
 * The HF relative position index for a `gh` x `gw` patch grid: `[T*T]` row-major, T = gh*gw + 1.
 * Token 0 is CLS; patch tokens are numbered row-major.
 */
export function relativePositionIndex(gh: number, gw: number): Int32Array {
  const N = gh * gw, T = N + 1;
  const numRel = (2 * gh - 1) * (2 * gw - 1) + 3;
  const index = new Int32Array(T * T);
  for (let i = 0; i < N; i++) {
    const hi = Math.floor(i / gw), wi = i % gw;
    for (let j = 0; j < N; j++) {
      const hj = Math.floor(j / gw), wj = j % gw;
      // (dh + gh - 1) * (2*gw - 1) + (dw + gw - 1), as in HF's relative_coords arithmetic
      index[(i + 1) * T + (j + 1)] = (hi - hj + gh - 1) * (2 * gw - 1) + (wi - wj + gw - 1);
    }
  }
  for (let j = 0; j < T; j++) index[j] = numRel - 3; // row 0: cls -> token
  for (let i = 0; i < T; i++) index[i * T] = numRel - 2; // column 0: token -> cls
  index[0] = numRel - 1; // cls -> cls
  return index;
}

/**
 * Gathers the bias `[heads, T, T]` from a table `[numRel, heads]` through the index.
 * @param table row-major float32 `[numRel, heads]`
 */
export function gatherRelativeBias(table: Float32Array, heads: number, index: Int32Array, T: number): Float32Array {
  const out = new Float32Array(heads * T * T);
  for (let p = 0; p < T * T; p++) {
    const row = index[p]! * heads;
    for (let h = 0; h < heads; h++) out[h * T * T + p] = table[row + h]!;
  }
  return out;
}
