#!/usr/bin/env bash
# Latency-table benchmark (issue 28): measures a space's latency table with `figs profile`
# (every conv and linear layer with its batch norm and activation, on a grid of the widths a
# width-multiple search reaches), then times --samples random sub-networks of the supernet
# whole and prints each one's predicted and measured milliseconds, Spearman's rank
# correlation and the median relative error. Two set-ups by default: the main job's
# MobileNetV2 (28x28x1, 10 classes) and torchvision's (224x224x3, 1000 classes), batch 1,
# one thread, channels-last (width-multiple 8).
#
#   bench/latency_table.sh [--samples 24] [--points 5] [--batch 1] [--threads 1] [--seed 1]
#
# Never run it beside another heavy process: the table and the samples are timings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in -h|--help) sed -n 2,11p "$0"; exit 0 ;; esac
samples=24 points=5 batch=1 threads=1 seed=1
while [ $# -gt 0 ]; do
  case "$1" in
    --samples) samples=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
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
    --again --out "$tmp/$name.json"
  echo "   (profiled in $((SECONDS - start)) s)"
  OMP_NUM_THREADS=$threads target/debug/figs-latency-check --table "$tmp/$name.json" --space mobilenet_v2 "$@" \
    --samples "$samples" --seed "$seed"
}
run main-job -p resolution=28 -p channels=1 -p classes=10
run imagenet -p preset=imagenet -p resolution=224 -p channels=3 -p classes=1000
