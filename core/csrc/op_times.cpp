// Self time per libtorch operator, from RecordFunction callbacks (the hook PyTorch's own
// profiler uses): what `figs-found-speed --by-op` and `bench/found_where.py` report for
// figs' side. A thread-local stack subtracts nested operators (convolution calls
// _convolution calls mkldnn_convolution) so each microsecond is counted once, under the
// innermost operator that ran it.
#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "ffi.h"

namespace {

struct Frame {
  std::string name;
  int64_t start;
  int64_t children;
};

struct Total {
  int64_t self_ns = 0;
  int64_t calls = 0;
};

// Everything per thread: the callback is the calling thread's, and libtorch runs a CPU
// backward pass on the thread that asked for it (its intra-op workers record nothing).
thread_local std::vector<Frame> stack;
thread_local std::unordered_map<std::string, Total> totals;
thread_local bool active = false;
thread_local bool with_shapes = false;
thread_local at::CallbackHandle handle = 0;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A convolution's name gets its shape's kind, from its weight (input 1 of the forward ops
// and of figs::pointwise_conv, 2 of aten::convolution_backward): 1x1, depthwise (one input
// channel per group, as many groups as the input has channels) or kxk.
std::string key(const at::RecordFunction& fn) {
  std::string name = fn.name();
  // figs' pointwise kernel's autograd node (its forward has the weight among its inputs).
  if (name.find("PointwiseConv") != std::string::npos) return name + " (1x1)";
  if (name.find("conv") == std::string::npos) return name;
  const auto in = fn.inputs();
  const size_t wi = name == "aten::convolution_backward" ? 2 : 1;
  if (in.size() <= wi || !in[wi].isTensor() || !in[wi - 1].isTensor()) return name;
  const at::Tensor& w = in[wi].toTensor();
  const at::Tensor& x = in[wi - 1].toTensor();
  if (!w.defined() || !x.defined() || w.dim() != 4 || x.dim() != 4) return name;
  if (w.size(2) == 1 && w.size(3) == 1) return name + " (1x1)";
  if (w.size(1) == 1 && w.size(0) > 1 && x.size(1) == w.size(0)) return name + " (depthwise)";
  return name + " (kxk)";
}

// With shapes on, the name is followed by the sizes of the operator's first two inputs
// where they are tensors (data and weight of a convolution, the input of figs' kernels).
std::string shaped(const at::RecordFunction& fn) {
  std::string k = key(fn);
  if (!with_shapes) return k;
  std::ostringstream s;
  s << k;
  const auto in = fn.inputs();
  for (size_t i = 0; i < std::min<size_t>(2, in.size()); ++i)
    if (in[i].isTensor() && in[i].toTensor().defined()) s << ' ' << in[i].toTensor().sizes();
  return s.str();
}

std::unique_ptr<at::ObserverContext> enter(const at::RecordFunction& fn) {
  std::string k = shaped(fn);
  stack.push_back(Frame{std::move(k), now_ns(), 0});
  return nullptr;
}

void leave(const at::RecordFunction&, at::ObserverContext*) {
  // A function entered before the callback was added has no frame.
  if (stack.empty()) return;
  Frame f = std::move(stack.back());
  stack.pop_back();
  const int64_t total = now_ns() - f.start;
  if (!stack.empty()) stack.back().children += total;
  Total& t = totals[f.name];
  t.self_ns += total - f.children;
  t.calls += 1;
}

}  // namespace

extern "C" char* figs_op_times_start(int shapes) {
  return figs_ffi::guarded([&] {
    if (active) throw std::runtime_error("operator timing is already on");
    with_shapes = shapes != 0;
    totals.clear();
    stack.clear();
    handle = at::addThreadLocalCallback(at::RecordFunctionCallback(enter, leave).needsInputs(true).needsOutputs(false));
    active = true;
  });
}

// Stops timing and writes "name\tself_ns\tcalls\n" lines to *out (malloc'd, for the caller
// to free with figs_free_error).
extern "C" char* figs_op_times_stop(char** out) {
  return figs_ffi::guarded([&] {
    if (!active) throw std::runtime_error("operator timing is not on");
    at::removeCallback(handle);
    active = false;
    std::ostringstream s;
    for (const auto& [name, t] : totals) s << name << '\t' << t.self_ns << '\t' << t.calls << '\n';
    *out = figs_ffi::error_copy(s.str().c_str());
  });
}
