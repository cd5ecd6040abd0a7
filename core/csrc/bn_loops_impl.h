// The loops of bn_loops.h, included once by each compilation (bn_loops_base.cpp,
// bn_loops_avx2.cpp). Everything is in an anonymous namespace: internal linkage, one
// private copy per compilation. Each is a plain loop over restrict pointers, which GCC
// vectorizes (checked with -fopt-info-vec).
#include <cstring>

#include "bn_loops.h"

namespace {

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

void shifted_sums(const float* __restrict__ x, const float* __restrict__ k, float* __restrict__ s0,
                  float* __restrict__ s1, int64_t len) {
  for (int64_t j = 0; j < len; ++j) {
    const float d = x[j] - k[j];
    s0[j] += d;
    s1[j] += d * d;
  }
}

template <int A>
void forward_out(const float* __restrict__ x, float* __restrict__ out, const float* __restrict__ a,
                 const float* __restrict__ b, int64_t len) {
  for (int64_t j = 0; j < len; ++j) out[j] = activate<A>(x[j] * a[j] + b[j]);
}

template <int A>
void backward_sums(const float* __restrict__ x, const float* __restrict__ g, const float* __restrict__ a,
                   const float* __restrict__ b, const float* __restrict__ mean, float* __restrict__ s0,
                   float* __restrict__ s1, int64_t len) {
  for (int64_t j = 0; j < len; ++j) {
    const float gj = through<A>(g[j], x[j] * a[j] + b[j]);
    s0[j] += gj;
    s1[j] += gj * (x[j] - mean[j]);
  }
}

template <int A>
void backward_dx(const float* __restrict__ x, const float* __restrict__ g, float* __restrict__ dx,
                 const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ u,
                 const float* __restrict__ v, const float* __restrict__ w, int64_t len) {
  for (int64_t j = 0; j < len; ++j) {
    const float gj = through<A>(g[j], x[j] * a[j] + b[j]);
    dx[j] = gj * u[j] + x[j] * v[j] + w[j];
  }
}

constexpr figs_bn::Loops kLoops = {
    shifted_sums,
    {forward_out<kNone>, forward_out<kRelu>, forward_out<kRelu6>},
    {backward_sums<kNone>, backward_sums<kRelu>, backward_sums<kRelu6>},
    {backward_dx<kNone>, backward_dx<kRelu>, backward_dx<kRelu6>},
};

}  // namespace
