// N-API entry points of the `beit_native` addon: thin argument checking around gemm.cc / ops.cc.
//
// Contract: every function works synchronously on caller-owned typed arrays (the tfjs CPU
// backend's storage), so JavaScript never copies tensors in or out. Sizes are re-checked here
// against the arrays' lengths: a wrong call throws a RangeError instead of touching memory
// outside the arrays.
//
// One process, many JavaScript threads: Node worker threads each load this addon, but the thread
// pool, the kernel choice, the tunables and the products' scratch buffers exist once per process and
// serve one call at a time. Every entry point therefore holds a process-wide lock for the duration
// of the call (uncontended: ~20 ns against calls of 10 µs and more); concurrent calls from several
// worker threads run one after another, each on the whole pool. The one exception, pngUnfilter, uses
// none of that state and runs on the calling thread alone.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "attention.h"
#include "gemm.h"
#include "layer.h"
#include "ops.h"
#include "pool.h"
#include "image.h"

namespace {

using beit::ThreadPool;

struct Arr {
  void* data = nullptr;
  int64_t length = 0;  // elements
  int64_t bytes = 0;
  bool ok = false;
};

/// Throws a RangeError, unless an earlier check of the same call already threw (a second throw while
/// one is pending would abort the process).
bool fail(const Napi::Env& env, const std::string& msg) {
  if (!env.IsExceptionPending()) Napi::RangeError::New(env, msg).ThrowAsJavaScriptException();
  return false;
}

/// Whether two array arguments share memory.
bool overlap(const Arr& a, const Arr& b) {
  const char* a0 = static_cast<const char*>(a.data);
  const char* b0 = static_cast<const char*>(b.data);
  return a0 < b0 + b.bytes && b0 < a0 + a.bytes;
}

/// Whether a·b·c (all ≥ 0) is at most `limit`, without overflowing.
bool product_within(int64_t a, int64_t b, int64_t c, int64_t limit) {
  int64_t ab = 0, abc = 0;
  if (a < 0 || b < 0 || c < 0) return false;
  return !__builtin_mul_overflow(a, b, &ab) && !__builtin_mul_overflow(ab, c, &abc) && abc <= limit;
}

/// The first element of a typed array, from N-API directly: TypedArray::ArrayBuffer() fails for views of
/// a SharedArrayBuffer (an exception pending and a null pointer). An empty view may have no memory at all;
/// it then gets a valid address that is never read.
void* view_data(const Napi::TypedArray& t) {
  static uint8_t empty[8];
  void* data = nullptr;
  size_t length = 0;
  if (napi_get_typedarray_info(t.Env(), t, nullptr, &length, &data, nullptr, nullptr) != napi_ok) return nullptr;
  return data != nullptr ? data : (length == 0 ? empty : nullptr);
}

/// Fills `a` from `t`, or throws naming argument i when its memory cannot be reached.
bool set_view(const Napi::CallbackInfo& info, size_t i, const Napi::TypedArray& t, Arr& a) {
  a.data = view_data(t);
  if (a.data == nullptr) return fail(info.Env(), "argument " + std::to_string(i) + ": cannot access its memory");
  a.length = static_cast<int64_t>(t.ElementLength());
  a.bytes = static_cast<int64_t>(t.ByteLength());
  a.ok = true;
  return true;
}

/// A typed array argument of 4-byte elements (Float32Array, or Int32Array when int_ok).
Arr typed(const Napi::CallbackInfo& info, size_t i, bool nullable, bool int_ok = false) {
  Arr a;
  Napi::Value v = info[i];
  if (nullable && (v.IsNull() || v.IsUndefined())) {
    a.ok = true;
    return a;
  }
  if (!v.IsTypedArray()) {
    fail(info.Env(), "argument " + std::to_string(i) + " must be a typed array");
    return a;
  }
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  const napi_typedarray_type ty = t.TypedArrayType();
  if (!(ty == napi_float32_array || (int_ok && (ty == napi_int32_array || ty == napi_uint32_array)))) {
    fail(info.Env(), "argument " + std::to_string(i) + " must be a Float32Array" +
                         (int_ok ? " or Int32Array" : ""));
    return a;
  }
  set_view(info, i, t, a);
  return a;
}

/// A typed array argument of exactly one element type (`what` names it for the error).
Arr typed_of(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* what, bool nullable) {
  Arr a;
  Napi::Value v = info[i];
  if (nullable && (v.IsNull() || v.IsUndefined())) {
    a.ok = true;
    return a;
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    fail(info.Env(), "argument " + std::to_string(i) + " must be " + what);
    return a;
  }
  set_view(info, i, v.As<Napi::TypedArray>(), a);
  return a;
}

Arr ints(const Napi::CallbackInfo& info, size_t i, bool nullable) {
  return typed_of(info, i, napi_int32_array, "an Int32Array", nullable);
}

/// An integer argument; -1 (which every caller refuses) for anything else: not a number, NaN, ±Infinity,
/// a fraction, or beyond int64.
int64_t num(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) return -1;
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= -9.2e18 && v <= 9.2e18) || v != std::trunc(v)) return -1;
  return static_cast<int64_t>(v);
}

