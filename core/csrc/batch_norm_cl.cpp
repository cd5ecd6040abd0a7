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
// The statistics are libtorch's: batch mean, biased variance to normalize, unbiased variance
// for the running estimate, both sums in one pass; two passes forward, two back. The inner
// loops are bn_loops_impl.h's, in AVX2 where the CPU has it.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "bn_loops.h"
#include "cpu.h"
#include "ffi.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Set by figs_batch_norm_cl_baseline (tests): run the baseline loops on any CPU.
std::atomic<bool> force_baseline{false};

// The loops for this CPU: AVX2 and FMA where it has them.
const figs_bn::Loops& loops() {
  if (figs_cpu::has_avx2_fma() && !force_baseline.load(std::memory_order_relaxed)) return figs_bn::kAvx2Loops;
  return figs_bn::kBaseLoops;
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

// The C values of a per-channel tensor (weight, bias, statistics) as floats. Read in place
// when they are contiguous floats already (every call of a step: a tensor op here costs
// more than the copy).
std::vector<float> values(const at::Tensor& t, int64_t c, const char* what) {
  TORCH_CHECK(t.numel() == c, "batch_norm_cl: the ", what, " has ", t.numel(), " values for ", c, " channels");
  std::vector<float> v(c);
  const bool direct = t.scalar_type() == at::kFloat && t.is_contiguous();
  const at::Tensor f = direct ? t : t.detach().to(at::kFloat).contiguous();
  std::memcpy(v.data(), f.data_ptr<float>(), c * sizeof(float));
  return v;
}

// A new float tensor of n values written by fill(float*).
template <typename F>
at::Tensor filled(int64_t n, F fill) {
  at::Tensor t = at::empty({n}, at::kFloat);
  fill(t.data_ptr<float>());
  return t;
}

at::Tensor channels_last(const at::Tensor& t) {
  return t.contiguous(at::MemoryFormat::ChannelsLast);
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
    TORCH_CHECK(act >= 0 && act <= 2, "batch_norm_cl: activation ", act, " is none of 0 (none), 1 (ReLU), 2 (ReLU6)");
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
      // One pass for both sums, each value shifted by the batch's first pixel (a sample of
      // its channel): Σ(x − mean)² = Σd² − Σd·Σd/M for d = x − k loses little when k is near
      // the mean, as a sample is, where the unshifted Σx² − (Σx)²/M can cancel to nothing.
      const std::vector<float> k(xd, xd + c);
      const auto kp = per_slot(k, p);
      const figs_bn::Sums sums = loops().shifted_sums;
      const auto s = channel_sums<2>(n, p, c, [&](int64_t i0, int64_t len, std::array<float*, 2>& acc) {
        sums(xd + i0, kp.data(), acc[0], acc[1], len);
      });
      float *rm = running_mean.data_ptr<float>(), *rv = running_var.data_ptr<float>();
      for (int64_t j = 0; j < c; ++j) {
        const double dm = s[0][j] / m;
        const double ss = std::max(0.0, s[1][j] - s[0][j] * dm);  // Σ(x − mean)²
        mean[j] = static_cast<float>(k[j] + dm);
        invstd[j] = static_cast<float>(1.0 / std::sqrt(ss / m + eps));
        rm[j] = static_cast<float>(momentum * mean[j] + (1 - momentum) * rm[j]);
        rv[j] = static_cast<float>(momentum * ss / (m - 1) + (1 - momentum) * rv[j]);
      }
    } else {
      mean = values(running_mean, c, "running mean");
      const auto var = values(running_var, c, "running variance");
      for (int64_t j = 0; j < c; ++j) invstd[j] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(var[j]) + eps));
    }
    const auto w = values(weight, c, "weight"), b = values(bias, c, "bias");
    std::vector<float> scale(c), shift(c);
    for (int64_t j = 0; j < c; ++j) {
      scale[j] = w[j] * invstd[j];
      shift[j] = b[j] - mean[j] * scale[j];
    }
    at::Tensor out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const auto sp = per_slot(scale, p), hp = per_slot(shift, p);
    const figs_bn::ForwardOut forward_out = loops().forward_out[act];
    float* od = out.data_ptr<float>();
    for_periods(n, p, [&](int64_t i0, int64_t len) { forward_out(xd + i0, od + i0, sp.data(), hp.data(), len); });
    // mean, invstd, scale, shift: one tensor, one allocation.
    const at::Tensor stats = filled(4 * c, [&](float* d) {
      for (const auto* v : {&mean, &invstd, &scale, &shift}) d = std::copy(v->begin(), v->end(), d);
    });
    ctx->save_for_backward({x, stats});
    ctx->saved_data["train"] = train;
    ctx->saved_data["act"] = act;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0];
    const bool train = ctx->saved_data["train"].toBool();
    const int act = static_cast<int>(ctx->saved_data["act"].toInt());
    const at::Tensor g = channels_last(grads[0].to(at::kFloat));
    const int64_t c = x.size(1), n = x.numel(), m = n / c, p = period_of(c);
    const float* st = saved[1].data_ptr<float>();
    const std::vector<float> mean(st, st + c), invstd(st + c, st + 2 * c), scale(st + 2 * c, st + 3 * c),
        shift(st + 3 * c, st + 4 * c);
    const auto mp = per_slot(mean, p), sp = per_slot(scale, p), hp = per_slot(shift, p);
    const float *xd = x.data_ptr<float>(), *gd = g.data_ptr<float>();
    const figs_bn::BackwardSums backward_sums = loops().backward_sums[act];
    const auto sums = channel_sums<2>(n, p, c, [&](int64_t i0, int64_t len, std::array<float*, 2>& acc) {
      backward_sums(xd + i0, gd + i0, sp.data(), hp.data(), mp.data(), acc[0], acc[1], len);
    });
    const std::vector<double> &sum_g = sums[0], &sum_gxc = sums[1];
    // dx = γ·invstd·(g' − Σg'/M − (x − mean)·invstd²·Σg'(x − mean)/M) in training, γ·invstd·g'
    // in evaluation: dx = g'·scale + x·v + d per channel (scale = γ·invstd).
    std::vector<float> v(c, 0.f), d(c, 0.f);
    for (int64_t j = 0; j < c; ++j) {
      const double k = scale[j];
      if (train) {
        const double b = -k * invstd[j] * invstd[j] * sum_gxc[j] / m;
        v[j] = static_cast<float>(b);
        d[j] = static_cast<float>(-k * sum_g[j] / m - b * mean[j]);
      }
    }
    at::Tensor dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
    const auto vp = per_slot(v, p), dp = per_slot(d, p);
    const figs_bn::BackwardDx backward_dx = loops().backward_dx[act];
    float* dxd = dx.data_ptr<float>();
    for_periods(n, p, [&](int64_t i0, int64_t len) {
      backward_dx(xd + i0, gd + i0, dxd + i0, sp.data(), hp.data(), sp.data(), vp.data(), dp.data(), len);
    });
    const at::Tensor dw = filled(c, [&](float* d) {
      for (int64_t j = 0; j < c; ++j) d[j] = static_cast<float>(sum_gxc[j] * invstd[j]);
    });
    const at::Tensor db = filled(c, [&](float* d) {
      for (int64_t j = 0; j < c; ++j) d[j] = static_cast<float>(sum_g[j]);
    });
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
    // Named for operator timing (csrc/op_times.cpp); free when nothing times.
    RECORD_FUNCTION("figs::batch_norm_cl", std::vector<c10::IValue>({*input}));
    // libtorch's custom functions cannot take an undefined tensor (it asks every input for its
    // device): a batch norm without affine parameters gets constant ones and zeros.
    TORCH_CHECK(input->dim() == 4, "batch_norm_cl takes a 4-d tensor, got ", input->sizes());
    const auto constant = [&](float v) { return at::full({input->size(1)}, v, input->options()); };
    at::Tensor y = BatchNormCl::apply(*input, weight ? *weight : constant(1.f), bias ? *bias : constant(0.f),
                                      *running_mean, *running_var, train != 0, momentum, eps,
                                      static_cast<int64_t>(act));
    *out = new at::Tensor(std::move(y));
  });
}

extern "C" void figs_free_error(char* s) { std::free(s); }

// Whether the kernel runs its baseline loops even where the CPU has AVX2 (for tests of both
// copies on one machine).
extern "C" void figs_batch_norm_cl_baseline(int on) { force_baseline.store(on != 0); }
