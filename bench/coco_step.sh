#!/usr/bin/env bash
# Step time of a FiGS search on COCO's own detector, `ssdlite320_mobilenet_v3_large` with 91
# classes (torchvision's counts: 3.44 M params, 583 M MACs), on this machine, for the
# extrapolation in docs/DETECTION.md ("On real COCO 2017"). COCO cannot be downloaded here,
# so the data is a made-here COCO-format folder of 640 x 640 canvases (COCO's images are
# about 640 x 480), cached under ~/.cache/figs/bench-coco: the loader decodes, IoU-crops,
# flips and resizes JPEGs of COCO's size, as it would on COCO.
#
#   bench/coco_step.sh [--batch 24] [--steps 10] [--workers 2] [--threads 2] [--device cpu]
#
# Runs `figs search` twice, with 2 and with 2 + --steps steps, and reports the difference
# per step (start-up, data listing and the supernet build cancel out). --batch 24 is
# torchvision's per-GPU batch for this detector (8 GPUs x 24). Then the data pipeline alone
# on one thread (figs-data-speed --coco): the images per second one core decodes, crops and
# resizes, which says how many cores a GPU needs to be fed.
# Never run it beside another heavy process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
batch=24 steps=10 workers=2 threads=2 device=cpu
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "coco_step.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
figs=${FIGS:-target/debug/figs}
[ -x "$figs" ] || { echo "coco_step.sh: $figs is missing: cargo build --workspace first" >&2; exit 1; }
speed=target/debug/figs-data-speed
if [ ! -x "$speed" ]; then
  echo "building figs-data-speed (cargo build -p figs-bench)" >&2
  cargo build -q -p figs-bench
fi
set_dir="${XDG_CACHE_HOME:-$HOME/.cache}/figs/bench-coco"
if [ ! -d "$set_dir" ]; then
  mkdir -p "$(dirname "$set_dir")"
  "$figs" make-detection-set "$set_dir" --train 400 --val 16 --size 640 --min-item 32 --max-item 480
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  local n=$1 start end
  start=$(date +%s.%N)
  "$figs" search --data "coco:$set_dir" --space mobilenet_v3 -p preset=large -p resolution=320 -p classes=91 \
    --batch-size "$batch" --steps "$n" --workers "$workers" --threads "$threads" --device "$device" \
    --eval-every 0 --checkpoint-every 0 --no-retrain --out "$work/run-$n" > "$work/log-$n" 2>&1 \
    || { cat "$work/log-$n" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}
short=$(run 2)
long=$(run $((2 + steps)))
grep -m1 -i "supernet\|params" "$work/log-$((2 + steps))" || true
printf 'figs search, ssdlite320_mobilenet_v3_large (91 classes), batch %s, %s threads, %s decode workers, %s:\n' \
  "$batch" "$threads" "$workers" "$device"
awk -v s="$short" -v l="$long" -v n="$steps" -v b="$batch" 'BEGIN {
  printf "  2 steps: %.1f s, %d steps: %.1f s -> %.2f s per step (%.1f images/s)\n", s, n + 2, l, (l - s) / n, n * b / (l - s) }'
line=$("$speed" --dir "$set_dir/train" --coco "$set_dir/annotations/instances_train.json" --size 320 \
  --workers 1 --batch "$batch" --batches 10)
echo "  data pipeline alone, 1 thread (640 px JPEG -> IoU crop, flip, 320 px): $line"