double dbl(const Napi::CallbackInfo& info, size_t i) {
  return info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : 0.0;
}

/// A Uint8Array argument (length in bytes).
Arr bytes(const Napi::CallbackInfo& info, size_t i) {
  return typed_of(info, i, napi_uint8_array, "a Uint8Array", false);
}

/// Reads (start, count, coeffs, stride) at info[i..i+3] for `outputs` outputs over `in_size` inputs,
/// checking every window against the input and the coefficient rows.
bool resample_axis(const Napi::CallbackInfo& info, size_t i, int64_t outputs, int64_t in_size,
                   beit::ResampleAxis& ax) {
  Arr st = ints(info, i, false), ct = ints(info, i + 1, false), cf = ints(info, i + 2, false);
  if (!st.ok || !ct.ok || !cf.ok) return false;
  ax.stride = num(info, i + 3);
  if (ax.stride < 1 || st.length < outputs || ct.length < outputs || !product_within(outputs, ax.stride, 1, cf.length))
    return fail(info.Env(), "resample: coefficient arrays shorter than the sizes given");
  ax.start = static_cast<const int32_t*>(st.data);
  ax.count = static_cast<const int32_t*>(ct.data);
  ax.coeffs = static_cast<const int32_t*>(cf.data);
  for (int64_t o = 0; o < outputs; ++o) {
    const int64_t s = ax.start[o], n = ax.count[o];
    if (s < 0 || n < 0 || n > ax.stride || s + n > in_size)
      return fail(info.Env(), "resample: window " + std::to_string(o) + " outside the input");
  }
  return true;
}

std::vector<int64_t> to_i64(const Arr& a) {
  const int32_t* p = static_cast<const int32_t*>(a.data);
  return std::vector<int64_t>(p, p + a.length);
}

// gemm(a, b, c, M, N, K, transA, transB, batch, aIndex|null, bIndex|null, numA, numB,
//      bias|null, biasSb, biasSm, biasSn, act, alpha[, bPacked[, residual|null]])
// residual (batch × M × N, like c, not overlapping it) is added after the activation.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 19) return fail(env, "gemm: expected 19 arguments"), env.Undefined();
  Arr A = typed(info, 0, false), B = typed(info, 1, false), C = typed(info, 2, false);
  Arr ai = ints(info, 9, true), bi = ints(info, 10, true), bias = typed(info, 13, true);
  if (!A.ok || !B.ok || !C.ok || !ai.ok || !bi.ok || !bias.ok) return env.Undefined();
  beit::GemmDesc d;
  d.M = num(info, 3);
  d.N = num(info, 4);
  d.K = num(info, 5);
  d.trans_a = info[6].ToBoolean();
  d.trans_b = info[7].ToBoolean();
  d.b_packed = info.Length() > 19 && info[19].ToBoolean();
  Arr residual = info.Length() > 20 ? typed(info, 20, true) : Arr{};
  if (info.Length() > 20 && !residual.ok) return env.Undefined();
  d.batch = num(info, 8);
  d.num_a = num(info, 11);
  d.num_b = num(info, 12);
  d.bias_sb = num(info, 14);
  d.bias_sm = num(info, 15);
  d.bias_sn = num(info, 16);
  const int64_t act = num(info, 17);
  d.alpha = dbl(info, 18);
  if (d.M < 0 || d.N < 0 || d.K < 0 || d.batch < 0 || d.num_a < 1 || d.num_b < 1)
    return fail(env, "gemm: bad sizes"), env.Undefined();
  if (act < 0 || act > 7) return fail(env, "gemm: unknown activation code"), env.Undefined();
  d.act = static_cast<beit::Act>(act);
  const int64_t b_len = d.b_packed ? beit::packed_b_size(d.K, d.N) : d.K * d.N;
  if (A.length < d.num_a * d.M * d.K || B.length < d.num_b * b_len ||
      C.length < d.batch * d.M * d.N)
    return fail(env, "gemm: array shorter than the sizes given"), env.Undefined();
  auto check_index = [&](const Arr& ix, int64_t count) {
    if (ix.data == nullptr) return d.batch <= count;
    if (ix.length < d.batch) return false;
    const int32_t* p = static_cast<const int32_t*>(ix.data);
    for (int64_t i = 0; i < d.batch; ++i)
      if (p[i] < 0 || p[i] >= count) return false;
    return true;
  };
  if (!check_index(ai, d.num_a) || !check_index(bi, d.num_b))
    return fail(env, "gemm: batch index out of range"), env.Undefined();
  if (bias.data != nullptr) {
    if (d.bias_sb < 0 || d.bias_sm < 0 || d.bias_sn < 0)
      return fail(env, "gemm: negative bias stride"), env.Undefined();
    const int64_t last = (d.batch > 0 ? (d.batch - 1) * d.bias_sb : 0) +
                         (d.M > 0 ? (d.M - 1) * d.bias_sm : 0) + (d.N > 0 ? (d.N - 1) * d.bias_sn : 0);
    if (d.batch * d.M * d.N > 0 && last >= bias.length)
      return fail(env, "gemm: bias shorter than its strides imply"), env.Undefined();
  }
  if (residual.data != nullptr) {
    if (residual.length < d.batch * d.M * d.N)
      return fail(env, "gemm: residual shorter than the output"), env.Undefined();
    if (overlap(residual, C)) return fail(env, "gemm: residual overlaps the output"), env.Undefined();
  }
  d.residual = static_cast<const float*>(residual.data);
  d.A = static_cast<const float*>(A.data);
  d.B = static_cast<const float*>(B.data);
  d.C = static_cast<float*>(C.data);
  d.a_index = static_cast<const int32_t*>(ai.data);
  d.b_index = static_cast<const int32_t*>(bi.data);
  d.bias = static_cast<const float*>(bias.data);
  beit::gemm(d);
  return env.Undefined();
}

