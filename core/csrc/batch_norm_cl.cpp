// Batch norm of a channels-last float tensor, optionally followed by ReLU or ReLU6, forward
// and backward, as one autograd function (called from core/src/batch_norm_cl.rs).
//
// Why: libtorch's channels-last batch norm walks the tensor one pixel (C floats) at a time
// and handles the C % 8 floats that do not fill a vector register through a memcpy per
// pixel; a found network's odd widths (7, 21, 57 channels) made it 3–8× slower than at a
// width of 8, 16 or 64 (docs/PERFORMANCE.md). Here the flat buffer is walked in periods of
// P floats, P a multiple of C (and of 16 for narrow tensors), so every inner loop is a plain
// vectorizable loop; per-channel sums are folded from the P slots at the end. The
// activation rides along in the same passes instead of two more over the activations.
// The arithmetic is libtorch's: batch mean, biased variance to normalize, unbiased
// variance for the running estimate; two passes forward, two back.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ffi.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

enum Act : int { kNone = 0, kRelu = 1, kRelu6 = 2 };

// The activation of z, as libtorch computes it (NaN passes through).
template <int A>
inline float activate(float z) {
  if (A == kRelu) return z < 0.f ? 0.f : z;
  if (A == kRelu6) return z < 0.f ? 0.f : (z > 6.f ? 6.f : z);
  return z;
}

// The gradient g through the activation at its input z, as libtorch's threshold_backward
// (relu: 0 where z <= 0) and hardtanh_backward (relu6: 0 where z <= 0 or z >= 6); a NaN z
// lets g through in both. g is masked bitwise: GCC does not vectorize a select here.
template <int A>
inline float through(float g, float z) {
  if (A == kNone) return g;
  const bool cut = A == kRelu ? z <= 0.f : ((z <= 0.f) | (z >= 6.f));
  uint32_t bits;
  std::memcpy(&bits, &g, sizeof bits);
  bits &= static_cast<uint32_t>(cut) - 1u;  // cut: all zeros, else all ones
  std::memcpy(&g, &bits, sizeof bits);
  return g;
}

// A period of P floats: a multiple of C (so slot j is channel j % C) and, for C < 64, of 16
// (whole vector registers), at least 256 floats where that is cheap, so inner loops are
// long; wide rows are their own period (k·C would leave the L1 cache).
int64_t period_of(int64_t c) {
  const int64_t base = c >= 64 ? c : c * (16 / std::gcd<int64_t>(c, 16));
  return base * std::max<int64_t>(1, 256 / base);
}

// A per-channel vector repeated over the P slots of a period.
std::vector<float> per_slot(const std::vector<float>& v, int64_t p) {
  std::vector<float> out;
  out.reserve(p);
  while (static_cast<int64_t>(out.size()) < p) out.insert(out.end(), v.begin(), v.end());  // p % C == 0
  return out;
}

// Per-channel sums of K quantities over a buffer of n floats: `add(i0, len, acc)` adds the
// values of elements [i0, i0 + len) into acc[k][0..len) (slot i0 % P is 0: i0 is a period
// start). Floats accumulate over blocks of at most 64 periods (what vectorizes), doubles
// across blocks and threads; the P slots are folded into C channels at the end.
template <int K, typename F>
std::array<std::vector<double>, K> channel_sums(int64_t n, int64_t p, int64_t c, F add) {
  const int64_t periods = n / p;
  const int threads = at::get_num_threads();
  std::vector<double> partial(static_cast<size_t>(threads) * K * p, 0.0);
  std::vector<float> block(static_cast<size_t>(threads) * K * p);
  at::parallel_for(0, periods, 64, [&](int64_t begin, int64_t end) {
    const size_t t = static_cast<size_t>(at::get_thread_num()) * K * p;
    std::array<float*, K> acc;
    for (int k = 0; k < K; ++k) acc[k] = block.data() + t + k * p;
    for (int64_t b = begin; b < end; b += 64) {
      std::fill(block.begin() + t, block.begin() + t + K * p, 0.f);
      for (int64_t q = b; q < std::min(end, b + 64); ++q) add(q * p, p, acc);
      for (int64_t i = 0; i < K * p; ++i) partial[t + i] += block[t + i];
    }
  });
  // The elements after the last whole period, on one thread.
  std::fill(block.begin(), block.begin() + K * p, 0.f);
  std::array<float*, K> acc;
  for (int k = 0; k < K; ++k) acc[k] = block.data() + k * p;
  add(periods * p, n - periods * p, acc);
  std::array<std::vector<double>, K> sums;
  for (int k = 0; k < K; ++k) {
    sums[k].assign(c, 0.0);
    for (int64_t j = 0; j < p; ++j) {
      double s = block[k * p + j];
      for (int t = 0; t < threads; ++t) s += partial[(static_cast<size_t>(t) * K + k) * p + j];
      sums[k][j % c] += s;
    }
  }
  return sums;
}

