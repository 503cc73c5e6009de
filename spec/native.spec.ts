/**
 * The native backend (native/ + lib/node/native-*.ts): the matrix product against a float64
 * reference on awkward shapes, every micro-kernel this CPU supports and several thread counts;
 * the other native kernels against tfjs's CPU backend. Skipped, with the reason, only when the
 * addon was not built.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  ATTENTION_KERNEL, LAYER_KERNEL, LAYER_NORM_KERNEL, MLP_KERNEL, PACKED_MATMUL_KERNEL, PACK_WEIGHTS_KERNEL, nativeAddon, nativeKernelNames, nativeUnavailableReason, registerNativeBackend,
} from '../lib/node/native-backend.js';
import { ACT_CODES, STREAM_BYTES_DEFAULT, type NativeAddon } from '../lib/node/native-addon.js';

/** Deterministic uniform values in [-1, 1) (xorshift), so failures reproduce. */
function randoms(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** float64 C = op(A)·op(B) for one matrix pair. */
function refProduct(a: Float32Array, b: Float32Array, M: number, N: number, K: number, tA: boolean, tB: boolean,
  aOff = 0, bOff = 0): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += a[aOff + (tA ? k * M + i : i * K + k)]! * b[bOff + (tB ? j * K + k : k * N + j)]!;
      }
      c[i * N + j] = s;
    }
  }
  return c;
}

const erf64 = (x: number): number => {
  // Series / continued fraction are overkill here: a 1e-7-accurate float64 erf (A&S 7.1.26 is 1.5e-7).
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const y = 1 - t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? y : -y;
};

const ACTS: Record<string, (x: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(0, x),
  relu6: (x) => Math.min(6, Math.max(0, x)),
  gelu: (x) => 0.5 * x * (1 + erf64(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  leakyrelu: (x) => (x > 0 ? x : 0.2 * x),
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
};

/** max |got - ref| / max(1e-30, max |ref|). */
function relError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(got.length).to.equal(ref.length);
  let err = 0, mx = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - ref[i]!));
    mx = Math.max(mx, Math.abs(ref[i]!));
  }
  return err / Math.max(mx, 1e-30);
}

// [M, N, K]: 1×1, primes, sizes that no tile (14×32, 6×16, 4×16) divides, K spanning several slices.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 37, 5], [29, 1, 3], [2, 3, 1], [13, 17, 19], [15, 33, 7], [31, 47, 401],
  [197, 64, 64], [43, 97, 769], [64, 64, 64], [28, 32, 16], [14, 32, 1],
];

/** Inputs and float64 results per case, computed once and shared by every kernel/thread run. */
const productCases = (() => {
  let cases: { M: number; N: number; K: number; tA: boolean; tB: boolean; a: Float32Array; b: Float32Array; ref: Float64Array }[] | undefined;
  return () => {
    if (cases === undefined) {
      cases = [];
      let seed = 1;
      for (const [M, N, K] of SHAPES) {
        for (const tA of [false, true]) {
          for (const tB of [false, true]) {
            const a = randoms(M * K, seed++), b = randoms(K * N, seed++);
            cases.push({ M, N, K, tA, tB, a, b, ref: refProduct(a, b, M, N, K, tA, tB) });
          }
        }
      }
    }
    return cases;
  };
})();

