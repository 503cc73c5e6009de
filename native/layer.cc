// See layer.h. The steps are the addon's own kernels (layer_norm, gemm, attention, mlp), called in
// sequence on three scratch buffers: the normalised rows / attention context (reused), the QKV
// projection, and x1.
#include "layer.h"

#include <cstdlib>
#include <cstring>

#include "attention.h"
#include "ops.h"

namespace beit {

namespace {

/// A grow-only 64-byte aligned scratch buffer that lets go of a one-off large batch's memory.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  float* get(int64_t n) {
    const size_t want = static_cast<size_t>(n);
    if (want > cap_ || (cap_ * sizeof(float) > (64u << 20) && want < cap_ / 2)) {
      std::free(p_);
      const size_t bytes = ((want * sizeof(float) + 63) / 64) * 64;
      p_ = static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
      cap_ = p_ != nullptr ? want : 0;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

Scratch g_rows, g_qkv, g_x1, g_hidden;  // addon calls are serialized (addon.cc), so one set suffices

}  // namespace

bool layer_forward(const LayerDesc& d) {
  const int64_t M = d.B * d.T, D = d.D;
  float* rows = g_rows.get(M * D);
  float* qkv = g_qkv.get(M * 3 * D);
  float* x1 = g_x1.get(M * D);
  if (rows == nullptr || qkv == nullptr || x1 == nullptr) return false;

  layer_norm(d.x, d.ln1_gamma, d.ln1_beta, rows, M, D, d.eps);

  GemmDesc g;
  g.M = M;
  g.N = 3 * D;
  g.K = D;
  g.A = rows;
  g.B = d.w_qkv;
  g.b_packed = true;
  g.C = qkv;
  g.bias = d.b_qkv;
  g.bias_sn = 1;
  gemm(g);

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

  GemmDesc o;
  o.M = M;
  o.N = D;
  o.K = D;
  o.A = rows;
  o.B = d.w_o;
  o.b_packed = true;
  o.C = x1;
  o.bias = d.b_o;
  o.bias_sn = 1;
  o.residual = d.x;
  gemm(o);

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
  if (mlp(m)) return true;
  // No fused MLP for this CPU / these sizes: the two products through a scratch intermediate.
  float* hidden = g_hidden.get(M * d.F);
  if (hidden == nullptr) return false;
  GemmDesc f1;
  f1.M = M;
  f1.N = d.F;
  f1.K = D;
  f1.A = rows;
  f1.B = d.w1;
  f1.b_packed = true;
  f1.C = hidden;
  f1.bias = d.b1;
  f1.bias_sn = 1;
  f1.act = d.act;
  gemm(f1);
  GemmDesc f2;
  f2.M = M;
  f2.N = D;
  f2.K = d.F;
  f2.A = hidden;
  f2.B = d.w2;
  f2.b_packed = true;
  f2.C = d.out;
  f2.bias = d.b2;
  f2.bias_sn = 1;
  f2.residual = x1;
  gemm(f2);
  return true;
}

}  // namespace beit
