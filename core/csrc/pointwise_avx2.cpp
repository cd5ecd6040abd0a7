// pointwise.h's loops, compiled with -mavx2 -mfma (build.rs).
#include "pointwise.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace {

// Output columns per pass over the pixels: 3 vectors by 4 pixels is 12 accumulators, 3
// weight vectors and a broadcast in the 16 ymm.
constexpr int64_t kChunk = 24;

template <int NV>
inline void pixel_row(const float* xr, const float* wt, int64_t ld, int64_t k, __m256* acc) {
  for (int v = 0; v < NV; ++v) acc[v] = _mm256_setzero_ps();
  for (int64_t j = 0; j < k; ++j) {
    const __m256 b = _mm256_broadcast_ss(xr + j);
    for (int v = 0; v < NV; ++v) acc[v] = _mm256_fmadd_ps(b, _mm256_loadu_ps(wt + j * ld + v * 8), acc[v]);
  }
}

// Columns [c0, c0 + NV·8) of y's rows (row length n; wt's rows are padded to `ld`) for
// pixels [p0, p1). A chunk that reaches past n (the tail) stores whole vectors too: the
// lanes past n land in the next pixel's first columns, which the full chunks, run after
// the tail, or that pixel's own tail store overwrite; the pixels whose spill would pass
// the range's end (another thread's rows, or the tensor's end) store exactly.
template <int NV>
void run(const float* x, const float* wt, int64_t ld, float* y, int64_t p0, int64_t p1, int64_t k, int64_t n,
         int64_t c0) {
  // Pixels per block: B·NV accumulators, NV weight vectors and a broadcast fit the 16 ymm.
  constexpr int B = 4;
  const int64_t width = std::min<int64_t>(NV * 8, n - c0);
  const int64_t spill = NV * 8 - width;
  const int64_t safe_end = spill == 0 ? p1 : std::max(p0, p1 + 1 - (c0 + NV * 8 + n - 1) / n);
  const float* w0 = wt + c0;
  int64_t p = p0;
  for (; p + B <= safe_end; p += B) {
    __m256 a[B][NV];
    for (int i = 0; i < B; ++i)
      for (int v = 0; v < NV; ++v) a[i][v] = _mm256_setzero_ps();
    const float* xr = x + p * k;
    for (int64_t j = 0; j < k; ++j) {
      __m256 w[NV];
      for (int v = 0; v < NV; ++v) w[v] = _mm256_loadu_ps(w0 + j * ld + v * 8);
      for (int i = 0; i < B; ++i) {
        const __m256 b = _mm256_broadcast_ss(xr + i * k + j);
        for (int v = 0; v < NV; ++v) a[i][v] = _mm256_fmadd_ps(b, w[v], a[i][v]);
      }
    }
    for (int i = 0; i < B; ++i)
      for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + (p + i) * n + c0 + v * 8, a[i][v]);
  }
  __m256 acc[NV];
  for (; p < safe_end; ++p) {
    pixel_row<NV>(x + p * k, w0, ld, k, acc);
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(y + p * n + c0 + v * 8, acc[v]);
  }
  alignas(32) float row[NV * 8];
  for (; p < p1; ++p) {
    pixel_row<NV>(x + p * k, w0, ld, k, acc);
    for (int v = 0; v < NV; ++v) _mm256_store_ps(row + v * 8, acc[v]);
    std::memcpy(y + p * n + c0, row, sizeof(float) * width);
  }
}

