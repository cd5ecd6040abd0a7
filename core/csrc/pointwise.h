// A pointwise (1×1) convolution's forward on a channels-last buffer: y[p, 0..n) =
// Σ_j x[p, j] · wt[j, 0..n) for pixels p in [p0, p1), wt's rows zero-padded to ⌈n / 8⌉·8
// columns. oneDNN runs layers with few or odd channel counts at a fraction of its speed on
// wide ones (docs/PERFORMANCE.md, "Found network against seed"); this is the plain
// register-blocked loop, 4 pixels by up to 3 vectors of 8 outputs per pass.
#pragma once

#include <cstdint>

namespace figs_pw {

// Compiled with AVX2 and FMA in pointwise_avx2.cpp; false (nothing written) where the
// build had neither. Callers check the CPU first.
bool forward_avx2(const float* x, const float* wt, float* y, int64_t p0, int64_t p1, int64_t k, int64_t n);

// The weight gradient: dw[c, j] += Σ_p dy[p, c] · x[p, j] over pixels [p0, p1), for
// c < n and j < k, dw's rows padded to nvk·8 columns (nvk = ⌈k / 8⌉ ≤ 4). `total` is the
// tensor's pixel count: rows are read as whole vectors, so the pixels whose read would
// pass the tensor's end are copied first. False where the build has no AVX2 and FMA, or for nvk outside 1..4.
bool weight_grad_avx2(const float* dy, const float* x, float* dw, int64_t p0, int64_t p1, int64_t total, int64_t n,
                      int64_t k, int64_t nvk);

}  // namespace figs_pw
