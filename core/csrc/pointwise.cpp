// A pointwise (1×1, stride 1, no bias, one group) convolution of a channels-last float
// tensor, as one autograd function (called from core/src/pointwise.rs): the forward and,
// for layers of at most 32 input and output channels, both gradients are pointwise.h's
// loops; wider layers' gradients are libtorch's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "cpu.h"
#include "ffi.h"
#include "pointwise.h"

#include <vector>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// out[p, 0..m) = Σ_j in[p, j] · wt[j, 0..m) for every pixel of the channels-last `in`
// (kin channels), wt's rows padded to ⌈m / 8⌉ vectors.
at::Tensor run_loop(const at::Tensor& in, const std::vector<float>& wt, int64_t m) {
  const int64_t b = in.size(0), kin = in.size(1), h = in.size(2), wd = in.size(3);
  at::Tensor out = at::empty({b, m, h, wd}, in.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* ip = in.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, b * h * wd, 2048, [&](int64_t p0, int64_t p1) {
    figs_pw::forward_avx2(ip, wt.data(), op, p0, p1, kin, m);
  });
  return out;
}

// w as [n, k] rows, in a buffer of rows × cols: transposed (wt[j, c] = w[c, j]) for the
// forward, as it is for the input's gradient; columns past the weight's are zero.
std::vector<float> weight_rows(const at::Tensor& w, bool transposed) {
  const int64_t n = w.size(0), k = w.size(1);
  const int64_t rows = transposed ? k : n, cols = transposed ? n : k, padded = (cols + 7) / 8 * 8;
  std::vector<float> out(rows * padded, 0.f);
  const at::Tensor w2 = w.reshape({n, k}).contiguous();
  const float* wp = w2.data_ptr<float>();
  for (int64_t c = 0; c < n; ++c)
    for (int64_t j = 0; j < k; ++j) {
      if (transposed) out[j * padded + c] = wp[c * k + j];
      else out[c * padded + j] = wp[c * k + j];
    }
  return out;
}

// Σ_p dy[p, c] · x[p, j], per thread and then summed, in w's shape and strides.
at::Tensor weight_grad(const at::Tensor& dy, const at::Tensor& x, const at::Tensor& w) {
  const int64_t n = w.size(0), k = w.size(1), nvk = (k + 7) / 8, total = x.numel() / k;
  std::vector<std::vector<float>> parts(at::get_num_threads(), std::vector<float>(n * nvk * 8, 0.f));
  const float *dp = dy.data_ptr<float>(), *xp = x.data_ptr<float>();
  at::parallel_for(0, total, 2048, [&](int64_t p0, int64_t p1) {
    figs_pw::weight_grad_avx2(dp, xp, parts[at::get_thread_num()].data(), p0, p1, total, n, k, nvk);
  });
  // [n, k, 1, 1] is the same buffer contiguous or channels-last: element (c, j) at c·k + j.
  at::Tensor dw = at::empty_like(w);
  float* out = dw.data_ptr<float>();
  for (int64_t c = 0; c < n; ++c)
    for (int64_t j = 0; j < k; ++j) {
      double sum = 0;
      for (const auto& part : parts) sum += part[c * nvk * 8 + j];
      out[c * k + j] = static_cast<float>(sum);
    }
  return dw;
}

// The widest layer (input and output channels) whose gradients the loops compute: the
// weight gradient's loop holds four vectors of input channels, and at wider outputs the
// input gradient's loop (n inputs to k outputs) is slower than libtorch's backward
// (block3.expand 9 → 58 at 14×14: 1.18×, the head 30 → 310: 1.14×, measured one layer at a time).
constexpr int64_t kMaxBackward = 32;

struct PointwiseConv : public torch::autograd::Function<PointwiseConv> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({x, w});
    return run_loop(x, weight_rows(w, true), w.size(0));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    if (x.size(1) > kMaxBackward || w.size(0) > kMaxBackward) {
      auto [dx, dw, db] = at::convolution_backward(grads[0], x, w, std::nullopt, {1, 1}, {0, 0}, {1, 1}, false,
                                                   {0, 0}, 1, {need_x, need_w, false});
      return {dx, dw};
    }
    const at::Tensor dy = grads[0].contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor dx, dw;
    // The input's gradient is the same loop with the weight's rows: dx[p, j] = Σ_c dy[p, c] w[c, j].
    if (need_x) dx = run_loop(dy, weight_rows(w, false), x.size(1));
    if (need_w) dw = weight_grad(dy, x, w);
    return {dx, dw};
  }
};

}  // namespace

// Whether figs_pointwise_conv runs here (a CPU with AVX2 and FMA, and a build that has them).
extern "C" int figs_pointwise_available() {
  if (!figs_cpu::has_avx2_fma()) return 0;
  float x = 1.f, w[8] = {2.f}, y = 0.f;
  return figs_pw::forward_avx2(&x, w, &y, 0, 1, 1, 1) && y == 2.f ? 1 : 0;
}

// Returns nullptr and sets *out, or a malloc'd message. The caller (pointwise.rs) checks the
// shapes and layout; they are checked again here, as errors.
extern "C" char* figs_pointwise_conv(const at::Tensor* x, const at::Tensor* w, at::Tensor** out) {
  return figs_ffi::guarded([&] {
    RECORD_FUNCTION("figs::pointwise_conv", std::vector<c10::IValue>({*x, *w}));
    TORCH_CHECK(figs_pointwise_available(), "figs' pointwise convolution needs a CPU with AVX2 and FMA");
    TORCH_CHECK(x->dim() == 4 && x->scalar_type() == at::kFloat && x->device().is_cpu() &&
                    x->is_contiguous(at::MemoryFormat::ChannelsLast),
                "pointwise_conv takes a 4-d channels-last float CPU tensor, got ", x->sizes());
    TORCH_CHECK(w->dim() == 4 && w->size(1) == x->size(1) && w->size(2) == 1 && w->size(3) == 1 &&
                    w->size(0) >= 1 && w->scalar_type() == at::kFloat,
                "pointwise_conv takes a [N, ", x->size(1), ", 1, 1] float weight, got ", w->sizes());
    *out = new at::Tensor(PointwiseConv::apply(*x, *w));
  });
}