// G rows of the weight gradient, from output channel c0, over pixels [p0, p1).
template <int NVK, int G>
void wgrad_rows(const float* dy, const float* x, float* dw, int64_t p0, int64_t p1, int64_t total, int64_t n,
                int64_t k, int64_t c0) {
  __m256 acc[G][NVK];
  for (int g = 0; g < G; ++g)
    for (int v = 0; v < NVK; ++v) acc[g][v] = _mm256_setzero_ps();
  alignas(32) float last[NVK * 8] = {};
  for (int64_t p = p0; p < p1; ++p) {
    const float* xr = x + p * k;
    // A whole-vector read past the tensor's end: copy the row first.
    if (p * k + NVK * 8 > total * k) {
      std::memcpy(last, xr, sizeof(float) * k);
      xr = last;
    }
    __m256 xv[NVK];
    for (int v = 0; v < NVK; ++v) xv[v] = _mm256_loadu_ps(xr + v * 8);
    const float* d = dy + p * n + c0;
    for (int g = 0; g < G; ++g) {
      const __m256 b = _mm256_broadcast_ss(d + g);
      for (int v = 0; v < NVK; ++v) acc[g][v] = _mm256_fmadd_ps(b, xv[v], acc[g][v]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (int v = 0; v < NVK; ++v) {
      float* out = dw + (c0 + g) * NVK * 8 + v * 8;
      _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), acc[g][v]));
    }
}

// Rows in groups of up to 12 / NVK accumulators' worth (the rest of the 16 ymm hold the
// input row and a broadcast); each group is one pass over the pixels.
template <int NVK>
void wgrad(const float* dy, const float* x, float* dw, int64_t p0, int64_t p1, int64_t total, int64_t n, int64_t k) {
  constexpr int G = 12 / NVK > 8 ? 8 : 12 / NVK;
  int64_t c = 0;
  for (; c + G <= n; c += G) wgrad_rows<NVK, G>(dy, x, dw, p0, p1, total, n, k, c);
  // The remaining rows in one more pass.
  switch (n - c) {
    case 0: return;
    case 1: return wgrad_rows<NVK, 1>(dy, x, dw, p0, p1, total, n, k, c);
    case 2: return wgrad_rows<NVK, 2>(dy, x, dw, p0, p1, total, n, k, c);
    case 3: return wgrad_rows<NVK, (G > 3 ? 3 : 1)>(dy, x, dw, p0, p1, total, n, k, c);
    case 4: return wgrad_rows<NVK, (G > 4 ? 4 : 1)>(dy, x, dw, p0, p1, total, n, k, c);
    case 5: return wgrad_rows<NVK, (G > 5 ? 5 : 1)>(dy, x, dw, p0, p1, total, n, k, c);
    case 6: return wgrad_rows<NVK, (G > 6 ? 6 : 1)>(dy, x, dw, p0, p1, total, n, k, c);
    default: return wgrad_rows<NVK, (G > 7 ? 7 : 1)>(dy, x, dw, p0, p1, total, n, k, c);
  }
}

}  // namespace

bool figs_pw::weight_grad_avx2(const float* dy, const float* x, float* dw, int64_t p0, int64_t p1, int64_t total,
                               int64_t n, int64_t k, int64_t nvk) {
  if (p1 <= p0) return true;
  switch (nvk) {
    case 1: wgrad<1>(dy, x, dw, p0, p1, total, n, k); return true;
    case 2: wgrad<2>(dy, x, dw, p0, p1, total, n, k); return true;
    case 3: wgrad<3>(dy, x, dw, p0, p1, total, n, k); return true;
    case 4: wgrad<4>(dy, x, dw, p0, p1, total, n, k); return true;
    default: return false;
  }
}

bool figs_pw::forward_avx2(const float* x, const float* wt, float* y, int64_t p0, int64_t p1, int64_t k,
                           int64_t n) {
  if (p1 <= p0) return true;
  const int64_t ld = (n + 7) / 8 * 8, full = n / kChunk * kChunk;
  // The tail first: its spill lands in columns the full chunks write afterwards.
  switch ((n - full + 7) / 8) {
    case 1: run<1>(x, wt, ld, y, p0, p1, k, n, full); break;
    case 2: run<2>(x, wt, ld, y, p0, p1, k, n, full); break;
    case 3: run<3>(x, wt, ld, y, p0, p1, k, n, full); break;
    default: break;
  }
  for (int64_t c0 = 0; c0 < full; c0 += kChunk) run<kChunk / 8>(x, wt, ld, y, p0, p1, k, n, c0);
  return true;
}
#else
bool figs_pw::forward_avx2(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t) {
  return false;
}
bool figs_pw::weight_grad_avx2(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                               int64_t) {
  return false;
}
#endif
