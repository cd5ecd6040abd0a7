#!/usr/bin/env bash
# Latency-table benchmark (issue 28): measures a space's latency table with `figs profile`
# (every conv and linear layer with its batch norm and activation, on a grid of the widths a
# width-multiple search reaches), then times --samples random sub-networks of the supernet
# whole, drawn two ways (per-group: every gated group uniformly, independently; sized: a size
# in [0.1, 1] first, every group within +-50 % of it), and prints each one's predicted and
# measured milliseconds, Spearman's rank correlation and the median relative error. Every
# time is the fastest of --passes passes spread over the run (the host's slow spells); and
# "paired": each timing followed by the supernet's, the median ratio times the table's
# supernet time (the host's speed when the table was measured: it drifts for minutes here).
# Two set-ups: the main job's MobileNetV2 (28x28x1, 10 classes) and torchvision's
# (224x224x3, 1000 classes), batch 1, one thread, channels-last (width-multiple 8).
# Then target mode in measured latency: the main job searched (`figs search`, defaults,
# `--regularizer latency_table --width-multiple 8`) with --target at each --targets fraction
# of the table's supernet time, and the found network timed beside the supernet against
# its target (--targets "" skips it; each search takes the main job's time).
#
#   bench/latency_table.sh [--samples 24] [--points 5] [--passes 7] [--batch 1] [--threads 1] [--seed 1]
#                          [--targets "0.87 0.81"]
#
# Never run it beside another heavy process: the table and the samples are timings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in -h|--help) sed -n 2,22p "$0"; exit 0 ;; esac
samples=24 points=5 passes=7 batch=1 threads=1 seed=1 targets="0.87 0.81"
while [ $# -gt 0 ]; do
  case "$1" in
    --samples) samples=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --targets) targets=$2; shift 2 ;;
    *) echo "latency_table.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x target/debug/figs ] || [ ! -x target/debug/figs-latency-check ]; then
  echo "building figs and figs-latency-check" >&2
  cargo build -q -p figs-repl -p figs-bench
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {
  local name=$1
  shift
  echo "== $name: figs profile, then $samples random sub-networks"
  local start=$SECONDS
  target/debug/figs profile --space mobilenet_v2 "$@" --width-multiple 8 --batch "$batch" --threads "$threads" --points "$points" \
    --passes "$passes" --again --out "$tmp/$name.json"
  echo "   (profiled in $((SECONDS - start)) s)"
  for sampling in per-group sized; do
    echo "   -- $sampling"
    OMP_NUM_THREADS=$threads target/debug/figs-latency-check --table "$tmp/$name.json" --space mobilenet_v2 "$@" \
      --samples "$samples" --seed "$seed" --passes "$passes" --sampling "$sampling"
  done
}
run main-job -p resolution=28 -p channels=1 -p classes=10
run imagenet -p preset=imagenet -p resolution=224 -p channels=3 -p classes=1000
main=(-p resolution=28 -p channels=1 -p classes=10)
for f in $targets; do
  ms=$(python3 -c "import json,sys; print(round($f * json.load(open(sys.argv[1]))['supernet_ms'], 4))" "$tmp/main-job.json")
  echo "== target $ms ms ($f of the table's supernet): figs search, then the found network timed beside the supernet"
  target/debug/figs search --space mobilenet_v2 "${main[@]}" --regularizer latency_table -R "table=$tmp/main-job.json" \
    --target "${ms}ms" --width-multiple 8 --no-retrain --out "$tmp/target-$f" | grep -E "^target|MACs: found"
  OMP_NUM_THREADS=$threads target/debug/figs-latency-check --table "$tmp/main-job.json" --space mobilenet_v2 "${main[@]}" \
    --found "$tmp/target-$f/arch.json" --passes $((2 * passes))
done