describe('native backend', function () {
  let addon: NativeAddon;

  before(async function () {
    if (!(await registerNativeBackend())) {
      console.log(`      (skipped: native addon unavailable: ${nativeUnavailableReason()}; build it with: node tools/build-native.mjs)`);
      this.skip();
    }
    addon = nativeAddon()!;
  });

  after(function () {
    if (addon) {
      addon.setKernel('auto');
      addon.setThreads(addon.info().defaultThreads);
    }
  });

  it('reports why it is unavailable only when it is', () => {
    expect(nativeUnavailableReason()).to.equal(undefined);
    expect(addon.info().threads).to.be.greaterThan(0);
  });

  it('worker threads using the backend at once get the same logits as one thread alone (calls serialized)', function () {
    this.timeout(90000);
    // In a child process: before the addon serialized its calls, this hung or returned wrong logits.
    const r = spawnSync(process.execPath, ['dist/spec/support/native-threads.js', 'spec/fixtures/d2v-tiny', '3', '300'],
      { encoding: 'utf8', timeout: 60000 });
    expect(r.signal, `child killed by ${r.signal} (SIGTERM: hung for 60 s); stderr: ${r.stderr}`).to.equal(null);
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.equal({ workers: 3, forwards: 300, maxDiff: 0 });
  });

  it('packRows packs [out, in] row blocks, scaled while packing, exactly as transposing and scaling in JavaScript then packB', () => {
    const K = 45, rowsA = 37, rowsB = 64, rowsC = 5, N = rowsA + rowsB + rowsC;
    const parts = [randoms(rowsA * K, 21), randoms(rowsB * K, 22), randoms(rowsC * K, 23)];
    parts[0]![3] = -0; parts[1]![7] = Number.NaN; parts[2]![1] = 3.4e38;
    const scale = new Float64Array(N);
    for (let n = 0; n < N; n++) scale[n] = n < rowsA ? 1 / Math.sqrt(48) : n < rowsA + rowsB ? Math.fround(0.1 + n * 1e-3) : 2.5;
    const all = new Float32Array(N * K);
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    const t = new Float32Array(K * N); // [K, N], each column scaled as weights-device.ts's transposeScaled does
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = all[n * K + k]! * scale[n]!;
    const want = new Float32Array(addon.packedBSize(K, N));
    addon.packB(t, K, N, false, want);
    const got = new Float32Array(addon.packedBSize(K, N)).fill(7);
    addon.packRows(parts, K, got, scale);
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).to.equal(true);
    const plain = new Float32Array(addon.packedBSize(K, N));
    addon.packRows([all], K, plain, null);
    const viaPackB = new Float32Array(addon.packedBSize(K, N));
    addon.packB(all, K, N, true, viaPackB);
    expect(Buffer.from(plain.buffer).equals(Buffer.from(viaPackB.buffer))).to.equal(true);
    expect(() => addon.packRows([randoms(10, 1)], 3, got, null)).to.throw(RangeError, /multiple of K/);
    expect(() => addon.packRows(parts, K, got, new Float64Array(3))).to.throw(RangeError, /one value per row/);
    expect(() => addon.packRows(parts, K, new Float32Array(10), null)).to.throw(RangeError, /too short/);
  });

  describe('matrix product vs float64 reference', () => {
    const kernels = (['avx512', 'avx2', 'scalar'] as const);
    for (const kernel of kernels) {
      for (const threads of [1, 2, 3]) {
        it(`${kernel} kernel, ${threads} thread(s): all shapes and transpositions`, function () {
          if (!addon.setKernel(kernel)) {
            console.log(`      (skipped: this CPU has no ${kernel} instructions)`);
            this.skip();
          }
          addon.setThreads(threads);
          for (const { M, N, K, tA, tB, a, b, ref } of productCases()) {
            const c = new Float32Array(M * N).fill(NaN);
            addon.gemm(a, b, c, M, N, K, tA, tB, 1, null, null, 1, 1, null, 0, 0, 0, 0, 0);
            expect(relError(c, ref), `${M}x${N}x${K} tA=${tA} tB=${tB}`).to.be.below(1e-5);
            // the same product with B packed ahead (weights packed at load)
            const packed = new Float32Array(addon.packedBSize(K, N));
            addon.packB(b, K, N, tB, packed);
            c.fill(NaN);
            addon.gemm(a, packed, c, M, N, K, tA, false, 1, null, null, 1, 1, null, 0, 0, 0, 0, 0, true);
            expect(relError(c, ref), `packed ${M}x${N}x${K} tA=${tA} tB=${tB}`).to.be.below(1e-5);
            // residual added after bias and activation, plain and packed B
            const res = randoms(M * N, M * 7 + N * 3 + K), bias = randoms(N, K + 5);
            for (const [act, packedB] of [['linear', false], ['relu', false], ['gelu', true], ['linear', true], ['sigmoid', true]] as const) {
              c.fill(NaN);
              addon.gemm(a, packedB ? packed : b, c, M, N, K, tA, packedB ? false : tB, 1, null, null, 1, 1, bias, 0, 0, 1,
                ACT_CODES[act], 0.2, packedB, res);
              const want = ref.map((v, p) => ACTS[act]!(v + bias[p % N]!) + res[p]!);
              expect(relError(c, want), `residual ${act} packed=${packedB} ${M}x${N}x${K} tA=${tA} tB=${tB}`).to.be.below(2e-5);
            }
          }
        });
      }
    }

    it('large products split over threads match (M=197, N=768, K=768 and batch-8 rows)', function () {
      addon.setKernel('auto');
      for (const threads of [1, 2, 3]) {
        addon.setThreads(threads);
        for (const [M, N, K] of [[197, 768, 96], [1576, 200, 33]] as const) {
          const a = randoms(M * K, 7), b = randoms(K * N, 8);
          const c = new Float32Array(M * N);
          addon.gemm(a, b, c, M, N, K, false, false, 1, null, null, 1, 1, null, 0, 0, 0, 0, 0);
          expect(relError(c, refProduct(a, b, M, N, K, false, false)), `${M}x${N}x${K} T=${threads}`).to.be.below(1e-5);
        }
      }
    });

    it('residual epilogue: batched products, every row/column split, K = 0, bad residuals rejected', function () {
      this.timeout(30000);
      for (const kernel of ['avx512', 'avx2', 'scalar'] as const) {
        if (!addon.setKernel(kernel)) continue;
        for (const threads of [1, 2, 3]) {
          addon.setThreads(threads);
          // batch 3 of 61×70×45 (one task per matrix, residual offset per matrix) and one 197×200×96
          for (const [batch, M, N, K] of [[3, 61, 70, 45], [1, 197, 200, 96], [2, 5, 33, 0]] as const) {
            const a = randoms(batch * M * K, 21), b = randoms(batch * K * N, 22), res = randoms(batch * M * N, 23);
            const bias = randoms(N, 24);
            const c = new Float32Array(batch * M * N).fill(NaN);
            addon.gemm(a, b, c, M, N, K, false, false, batch, null, null, batch, batch, bias, 0, 0, 1, ACT_CODES.gelu, 0.2,
              false, res);
            const want = new Float64Array(batch * M * N);
            for (let m = 0; m < batch; m++) {
              refProduct(a, b, M, N, K, false, false, m * M * K, m * K * N)
                .forEach((v, p) => { want[m * M * N + p] = ACTS.gelu!(v + bias[p % N]!) + res[m * M * N + p]!; });
            }
            expect(relError(c, want), `${batch}x${M}x${N}x${K} ${kernel} T=${threads}`).to.be.below(2e-5);
          }
        }
      }
      addon.setKernel('auto');
      addon.setThreads(2);
      const a = randoms(6, 1), b = randoms(6, 2), c = new Float32Array(4);
      expect(() => addon.gemm(a, b, c, 2, 2, 3, false, false, 1, null, null, 1, 1, null, 0, 0, 0, 0, 0, false, new Float32Array(3)))
        .to.throw(/residual shorter/);
      expect(() => addon.gemm(a, b, c, 2, 2, 3, false, false, 1, null, null, 1, 1, null, 0, 0, 0, 0, 0, false, c.subarray(1)))
        .to.throw(/residual (shorter|overlaps)/);
      expect(() => addon.gemm(a, b, c, 2, 2, 3, false, false, 1, null, null, 1, 1, null, 0, 0, 0, 0, 0, false,
        new Int32Array(4) as unknown as Float32Array)).to.throw(/Float32Array/);
    });

    it('fused bias (per column, per row, scalar) and every epilogue activation', () => {
      addon.setKernel('auto');
      addon.setThreads(2);
      const [M, N, K] = [23, 45, 37];
      const a = randoms(M * K, 11), b = randoms(K * N, 12);
      const base = refProduct(a, b, M, N, K, false, false);
      const biases: [string, Float32Array, number, number][] = [
        ['column', randoms(N, 13), 0, 1], ['row', randoms(M, 14), 1, 0], ['scalar', randoms(1, 15), 0, 0],
        ['full', randoms(M * N, 16), N, 1],
      ];
      for (const [act, f] of Object.entries(ACTS)) {
        for (const [kind, bias, sm, sn] of biases) {
          const c = new Float32Array(M * N);
          addon.gemm(a, b, c, M, N, K, false, false, 1, null, null, 1, 1, bias, 0, sm, sn,
            ACT_CODES[act as keyof typeof ACT_CODES], 0.2);
          const ref = base.map((v, p) => f(v + bias[Math.floor(p / N) * sm + (p % N) * sn]!));
          expect(relError(c, ref), `${act} with ${kind} bias`).to.be.below(2e-5);
          const res = randoms(M * N, 17);
          addon.gemm(a, b, c, M, N, K, false, false, 1, null, null, 1, 1, bias, 0, sm, sn,
            ACT_CODES[act as keyof typeof ACT_CODES], 0.2, false, res);
          expect(relError(c, ref.map((v, p) => v + res[p]!)), `${act} with ${kind} bias and residual`).to.be.below(2e-5);
        }
      }
    });
  });

  describe('tfjs kernels on the native backend', () => {
    before(async () => {
      addon.setKernel('auto');
      addon.setThreads(2);
      await tf.setBackend('native');
    });
    after(async () => {
      await tf.setBackend('cpu');
    });

    /** Runs fn on `cpu` and on `native` with the same inputs; returns both outputs' data. */
    async function both(fn: () => tf.Tensor): Promise<[Float32Array, Float32Array]> {
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const t = tf.tidy(fn);
        const d = Float32Array.from(t.dataSync());
        t.dispose();
        return d;
      };
      const cpu = await run('cpu');
      const nat = await run('native');
      return [cpu, nat];
    }

    it('registers every cpu kernel and replaces the hot ones', () => {
      const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName).sort();
      const nat = tf.getKernelsForBackend('native').map((k) => k.kernelName).sort();
      const extra = [LAYER_NORM_KERNEL, PACK_WEIGHTS_KERNEL, PACKED_MATMUL_KERNEL, MLP_KERNEL, ATTENTION_KERNEL, LAYER_KERNEL];
      expect(nat.filter((k) => !extra.includes(k))).to.deep.equal(cpu);
      for (const k of ['BatchMatMul', '_FusedMatMul', 'Softmax', 'Transpose', 'Add', 'Mean', 'Concat']) {
        expect(nativeKernelNames()).to.include(k);
      }
    });

    it('batched matMul with broadcast batch dimensions matches a float64 reference', async () => {
      await tf.setBackend('native');
      const cases: [number[], number[], boolean, boolean][] = [
        [[2, 1, 5, 7], [3, 7, 4], false, false],
        [[12, 13, 8], [12, 13, 8], false, true],
        [[4, 9, 6], [9, 11], true, false],
        [[1, 3, 2, 5, 3], [3, 1, 3, 5], true, true],
      ];
      for (const [as, bs, tA, tB] of cases) {
        const a = randoms(as.reduce((p, q) => p * q, 1), 21), b = randoms(bs.reduce((p, q) => p * q, 1), 22);
        const out = tf.tidy(() => tf.matMul(tf.tensor(a, as), tf.tensor(b, bs), tA, tB));
        const got = out.dataSync();
        const r = out.shape.length;
        const [M, N] = [out.shape[r - 2]!, out.shape[r - 1]!];
        const K = tA ? as[as.length - 2]! : as[as.length - 1]!;
        // float64 reference with numpy broadcasting of the batch dimensions
        const batchOut = out.shape.slice(0, -2);
        const idx = (own: number[], pos: number[]) => {
          const o = own.slice(0, -2);
          let off = 0;
          for (let d = 0; d < o.length; d++) {
            const od = pos[pos.length - o.length + d]!;
            off = off * o[d]! + (o[d] === 1 ? 0 : od);
          }
          return off;
        };
        const nb = batchOut.reduce((p, q) => p * q, 1);
        const ref = new Float64Array(got.length);
        for (let bi = 0; bi < nb; bi++) {
          const pos: number[] = [];
          let rem = bi;
          for (let d = batchOut.length - 1; d >= 0; d--) { pos.unshift(rem % batchOut[d]!); rem = Math.floor(rem / batchOut[d]!); }
          const part = refProduct(a, b, M, N, K, tA, tB, idx(as, pos) * M * K, idx(bs, pos) * K * N);
          ref.set(part, bi * M * N);
        }
        expect(relError(got, ref), `${as} x ${bs}`).to.be.below(1e-5);
        out.dispose();
      }
    });

    it('fused matMul with bias and relu/gelu matches the reference', async () => {
      await tf.setBackend('native');
      const [M, N, K] = [19, 35, 40];
      const a = randoms(M * K, 31), b = randoms(K * N, 32), bias = randoms(N, 33);
      for (const act of ['relu', 'gelu', 'sigmoid', 'linear'] as const) {
        const out = tf.tidy(() => tf.fused.matMul({
          a: tf.tensor2d(a, [M, K]), b: tf.tensor2d(b, [K, N]), bias: tf.tensor1d(bias),
          activation: act as tf.fused.Activation,
        }));
        const ref = refProduct(a, b, M, N, K, false, false).map((v, p) => ACTS[act]!(v + bias[p % N]!));
        expect(relError(out.dataSync(), ref), act).to.be.below(2e-5);
        out.dispose();
      }
    });

    it('softmax, layer-norm ops, GELU ops, transposes, slices and gathers match the cpu backend', async () => {
      const x = randoms(2 * 3 * 13 * 17, 41);
      const g = randoms(17, 42), bb = randoms(17, 43);
      const checks: [string, () => tf.Tensor][] = [
        ['softmax', () => tf.softmax(tf.mul(tf.tensor(x, [2, 3, 13, 17]), 8))],
        ['layerNorm', () => {
          const t = tf.tensor(x, [78, 17]);
          const mean = tf.mean(t, 1, true);
          const c = tf.sub(t, mean);
          const v = tf.mean(tf.square(c), 1, true);
          return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(v, tf.scalar(1e-12)))), tf.tensor1d(g)), tf.tensor1d(bb));
        }],
        ['gelu', () => { const t = tf.tensor(x, [78, 17]); return tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1)); }],
        ['tanh/sigmoid/exp', () => tf.add(tf.tanh(tf.tensor(x)), tf.mul(tf.sigmoid(tf.tensor(x)), tf.exp(tf.tensor(x))))],
        ['sub/div/max/min/sqdiff broadcast', () => {
          const t = tf.tensor(x, [2, 3, 13, 17]), u = tf.tensor(g, [1, 1, 1, 17]), w = tf.tensor(randoms(13, 44), [13, 1]);
          return tf.addN([tf.div(t, tf.add(tf.abs(u), 1)), tf.maximum(t, w), tf.minimum(w, t), tf.squaredDifference(t, u), tf.sub(w, t)]);
        }],
        ['mean/sum/max/min axes', () => {
          const t = tf.tensor(x, [2, 3, 13, 17]);
          const flat = (u: tf.Tensor) => tf.reshape(u, [-1]);
          return tf.concat([flat(tf.mean(t, [1, 2])), flat(tf.sum(t, -1)), flat(tf.max(t, 0)), flat(tf.min(t, [2, 3])), flat(tf.mean(t))]);
        }],
        ['transpose 5-D (qkv split)', () => tf.transpose(tf.tensor(x, [2, 3, 13, 1, 17]), [2, 0, 3, 1, 4])],
        ['transpose 2-D and 4-D', () => tf.concat([tf.reshape(tf.transpose(tf.tensor(x, [78, 17])), [-1]),
          tf.reshape(tf.transpose(tf.tensor(x, [2, 3, 13, 17]), [0, 2, 1, 3]), [-1])])],
        ['strided slice', () => tf.slice(tf.tensor(x, [2, 3, 13, 17]), [1, 1, 2, 3], [1, 2, 5, 9])],
        ['gather', () => tf.gather(tf.tensor(x, [78, 17]), tf.tensor1d([5, 0, 77, 5, 12], 'int32'), 0)],
        ['gather inner axis', () => tf.gather(tf.tensor(x, [2, 39, 17]), tf.tensor1d([16, 3, 3], 'int32'), 2)],
        ['concat (class token, axis 0, last axis, empty input)', () => {
          const cls = tf.tensor(randoms(2 * 70, 45), [2, 1, 70]), tok = tf.tensor(randoms(2 * 5 * 70, 46), [2, 5, 70]);
          const wide = tf.tensor(randoms(3 * 100, 47), [3, 100]);
          return tf.concat([
            tf.reshape(tf.concat([cls, tok], 1), [-1]),
            tf.reshape(tf.concat([tok, tok, cls], 1), [-1]),
            tf.reshape(tf.concat([wide, tf.tensor(randoms(2 * 100, 48), [2, 100])], 0), [-1]),
            tf.reshape(tf.concat([wide, tf.tensor(randoms(3 * 90, 49), [3, 90]), wide], -1), [-1]),
            tf.reshape(tf.concat([tf.zeros([2, 0, 70]), tok], 1), [-1]),
          ]);
        }],
      ];
      for (const [name, fn] of checks) {
        const [cpu, nat] = await both(fn);
        expect(relError(nat, cpu), name).to.be.below(1e-5);
      }
    });

    it('fused matMul with a bias of higher rank than the 3-D product (attention scores + relative bias)', async () => {
      await tf.setBackend('native');
      const [H, T, hd] = [3, 11, 8];
      const q = randoms(H * T * hd, 71), k = randoms(H * T * hd, 72), rel = randoms(H * T * T, 73), one = randoms(T * T, 74);
      for (const [bias, bshape] of [[rel, [1, H, T, T]], [one, [1, 1, T, T]], [rel, [H, T, T]]] as const) {
        const got = tf.tidy(() => tf.fused.matMul({ a: tf.tensor4d(q, [1, H, T, hd]), b: tf.tensor4d(k, [1, H, T, hd]),
          transposeB: true, bias: tf.tensor(bias, [...bshape]) }));
        expect(got.shape).to.deep.equal([1, H, T, T]);
        const ref = new Float64Array(H * T * T);
        for (let h = 0; h < H; h++) {
          const part = refProduct(q, k, T, T, hd, false, true, h * T * hd, h * T * hd);
          for (let i = 0; i < T * T; i++) ref[h * T * T + i] = part[i]! + bias[bias.length === T * T ? i : h * T * T + i]!;
        }
        expect(relError(got.dataSync(), ref), `bias [${bshape}]`).to.be.below(1e-5);
        got.dispose();
      }
    });

    it('the fused attention kernel matches the composed ops (with and without bias, probabilities)', async function () {
      this.timeout(60000);
      // Shapes: tiny; hd not a multiple of 16 and T crossing the 12-row / 16-key / 32-key blocks;
      // the base model's head size with T just past a 32-key strip.
      for (const [B, T, H, hd] of [[2, 13, 3, 8], [1, 37, 2, 40], [1, 33, 2, 64], [2, 1, 1, 16]] as const) {
        const D = H * hd;
        const qkv = randoms(B * T * 3 * D, 81), rel = randoms(H * T * T, 82), shared = randoms(T * T, 83);
        const composed = (bias?: tf.Tensor) => {
          const t = tf.transpose(tf.reshape(tf.tensor(qkv, [B, T, 3 * D]), [B, T, 3, H, hd]), [2, 0, 3, 1, 4]);
          const [q, k, v] = tf.split(t, 3, 0).map((x) => tf.reshape(x, [B, H, T, hd]));
          let s = tf.mul(tf.matMul(q!, k!, false, true), 0.5);
          if (bias) s = tf.add(s, bias);
          const p = tf.softmax(s);
          return [tf.reshape(tf.transpose(tf.matMul(p, v!), [0, 2, 1, 3]), [B, T, D]), p];
        };
        const cases: [string, Float32Array | undefined, number[]][] = [
          ['no bias', undefined, []], ['per-head bias', rel, [1, H, T, T]], ['shared bias', shared, [T, T]],
        ];
        for (const [name, bias, shape] of cases) {
          const [ctxCpu, pCpu] = await (async () => {
            await tf.setBackend('cpu');
            const r = tf.tidy(() => composed(bias ? tf.tensor(bias, shape) : undefined));
            const d = [Float32Array.from(r[0]!.dataSync()), Float32Array.from(r[1]!.dataSync())];
            tf.dispose(r);
            return d;
          })();
          await tf.setBackend('native');
          // The AVX-512 attention path and the generic one (taken with the other kernels).
          for (const kernel of ['auto', 'avx2', 'scalar'] as const) {
            if (!addon.setKernel(kernel)) continue;
            for (const threads of [1, 2, 3]) {
              addon.setThreads(threads);
              for (const returnProbs of [true, false]) {
                const out = tf.tidy(() => tf.engine().runKernel(ATTENTION_KERNEL,
                  bias ? { qkv: tf.tensor(qkv, [B, T, 3 * D]), bias: tf.tensor(bias, shape) } : { qkv: tf.tensor(qkv, [B, T, 3 * D]) },
                  { heads: H, scale: 0.5, returnProbs }) as tf.Tensor[]);
                const what = `[${B},${T},${H},${hd}] ${name} ${kernel} T=${threads} probs=${returnProbs}`;
                expect(out[0]!.shape).to.deep.equal([B, T, D]);
                expect(relError(out[0]!.dataSync(), ctxCpu!), `${what} context`).to.be.below(1e-5);
                if (returnProbs) {
                  expect(out[1]!.shape).to.deep.equal([B, H, T, T]);
                  expect(relError(out[1]!.dataSync(), pCpu!), `${what} probs`).to.be.below(1e-5);
                } else {
                  expect(out.length).to.equal(1);
                }
                tf.dispose(out);
              }
            }
          }
          addon.setKernel('auto');
          addon.setThreads(2);
        }
      }
    });

    it('packed weights give the same products as the plain ones (any N, transposed or not, gelu epilogue)', async function () {
      this.timeout(60000);
      await tf.setBackend('native');
      // K ≤ 1024 takes the in-place (strided) A kernels on AVX-512, larger K the packed A panels;
      // with many row panels (700 rows) and K > 768 the tasks are row blocks packing A per K slice.
      // stream_bytes = 1: every eligible output (strided kernels, N a multiple of 16) is written with
      // streaming stores, which the large outputs of a real forward use.
      const shapes = [[197, 96, 64], [5, 1000, 33], [1, 1, 1], [30, 45, 7], [43, 70, 1024], [31, 33, 1030],
        [700, 70, 1030], [61, 112, 40]] as const;
      for (const [M, N, K] of shapes) for (const kernel of ['auto', 'avx2', 'scalar'] as const) for (const threads of [1, 2, 3])
      for (const streamBytes of [STREAM_BYTES_DEFAULT, 1]) {
        if (!addon.setKernel(kernel)) continue;
        addon.setThreads(threads);
        expect(addon.tune('stream_bytes', streamBytes)).to.equal(true);
        // Activations the AVX-512 in-place-A kernels fuse (gelu, relu, linear, with and without
        // bias) and one they leave to the separate epilogue (sigmoid).
        for (const [tB, activation, withBias] of [[false, 'gelu', true], [true, 'gelu', true], [false, 'relu', true],
          [true, 'linear', false], [false, 'linear', true], [false, 'sigmoid', true]] as const) {
          const a = randoms(M * K, M + N), w = randoms(K * N, K + N), bias = randoms(N, 3), res = randoms(M * N, 4);
          const ref = refProduct(a, w, M, N, K, false, tB).map((v, p) => ACTS[activation]!(v + (withBias ? bias[p % N]! : 0)));
          for (const withResidual of [false, true]) {
            const got = tf.tidy(() => {
              const packed = tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.tensor2d(w, tB ? [N, K] : [K, N]) }, { transposeB: tB }) as tf.Tensor;
              const inputs: tf.NamedTensorMap = { a: tf.tensor3d(a, [1, M, K]), b: packed };
              if (withBias) inputs.bias = tf.tensor1d(bias);
              if (withResidual) inputs.residual = tf.tensor3d(res, [1, M, N]);
              return tf.engine().runKernel(PACKED_MATMUL_KERNEL, inputs, { n: N, activation }) as tf.Tensor;
            });
            expect(got.shape).to.deep.equal([1, M, N]);
            const want = withResidual ? ref.map((v, p) => v + res[p]!) : ref;
            expect(relError(got.dataSync(), want),
              `${M}x${N}x${K} tB=${tB} ${activation} bias=${withBias} residual=${withResidual} ${kernel} T=${threads} stream=${streamBytes}`).to.be.below(2e-5);
            got.dispose();
          }
        }
      }
      addon.setKernel('auto');
      addon.setThreads(2);
      addon.tune('stream_bytes', STREAM_BYTES_DEFAULT);
    });

    it('the packed product keeps NaN through its fused relu, on every kernel (as tfjs relu does)', async () => {
      await tf.setBackend('native');
      const M = 20, N = 64, K = 48;
      const a = randoms(M * K, 7), w = randoms(K * N, 8);
      a[3 * K + 5] = NaN; // row 3 of the output is all NaN
      for (const kernel of ['auto', 'avx2', 'scalar'] as const) {
        if (!addon.setKernel(kernel)) continue;
        const got = tf.tidy(() => {
          const packed = tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.tensor2d(w, [K, N]) }, { transposeB: false }) as tf.Tensor;
          return (tf.engine().runKernel(PACKED_MATMUL_KERNEL, { a: tf.tensor3d(a, [1, M, K]), b: packed }, { n: N, activation: 'relu' }) as tf.Tensor).dataSync();
        });
        for (let i = 0; i < M * N; i++) {
          const row = Math.floor(i / N);
          if (row === 3) expect(Number.isNaN(got[i]!), `${kernel} [${i}]`).to.equal(true);
          else expect(got[i]! >= 0, `${kernel} [${i}]`).to.equal(true);
        }
      }
      addon.setKernel('auto');
    });

    it('the fused MLP matches a float64 reference (blocked intermediate, every fallback, streaming)', async function () {
      this.timeout(120000);
      await tf.setBackend('native');
      // [M, D, F, expected block on AVX-512]: F = 3072 / 1536 / 1024 take 4 / 2 / 2 blocks (1024 floats
      // = 4 KiB rows would share L1 sets, so 512), F = 96 one; F = 70 and D = 1100 have no fused path.
      const shapes = [[197, 64, 3072, 768], [130, 40, 1536, 768], [61, 48, 96, 96], [45, 32, 1024, 512],
        [5, 33, 70, 0], [20, 1100, 64, 0]] as const;
      const avx512 = addon.info().kernel === 'avx512';
      for (const [M, D, F, block] of shapes) {
        addon.setKernel('auto');
        expect(addon.mlpBlock(D, F), `mlpBlock(${D}, ${F})`).to.equal(avx512 ? block : 0);
        const x = randoms(M * D, M + D), w1 = randoms(D * F, D + F), w2 = randoms(F * D, F + 7);
        const b1 = randoms(F, 8), b2 = randoms(D, 9), res = randoms(M * D, 10);
        const h64 = refProduct(x, w1, M, F, D, false, false);
        const packed = tf.tidy(() => [
          tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.tensor2d(w1, [D, F]) }, {}) as tf.Tensor,
          tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.tensor2d(w2, [F, D]) }, {}) as tf.Tensor]);
        for (const [activation, withBias] of [['gelu', true], ['relu', false], ['gelu_tanh', true], ['linear', true]] as const) {
          const hidden = Float32Array.from(h64, (v, p) => ACTS[activation]!(v + (withBias ? b1[p % F]! : 0)));
          const want = refProduct(hidden, w2, M, D, F, false, false).map((v, p) => v + (withBias ? b2[p % D]! : 0) + res[p]!);
          for (const kernel of ['auto', 'avx2'] as const) for (const threads of [1, 2, 3]) for (const streamBytes of [STREAM_BYTES_DEFAULT, 1]) {
            if (!addon.setKernel(kernel)) continue;
            addon.setThreads(threads);
            addon.tune('stream_bytes', streamBytes);
            const got = tf.tidy(() => tf.engine().runKernel(MLP_KERNEL, {
              a: tf.tensor2d(x, [M, D]), w1: packed[0]!, w2: packed[1]!, residual: tf.tensor2d(res, [M, D]),
              ...(withBias ? { bias1: tf.tensor1d(b1), bias2: tf.tensor1d(b2) } : {}),
            }, { n1: F, n2: D, activation }) as tf.Tensor);
            expect(got.shape).to.deep.equal([M, D]);
            expect(relError(got.dataSync(), want), `${M}x${D}x${F} ${activation} bias=${withBias} ${kernel} T=${threads} stream=${streamBytes}`)
              .to.be.below(2e-5);
            got.dispose();
          }
        }
        tf.dispose(packed);
      }
      addon.setKernel('auto');
      addon.setThreads(2);
      addon.tune('stream_bytes', STREAM_BYTES_DEFAULT);
      // Mismatched weights are refused, naming the shapes.
      const bad = () => tf.tidy(() => {
        const w = tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.zeros([8, 64]) }, {}) as tf.Tensor;
        return tf.engine().runKernel(MLP_KERNEL, { a: tf.zeros([3, 16]), w1: w, w2: w }, { n1: 64, n2: 16 });
      });
      expect(bad).to.throw(/BeitMlp: a \[3,16\].*w1 \[2,8,32\]/);
    });

    it('the fused layer kernel matches the composed ops (biases or none, per-head / shared / no attention bias, every fallback)', async function () {
      this.timeout(120000);
      // [B, T, D, H, F]: tiny; the base model's head size with T past a 32-key strip and an F with a
      // fused MLP block (3072 / 4); an F without one (70), so the MLP runs as two products.
      for (const [B, T, D, H, F] of [[2, 13, 24, 3, 40], [1, 37, 128, 2, 768], [2, 5, 32, 4, 70]] as const) {
        const M = B * T, x = randoms(M * D, 91 + D);
        const g1 = randoms(D, 92).map((v) => 1 + v), be1 = randoms(D, 93), g2 = randoms(D, 94).map((v) => 1 + v), be2 = randoms(D, 95);
        const wqkv = randoms(D * 3 * D, 96).map((v) => v * 0.3), bqkv = randoms(3 * D, 97);
        const wo = randoms(D * D, 98).map((v) => v * 0.3), bo = randoms(D, 99);
        const w1 = randoms(D * F, 100).map((v) => v * 0.3), b1 = randoms(F, 101), w2 = randoms(F * D, 102).map((v) => v * 0.3), b2 = randoms(D, 103);
        const rel = randoms(H * T * T, 104), shared = randoms(T * T, 105);
        const eps = 1e-6;
        const composed = (activation: string, withBias: boolean, bias?: tf.Tensor) => {
          const ln = (t: tf.Tensor, g: Float32Array, b: Float32Array) => {
            const mean = tf.mean(t, -1, true), c = tf.sub(t, mean);
            return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(tf.mean(tf.square(c), -1, true), eps))), tf.tensor1d(g)), tf.tensor1d(b));
          };
          const lin = (t: tf.Tensor, w: Float32Array, k: number, n: number, b: Float32Array) =>
            withBias ? tf.add(tf.matMul(t as tf.Tensor2D, tf.tensor2d(w, [k, n])), tf.tensor1d(b)) : tf.matMul(t as tf.Tensor2D, tf.tensor2d(w, [k, n]));
          const xt = tf.tensor2d(x, [M, D]);
          const qkv = lin(ln(xt, g1, be1), wqkv, D, 3 * D, bqkv);
          const hd = D / H;
          const t5 = tf.transpose(tf.reshape(qkv, [B, T, 3, H, hd]), [2, 0, 3, 1, 4]);
          const [q, k, v] = tf.split(t5, 3, 0).map((y) => tf.reshape(y, [B, H, T, hd]));
          let s = tf.matMul(q!, k!, false, true);
          if (bias) s = tf.add(s, bias);
          const ctx = tf.reshape(tf.transpose(tf.matMul(tf.softmax(s), v!), [0, 2, 1, 3]), [M, D]);
          const x1 = tf.add(xt, lin(ctx, wo, D, D, bo));
          const pre = lin(ln(x1, g2, be2), w1, D, F, b1);
          const act = activation === 'relu' ? tf.relu(pre) : activation === 'gelu'
            ? tf.mul(tf.mul(pre, 0.5), tf.add(1, tf.erf(tf.mul(pre, Math.SQRT1_2))))
            : tf.mul(tf.mul(pre, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(pre, tf.mul(0.044715, tf.pow(pre, 3))), Math.sqrt(2 / Math.PI)))));
          return tf.reshape(tf.add(x1, lin(act, w2, F, D, b2)), [B, T, D]);
        };
        for (const [name, bias, shape] of [['no bias', undefined, []], ['per-head bias', rel, [1, H, T, T]], ['shared bias', shared, [T, T]]] as const) {
          for (const [activation, withBias] of [['gelu', true], ['relu', false], ['gelu_tanh', true]] as const) {
            await tf.setBackend('cpu');
            const want = tf.tidy(() => Float32Array.from(composed(activation, withBias, bias ? tf.tensor(bias, [...shape]) : undefined).dataSync()));
            await tf.setBackend('native');
            const pack = (w: Float32Array, k: number, n: number) => tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.tensor2d(w, [k, n]) }, {}) as tf.Tensor;
            const weights = tf.tidy(() => [pack(wqkv, D, 3 * D), pack(wo, D, D), pack(w1, D, F), pack(w2, F, D)]);
            for (const kernel of ['auto', 'avx2', 'scalar'] as const) for (const threads of [1, 3]) {
              if (!addon.setKernel(kernel)) continue;
              addon.setThreads(threads);
              const got = tf.tidy(() => tf.engine().runKernel(LAYER_KERNEL, {
                x: tf.tensor3d(x, [B, T, D]), ln1Gamma: tf.tensor1d(g1), ln1Beta: tf.tensor1d(be1), ln2Gamma: tf.tensor1d(g2), ln2Beta: tf.tensor1d(be2),
                wQkv: weights[0]!, wO: weights[1]!, w1: weights[2]!, w2: weights[3]!,
                ...(withBias ? { bQkv: tf.tensor1d(bqkv), bO: tf.tensor1d(bo), b1: tf.tensor1d(b1), b2: tf.tensor1d(b2) } : {}),
                ...(bias ? { bias: tf.tensor(bias, [...shape]) } : {}),
              }, { heads: H, epsilon: eps, n1: F, activation }) as tf.Tensor);
              expect(got.shape).to.deep.equal([B, T, D]);
              expect(relError(got.dataSync(), want), `[${B},${T},${D},${H},${F}] ${name} ${activation} bias=${withBias} ${kernel} T=${threads}`).to.be.below(2e-5);
              got.dispose();
            }
            tf.dispose(weights);
          }
        }
      }
      addon.setKernel('auto');
      addon.setThreads(2);
      // Wrong inputs are refused, naming them.
      const bad = (inputs: Record<string, number[]>, attrs: tf.NamedAttrMap) => () => tf.tidy(() => tf.engine().runKernel(LAYER_KERNEL,
        Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, tf.zeros(s)])), attrs));
      const ok = { x: [1, 3, 8], ln1Gamma: [8], ln1Beta: [8], ln2Gamma: [8], ln2Beta: [8], wQkv: [1, 8, 32], wO: [1, 8, 32], w1: [1, 8, 32], w2: [1, 16, 32] };
      expect(bad({ ...ok, wO: [1, 8, 16] }, { heads: 2, epsilon: 1e-6, n1: 16, activation: 'gelu' })).to.throw(/BeitLayer: wO must be a packed weight \[1,8,32\]/);
      expect(bad(ok, { heads: 3, epsilon: 1e-6, n1: 16, activation: 'gelu' })).to.throw(/BeitLayer: heads=3 does not divide D=8/);
      expect(bad({ ...ok, bias: [2, 3, 4] }, { heads: 2, epsilon: 1e-6, n1: 16, activation: 'gelu' })).to.throw(/BeitLayer: bias must be float32 \[heads, T, T\]/);
      expect(bad(ok, { heads: 2, epsilon: 1e-6, n1: 16, activation: 'silu' })).to.throw(/BeitLayer: activation "silu" not supported/);
    });

    it('the packed product rejects a residual of the wrong shape or dtype', async () => {
      await tf.setBackend('native');
      tf.tidy(() => {
        const packed = tf.engine().runKernel(PACK_WEIGHTS_KERNEL, { b: tf.ones([4, 5]) }, {}) as tf.Tensor;
        const a = tf.ones([3, 4]);
        const run = (residual: tf.Tensor) => () => tf.engine().runKernel(PACKED_MATMUL_KERNEL, { a, b: packed, residual }, { n: 5 });
        expect(run(tf.ones([3, 4]))).to.throw(/residual must be float32 of the output's shape \[3,5\]/);
        expect(run(tf.ones([1, 3, 5]))).to.throw(/residual must be float32/);
        expect(run(tf.ones([3, 5], 'int32'))).to.throw(/residual must be float32/);
        const ok = tf.engine().runKernel(PACKED_MATMUL_KERNEL, { a, b: packed, residual: tf.fill([3, 5], 2) }, { n: 5 }) as tf.Tensor;
        expect(Array.from(ok.dataSync())).to.deep.equal(new Array(15).fill(6));
      });
    });

    it('the fused LayerNorm kernel matches the composed ops', async () => {
      const x = randoms(37 * 50, 51), g = randoms(50, 52), b = randoms(50, 53);
      await tf.setBackend('native');
      for (const withAffine of [true, false]) {
        const fused = tf.tidy(() => tf.engine().runKernel(LAYER_NORM_KERNEL,
          withAffine ? { x: tf.tensor(x, [37, 50]), gamma: tf.tensor1d(g), beta: tf.tensor1d(b) } : { x: tf.tensor(x, [37, 50]) },
          { epsilon: 1e-6 }) as tf.Tensor);
        const ref = new Float64Array(37 * 50);
        for (let r = 0; r < 37; r++) {
          let m = 0, v = 0;
          for (let c = 0; c < 50; c++) m += x[r * 50 + c]!;
          m /= 50;
          for (let c = 0; c < 50; c++) v += (x[r * 50 + c]! - m) ** 2;
          v /= 50;
          for (let c = 0; c < 50; c++) {
            const n = (x[r * 50 + c]! - m) / Math.sqrt(v + 1e-6);
            ref[r * 50 + c] = withAffine ? n * g[c]! + b[c]! : n;
          }
        }
        expect(relError(fused.dataSync(), ref)).to.be.below(1e-5);
        fused.dispose();
      }
    });

    it('recycled output buffers never overwrite data still visible to the caller', async () => {
      await tf.setBackend('native');
      const a = tf.tensor(randoms(4096, 61), [64, 64]), b = tf.tensor(randoms(4096, 62), [64, 64]);
      // 1. storage handed out by dataSync() stays intact after dispose and later same-size outputs
      const x = tf.add(a, b);
      const seen = x.dataSync();
      const copy = Float32Array.from(seen);
      x.dispose();
      const later = [tf.mul(a, b), tf.sub(a, b), tf.matMul(a, b)];
      expect(Array.from(seen)).to.deep.equal(Array.from(copy));
      // 2. a contiguous slice is a view of its parent's storage: the parent must not be recycled
      const parent = tf.add(a, b);
      const view = tf.slice(parent, [0, 0], [32, 64]);
      parent.dispose();
      const again = [tf.mul(b, b), tf.add(b, b)];
      expect(Array.from(view.dataSync())).to.deep.equal(Array.from(copy.subarray(0, 32 * 64)));
      // 3. recycled buffers are fully overwritten: results stay exact
      for (let i = 0; i < 3; i++) {
        const y = tf.add(a, b);
        expect(Array.from(y.dataSync())).to.deep.equal(Array.from(copy));
        y.dispose();
        tf.dispose(tf.tidy(() => tf.mul(tf.add(a, b), 0)));
      }
      tf.dispose([a, b, view, ...later, ...again]);
    });

    it('int32 tensors and out-of-range gathers behave like the cpu backend', async () => {
      await tf.setBackend('native');
      const t = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
      const tt = tf.transpose(t);
      expect(tt.dtype).to.equal('int32');
      expect(Array.from(tt.dataSync())).to.deep.equal([1, 4, 2, 5, 3, 6]);
      const s = tf.add(t, t);
      expect(Array.from(s.dataSync())).to.deep.equal([2, 4, 6, 8, 10, 12]);
      expect(() => tf.gather(tf.tensor1d([1, 2, 3]), tf.tensor1d([3], 'int32'))).to.throw(/index/);
      tf.dispose([t, tt, s]);
    });

    // Regression tests of a differential fuzz against the cpu backend (special values, empty
    // tensors, long rows). `exactly` compares like Object.is, so NaN equals NaN and -0 differs from 0.
    async function bothOut(fn: () => tf.Tensor): Promise<[tf.backend_util.TypedArray, number[], tf.backend_util.TypedArray, number[]]> {
      const run = async (backend: string) => {
        await tf.setBackend(backend);
        const t = tf.tidy(fn);
        const r = [t.dataSync().slice(), t.shape] as const;
        t.dispose();
        return r;
      };
      const [cv, cs] = await run('cpu');
      const [nv, ns] = await run('native');
      return [cv, cs, nv, ns];
    }
    function exactly(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
      expect(got.length, what).to.equal(want.length);
      for (let i = 0; i < want.length; i++) {
        const ok = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
        expect(ok, `${what}[${i}]: native ${got[i]}, cpu ${want[i]}`).to.equal(true);
      }
    }
    /** Within `ulps` units in the last place of cpu's (correctly rounded float64) result; NaN, ±inf and 0 exactly. */
    function withinUlps(got: ArrayLike<number>, want: ArrayLike<number>, ulps: number, what: string): void {
      expect(got.length, what).to.equal(want.length);
      for (let i = 0; i < want.length; i++) {
        const w = want[i]!, g = got[i]!;
        if (!Number.isFinite(w) || w === 0) {
          expect(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `${what}[${i}]: native ${g}, cpu ${w}`).to.equal(true);
          continue;
        }
        const ulp = Math.max(2 ** (Math.floor(Math.log2(Math.abs(w))) - 23), 2 ** -149);
        expect(Math.abs(g - w) / ulp, `${what}[${i}]: native ${g}, cpu ${w}`).to.be.at.most(ulps);
      }
    }

    it('exp, sigmoid and tanh keep their range ends, subnormals and tiny arguments like the cpu backend', async () => {
      // exp used to clamp its argument to [-87.3, 88.7]: exp(-inf) was 1.2e-38, exp(88.7) was +inf.
      const xs = [-Infinity, -1000, -104, -103, -100, -88.8, -87.5, -87.3, -20, -1e-8, -0, 0, 1e-8, 0.5, 20, 88, 88.7,
        88.72, 88.73, 89, 1000, Infinity, NaN];
      // tanh used to be 1 - 2/(e^2x + 1): tanh(1e-8) was 0, tanh(1e-3) 1.3e-5 off.
      const small = [1e-30, -1e-20, 1e-8, -3e-5, 1e-3, -0.01, 0.3, -0.6, 0.62, 0.63, 0.7, -2, 9, -10, 50];
      const cases: [string, (t: tf.Tensor) => tf.Tensor, number[]][] = [
        ['exp', tf.exp, xs], ['sigmoid', tf.sigmoid, [...xs, -95, -60, 60, ...small]], ['tanh', tf.tanh, [...xs, ...small]],
      ];
      for (const [name, fn, v] of cases) {
        const [cv, , nv] = await bothOut(() => fn(tf.tensor1d(v)));
        withinUlps(nv, cv, 3, name);
      }
    });

    it('relu, relu6, maximum and minimum propagate NaN and order signed zeros like Math.max / Math.min', async () => {
      const a = [NaN, 1, NaN, -0, 0, -0, 0, 3, -Infinity, 7, -2];
      const b = [1, NaN, NaN, 0, -0, -0, 0, 3, 5, NaN, -0];
      const checks: [string, () => tf.Tensor][] = [
        ['relu', () => tf.relu(tf.tensor1d(a))], ['relu6', () => tf.relu6(tf.tensor1d(a))],
        ['maximum', () => tf.maximum(tf.tensor1d(a), tf.tensor1d(b))], ['minimum', () => tf.minimum(tf.tensor1d(a), tf.tensor1d(b))],
        ['maximum broadcast', () => tf.maximum(tf.tensor1d(a), tf.scalar(NaN))],
        // rounded once from float64 like the cpu kernels (float arithmetic was 1 ulp off at times)
        ['squaredDifference', () => tf.squaredDifference(tf.tensor1d([89.51759338378906, -55.34731674194336, 1e20]), tf.tensor1d([0.0008671777322888374, 0.6475991, -3]))],
        ['rsqrt', () => tf.rsqrt(tf.tensor1d(Array.from(randoms(64, 71), (x) => Math.abs(x) * 1000)))],
      ];
      for (const [name, fn] of checks) {
        const [cv, , nv] = await bothOut(fn);
        exactly(nv, cv, name);
      }
    });

    it('max / min reductions propagate NaN; reductions over an empty axis give what cpu gives', async () => {
      const x = [1, NaN, 3, -0, 0, 5, 2, NaN];
      const checks: [string, () => tf.Tensor][] = [
        ['max axis 1', () => tf.max(tf.tensor2d(x, [2, 4]), 1)], ['min axis 1', () => tf.min(tf.tensor2d(x, [2, 4]), 1)],
        ['max axis 0', () => tf.max(tf.tensor2d(x, [4, 2]), 0)], ['min axis 0', () => tf.min(tf.tensor2d(x, [4, 2]), 0)],
        ['max of ±0', () => tf.max(tf.tensor1d([-0, 0]))], ['min of ±0', () => tf.min(tf.tensor1d([0, -0]))],
        ['max of empty', () => tf.max(tf.zeros([3, 0]), 1)], ['min of empty', () => tf.min(tf.zeros([0, 2]), 0)],
        ['sum of empty', () => tf.sum(tf.zeros([2, 0, 3]), 1)], ['mean of empty', () => tf.mean(tf.zeros([2, 0, 3]), 1)],
      ];
      for (const [name, fn] of checks) {
        const [cv, cs, nv, ns] = await bothOut(fn);
        expect(ns, name).to.deep.equal(cs);
        exactly(nv, cv, name);
      }
      // Sums over a leading axis accumulate in double (they did in float: 1e8 + 1 - 1e8 gave 0)
      await tf.setBackend('native');
      const s = tf.sum(tf.tensor2d([1e8, 3e38, 1, 3e38, -1e8, -3e38], [3, 2]), 0);
      const m = tf.mean(tf.tensor2d([3e38, 3e38, 3e38, 3e38], [2, 2]), 0);
      expect(Array.from(s.dataSync())).to.deep.equal([1, Math.fround(3e38)]);
      expect(Array.from(m.dataSync())).to.deep.equal([Math.fround(3e38), Math.fround(3e38)]);
      tf.dispose([s, m]);
    });

    it('softmax: masked (-inf) logits give exactly 0, all-masked rows NaN as on cpu, long rows stay accurate', async () => {
      const [cv, , nv] = await bothOut(() => tf.softmax(tf.tensor2d([0, -Infinity, 1, -200, -Infinity, -Infinity, -Infinity, -Infinity], [2, 4])));
      withinUlps(nv, cv, 3, 'masked softmax');
      // a 40000-wide row: the sum used to be accumulated in float lanes (2e-6 relative off)
      const n = 40000;
      const x = Array.from(randoms(n, 73), (v) => Math.fround(v * 10));
      await tf.setBackend('native');
      const t = tf.softmax(tf.tensor1d(x));
      const got = t.dataSync();
      const mx = Math.max(...x);
      let sum = 0;
      for (const v of x) sum += Math.exp(Math.fround(v - mx));
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const ref = Math.exp(Math.fround(x[i]! - mx)) / sum;
        worst = Math.max(worst, Math.abs(got[i]! - ref) / ref);
      }
      expect(worst).to.be.below(5e-7);
      t.dispose();
    });

    it('matMul with an empty batch, fused activations on NaN / -0 and elu near 0 behave like the cpu backend', async () => {
      await tf.setBackend('native');
      // an operand with a 0 batch dimension: "gemm: array shorter than the sizes given" before
      const e = tf.matMul(tf.ones([17, 7]), tf.ones([0, 7, 1]));
      expect(e.shape).to.deep.equal([0, 17, 1]);
      expect(e.dataSync().length).to.equal(0);
      const f = tf.fused.matMul({ a: tf.ones([0, 3, 4]), b: tf.ones([4, 5]), bias: tf.ones([5]), activation: 'relu' });
      expect(f.shape).to.deep.equal([0, 3, 5]);
      tf.dispose([e, f]);
      // [16, 1]·[1, 16] (rows of 16 so that the AVX-512 epilogue runs too): output row i is col[i] throughout
      const n = 16;
      const col = [NaN, -0, 0, -1e-4, -3e-3, -0.5, -2, 1e-7, 7, -7, NaN, -0.69, -0.71, 3, -30, 0.25];
      for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid'] as const) {
        for (const kernel of ['avx512', 'avx2', 'scalar'] as const) {
          if (!addon.setKernel(kernel)) continue;
          const [cv, , nv] = await bothOut(() => tf.fused.matMul({ a: tf.tensor2d(col, [n, 1]), b: tf.ones([1, n]), activation, leakyreluAlpha: 0.1 }));
          withinUlps(nv, cv, activation === 'elu' || activation === 'sigmoid' ? 3 : 0, `${activation} (${kernel})`);
        }
        addon.setKernel('auto');
      }
    });

    it('gather validates indices even when the gathered tensor is empty', async () => {
      await tf.setBackend('native');
      expect(() => tf.gather(tf.zeros([5, 1, 3, 0]), tf.scalar(7, 'int32'), 0)).to.throw(/index value 7/);
    });
  });
});