// mlp(x, w1, b1|null, act, w2, b2|null, residual|null, out, M, D, F) -> boolean
// out = act(x·W1 + b1)·W2 + b2 + residual with W1 [D, F] and W2 [F, D] packed by packB; false (out
// untouched) only when the intermediate's memory cannot be had.
Napi::Value Mlp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11) return fail(env, "mlp: expected 11 arguments"), env.Undefined();
  Arr x = typed(info, 0, false), w1 = typed(info, 1, false), b1 = typed(info, 2, true);
  Arr w2 = typed(info, 4, false), b2 = typed(info, 5, true), res = typed(info, 6, true);
  Arr out = typed(info, 7, false);
  if (!x.ok || !w1.ok || !b1.ok || !w2.ok || !b2.ok || !res.ok || !out.ok) return env.Undefined();
  beit::MlpDesc m;
  const int64_t act = num(info, 3);
  m.M = num(info, 8);
  m.D = num(info, 9);
  m.F = num(info, 10);
  if (m.M < 0 || m.D < 0 || m.F < 0) return fail(env, "mlp: bad sizes"), env.Undefined();
  if (act < 0 || act > 7) return fail(env, "mlp: unknown activation code"), env.Undefined();
  if (x.length < m.M * m.D || w1.length < beit::packed_b_size(m.D, m.F) ||
      w2.length < beit::packed_b_size(m.F, m.D) || out.length < m.M * m.D ||
      (b1.data != nullptr && b1.length < m.F) || (b2.data != nullptr && b2.length < m.D) ||
      (res.data != nullptr && res.length < m.M * m.D))
    return fail(env, "mlp: array shorter than the sizes given"), env.Undefined();
  if (res.data != nullptr && overlap(res, out))
    return fail(env, "mlp: residual overlaps the output"), env.Undefined();
  m.x = static_cast<const float*>(x.data);
  m.w1 = static_cast<const float*>(w1.data);
  m.b1 = static_cast<const float*>(b1.data);
  m.act = static_cast<beit::Act>(act);
  m.w2 = static_cast<const float*>(w2.data);
  m.b2 = static_cast<const float*>(b2.data);
  m.residual = static_cast<const float*>(res.data);
  m.out = static_cast<float*>(out.data);
  return Napi::Boolean::New(env, beit::mlp(m));
}