// Runs f(i0, len) over the buffer in whole periods, in parallel, then the rest.
template <typename F>
void for_periods(int64_t n, int64_t p, F f) {
  const int64_t periods = n / p;
  at::parallel_for(0, periods, 64, [&](int64_t begin, int64_t end) {
    for (int64_t q = begin; q < end; ++q) f(q * p, p);
  });
  f(periods * p, n - periods * p);
}

std::vector<float> values_or(const at::Tensor& t, int64_t c, float fill) {
  std::vector<float> v(c, fill);
  if (t.defined()) {
    auto f = t.detach().to(at::kFloat).contiguous();
    std::memcpy(v.data(), f.data_ptr<float>(), c * sizeof(float));
  }
  return v;
}

at::Tensor from_vector(const std::vector<float>& v) {
  return at::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, at::kFloat).clone();
}

at::Tensor channels_last(const at::Tensor& t) {
  return t.contiguous(at::MemoryFormat::ChannelsLast);
}

template <int A>
void forward_out(const float* x, float* out, int64_t n, int64_t p, const std::vector<float>& a,
                 const std::vector<float>& b) {
  for_periods(n, p, [&](int64_t i0, int64_t len) {
    const float *xr = x + i0, *ap = a.data(), *bp = b.data();
    float* o = out + i0;
    for (int64_t j = 0; j < len; ++j) o[j] = activate<A>(xr[j] * ap[j] + bp[j]);
  });
}

// Adds g' and g'·(x − mean) of `len` elements into s0, s1; g' the gradient at the batch
// norm's output. A plain function: inlined into the lambda, GCC did not vectorize it.
template <int A>
__attribute__((noinline)) void add_backward_sums(const float* __restrict__ x, const float* __restrict__ g,
                                                 const float* __restrict__ a, const float* __restrict__ b,
                                                 const float* __restrict__ mean, float* __restrict__ s0,
                                                 float* __restrict__ s1, int64_t len) {
  for (int64_t j = 0; j < len; ++j) {
    const float gj = through<A>(g[j], x[j] * a[j] + b[j]);
    s0[j] += gj;
    s1[j] += gj * (x[j] - mean[j]);
  }
}

// Σ g' and Σ g'·(x − mean) per channel.
template <int A>
std::array<std::vector<double>, 2> backward_sums(const float* x, const float* g, int64_t n, int64_t p, int64_t c,
                                                 const std::vector<float>& a, const std::vector<float>& b,
                                                 const std::vector<float>& mean) {
  return channel_sums<2>(n, p, c, [&](int64_t i0, int64_t len, std::array<float*, 2>& acc) {
    add_backward_sums<A>(x + i0, g + i0, a.data(), b.data(), mean.data(), acc[0], acc[1], len);
  });
}

