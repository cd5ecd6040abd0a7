// bn_loops.h's loops for the x86-64 baseline (or whatever the target's default is).
#include "bn_loops_impl.h"

const figs_bn::Loops figs_bn::kBaseLoops = kLoops;