// layer(x, out, B, T, D, H, F, eps, ln1Gamma, ln1Beta, wQkv, bQkv|null, bias|null, biasPerHead, wO, bO|null,
//       ln2Gamma, ln2Beta, w1, b1|null, act, w2, b2|null)
// One transformer layer (native/layer.h); weights packed by packB; bias [H, T, T] or [T, T].
Napi::Value Layer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 23) return fail(env, "layer: expected 23 arguments"), env.Undefined();
  Arr x = typed(info, 0, false), out = typed(info, 1, false);
  Arr ln1g = typed(info, 8, false), ln1b = typed(info, 9, false), wqkv = typed(info, 10, false);
  Arr bqkv = typed(info, 11, true), bias = typed(info, 12, true), wo = typed(info, 14, false);
  Arr bo = typed(info, 15, true), ln2g = typed(info, 16, false), ln2b = typed(info, 17, false);
  Arr w1 = typed(info, 18, false), b1 = typed(info, 19, true), w2 = typed(info, 21, false);
  Arr b2 = typed(info, 22, true);
  for (const Arr* a : {&x, &out, &ln1g, &ln1b, &wqkv, &bqkv, &bias, &wo, &bo, &ln2g, &ln2b, &w1, &b1, &w2, &b2})
    if (!a->ok) return env.Undefined();
  beit::LayerDesc d;
  d.B = num(info, 2);
  d.T = num(info, 3);
  d.D = num(info, 4);
  d.H = num(info, 5);
  d.F = num(info, 6);
  d.eps = static_cast<float>(dbl(info, 7));
  d.bias_per_head = info[13].ToBoolean();
  const int64_t act = num(info, 20);
  if (d.B < 0 || d.T < 0 || d.D < 1 || d.H < 1 || d.F < 1 || d.D % d.H != 0)
    return fail(env, "layer: bad sizes"), env.Undefined();
  if (act < 0 || act > 7) return fail(env, "layer: unknown activation code"), env.Undefined();
  const int64_t M = d.B * d.T, D = d.D, F = d.F;
  auto short_of = [](const Arr& a, int64_t n) { return a.data != nullptr && a.length < n; };
  if (x.length < M * D || out.length < M * D || ln1g.length < D || ln1b.length < D || ln2g.length < D ||
      ln2b.length < D || wqkv.length < beit::packed_b_size(D, 3 * D) || wo.length < beit::packed_b_size(D, D) ||
      w1.length < beit::packed_b_size(D, F) || w2.length < beit::packed_b_size(F, D) || short_of(bqkv, 3 * D) ||
      short_of(bo, D) || short_of(b1, F) || short_of(b2, D) ||
      short_of(bias, (d.bias_per_head ? d.H : 1) * d.T * d.T))
    return fail(env, "layer: array shorter than the sizes given"), env.Undefined();
  if (overlap(x, out)) return fail(env, "layer: input overlaps the output"), env.Undefined();
  if (M == 0) return env.Undefined();
  d.x = static_cast<const float*>(x.data);
  d.out = static_cast<float*>(out.data);
  d.ln1_gamma = static_cast<const float*>(ln1g.data);
  d.ln1_beta = static_cast<const float*>(ln1b.data);
  d.w_qkv = static_cast<const float*>(wqkv.data);
  d.b_qkv = static_cast<const float*>(bqkv.data);
  d.attn_bias = static_cast<const float*>(bias.data);
  d.w_o = static_cast<const float*>(wo.data);
  d.b_o = static_cast<const float*>(bo.data);
  d.ln2_gamma = static_cast<const float*>(ln2g.data);
  d.ln2_beta = static_cast<const float*>(ln2b.data);
  d.w1 = static_cast<const float*>(w1.data);
  d.b1 = static_cast<const float*>(b1.data);
  d.act = static_cast<beit::Act>(act);
  d.w2 = static_cast<const float*>(w2.data);
  d.b2 = static_cast<const float*>(b2.data);
  if (!beit::layer_forward(d)) return fail(env, "layer: out of memory for the layer's scratch buffers"), env.Undefined();
  return env.Undefined();
}

// mlpBlock(D, F): the intermediate's column block mlp() would use, 0 when it keeps it dense.
Napi::Value MlpBlock(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(beit::mlp_block(num(info, 0), num(info, 1))));
}

// packB(b, K, N, transB, out): out must hold packedBSize(K, N) floats
Napi::Value PackB(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr b = typed(info, 0, false), out = typed(info, 4, false);
  if (!b.ok || !out.ok) return env.Undefined();
  const int64_t K = num(info, 1), N = num(info, 2);
  if (K < 0 || N < 0 || b.length < K * N || out.length < beit::packed_b_size(K, N))
    return fail(env, "packB: bad sizes"), env.Undefined();
  beit::pack_b(static_cast<const float*>(b.data), K, N, info[3].ToBoolean(), static_cast<float*>(out.data));
  return env.Undefined();
}