// dx = g'·u + x·v + w per slot.
template <int A>
void backward_dx(const float* x, const float* g, float* dx, int64_t n, int64_t p, const std::vector<float>& a,
                 const std::vector<float>& b, const std::vector<float>& u, const std::vector<float>& v,
                 const std::vector<float>& w) {
  for_periods(n, p, [&](int64_t i0, int64_t len) {
    const float *xr = x + i0, *gr = g + i0, *ap = a.data(), *bp = b.data();
    const float *up = u.data(), *vp = v.data(), *wp = w.data();
    float* o = dx + i0;
    for (int64_t j = 0; j < len; ++j) {
      const float gj = through<A>(gr[j], xr[j] * ap[j] + bp[j]);
      o[j] = gj * up[j] + xr[j] * vp[j] + wp[j];
    }
  });
}

template <typename F>
void by_act(int act, F f) {
  switch (act) {
    case kRelu: return f(std::integral_constant<int, kRelu>());
    case kRelu6: return f(std::integral_constant<int, kRelu6>());
    default: return f(std::integral_constant<int, kNone>());
  }
}

struct BatchNormCl : public torch::autograd::Function<BatchNormCl> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& running_mean,
                            const at::Tensor& running_var, bool train, double momentum, double eps, int64_t act) {
    TORCH_CHECK(input.dim() == 4 && input.scalar_type() == at::kFloat && input.device().is_cpu(),
                "batch_norm_cl takes a 4-d float CPU tensor, got ", input.sizes(), " ", input.scalar_type());
    const at::Tensor x = channels_last(input);
    const int64_t c = x.size(1), n = x.numel();
    TORCH_CHECK(c > 0, "batch_norm_cl: a batch norm of no channels");
    const int64_t m = n / c;
    TORCH_CHECK(!train || m > 1, "Expected more than 1 value per channel when training, got input size ",
                input.sizes());
    TORCH_CHECK(running_mean.defined() && running_var.defined() && running_mean.scalar_type() == at::kFloat &&
                    running_var.scalar_type() == at::kFloat && running_mean.is_contiguous() &&
                    running_var.is_contiguous() && running_mean.numel() == c && running_var.numel() == c,
                "batch_norm_cl needs float running statistics of ", c, " channels");
    const int64_t p = period_of(c);
    const float* xd = x.data_ptr<float>();
    std::vector<float> mean(c), invstd(c);
    if (train) {
      auto s = channel_sums<1>(n, p, c, [&](int64_t i0, int64_t len, std::array<float*, 1>& acc) {
        const float* r = xd + i0;
        float* s0 = acc[0];
        for (int64_t j = 0; j < len; ++j) s0[j] += r[j];
      })[0];
      for (int64_t j = 0; j < c; ++j) mean[j] = static_cast<float>(s[j] / m);
      const auto mp = per_slot(mean, p);
      auto ss = channel_sums<1>(n, p, c, [&](int64_t i0, int64_t len, std::array<float*, 1>& acc) {
        const float *r = xd + i0, *mr = mp.data();
        float* s0 = acc[0];
        for (int64_t j = 0; j < len; ++j) {
          const float d = r[j] - mr[j];
          s0[j] += d * d;
        }
      })[0];
      float *rm = running_mean.data_ptr<float>(), *rv = running_var.data_ptr<float>();
      for (int64_t j = 0; j < c; ++j) {
        invstd[j] = static_cast<float>(1.0 / std::sqrt(ss[j] / m + eps));
        rm[j] = static_cast<float>(momentum * mean[j] + (1 - momentum) * rm[j]);
        rv[j] = static_cast<float>(momentum * ss[j] / (m - 1) + (1 - momentum) * rv[j]);
      }
    } else {
      mean = values_or(running_mean, c, 0.f);
      const auto var = values_or(running_var, c, 1.f);
      for (int64_t j = 0; j < c; ++j) invstd[j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[j]) + eps));
    }
    const auto w = values_or(weight, c, 1.f), b = values_or(bias, c, 0.f);
    std::vector<float> scale(c), shift(c);
    for (int64_t j = 0; j < c; ++j) {
      scale[j] = w[j] * invstd[j];
      shift[j] = b[j] - mean[j] * scale[j];
    }
    at::Tensor out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const auto sp = per_slot(scale, p), hp = per_slot(shift, p);
    by_act(static_cast<int>(act), [&](auto a) { forward_out<decltype(a)::value>(xd, out.data_ptr<float>(), n, p, sp, hp); });
    ctx->save_for_backward({x, weight, from_vector(mean), from_vector(invstd), from_vector(scale), from_vector(shift)});
    ctx->saved_data["train"] = train;
    ctx->saved_data["act"] = act;
    ctx->saved_data["has_bias"] = bias.defined();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1];
    const bool train = ctx->saved_data["train"].toBool();
    const int act = static_cast<int>(ctx->saved_data["act"].toInt());
    const at::Tensor g = channels_last(grads[0].to(at::kFloat));
    const int64_t c = x.size(1), n = x.numel(), m = n / c, p = period_of(c);
    const auto mean = values_or(saved[2], c, 0.f), invstd = values_or(saved[3], c, 1.f);
    const auto w = values_or(weight, c, 1.f);
    const auto mp = per_slot(mean, p), sp = per_slot(values_or(saved[4], c, 1.f), p),
               hp = per_slot(values_or(saved[5], c, 0.f), p);
    const float *xd = x.data_ptr<float>(), *gd = g.data_ptr<float>();
    std::array<std::vector<double>, 2> sums;
    by_act(act, [&](auto a) { sums = backward_sums<decltype(a)::value>(xd, gd, n, p, c, sp, hp, mp); });
    const std::vector<double> &sum_g = sums[0], &sum_gxc = sums[1];
    // dx = γ·invstd·(g' − Σg'/M − (x − mean)·invstd²·Σg'(x − mean)/M) in training, γ·invstd·g'
    // in evaluation: dx = g'·u + x·v + w per channel.
    std::vector<float> u(c), v(c, 0.f), d(c, 0.f);
    for (int64_t j = 0; j < c; ++j) {
      const double k = static_cast<double>(w[j]) * invstd[j];
      u[j] = static_cast<float>(k);
      if (train) {
        const double b = -k * invstd[j] * invstd[j] * sum_gxc[j] / m;
        v[j] = static_cast<float>(b);
        d[j] = static_cast<float>(-k * sum_g[j] / m - b * mean[j]);
      }
    }
    at::Tensor dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const auto up = per_slot(u, p), vp = per_slot(v, p), dp = per_slot(d, p);
    by_act(act, [&](auto a) { backward_dx<decltype(a)::value>(xd, gd, dx.data_ptr<float>(), n, p, sp, hp, up, vp, dp); });
    at::Tensor dw, db;
    if (weight.defined()) {
      std::vector<float> t(c);
      for (int64_t j = 0; j < c; ++j) t[j] = static_cast<float>(sum_gxc[j] * invstd[j]);
      dw = from_vector(t);
    }
    if (ctx->saved_data["has_bias"].toBool()) {
      std::vector<float> t(c);
      for (int64_t j = 0; j < c; ++j) t[j] = static_cast<float>(sum_g[j]);
      db = from_vector(t);
    }
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

// Returns nullptr and sets *out, or a malloc'd message (free it with figs_free_error).
// Weight and bias may be null; act is 0 (none), 1 (ReLU) or 2 (ReLU6). No C++ exception
// crosses into Rust.
extern "C" char* figs_batch_norm_cl(const at::Tensor* input, const at::Tensor* weight, const at::Tensor* bias,
                                    const at::Tensor* running_mean, const at::Tensor* running_var, int train,
                                    double momentum, double eps, int act, at::Tensor** out) {
  return figs_ffi::guarded([&] {
    const at::Tensor none;
    at::Tensor y = BatchNormCl::apply(*input, weight ? *weight : none, bias ? *bias : none, *running_mean,
                                      *running_var, train != 0, momentum, eps, static_cast<int64_t>(act));
    *out = new at::Tensor(std::move(y));
  });
}

extern "C" void figs_free_error(char* s) { std::free(s); }
