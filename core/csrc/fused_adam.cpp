// Adam over all of a network's parameters in one call to libtorch's fused kernel
// (`torch.optim.Adam(fused=True)`, L2 weight decay), and gradients reset to none: called
// from core/src/fused_adam.rs.
//
// Why: tch's Adam (libtorch's C++ torch::optim::Adam) dispatches about ten tensor operations
// per parameter and zeroes every gradient with one more; a MobileNetV2 has 75 parameter
// tensors, so those ~800 calls were a fixed cost of every retraining step, the same for a
// found network as for its seed (docs/PERFORMANCE.md).

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <vector>

#include "ffi.h"

namespace {

std::vector<at::Tensor> tensors(const at::Tensor* const* ts, int64_t n) {
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (int64_t i = 0; i < n; ++i) out.push_back(*ts[i]);
  return out;
}

}  // namespace

// One Adam step of the parameters that have a gradient; `exp_avgs`, `exp_avg_sqs` (zeros
// like the parameter) and `steps` (a float scalar, 0 at first) are the optimizer's state.
extern "C" char* figs_fused_adam(const at::Tensor* const* params, const at::Tensor* const* exp_avgs,
                                 const at::Tensor* const* exp_avg_sqs, const at::Tensor* const* steps, int64_t n,
                                 double lr, double beta1, double beta2, double weight_decay, double eps) {
  return figs_ffi::guarded([&] {
    std::vector<at::Tensor> p, g, m, v, t;
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor& grad = params[i]->grad();
      if (!grad.defined()) continue;
      p.push_back(*params[i]);
      g.push_back(grad);
      m.push_back(*exp_avgs[i]);
      v.push_back(*exp_avg_sqs[i]);
      t.push_back(*steps[i]);
    }
    if (p.empty()) return;
    c10::NoGradGuard no_grad;
    at::_foreach_add_(t, 1);
    at::_fused_adam_(p, g, m, v, {}, t, lr, beta1, beta2, weight_decay, eps, false, false);
  });
}

// Resets the gradients to none (the next backward allocates them instead of adding to zeros).
extern "C" char* figs_zero_grads(const at::Tensor* const* params, int64_t n) {
  return figs_ffi::guarded([&] {
    for (auto& p : tensors(params, n)) p.mutable_grad().reset();
  });
}