// packRows(parts: Float32Array[], K, out, scale: Float64Array | null): packs the rows of the parts
// ([n_i, K] each, stacked) as the columns of B = [K, Σ n_i] (see pack_b_rows).
Napi::Value PackRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) return fail(env, "packRows: argument 0 must be an array of Float32Array"), env.Undefined();
  const int64_t K = num(info, 1);
  if (K < 1) return fail(env, "packRows: bad sizes"), env.Undefined();
  Napi::Array parts = info[0].As<Napi::Array>();
  std::vector<const float*> rows;
  for (uint32_t i = 0; i < parts.Length(); ++i) {
    Napi::Value v = parts.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      return fail(env, "packRows: every part must be a Float32Array"), env.Undefined();
    Napi::TypedArray t = v.As<Napi::TypedArray>();
    const int64_t len = static_cast<int64_t>(t.ElementLength());
    if (len % K != 0) return fail(env, "packRows: a part's length is not a multiple of K"), env.Undefined();
    const float* base = static_cast<const float*>(view_data(t));
    if (base == nullptr) return fail(env, "packRows: cannot access a part's memory"), env.Undefined();
    for (int64_t r = 0; r < len / K; ++r) rows.push_back(base + r * K);
  }
  const int64_t N = static_cast<int64_t>(rows.size());
  Arr out = typed(info, 2, false);
  if (!out.ok) return env.Undefined();
  if (out.length < beit::packed_b_size(K, N)) return fail(env, "packRows: out is too short"), env.Undefined();
  const double* scale = nullptr;
  Napi::Value sv = info[3];
  if (!sv.IsNull() && !sv.IsUndefined()) {
    if (!sv.IsTypedArray() || sv.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        static_cast<int64_t>(sv.As<Napi::TypedArray>().ElementLength()) < N)
      return fail(env, "packRows: scale must be a Float64Array of one value per row"), env.Undefined();
    Napi::TypedArray t = sv.As<Napi::TypedArray>();
    scale = static_cast<const double*>(view_data(t));
    if (scale == nullptr) return fail(env, "packRows: cannot access the scale's memory"), env.Undefined();
  }
  beit::pack_b_rows(rows.data(), K, N, scale, static_cast<float*>(out.data));
  return env.Undefined();
}

Napi::Value PackedBSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(beit::packed_b_size(num(info, 0), num(info, 1))));
}

// align64(arrayBuffer): bytes to skip from the buffer's start to reach a 64-byte boundary (outputs
// placed there let the products write whole cache lines with streaming stores).
Napi::Value Align64(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    Napi::TypeError::New(info.Env(), "align64: expected an ArrayBuffer").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const auto addr = reinterpret_cast<uintptr_t>(info[0].As<Napi::ArrayBuffer>().Data());
  return Napi::Number::New(info.Env(), static_cast<double>((64 - addr % 64) % 64));
}

// attention(qkv, B, T, H, hd, bias|null, biasPerHead, scale, context, probs|null)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr qkv = typed(info, 0, false), bias = typed(info, 5, true), ctx = typed(info, 8, false);
  Arr probs = typed(info, 9, true);
  if (!qkv.ok || !bias.ok || !ctx.ok || !probs.ok) return env.Undefined();
  beit::AttentionDesc d;
  d.B = num(info, 1);
  d.T = num(info, 2);
  d.H = num(info, 3);
  d.hd = num(info, 4);
  d.bias_per_head = info[6].ToBoolean();
  d.scale = static_cast<float>(dbl(info, 7));
  if (d.B < 0 || d.T < 0 || d.H < 0 || d.hd < 0) return fail(env, "attention: bad sizes"), env.Undefined();
  const int64_t D = d.H * d.hd;
  if (qkv.length < d.B * d.T * 3 * D || ctx.length < d.B * d.T * D ||
      (probs.data && probs.length < d.B * d.H * d.T * d.T) ||
      (bias.data && bias.length < (d.bias_per_head ? d.H : 1) * d.T * d.T))
    return fail(env, "attention: array shorter than the sizes given"), env.Undefined();
  d.qkv = static_cast<const float*>(qkv.data);
  d.bias = static_cast<const float*>(bias.data);
  d.context = static_cast<float*>(ctx.data);
  d.probs = static_cast<float*>(probs.data);
  beit::attention(d);
  return env.Undefined();
}

// softmax(x, out, rows, cols)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr x = typed(info, 0, false), y = typed(info, 1, false);
  if (!x.ok || !y.ok) return env.Undefined();
  const int64_t rows = num(info, 2), cols = num(info, 3);
  if (rows < 0 || cols < 0 || x.length < rows * cols || y.length < rows * cols)
    return fail(env, "softmax: bad sizes"), env.Undefined();
  beit::softmax_rows(static_cast<const float*>(x.data), static_cast<float*>(y.data), rows, cols);
  return env.Undefined();
}

