#!/usr/bin/env bash
# Step-speed benchmark: figs against PyTorch eager on the same network and recipe
# (torchvision's MobileNetV2 at 28x28x1, 10 classes, batch 64, Adam), plain training steps
# and FiGS search steps, alternating the implementations in one run: figs (its default
# layout: channels-last on the CPU), PyTorch as a new user writes it (NCHW), PyTorch with
# torch.channels_last, and that again with the glibc malloc settings figs uses.
#
#   bench/step_speed.sh [--pairs 5] [--steps 20] [--threads 1] [--device cpu|cuda] [--batch 64]
#                       [--precision fp32|bf16]   (bf16: figs' bf16 passes, PyTorch's autocast)
#
# Prints every measurement, the ratio figs/PyTorch throughput per pair and the medians,
# figs' gate + penalty overhead over its own plain step (also measured inside one process),
# and each process's peak RSS.
# Never run it beside another heavy process: libtorch's threads fight for the cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pairs=5 steps=20 threads=1 device=cpu batch=64 precision=fp32
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "step_speed.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
py=${PYTHON:-$HOME/.cache/figs/venv-torch-2.11.0/bin/python}
[ -x "$py" ] || py=python3
bin=target/debug/figs-bench
if [ ! -x "$bin" ]; then
  echo "building figs-bench (cargo build -p figs-bench -p figs-mobilenet-v2 -p figs-flops)" >&2
  cargo build -q -p figs-bench -p figs-mobilenet-v2 -p figs-flops
fi
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
out=$(mktemp)
malloc=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
common=(--steps "$steps" --threads "$threads" --device "$device" --batch "$batch" --precision "$precision")
for ((i = 1; i <= pairs; i++)); do
  for mode in plain figs; do
    # Rotate which implementation goes first, so drift hits all of them alike.
    case $(( i % 3 )) in
      1) order=(figs torch torch-cl torch-cl-malloc) ;; 2) order=(torch torch-cl-malloc torch-cl figs) ;;
      *) order=(torch-cl-malloc figs torch torch-cl) ;;
    esac
    for impl in "${order[@]}"; do
      case $impl in
        figs) line=$("$bin" --mode "$mode" "${common[@]}") ;;
        torch) line=$("$py" bench/step_torch.py --mode "$mode" "${common[@]}") ;;
        torch-cl) line=$("$py" bench/step_torch.py --mode "$mode" --channels-last "${common[@]}") ;;
        # PyTorch channels-last with the glibc malloc thresholds figs sets for itself
        # (core/src/malloc.rs): what a CPU expert's PyTorch script gets.
        torch-cl-malloc) line=$(GLIBC_TUNABLES=$malloc "$py" bench/step_torch.py --mode "$mode" --channels-last "${common[@]}") ;;
      esac
      echo "$line" | tee -a "$out"
    done
  done
done
"$py" - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
def ms(impl, mode):
    return [r["ms_per_step"] for r in rows if r["impl"] == impl and r["mode"] == mode]
def rss(impl, mode):
    return max(r["peak_rss_mb"] for r in rows if r["impl"] == impl and r["mode"] == mode)
print()
print("ms per step (median over pairs); throughput ratio figs / PyTorch per pair, then the median")
impls = ("figs", "pytorch", "pytorch-channels-last", "pytorch-channels-last-malloc")
for ref in impls[1:]:
    for mode in ("plain", "figs"):
        f, t = ms("figs", mode), ms(ref, mode)
        ratios = [b / a for a, b in zip(f, t)]
        print(f"{mode:5} step  figs {med(f):7.1f}  {ref:28} {med(t):7.1f}  ratio {med(ratios):.3f}x  ("
              + " ".join(f"{r:.3f}" for r in ratios) + ")")
for impl in impls:
    p, f = med(ms(impl, "plain")), med(ms(impl, "figs"))
    print(f"gate + penalty overhead over the plain step, {impl}, between processes (drift-prone; figs: see the in-process figure below): {100 * (f / p - 1):.1f} %")
print("peak RSS (MB), plain / search step: " + ", ".join(
    f"{impl} {rss(impl, 'plain'):.0f} / {rss(impl, 'figs'):.0f}" for impl in impls))
PY
# The gate + penalty overhead measured inside one figs process, alternating single plain
# and FiGS steps (separate processes, and even windows of 25 steps, drift apart by more
# than the effect).
echo
echo "figs gate + penalty overhead, in one process (plain and FiGS steps alternating, 25 pairs a round):"
"$bin" --mode overhead --rounds "$pairs" --threads "$threads" --device "$device" --batch "$batch" --precision "$precision" | tee -a "$out"
"$py" - "$out" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
rounds = " ".join(f"{100 * x:.1f}" for x in r["overhead_per_round"])
print(f"  median over pairs {100 * r['overhead_median']:.1f} % (plain {r['plain_ms']:.1f} ms, FiGS {r['figs_ms']:.1f} ms), per round {rounds} %")
PY
# The cost model alone (penalty forward and backward, reported cost) against FiGS steps.
echo
echo "figs cost computation against its FiGS step, in one process (windows alternating):"
"$bin" --mode cost --rounds "$pairs" --threads "$threads" --device "$device" --batch "$batch" | tee -a "$out"
"$py" - "$out" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readlines()[-1])
print(f"  cost {r['ms_per_step']:.3f} ms per step, median {100 * r['cost_fraction_median']:.2f} % of a FiGS step")
PY
rm -f "$out"
