// What the CPU figs runs on can do, asked once: the AVX2 copies of figs' loops
// (bn_loops_avx2.cpp, pointwise_avx2.cpp) run only where this says yes.
#pragma once

namespace figs_cpu {

inline bool has_avx2_fma() {
#if defined(__x86_64__)
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
#else
  return false;
#endif
}

}  // namespace figs_cpu