// unary(op, x, out, n)
Napi::Value Unary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t op = num(info, 0);
  Arr x = typed(info, 1, false), y = typed(info, 2, false);
  if (!x.ok || !y.ok) return env.Undefined();
  const int64_t n = num(info, 3);
  if (op < 0 || op > 14) return fail(env, "unary: unknown op"), env.Undefined();
  if (n < 0 || x.length < n || y.length < n) return fail(env, "unary: bad sizes"), env.Undefined();
  beit::unary(static_cast<beit::UnaryOp>(op), static_cast<const float*>(x.data),
              static_cast<float*>(y.data), n);
  return env.Undefined();
}

bool strided_extent_ok(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                       int64_t offset, int64_t length) {
  int64_t lo = offset, hi = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) return false;
    if (shape[d] == 0) return true;
    const int64_t span = (shape[d] - 1) * strides[d];
    if (span < 0) lo += span; else hi += span;
  }
  return lo >= 0 && hi < length;
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t x : v) p *= x;
  return p;
}

// binary(op, a, b, out, shape, aStrides, bStrides)
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t op = num(info, 0);
  Arr a = typed(info, 1, false), b = typed(info, 2, false), y = typed(info, 3, false);
  Arr sh = ints(info, 4, false), sa = ints(info, 5, false), sb = ints(info, 6, false);
  if (!a.ok || !b.ok || !y.ok || !sh.ok || !sa.ok || !sb.ok) return env.Undefined();
  if (op < 0 || op > 6) return fail(env, "binary: unknown op"), env.Undefined();
  if (sh.length > 8 || sa.length != sh.length || sb.length != sh.length)
    return fail(env, "binary: rank must be <= 8 with one stride per dimension"), env.Undefined();
  auto shape = to_i64(sh), as = to_i64(sa), bs = to_i64(sb);
  const int64_t n = product(shape);
  if (n == 0) return env.Undefined();
  if (y.length < n || !strided_extent_ok(shape, as, 0, a.length) ||
      !strided_extent_ok(shape, bs, 0, b.length))
    return fail(env, "binary: shapes and strides exceed the arrays"), env.Undefined();
  beit::binary(static_cast<beit::BinaryOp>(op), static_cast<const float*>(a.data),
               static_cast<const float*>(b.data), static_cast<float*>(y.data),
               static_cast<int>(shape.size()), shape.data(), as.data(), bs.data());
  return env.Undefined();
}

// reduce(op, x, out, outer, r, inner)
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t op = num(info, 0);
  Arr x = typed(info, 1, false), y = typed(info, 2, false);
  if (!x.ok || !y.ok) return env.Undefined();
  const int64_t outer = num(info, 3), r = num(info, 4), inner = num(info, 5);
  if (op < 0 || op > 3) return fail(env, "reduce: unknown op"), env.Undefined();
  if (outer < 0 || r < 0 || inner < 0 || x.length < outer * r * inner || y.length < outer * inner)
    return fail(env, "reduce: bad sizes"), env.Undefined();
  beit::reduce(static_cast<beit::ReduceOp>(op), static_cast<const float*>(x.data),
               static_cast<float*>(y.data), outer, r, inner);
  return env.Undefined();
}

// stridedCopy(src, offset, shape, strides, dst)
Napi::Value StridedCopy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr src = typed(info, 0, false, true);
  Arr sh = ints(info, 2, false), st = ints(info, 3, false);
  Arr dst = typed(info, 4, false, true);
  if (!src.ok || !sh.ok || !st.ok || !dst.ok) return env.Undefined();
  const int64_t offset = num(info, 1);
  if (sh.length > 8 || st.length != sh.length)
    return fail(env, "stridedCopy: rank must be <= 8 with one stride per dimension"), env.Undefined();
  auto shape = to_i64(sh), strides = to_i64(st);
  const int64_t n = product(shape);
  if (n == 0) return env.Undefined();
  if (offset < 0 || dst.length < n || !strided_extent_ok(shape, strides, offset, src.length))
    return fail(env, "stridedCopy: shape and strides exceed the arrays"), env.Undefined();
  beit::strided_copy(static_cast<const uint32_t*>(src.data), offset,
                     static_cast<int>(shape.size()), shape.data(), strides.data(),
                     static_cast<uint32_t*>(dst.data));
  return env.Undefined();
}

// gather(x, indices, out, outer, axis, n, inner) -> -1 or the first bad index position
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr x = typed(info, 0, false, true), ix = ints(info, 1, false), y = typed(info, 2, false, true);
  if (!x.ok || !ix.ok || !y.ok) return env.Undefined();
  const int64_t outer = num(info, 3), axis = num(info, 4), n = num(info, 5), inner = num(info, 6);
  if (outer < 0 || axis < 0 || n < 0 || inner < 0 || ix.length < n ||
      x.length < outer * axis * inner || y.length < outer * n * inner)
    return fail(env, "gather: bad sizes"), env.Undefined();
  const int64_t bad = beit::gather(static_cast<const uint32_t*>(x.data),
                                   static_cast<const int32_t*>(ix.data),
                                   static_cast<uint32_t*>(y.data), outer, axis, n, inner);
  return Napi::Number::New(env, static_cast<double>(bad));
}

