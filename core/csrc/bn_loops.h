// The inner loops of figs' channels-last batch norm (batch_norm_cl.cpp): each walks `len`
// consecutive floats of a channels-last buffer against per-slot vectors (slot j is channel
// j % C). They are compiled twice, for the x86-64 baseline (bn_loops_base.cpp) and with
// AVX2 and FMA (bn_loops_avx2.cpp, its own flags in build.rs), and chosen once at run time,
// so one binary runs on any x86-64 CPU and uses 8-wide vectors where the CPU has them.
// Nothing here is an inline function with external linkage, so the two compilations
// cannot be merged by the linker into one (an AVX2 copy called on a CPU without AVX2).
#pragma once

#include <cstdint>

namespace figs_bn {

using Sums = void (*)(const float* x, const float* k, float* s0, float* s1, int64_t len);
using ForwardOut = void (*)(const float* x, float* out, const float* a, const float* b, int64_t len);
using BackwardSums = void (*)(const float* x, const float* g, const float* a, const float* b, const float* mean,
                              float* s0, float* s1, int64_t len);
using BackwardDx = void (*)(const float* x, const float* g, float* dx, const float* a, const float* b,
                            const float* u, const float* v, const float* w, int64_t len);

// One set of loops; the arrays are indexed by activation: 0 none, 1 ReLU, 2 ReLU6.
struct Loops {
  // s0 += x − k, s1 += (x − k)²: the batch's statistics in one pass, shifted by a sample
  // of each channel (k) so the variance does not cancel catastrophically.
  Sums shifted_sums;
  // out = act(x·a + b).
  ForwardOut forward_out[3];
  // g' = g through the activation at x·a + b; s0 += g', s1 += g'·(x − mean).
  BackwardSums backward_sums[3];
  // dx = g'·u + x·v + w.
  BackwardDx backward_dx[3];
};

extern const Loops kBaseLoops;
extern const Loops kAvx2Loops;

}  // namespace figs_bn
