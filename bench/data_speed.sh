#!/usr/bin/env bash
# Data-pipeline benchmark: figs' image-folder pipeline against torchvision's ImageFolder
# through a torch DataLoader, the same ImageNet training transforms (RandomResizedCrop to
# --size, horizontal flip, float, normalise), side by side in one run at equal numbers of
# workers, on the same generated folder of JPEGs (~500x375 px, made once and cached under
# ~/.cache/figs/bench-images). Reports images per second delivered as ready batches, the
# paired ratio figs/torchvision per worker count (median over --pairs), and the peak
# resident memory of each process tree (DataLoader workers included) in one more, untimed
# run each; then figs' peak memory on a folder --large images big (0: skip), to show that
# it stays flat as the folder grows.
#
#   bench/data_speed.sh [--images 2000] [--large 20000] [--workers "1 2"] [--pairs 3]
#                       [--batches 20] [--batch 64] [--size 224]
#
# Never run it beside another heavy process.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
case "${1:-}" in -h|--help) sed -n 2,13p "$0"; exit 0 ;; esac
. bench/driver.sh
bench_driver data_speed figs-data-speed "$@"