// resampleH(src u8, inW, h, pix, channels, start, count, coeffs, stride, outW, out u8)
Napi::Value ResampleH(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr src = bytes(info, 0), out = bytes(info, 10);
  if (!src.ok || !out.ok) return env.Undefined();
  const int64_t in_w = num(info, 1), h = num(info, 2), pix = num(info, 3), ch = num(info, 4), out_w = num(info, 9);
  if (in_w < 1 || h < 0 || out_w < 1 || pix < 1 || pix > 4 || (ch != 1 && ch != pix))
    return fail(env, "resampleH: bad sizes"), env.Undefined();
  if (!product_within(in_w, h, pix, src.length) || !product_within(out_w, h, ch, out.length))
    return fail(env, "resampleH: array shorter than the sizes given"), env.Undefined();
  if (overlap(src, out)) return fail(env, "resampleH: out must not share memory with src"), env.Undefined();
  beit::ResampleAxis ax{};
  if (!resample_axis(info, 5, out_w, in_w, ax)) return env.Undefined();
  beit::resample_horizontal(static_cast<const uint8_t*>(src.data), in_w, h, static_cast<int>(pix),
                            static_cast<int>(ch), ax, out_w, static_cast<uint8_t*>(out.data));
  return env.Undefined();
}

// resampleV(src u8, rowLen, inH, start, count, coeffs, stride, outH, out u8)
Napi::Value ResampleV(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr src = bytes(info, 0), out = bytes(info, 8);
  if (!src.ok || !out.ok) return env.Undefined();
  const int64_t row_len = num(info, 1), in_h = num(info, 2), out_h = num(info, 7);
  if (row_len < 1 || in_h < 1 || out_h < 0) return fail(env, "resampleV: bad sizes"), env.Undefined();
  if (!product_within(row_len, in_h, 1, src.length) || !product_within(row_len, out_h, 1, out.length))
    return fail(env, "resampleV: array shorter than the sizes given"), env.Undefined();
  if (overlap(src, out)) return fail(env, "resampleV: out must not share memory with src"), env.Undefined();
  beit::ResampleAxis ax{};
  if (!resample_axis(info, 3, out_h, in_h, ax)) return env.Undefined();
  beit::resample_vertical(static_cast<const uint8_t*>(src.data), row_len, ax, out_h, static_cast<uint8_t*>(out.data));
  return env.Undefined();
}

// pngUnfilter(data u8, start, rows, rowBytes, bpp): unlocked (no shared state, runs on the calling
// thread), so decoding on worker threads never waits for a forward pass holding the lock.
Napi::Value PngUnfilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr data = bytes(info, 0);
  if (!data.ok) return env.Undefined();
  const int64_t start = num(info, 1), rows = num(info, 2), row_bytes = num(info, 3), bpp = num(info, 4);
  if (start < 0 || rows < 0 || row_bytes < 1 || bpp < 1 || bpp > 8)
    return fail(env, "pngUnfilter: bad sizes"), env.Undefined();
  int64_t span = 0;
  if (row_bytes >= data.length || start > data.length || __builtin_mul_overflow(rows, row_bytes + 1, &span) ||
      span > data.length - start)
    return fail(env, "pngUnfilter: array shorter than the sizes given"), env.Undefined();
  if (rows == 0) return Napi::Number::New(env, -1);
  const int64_t bad = beit::png_unfilter(static_cast<uint8_t*>(data.data) + start, rows, row_bytes, static_cast<int>(bpp));
  return Napi::Number::New(env, static_cast<double>(bad));
}

// orient(src u8, w, h, c, orientation, dst u8): EXIF orientation 2-8 (native/image.h orient_image).
Napi::Value Orient(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr src = bytes(info, 0);
  if (!src.ok) return env.Undefined();
  Arr dst = bytes(info, 5);
  if (!dst.ok) return env.Undefined();
  const int64_t w = num(info, 1), h = num(info, 2), c = num(info, 3), orientation = num(info, 4);
  if (w < 1 || h < 1 || c < 1 || c > 16 || orientation < 2 || orientation > 8)
    return fail(env, "orient: bad sizes or orientation"), env.Undefined();
  if (!product_within(w, h, c, src.length) || !product_within(w, h, c, dst.length))
    return fail(env, "orient: array shorter than the sizes given"), env.Undefined();
  if (overlap(src, dst)) return fail(env, "orient: dst must not share memory with src"), env.Undefined();
  beit::orient_image(static_cast<const uint8_t*>(src.data), w, h, static_cast<int>(c), static_cast<int>(orientation),
                     static_cast<uint8_t*>(dst.data));
  return env.Undefined();
}

