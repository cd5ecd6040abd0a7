// bn_loops.h's loops compiled with -mavx2 -mfma (build.rs); called only where the CPU has
// both (batch_norm_cl.cpp checks). On targets other than x86-64 the baseline's again.
#include "bn_loops_impl.h"

const figs_bn::Loops figs_bn::kAvx2Loops = kLoops;
