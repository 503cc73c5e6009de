// See layer.h. The steps are the addon's own kernels (layer_norm, gemm, attention, mlp), called in
// sequence on three scratch buffers: the normalised rows / attention context (reused), the QKV
// projection, and x1.
#include "layer.h"

#include "attention.h"
#include "ops.h"
#include "scratch.h"

namespace beit {

namespace {

Scratch g_rows, g_qkv, g_x1;  // addon calls are serialized (addon.cc), so one set suffices

/// A product with a pre-packed weight: C = A·W + bias (+ residual), A [M, K] dense.
void packed_product(int64_t M, int64_t N, int64_t K, const float* A, const float* w, const float* bias,
                    const float* residual, float* C) {
  GemmDesc g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.A = A;
  g.B = w;
  g.b_packed = true;
  g.C = C;
  g.bias = bias;
  g.bias_sn = 1;
  g.residual = residual;
  gemm(g);
}

/// Gives up a one-off large batch's memory once smaller batches run.
float* scratch(Scratch& s, int64_t n) {
  s.trim(64u << 20, static_cast<size_t>(n));
  return s.get(static_cast<size_t>(n));
}

}  // namespace

bool layer_forward(const LayerDesc& d) {
  const int64_t M = d.B * d.T, D = d.D;
  float* rows = scratch(g_rows, M * D);
  float* qkv = scratch(g_qkv, M * 3 * D);
  float* x1 = scratch(g_x1, M * D);
  if (rows == nullptr || qkv == nullptr || x1 == nullptr) return false;

  layer_norm(d.x, d.ln1_gamma, d.ln1_beta, rows, M, D, d.eps);
  packed_product(M, 3 * D, D, rows, d.w_qkv, d.b_qkv, nullptr, qkv);

  AttentionDesc a;
  a.qkv = qkv;
  a.B = d.B;
  a.T = d.T;
  a.H = d.H;
  a.hd = D / d.H;
  a.bias = d.attn_bias;
  a.bias_per_head = d.bias_per_head;
  a.context = rows;  // the normalised rows are consumed by the QKV product
  attention(a);

  packed_product(M, D, D, rows, d.w_o, d.b_o, d.x, x1);  // x1 = x + attention output
  layer_norm(x1, d.ln2_gamma, d.ln2_beta, rows, M, D, d.eps);

  MlpDesc m;
  m.x = rows;
  m.w1 = d.w1;
  m.b1 = d.b1;
  m.act = d.act;
  m.w2 = d.w2;
  m.b2 = d.b2;
  m.residual = x1;
  m.out = d.out;
  m.M = M;
  m.D = D;
  m.F = d.F;
  return mlp(m);
}

}  // namespace beit