// layerNorm(x, gamma|null, beta|null, out, rows, cols, eps)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Arr x = typed(info, 0, false), g = typed(info, 1, true), b = typed(info, 2, true);
  Arr y = typed(info, 3, false);
  if (!x.ok || !g.ok || !b.ok || !y.ok) return env.Undefined();
  const int64_t rows = num(info, 4), cols = num(info, 5);
  const float eps = static_cast<float>(dbl(info, 6));
  if (rows < 0 || cols < 0 || x.length < rows * cols || y.length < rows * cols ||
      (g.data && g.length < cols) || (b.data && b.length < cols))
    return fail(env, "layerNorm: bad sizes"), env.Undefined();
  beit::layer_norm(static_cast<const float*>(x.data), static_cast<const float*>(g.data),
                   static_cast<const float*>(b.data), static_cast<float*>(y.data), rows, cols, eps);
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int64_t n = num(info, 0);
  if (n < 1 || n > 256) return fail(info.Env(), "setThreads: n must be in [1, 256]"), info.Env().Undefined();
  ThreadPool::instance().set_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value SetKernel(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return fail(info.Env(), "setKernel: expected a name"), info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), beit::gemm_force_kernel(info[0].As<Napi::String>().Utf8Value().c_str()));
}

Napi::Value Tune(const Napi::CallbackInfo& info) {
  if (!info[0].IsString()) return fail(info.Env(), "tune: expected a key"), info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), beit::gemm_tune(info[0].As<Napi::String>().Utf8Value().c_str(), num(info, 1)));
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  __builtin_cpu_init();
  Napi::Object o = Napi::Object::New(env);
  o.Set("kernel", beit::gemm_kernel_name());
  o.Set("threads", ThreadPool::instance().threads());
  o.Set("defaultThreads", beit::default_thread_count());
  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("avx512f", __builtin_cpu_supports("avx512f") != 0);
  cpu.Set("avx2", __builtin_cpu_supports("avx2") != 0);
  cpu.Set("fma", __builtin_cpu_supports("fma") != 0);
  o.Set("cpu", cpu);
  return o;
}

std::mutex g_call_mu;

/// F with the process-wide call lock held (see the file comment).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Locked(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_call_mu);
  return F(info);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Locked<Gemm>));
  exports.Set("packB", Napi::Function::New(env, Locked<PackB>));
  exports.Set("packRows", Napi::Function::New(env, Locked<PackRows>));
  exports.Set("packedBSize", Napi::Function::New(env, Locked<PackedBSize>));
  exports.Set("align64", Napi::Function::New(env, Locked<Align64>));
  exports.Set("mlp", Napi::Function::New(env, Locked<Mlp>));
  exports.Set("mlpBlock", Napi::Function::New(env, Locked<MlpBlock>));
  exports.Set("layer", Napi::Function::New(env, Locked<Layer>));
  exports.Set("attention", Napi::Function::New(env, Locked<Attention>));
  exports.Set("softmax", Napi::Function::New(env, Locked<Softmax>));
  exports.Set("unary", Napi::Function::New(env, Locked<Unary>));
  exports.Set("binary", Napi::Function::New(env, Locked<Binary>));
  exports.Set("reduce", Napi::Function::New(env, Locked<Reduce>));
  exports.Set("stridedCopy", Napi::Function::New(env, Locked<StridedCopy>));
  exports.Set("gather", Napi::Function::New(env, Locked<Gather>));
  exports.Set("layerNorm", Napi::Function::New(env, Locked<LayerNorm>));
  exports.Set("resampleH", Napi::Function::New(env, Locked<ResampleH>));
  exports.Set("resampleV", Napi::Function::New(env, Locked<ResampleV>));
  exports.Set("orient", Napi::Function::New(env, Locked<Orient>));
  exports.Set("pngUnfilter", Napi::Function::New(env, PngUnfilter));
  exports.Set("setThreads", Napi::Function::New(env, Locked<SetThreads>));
  exports.Set("setKernel", Napi::Function::New(env, Locked<SetKernel>));
  exports.Set("tune", Napi::Function::New(env, Locked<Tune>));
  exports.Set("info", Napi::Function::New(env, Locked<Info>));
  return exports;
}

}  // namespace

NODE_API_MODULE(beit_native, Init)
